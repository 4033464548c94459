"""CLI on tiered estates: whatif, plan --baseline, headroom, check (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from stagger.cli import app
from stagger.exporters.jsoncsv import schedule_json
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from tests.solve.test_explain_tiers import _two_on_one_host
from tests.test_whatif_tiers import _fulls_on_friday, _gold_vm, _one_host_gold

runner = CliRunner()


def _files(tmp_path: Path, topo: Topology, policy: Policy) -> tuple[Path, Path]:
    t, p = tmp_path / "topology.yaml", tmp_path / "policy.yaml"
    t.write_text(yaml.safe_dump(topo.model_dump(mode="json", exclude_none=True)))
    p.write_text(yaml.safe_dump(policy.model_dump(mode="json", exclude_none=True)))
    return t, p


def _plan(tmp_path: Path, topo: Path, pol: Path, *extra: str) -> tuple[Path, str]:
    out = tmp_path / "plan.json"
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(pol), "-o", str(out), "--time-limit", "5", *extra]
    )
    assert res.exit_code == 0, res.output
    return out, res.output


def test_plan_with_a_tiered_baseline_moves_nothing(tmp_path: Path) -> None:
    topo, pol = _files(tmp_path, *_one_host_gold(["sql1", "sql2", "sql3"]))
    base, _ = _plan(tmp_path, topo, pol)
    again = tmp_path / "again.json"
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(pol), "-o", str(again), "--baseline", str(base)]
    )
    assert res.exit_code == 0, res.output
    assert "stability: 0 jobs moved (0 had to), 21 kept, 0 new" in res.output
    assert json.loads(again.read_text())["jobs"] == json.loads(base.read_text())["jobs"]


def _friday(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    model_topo, model_pol = _one_host_gold(["sql1", "sql2"])
    topo, pol = _files(tmp_path, model_topo, model_pol)
    base = tmp_path / "base.json"
    base.write_text(schedule_json(_fulls_on_friday(model_topo, model_pol)))
    add = tmp_path / "gold.yaml"
    add.write_text(yaml.safe_dump({"vms": [_gold_vm(f"sql{i}") for i in range(3, 8)]}))
    return topo, pol, base, add


def test_whatif_adding_gold_vms_says_which_nights_fulls_move(tmp_path: Path) -> None:
    topo, pol, base, add = _friday(tmp_path)
    out = tmp_path / "new.json"
    res = runner.invoke(
        app,
        ["whatif", str(topo), "-p", str(pol), "-b", str(base), "--add", str(add), "-o", str(out)],
    )
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())  # rich wraps at the terminal's width
    assert "fits: 35 added, 0 removed, 2 moved" in flat
    assert "fulls moved: 1 full of sql" in flat and "moved Fri 04 Dec -> " in flat
    assert "fulls per night (baseline -> new): " in flat and "Fri 04 Dec 2 -> 1" in flat
    assert "one job of a VM per night" in flat
    assert len(json.loads(out.read_text())["jobs"]) == 7 * 7


def test_whatif_bad_input_on_a_tiered_baseline_exits_1_and_writes_nothing(
    tmp_path: Path,
) -> None:
    topo, pol, base, _ = _friday(tmp_path)
    out = tmp_path / "new.json"
    res = runner.invoke(
        app,
        ["whatif", str(topo), "-p", str(pol), "-b", str(base), "--remove", "nope", "-o", str(out)],
    )
    assert res.exit_code == 1, res.output
    assert "unknown VM 'nope'" in res.output and not out.exists()


def test_whatif_that_does_not_fit_explains_with_the_group_rule(tmp_path: Path) -> None:
    """Two gold VMs that fit on one host (300 + 60 min a night) no longer do when their
    incrementals grow to 65 min: exit 2, and the explanation names the group rule."""
    topo, pol = _files(tmp_path, *_two_on_one_host(0.2))
    base, _ = _plan(tmp_path, topo, pol)
    res = runner.invoke(
        app,
        [
            "whatif",
            str(topo),
            "-p",
            str(pol),
            "-b",
            str(base),
            "--set",
            "tiers.gold.change_rate=0.21",
        ],
    )
    assert res.exit_code == 2, res.output
    flat = " ".join(res.output.split())
    assert "why it does not fit:" in flat
    assert "take distinct nights" in flat and "host esx01" in flat


def test_headroom_of_a_tiered_estate_shows_the_worst_night(tmp_path: Path) -> None:
    topo, pol = _files(tmp_path, *_one_host_gold(["sql1", "sql2"]))
    res = runner.invoke(app, ["headroom", str(topo), "-p", str(pol)])
    assert res.exit_code == 0, res.output
    # The host's block work spread evenly: 2 * (150 + 6 * 15) / 7 = 69 min a night.
    assert "worst" in res.output and "Tue 01 Dec" in res.output and "1h09m /" in res.output


def test_check_reports_a_moved_tiered_vm_once_and_a_tier_change(tmp_path: Path) -> None:
    model_topo, model_pol = _one_host_gold(["sql1", "sql2"])
    topo, pol = _files(tmp_path, model_topo, model_pol)
    base, _ = _plan(tmp_path, topo, pol)
    data = yaml.safe_load(topo.read_text())
    data["vms"][0]["host"] = "esx02"  # DRS moved sql1
    data["vms"][1]["tags"] = []  # sql2 left the gold tier
    current = tmp_path / "current.yaml"
    current.write_text(yaml.safe_dump(data))
    fixed = tmp_path / "fixed.json"
    res = runner.invoke(app, ["check", str(base), "--topology", str(current), "-o", str(fixed)])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert flat.count("drift sql1") == 1
    assert "sql1: vMotion/DRS moved it from esx01 to esx02 (its 7 jobs)" in flat
    assert (
        "sql2: now matches no tier (the single regime), its jobs were planned for tier 'gold'"
        in flat
    )
    res = runner.invoke(app, ["check", str(fixed), "--topology", str(current)])
    assert res.exit_code == 0 and "still match" in res.output, res.output
