"""Headroom of proxies and repositories (an infrastructure file given), figures by hand.

The estate of tests/test_validate_infra.py: VMs a, b (cluster C1) and c (C2, datastore DS-10),
703.125 GiB each; one night 20:00-06:00 (600 min, 120 five-minute slots). Lengths: 60 min
(12 slots) in hotadd at 200 MB/s, 120 (24) in nbd at 100, 30 (6) in san at 400, 35 (7) in san
into repo-2 (capped at 350 MB/s)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stagger.cli import app
from stagger.headroom import Headroom, headroom
from tests.factories import make_policy
from tests.test_validate_infra import INFRA, SIZE_GIB, _infra, _topology
from tests.tiered import tiered_policy

runner = CliRunner()


def _rows(**kw: object) -> dict[tuple[str, str], Headroom]:
    topo = kw.pop("topo", None) or _topology()
    policy = kw.pop("policy", None) or make_policy()
    infra = kw.pop("infra", None) or _infra()
    rows = headroom(topo, policy, SIZE_GIB, infrastructure=infra)  # type: ignore[arg-type]
    return {(h.kind, h.name): h for h in rows}


def test_proxy_rows_share_each_job_by_task_slots() -> None:
    rows = _rows()
    # a and b: prx-a (1 slot, hotadd 12 slots) or prx-any (1 slot, nbd 24): half each,
    # 6 + 6 = 12 slots on prx-a. c: prx-c (2 slots, 12), prx-san (4, 6), prx-any (1, 24):
    # 2/7, 4/7, 1/7 of it: 24/7 slots on each of them.
    a = rows[("proxy", "prx-a")]
    assert (a.capacity, a.jobs, a.free_min, a.busy_min) == (1, 2, 600, 60)
    # The probe (703.125 GiB) in hotadd: 12 slots; (120 - 12) // 12 = 9.
    assert a.more_vms == 9
    anyp = rows[("proxy", "prx-any")]
    assert (anyp.jobs, anyp.busy_min) == (3, round((12 + 12 + 24 / 7) * 5))
    assert rows[("proxy", "prx-c")].busy_min == round(24 / 7 * 5)
    san = rows[("proxy", "prx-san")]
    assert (san.capacity, san.free_min, san.busy_min) == (4, 2400, round(24 / 7 * 5))
    assert a.summary == "proxy prx-a: 1h00m of tasks for 1 slot in 10h00m"


def test_repository_rows_tasks_and_ingest() -> None:
    rows = _rows()
    # Tasks, shared 2 : 4 by max_tasks, at the least length into each: a, b 12 slots into
    # either; c 6 into repo-1 (san at 400), 7 into repo-2 (san capped at 350).
    r1, r2 = rows[("repository", "repo-1")], rows[("repository", "repo-2")]
    assert (r1.capacity, r1.jobs, r1.free_min, r1.busy_min) == (2, 3, 1200, (4 + 4 + 2) * 5)
    assert r2.busy_min == round((8 + 8 + 14 / 3) * 5)
    # The probe at the fastest mode (san 400, under repo-1's 500): 6 slots;
    # (240 - 10) // 6 = 38, stretches 120 // 6 * 2 = 40.
    assert r1.more_vms == 38
    # Ingest: every job's least MB/s x slots is 2400 (200 x 12 = 100 x 24 = 400 x 6), shared
    # 500 : 350 by ingest rate, so each repository takes 3 x 2400 / 850 slots at its full
    # rate: 42.35 min, the 2,109 GiB at the two repositories' 850 MB/s together.
    i1, i2 = rows[("ingest", "repo-1")], rows[("ingest", "repo-2")]
    assert (i1.capacity, i1.jobs, i1.free_min) == (1, 3, 600)
    assert i1.busy_min == i2.busy_min == round(3 * 2400 / 850 * 5) == 42
    assert math.isclose(2109.375 * 1024 / 850 / 60, 3 * 2400 / 850 * 5)
    # One more probe: 400 MB/s x 6 slots / 500 = 4.8 slots of repo-1's full rate.
    assert i1.more_vms == int((120 - 3 * 2400 / 850) // 4.8) == 23
    assert i1.summary == "repository repo-1 ingest: 0h42m at its full rate in a window of 10h00m"


def test_pins_narrow_the_shares() -> None:
    # a pins prx-any: prx-a keeps only b's half (6 slots); a pins repo-2: repo-1 loses a.
    rows = _rows(topo=_topology(a={"proxy": "prx-any", "repository": "repo-2"}))
    assert rows[("proxy", "prx-a")].busy_min == 30
    assert rows[("proxy", "prx-any")].busy_min == round((24 + 12 + 24 / 7) * 5)
    assert rows[("repository", "repo-1")].busy_min == (4 + 2) * 5
    assert rows[("repository", "repo-2")].busy_min == round((24 + 8 + 14 / 3) * 5)


def test_without_infrastructure_no_infrastructure_rows() -> None:
    rows = headroom(_topology(), make_policy(), SIZE_GIB)
    assert {h.kind for h in rows} == {"host", "datastore"}


def test_tiered_worst_night_of_a_proxy() -> None:
    # A fixed full of a and b on Saturday (night 4 of a week), nothing else: prx-a's worst
    # night is night 4 with 12 slots (60 min) of its 600.
    tier = {
        "name": "t",
        "match": {"cluster": "C1"},
        "incremental": "none",
        "full": {"on": "FREQ=WEEKLY;BYDAY=SA"},
    }
    policy = tiered_policy([tier])
    policy = policy.model_copy(update={"throughput": make_policy().throughput})
    rows = _rows(policy=policy)
    a = rows[("proxy", "prx-a")]
    assert (a.worst_night, a.worst_night_busy_min, a.worst_night_free_min) == (4, 60, 600)
    # prx-any: half of a and of b in nbd (12 + 12 slots) on night 4, and a seventh of c (24
    # slots in nbd) spread over c's seven nights (single regime): 24 + 24/49 slots.
    anyp = rows[("proxy", "prx-any")]
    assert (anyp.worst_night, anyp.worst_night_busy_min) == (4, round((24 + 24 / 49) * 5))


@pytest.mark.parametrize("with_infra", [True, False])
def test_cli_headroom_with_infra(tmp_path: Path, with_infra: bool) -> None:
    topo, policy = _topology(), make_policy()
    (tmp_path / "t.json").write_text(topo.model_dump_json())
    (tmp_path / "p.json").write_text(policy.model_dump_json())
    (tmp_path / "i.yaml").write_text(yaml.safe_dump(INFRA))
    args = ["headroom", str(tmp_path / "t.json"), "-p", str(tmp_path / "p.json")]
    args += ["--size-gib", str(SIZE_GIB)]
    if with_infra:
        args += ["--infra", str(tmp_path / "i.yaml")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert ("proxy prx-a: 1h00m of tasks for 1 slot in 10h00m" in text) == with_infra
    assert ("ingest repo-1" in text) == with_infra


def test_more_vms_need_a_whole_free_stretch_in_one_task_slot() -> None:
    # A probe of 4101.5625 GiB lasts 350 min (70 slots) in hotadd at 200 MB/s on prx-c (2
    # slots, 24/7 slots busy): by load (240 - 24/7) // 70 = 3, but a night of 120 slots
    # holds one 70-slot job per task slot: 2.
    rows = headroom(_topology(), make_policy(), 4101.5625, infrastructure=_infra())
    c = next(h for h in rows if (h.kind, h.name) == ("proxy", "prx-c"))
    assert int((240 - 24 / 7) // 70) == 3
    assert c.more_vms == 2


def test_cli_headroom_refuses_a_vm_no_proxy_reaches(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text(_topology().model_dump_json())
    (tmp_path / "p.json").write_text(make_policy().model_dump_json())
    only_c1 = dict(INFRA, proxies=[INFRA["proxies"][0]])
    (tmp_path / "i.yaml").write_text(yaml.safe_dump(only_c1))
    t, p, i = (str(tmp_path / n) for n in ("t.json", "p.json", "i.yaml"))
    res = runner.invoke(app, ["headroom", t, "-p", p, "--infra", i])
    assert res.exit_code == 1, res.output
    assert "vm 'c': no proxy reaches it" in " ".join(res.output.split())


def test_estate_rows_use_the_modes_rates_with_an_infrastructure() -> None:
    """By hand: a's fastest option is hotadd at 200 MB/s, 60 min (the policy's 100 MB/s
    gives 120); c's is san into repo-1 at 400 MB/s, 30 min. The probe (703.125 GiB) at the
    fastest rate any proxy reads and any repository writes (san 400 into repo-1's 500):
    30 min, 6 slots. esx01: (120 - 12) // 6 = 18 more; esx03: (120 - 6) // 6 = 19."""
    topo, policy = _topology(), make_policy()
    plain = {(h.kind, h.name): h for h in headroom(topo, policy, SIZE_GIB)}
    assert (plain[("host", "esx01")].busy_min, plain[("host", "esx01")].more_vms) == (120, 4)
    listed = headroom(topo, policy, SIZE_GIB, infrastructure=_infra())
    rows = {(h.kind, h.name): h for h in listed}
    assert len(rows) == len(listed)  # one row per resource: the proxies' rows once
    assert (rows[("host", "esx01")].busy_min, rows[("host", "esx01")].more_vms) == (60, 18)
    assert (rows[("host", "esx03")].busy_min, rows[("host", "esx03")].more_vms) == (30, 19)
    assert rows[("datastore", "DS-10")].busy_min == 30
    assert rows[("datastore", "DS-01")].busy_min == 60
