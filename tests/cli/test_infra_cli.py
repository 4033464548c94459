"""`stagger infra check` and `stagger plan --infra`."""

from __future__ import annotations

import json
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
    assert "proxy 'prx-z': field 'reaches': reaches none of the" in res.output
    assert "Traceback" not in res.output


def test_bad_file_is_one_line_exit_1(tmp_path: Path) -> None:
    infra = tmp_path / "i.yaml"
    infra.write_text(
        "proxies: [{name: p, max_tasks: 1, modes: [san]}]\ntransport: {nbd: {mb_per_s: 1}}\n"
    )
    res = runner.invoke(app, ["infra", "check", str(TOPOLOGY), str(infra)])
    assert res.exit_code == 1
    assert f"{infra}: proxy 'p': field 'modes': mode 'san' with no rate" in res.output


def test_plan_with_infra_plans_the_example_and_exports(tmp_path: Path) -> None:
    out, csv, html = tmp_path / "plan.json", tmp_path / "plan.csv", tmp_path / "plan.html"
    res = runner.invoke(
        app,
        [
            "plan",
            str(TOPOLOGY),
            "-p",
            str(POLICY),
            "-o",
            str(out),
            "--csv",
            str(csv),
            "--export",
            f"html:{html}",
            "--infra",
            str(INFRA),
            "--seed",
            "1",
            "--deterministic-budget",
            "0.2",
        ],
    )
    assert res.exit_code == 0, res.output
    sched = json.loads(out.read_text())
    assert sched["inputs"]["infrastructure"]["proxies"][0]["name"] == "prx-a1"
    used = {(j["proxy"], j["mode"]) for j in sched["jobs"]}
    assert used <= {
        ("prx-a1", "hotadd"),
        ("prx-a1", "nbd"),
        ("prx-b1", "hotadd"),
        ("prx-b1", "nbd"),
        ("prx-san", "san"),
        ("prx-any", "nbd"),
    }
    assert all(j["repository"] in ("repo-1", "repo-2") for j in sched["jobs"])
    assert {u["kind"] for u in sched["utilisation"]} >= {"proxy", "repository", "ingest"}
    assert csv.exists() and html.exists()
    assert "pin a proxy, mode or repository" not in res.output


def test_plan_with_infra_a_vm_no_proxy_reaches_exits_1_nothing_written(tmp_path: Path) -> None:
    infra = tmp_path / "i.yaml"
    data = yaml.safe_load(INFRA.read_text())
    data["proxies"] = [p for p in data["proxies"] if p["name"] != "prx-any"]
    infra.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    out.mkdir()
    res = runner.invoke(
        app,
        [
            "plan",
            str(TOPOLOGY),
            "-p",
            str(POLICY),
            "-o",
            str(out / "plan.json"),
            "--infra",
            str(infra),
        ],
    )
    assert res.exit_code == 1, res.output
    assert "no proxy reaches it (host 'esx11', cluster 'DMZ'" in res.output
    assert "Traceback" not in res.output
    assert list(out.iterdir()) == []


def test_plan_with_infra_and_a_baseline_without_one_assigns_every_job(tmp_path: Path) -> None:
    """A baseline planned without an infrastructure file, re-planned with --infra: every job
    gets a proxy; none counts as reassigned (it had none to move from)."""
    baseline = tmp_path / "base.json"
    res = runner.invoke(
        app,
        ["plan", str(TOPOLOGY), "-p", str(POLICY), "-o", str(baseline), "--solver", "greedy"],
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "plan.json"
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
            "--baseline",
            str(baseline),
            "--solver",
            "greedy",
        ],
    )
    assert res.exit_code in (0, 2), res.output
    assert "0 to another proxy, mode or repository" in res.output
    jobs = json.loads(out.read_text())["jobs"]
    assert jobs and all(j["proxy"] is not None for j in jobs)


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
    assert f"warning: 1 VM(s) ('{name}') pin a proxy, mode or repository: unused" in res.output
