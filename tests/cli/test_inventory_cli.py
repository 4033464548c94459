"""`stagger inventory ...` and `stagger audit` through typer's CliRunner, vCenter via vcsim."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stagger.cli import app
from stagger.sources.yamlfile import load_topology

_HARNESS = Path(__file__).resolve().parents[1] / "vcsim" / "harness.py"


def _harness() -> Any:
    name = "stagger_vcsim_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _HARNESS)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    h = _harness()
    if h.go_binary() is None:
        pytest.skip(
            "vcsim tests need Go: apt-get install golang-go golang-github-vmware-govmomi-dev"
        )
    build = h.build_vcsim(tmp_path_factory.getbasetemp() / "vcsim-build")
    s = h.start_vcsim(build.binary, tmp_path_factory.mktemp("cli-vcsim"), vms=120)
    yield s
    s.stop()


runner = CliRunner()


def _conn(sim: Any) -> list[str]:
    """The simulator's port, user and CA options."""
    return ["--port", str(sim.port), "--user", sim.user, "--ca-file", str(sim.ca_file)]


def _vc_args(sim: Any, out: Path) -> list[str]:
    return ["inventory", "vcenter", "--server", sim.host, *_conn(sim), "-o", str(out)]


def test_inventory_vcenter_with_raid_map(sim: Any, tmp_path: Path) -> None:
    raid = tmp_path / "raid.yaml"
    raid.write_text(
        "raid_groups:\n  RG-DC0: ['DC0-VMFS-0[1-3]']\n  RG-SAN: ['naa.600a0b80005ad101*']\n"
    )
    out = tmp_path / "topology.yaml"
    res = runner.invoke(
        app,
        [*_vc_args(sim, out), "--raid-map", str(raid)],
        env={"STAGGER_VSPHERE_PASSWORD": sim.password},
    )
    assert res.exit_code == 0, res.output
    topo = load_topology(out)
    assert len(topo.vms) == sum(not v["template"] for v in sim.truth["vms"])
    groups = {g.name: g.datastores for g in topo.raid_groups}
    assert groups["RG-DC0"] == ["DC0-VMFS-01", "DC0-VMFS-02", "DC0-VMFS-03"]
    assert sorted(groups["RG-SAN"]) == [f"DC1-VMFS-0{i}" for i in range(1, 7)]
    assert "3 datastores in no RAID group" in res.output
    assert sim.password not in out.read_text() and sim.password not in res.output


