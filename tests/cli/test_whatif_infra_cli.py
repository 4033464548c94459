"""`plan --baseline`, `whatif` and `check` on a schedule planned with `--infra` (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from stagger.cli import app
from stagger.sources.yamlfile import load_schedule
from stagger.validate import validate
from tests.factories import EXAMPLES

runner = CliRunner()
TOPOLOGY = EXAMPLES / "estate" / "topology.yaml"
POLICY = EXAMPLES / "estate" / "policy.yaml"
INFRA = EXAMPLES / "infra" / "infrastructure.yaml"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base") / "base.json"
    res = runner.invoke(
        app,
        [
            "plan",
            str(TOPOLOGY),
            "-p",
            str(POLICY),
            "-o",
            str(out),
            "--infra",
            str(INFRA),
            "--solver",
            "greedy",
            "--seed",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    return out


def _jobs(path: Path) -> dict[str, tuple[Any, ...]]:
    data = json.loads(path.read_text())
    return {j["vm"]: (j["start"], j["proxy"], j["mode"], j["repository"]) for j in data["jobs"]}


def _no_any(tmp_path: Path) -> Path:
    """The example's file without prx-any: the DMZ VMs (DS-19, DS-20) get prx-dmz."""
    data = yaml.safe_load(INFRA.read_text())
    data["proxies"] = [p for p in data["proxies"] if p["name"] != "prx-any"]
    data["proxies"].append(
        {
            "name": "prx-dmz",
            "max_tasks": 2,
            "modes": ["nbd"],
            "reaches": {"datastore": "DS-[12][09]"},
        }
    )
    path = tmp_path / "no-any.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_plan_baseline_of_an_infra_plan_keeps_every_job(baseline: Path, tmp_path: Path) -> None:
    out = tmp_path / "again.json"
    res = runner.invoke(
        app,
        ["plan", str(TOPOLOGY), "-p", str(POLICY), "-o", str(out), "--baseline", str(baseline)],
    )
    assert res.exit_code == 0, res.output
    assert (
        "stability: 0 jobs moved (0 had to, 0 to another proxy, mode or repository)" in res.output
    )
    assert _jobs(out) == _jobs(baseline)
    validate(load_schedule(out))


def test_whatif_without_a_proxy_reassigns_exactly_its_jobs(baseline: Path, tmp_path: Path) -> None:
    infra = _no_any(tmp_path)
    out = tmp_path / "new.json"
    res = runner.invoke(
        app,
        [
            "whatif",
            str(TOPOLOGY),
            "-p",
            str(POLICY),
            "-b",
            str(baseline),
            "-o",
            str(out),
            "--infra",
            str(infra),
            "--time-limit",
            "5",
        ],
    )
    assert res.exit_code in (0, 2), res.output
    old, new = _jobs(baseline), _jobs(out)
    on_any = {vm for vm, job in old.items() if job[1] == "prx-any"}
    assert on_any
    changed = {vm for vm in old if vm in new and new[vm][1:] != old[vm][1:]}
    assert changed == on_any
    assert f"reassigned: {len(on_any)} (another proxy, mode or repository)" in res.output
    first = sorted(on_any)[0]
    assert f"{first} moved prx-any (nbd) -> prx-dmz (nbd)" in res.output
    sched = load_schedule(out)
    assert sched.inputs.infrastructure is not None
    assert [p.name for p in sched.inputs.infrastructure.proxies][-1] == "prx-dmz"
    validate(sched)


def test_whatif_moving_a_vm_where_no_proxy_reaches_exits_1_nothing_written(
    baseline: Path, tmp_path: Path
) -> None:
    infra = _no_any(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    res = runner.invoke(
        app,
        [
            "whatif",
            str(TOPOLOGY),
            "-p",
            str(POLICY),
            "-b",
            str(baseline),
            "-o",
            str(out / "new.json"),
            "--infra",
            str(infra),
            "--move",
            "web01=esx11",
        ],
    )
    assert res.exit_code == 1, res.output
    assert "vm 'web01': no proxy reaches it (host 'esx11', cluster 'DMZ'" in res.output
    assert str(infra) in res.output
    assert "Traceback" not in res.output
    assert list(out.iterdir()) == []


def test_check_reports_a_vm_its_proxy_no_longer_reaches(baseline: Path, tmp_path: Path) -> None:
    old = _jobs(baseline)
    vm = sorted(v for v, job in old.items() if job[1] == "prx-a1")[0]
    topo = yaml.safe_load(TOPOLOGY.read_text())
    for v in topo["vms"]:
        if v["name"] == vm:
            v["host"] = "esx06"  # PROD-B: prx-a1 reads PROD-A only
    moved = tmp_path / "moved.yaml"
    moved.write_text(yaml.safe_dump(topo))
    res = runner.invoke(app, ["check", str(baseline), "--topology", str(moved)])
    assert res.exit_code == 2, res.output
    assert f"drift {vm}: its proxy 'prx-a1' no longer reaches it (now host 'esx06'" in res.output


def _tiny(tmp_path: Path, vms: int) -> tuple[Path, Path, Path]:
    """One proxy with one task slot (hotadd 400 MB/s) and ``vms`` VMs of 2 h each on hosts
    and datastores of their own: five fit in the 10 h window, the sixth cannot."""
    gib = 2 * 60 * 60 * 400 / 1024  # 2 h at 400 MB/s
    topo = {
        "clusters": [{"name": "C1"}],
        "hosts": [{"name": f"esx{i}", "cluster": "C1"} for i in range(vms)],
        "datastores": [{"name": f"DS-{i}"} for i in range(vms)],
        "vms": [
            {
                "name": f"vm{i}",
                "host": f"esx{i}",
                "disks": [{"datastore": f"DS-{i}", "size_gib": gib}],
            }
            for i in range(vms)
        ],
    }
    policy = {
        "timezone": "Europe/Berlin",
        "cycle": {"start": "2026-12-01", "nights": 1},
        "window": {"start": "20:00", "end": "06:00"},
        "slot_minutes": 5,
        "throughput": {"mb_per_s": 100, "overhead_minutes": 0},
    }
    infra = {
        "proxies": [{"name": "prx-one", "max_tasks": 1, "modes": ["hotadd"]}],
        "transport": {"hotadd": {"mb_per_s": 400}},
    }
    paths = tmp_path / "t.yaml", tmp_path / "p.yaml", tmp_path / "i.yaml"
    for path, data in zip(paths, (topo, policy, infra), strict=True):
        path.write_text(yaml.safe_dump(data))
    return paths


def test_whatif_explains_with_the_proxies(tmp_path: Path) -> None:
    topo, pol, infra = _tiny(tmp_path, 6)
    smaller = tmp_path / "five.yaml"
    data = yaml.safe_load(topo.read_text())
    data["vms"] = data["vms"][:5]
    smaller.write_text(yaml.safe_dump(data))
    base = tmp_path / "base.json"
    res = runner.invoke(
        app, ["plan", str(smaller), "-p", str(pol), "-o", str(base), "--infra", str(infra)]
    )
    assert res.exit_code == 0, res.output
    add = tmp_path / "add.yaml"
    add.write_text(yaml.safe_dump({"vms": [yaml.safe_load(topo.read_text())["vms"][5]]}))
    res = runner.invoke(
        app, ["whatif", str(smaller), "-p", str(pol), "-b", str(base), "--add", str(add)]
    )
    assert res.exit_code == 2, res.output
    why = res.output[res.output.index("why it does not fit") :]
    assert "prx-one" in why
