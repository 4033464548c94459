"""The vCenter loader against a real govmomi simulator (tests/vcsim), no API mocks."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stagger.errors import (
    SourceAuthError,
    SourceError,
    SourceProtocolError,
    SourceTimeoutError,
    SourceTLSError,
)
from stagger.model.policy import Policy
from stagger.planner import PlanOptions, plan
from stagger.sources.vcenter import VCenterOptions, load_vcenter
from stagger.sources.yamlfile import dump_yaml, load_topology
from stagger.validate import find_violations
from tests.vcsim import harness

GIB = 1 << 30


def _opts(sim: Any, **kw: Any) -> VCenterOptions:
    base: dict[str, Any] = dict(
        server=sim.host,
        port=sim.port,
        user=sim.user,
        password=sim.password,
        ca_file=str(sim.ca_file),
    )
    base.update(kw)
    return VCenterOptions(**base)


@pytest.fixture(scope="module")
def pulled(vcsim: Any) -> Any:
    return load_vcenter(_opts(vcsim, page_size=64))


def test_pull_matches_what_the_simulator_created(vcsim: Any, pulled: Any) -> None:
    truth = vcsim.truth
    topo = pulled.topology
    expected = [v for v in truth["vms"] if not v["template"]]
    assert pulled.templates_skipped == sum(v["template"] for v in truth["vms"]) > 0
    assert len(topo.vms) == len(expected)
    by_uuid = {v.id: v for v in topo.vms}
    assert len(by_uuid) == len(expected)  # never merged
    for want in expected:
        got = by_uuid[want["instance_uuid"]]
        assert got.host == want["host"]
        assert got.datacenter == want["datacenter"]
        assert [d.datastore for d in got.disks] == [d["datastore"] for d in want["disks"]]
        assert [d.size_gib * GIB for d in got.disks] == pytest.approx(
            [d["size_bytes"] for d in want["disks"]]
        )
        assert [d.file for d in got.disks] == [d["file"] for d in want["disks"]]
        assert got.power_state == {"poweredOn": "on", "poweredOff": "off"}[want["power_state"]]
        assert got.consolidation_needed is want["consolidation_needed"]
        assert got.committed_gib == pytest.approx(want["committed_bytes"] / GIB, abs=1e-3)
        # Custom attributes as Name=value; vSphere tags (tests/sources/test_vcenter_tags.py)
        # as category:tag and tag.
        attributes = {f"{k}={v}" for k, v in want["attributes"].items()}
        tagged = {
            s for t in want["vsphere_tags"] or [] for s in (t["tag"], f"{t['category']}:{t['tag']}")
        }
        assert got.tags == sorted(attributes | tagged)
        assert [s.name for s in got.snapshots] == [s["name"] for s in want["snapshots"] or []]
        for s, w in zip(got.snapshots, want["snapshots"] or [], strict=True):
            assert s.created == datetime.fromisoformat(w["created"].replace("Z", "+00:00"))
            assert s.size_gib == pytest.approx(w["size_bytes"] / GIB)
    # Disk sizes came from both capacityInBytes and (KB-only disks) capacityInKB.
    assert {d["kb_only"] for v in expected for d in v["disks"]} == {True, False}


def test_tools_states_are_mapped(vcsim: Any, pulled: Any) -> None:
    by_uuid = {v.id: v for v in pulled.topology.vms}
    seen = Counter()
    for want in vcsim.truth["vms"]:
        if want["template"]:
            continue
        got = by_uuid[want["instance_uuid"]].tools
        if want["tools_version"] == "guestToolsNotInstalled":
            assert got == "not_installed"
        elif want["tools_running"] != "guestToolsRunning":
            assert got == "not_running"
        else:
            assert (
                got
                == {
                    "guestToolsCurrent": "ok",
                    "guestToolsNeedUpgrade": "old",
                    "guestToolsUnmanaged": "unmanaged",
                }[want["tools_version"]]
            )
        seen[got] += 1
    assert set(seen) == {"ok", "old", "not_running", "not_installed", "unmanaged"}


def test_hosts_clusters_datastores_and_naa(vcsim: Any, pulled: Any) -> None:
    topo = pulled.topology
    assert {(h.name, h.cluster) for h in topo.hosts} == {
        (h["name"], h["cluster"] or None) for h in vcsim.truth["hosts"]
    }
    ds = {d.name: d for d in topo.datastores}
    for want in vcsim.truth["datastores"]:
        got = ds[want["name"]]
        assert got.extents == want["extents"]
        assert got.naa == want["extents"][0]
        assert got.capacity_gib == pytest.approx(want["capacity_bytes"] / GIB)
    assert any(len(v.datastores) > 1 for v in topo.vms)


def test_duplicate_display_names_stay_separate_and_unique(pulled: Any) -> None:
    names = [v.name for v in pulled.topology.vms]
    assert len(names) == len(set(names))
    assert {"vm-0000 (DC0)", "vm-0000 (DC1)", "vm-0002 (DC0/prod)", "vm-0002 (DC0/test)"} <= set(
        names
    )
    assert "vm-0000" not in names


def test_one_bulk_retrieval_paged(vcsim: Any, pulled: Any) -> None:
    stats = pulled.stats
    assert stats.retrieve_calls == 1
    # 300 VMs + hosts/datastores/folders with 64 objects a page: several continuations.
    assert stats.continue_calls == -(-stats.objects // 64) - 1 >= 4
    whole = load_vcenter(_opts(vcsim, page_size=100_000)).stats
    assert whole.round_trips == 1 and whole.objects == stats.objects
    # Every byte read is counted (the --max-response-mib cap applies to this figure).
    assert stats.bytes_read > 0 and whole.bytes_read > 0


def test_response_cap_applies_to_a_real_retrieval(vcsim: Any, pulled: Any) -> None:
    """A cap below what the 300-VM estate needs stops the load with one line, exit 3."""
    assert pulled.stats.bytes_read > 1 << 20  # more than the 1 MiB allowed below
    with pytest.raises(SourceProtocolError, match=r"sent more than 1 MiB during retrieval"):
        load_vcenter(_opts(vcsim, max_response_mib=1))


def test_written_topology_loads(tmp_path: Path, pulled: Any) -> None:
    out = tmp_path / "topology.yaml"
    out.write_text(dump_yaml(pulled.topology))
    topo = load_topology(out)
    assert [v.name for v in topo.vms] == [v.name for v in pulled.topology.vms]
    assert sum(len(v.disks) for v in topo.vms) == sum(len(v.disks) for v in pulled.topology.vms)
    # ... and plans unchanged: every VM that needs a backup gets a job, and the plan validates.
    policy = Policy.model_validate(
        {
            "timezone": "Europe/Berlin",
            "cycle": {"start": "2026-12-01", "nights": 7},
            "window": {"start": "18:00", "end": "08:00"},
            "throughput": {"mb_per_s": 400, "overhead_minutes": 5},
        }
    )
    schedule = plan(topo, policy, PlanOptions(solver="greedy")).schedule
    assert find_violations(schedule, topo, policy) == []
    assert len(schedule.jobs) + len(schedule.unscheduled) == sum(v.needs_backup for v in topo.vms)
    assert len(schedule.jobs) > 0


def test_insecure_skips_verification(vcsim: Any) -> None:
    inv = load_vcenter(_opts(vcsim, ca_file=None, insecure=True))
    assert len(inv.topology.vms) > 0


def test_wrong_password(vcsim: Any) -> None:
    with pytest.raises(
        SourceError, match=r"login refused for user .* wrong user name or password"
    ) as e:
        load_vcenter(_opts(vcsim, password="not-the-password"))
    assert e.value.exit_code == 3 and isinstance(e.value, SourceAuthError)
    assert "not-the-password" not in str(e.value)


def test_untrusted_certificate(vcsim: Any) -> None:
    with pytest.raises(SourceTLSError, match=r"TLS certificate not trusted.*--ca-file.*--insecure"):
        load_vcenter(_opts(vcsim, ca_file=None))


def test_closed_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(SourceError, match=rf"127.0.0.1:{port}: connection refused"):
            load_vcenter(VCenterOptions(server="127.0.0.1", port=port, user="u", password="p"))


def test_server_that_never_answers_times_out() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)  # accepts connections (kernel backlog) but never speaks TLS
    try:
        port = srv.getsockname()[1]
        with pytest.raises(SourceError, match=r"not finished within 1 s .*timeout"):
            load_vcenter(
                VCenterOptions(server="127.0.0.1", port=port, user="u", password="p", timeout_s=1)
            )
    finally:
        srv.close()


def test_server_dies_mid_retrieval(fresh_vcsim: Any) -> None:
    pages: list[int] = []

    def kill_after_first_page(n: int) -> None:
        pages.append(n)
        if len(pages) == 1:
            fresh_vcsim.kill()

    with pytest.raises(SourceError, match="during retrieval") as e:
        load_vcenter(_opts(fresh_vcsim, page_size=10, timeout_s=5), on_page=kill_after_first_page)
    assert pages == [10]
    assert e.value.exit_code == 3 and isinstance(e.value, SourceProtocolError)


def test_deadline_holds_during_retrieval(vcsim_binary: Path, tmp_path: Path) -> None:
    """A vCenter that logs in at once but takes 20 s per PropertyCollector page: the
    --timeout deadline covers the whole load, so it ends while retrieving, not after."""
    sim = harness.start_vcsim(
        vcsim_binary,
        tmp_path / "slow",
        vms=12,
        extra_args=(
            "-method-delay",
            "RetrievePropertiesEx=20000,ContinueRetrievePropertiesEx=20000",
        ),
    )
    try:
        started = time.monotonic()
        with pytest.raises(SourceTimeoutError, match=r"within 3 s during retrieval") as e:
            load_vcenter(_opts(sim, timeout_s=3))
        waited = time.monotonic() - started
    finally:
        sim.stop()
    assert e.value.exit_code == 3
    assert waited < 15, waited  # far from the 20 s one page takes (generous: shared machine)


def test_parallel_pulls_agree(vcsim: Any) -> None:
    results: list[int] = []

    def pull() -> None:
        results.append(len(load_vcenter(_opts(vcsim, page_size=50)).topology.vms))

    threads = [threading.Thread(target=pull) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and results[0] > 0


def test_snapshot_ages_are_in_the_past(pulled: Any) -> None:
    now = datetime.now(UTC)
    snaps = [s for v in pulled.topology.vms for s in v.snapshots]
    assert snaps and all(s.created is not None and s.created < now for s in snaps)
