"""`stagger infra check` and `stagger plan --infra` (refused until the planner plans it)."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from stagger.cli import app
from tests.factories import EXAMPLES

runner = CliRunner()
TOPOLOGY = EXAMPLES / "estate" / "topology.yaml"
POLICY = EXAMPLES / "estate" / "policy.yaml"
INFRA = EXAMPLES / "infra" / "infrastructure.yaml"


def test_example_checks_clean_and_shows_each_proxy() -> None:
    res = runner.invoke(app, ["infra", "check", str(TOPOLOGY), str(INFRA), "--policy", str(POLICY)])
    assert res.exit_code == 0, res.output
    for name in ("prx-a1", "prx-b1", "prx-san", "prx-any"):
        assert name in res.output
    assert "hotadd, nbd" in res.output
    assert "nothing written" in res.output


def test_vm_no_proxy_reaches_exits_1_with_the_reason(tmp_path: Path) -> None:
    infra = tmp_path / "i.yaml"
    data = yaml.safe_load(INFRA.read_text())
    data["proxies"] = [p for p in data["proxies"] if p["name"] != "prx-any"]
    data["proxies"].append(
        {"name": "prx-z", "max_tasks": 1, "modes": ["nbd"], "reaches": {"cluster": "NOPE"}}
    )
    infra.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["infra", "check", str(TOPOLOGY), str(infra)])
    assert res.exit_code == 1
    # DMZ VMs have no hot-add proxy and no SAN zoning: each is named with the reason.
    assert "no proxy reaches it (host 'esx11', cluster 'DMZ'" in res.output
    assert "warning: proxy 'prx-z' reaches none of the" in res.output
    assert "Traceback" not in res.output


def test_bad_file_is_one_line_exit_1(tmp_path: Path) -> None:
    infra = tmp_path / "i.yaml"
    infra.write_text(
        "proxies: [{name: p, max_tasks: 1, modes: [san]}]\ntransport: {nbd: {mb_per_s: 1}}\n"
    )
    res = runner.invoke(app, ["infra", "check", str(TOPOLOGY), str(infra)])
    assert res.exit_code == 1
    assert f"{infra}: proxy 'p': field 'modes': mode 'san' with no rate" in res.output


def test_plan_refuses_infra_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    res = runner.invoke(
        app,
        ["plan", str(TOPOLOGY), "-p", str(POLICY), "-o", str(out), "--infra", str(INFRA)],
    )
    assert res.exit_code == 1
    assert "backup infrastructure is validated but not planned yet" in res.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_plan_says_it_leaves_infrastructure_pins_unused(tmp_path: Path) -> None:
    topo = yaml.safe_load((EXAMPLES / "minimal" / "topology.yaml").read_text())
    topo["vms"][0]["proxy"] = "prx-a1"
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(topo))
    out = tmp_path / "plan.json"
    policy = EXAMPLES / "minimal" / "policy.yaml"
    res = runner.invoke(app, ["plan", str(path), "-p", str(policy), "-o", str(out)])
    assert res.exit_code == 0, res.output
    name = topo["vms"][0]["name"]
    assert f"warning: 1 VM(s) ('{name}') pin a proxy, mode or repository: not planned yet" in (
        res.output
    )