def test_inventory_vcenter_wrong_password_writes_nothing(sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "topology.yaml"
    res = runner.invoke(app, _vc_args(sim, out), env={"STAGGER_VSPHERE_PASSWORD": "wrong"})
    assert res.exit_code == 3
    assert "wrong user name or password" in res.output
    assert not out.exists()


def test_inventory_vcenter_closed_port(tmp_path: Path) -> None:
    port = _harness().free_port()
    out = tmp_path / "t.yaml"
    res = runner.invoke(
        app,
        [
            "inventory",
            "vcenter",
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            "--user",
            "u",
            "-o",
            str(out),
        ],
        env={"STAGGER_VSPHERE_PASSWORD": "p"},
    )
    assert res.exit_code == 3 and "connection refused" in res.output and not out.exists()


def test_password_prompt(sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "t.yaml"
    res = runner.invoke(
        app, _vc_args(sim, out), input=sim.password + "\n", env={"STAGGER_VSPHERE_PASSWORD": ""}
    )
    assert res.exit_code == 0, res.output
    assert out.exists()


def test_audit_live_json_and_fail_on(sim: Any) -> None:
    args = [
        "audit",
        "--server",
        sim.host,
        "--port",
        str(sim.port),
        "--user",
        sim.user,
        "--insecure",
        "--snapshot-days",
        "30",
        "--json",
    ]
    env = {"STAGGER_VSPHERE_PASSWORD": sim.password}
    ok = runner.invoke(app, args, env=env)
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.stdout)
    expected_old = sum(1 for v in sim.truth["vms"] if not v["template"] and v["snapshots"])
    assert report["counts"]["snapshot_old"] >= expected_old > 0
    assert report["counts"]["consolidation"] == sum(
        v["consolidation_needed"] and not v["template"] for v in sim.truth["vms"]
    )
    failed = runner.invoke(app, [*args, "--fail-on", "consolidation"], env=env)
    assert failed.exit_code == 2
    bad = runner.invoke(app, [*args, "--fail-on", "nonsense"], env=env)
    assert bad.exit_code == 1 and "unknown check" in bad.output


def test_inventory_rvtools_and_audit_table(tmp_path: Path) -> None:
    folder = tmp_path / "rv"
    folder.mkdir()
    (folder / "vInfo.csv").write_text(
        "VM,Host,In Use MiB,Path,Consolidation Needed\nweb,esx1,2048,[DS1] web/web.vmx,True\n"
    )
    out = tmp_path / "t.yaml"
    res = runner.invoke(app, ["inventory", "rvtools", str(folder), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "vDisk missing" in res.output
    assert load_topology(out).vms[0].disks[0].datastore == "DS1"
    aud = runner.invoke(app, ["audit", "--rvtools", str(folder), "--fail-on", "any"])
    assert aud.exit_code == 2 and "consolidation" in aud.output
    strict = runner.invoke(app, ["inventory", "rvtools", str(tmp_path / "missing"), "-o", str(out)])
    assert strict.exit_code == 3


def _live(sim: Any) -> list[str]:
    """--vcenter and its connection options for the simulator."""
    return ["--vcenter", sim.host, *_conn(sim)]


def test_plan_straight_from_vcenter(sim: Any, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "timezone: Europe/Berlin\ncycle: {start: 2026-12-01, nights: 7}\n"
        'window: {start: "18:00", end: "08:00"}\nthroughput: {mb_per_s: 400}\n'
    )
    out = tmp_path / "schedule.json"
    res = runner.invoke(
        app,
        [
            "plan",
            *_live(sim),
            "-p",
            str(policy),
            "-o",
            str(out),
            "--solver",
            "greedy",
        ],
        env={"STAGGER_VSPHERE_PASSWORD": sim.password},
    )
    assert res.exit_code in (0, 2), res.output
    data = json.loads(out.read_text())
    planned = {j["vm"] for j in data["jobs"]} | {u["vm"] for u in data["unscheduled"]}
    assert len(planned) == sum(not v["template"] for v in sim.truth["vms"])
    assert len(data["jobs"]) > 0
    # Either a file or a server, not both / neither.
    res = runner.invoke(app, ["plan", "-p", str(policy), "-o", str(out)])
    assert res.exit_code == 1 and "either a topology file or --vcenter" in res.output

    # The plan still matches the live estate: `check --vcenter` finds no drift.
    res = runner.invoke(
        app,
        [
            "check",
            str(out),
            *_live(sim),
        ],
        env={"STAGGER_VSPHERE_PASSWORD": sim.password},
    )
    assert res.exit_code == 0, res.output
    assert "still match the estate" in res.output


def test_inventory_output_path_checked_before_reading(tmp_path: Path) -> None:
    """A bad -o is bad input (exit 1) found before any retrieval, not after it."""
    out = tmp_path / "missing" / "t.yaml"
    port = _harness().free_port()
    args = ["inventory", "vcenter", "--server", "127.0.0.1", "--port", str(port), "--user", "u"]
    res = runner.invoke(app, [*args, "-o", str(out)], env={"STAGGER_VSPHERE_PASSWORD": "p"})
    assert res.exit_code == 1 and "does not exist" in res.output, res.output
    res = runner.invoke(app, ["inventory", "rvtools", str(tmp_path / "no-export"), "-o", str(out)])
    assert res.exit_code == 1 and "does not exist" in res.output, res.output
    assert not (tmp_path / "missing").exists()
