"""Tiers through the loader and the CLI: `stagger cycle`, bad input, and the planner's refusal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stagger.cli import app
from stagger.errors import InputError
from stagger.sources.yamlfile import load_inputs
from tests.factories import EXAMPLES, ROOT

runner = CliRunner()
TOPO = EXAMPLES / "minimal" / "topology.yaml"
BASE = """timezone: Europe/Berlin
cycle: {start: 2026-12-01, nights: 7}
window: {start: "20:00", end: "06:00"}
throughput: {mb_per_s: 100, overhead_minutes: 5}
tiers:
"""
GOOD_TIER = "  - {name: gold, match: {tag: payroll}, full: {every: 7}, change_rate: 0.1}\n"


def _docs_example() -> str:
    text = (ROOT / "docs" / "tiers.md").read_text()
    return re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)[0]


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_docs_example_lists_the_jobs_it_says(tmp_path: Path) -> None:
    pol = tmp_path / "policy.yaml"
    pol.write_text(_docs_example())
    out = tmp_path / "jobs.json"
    res = runner.invoke(app, ["cycle", str(TOPO), str(pol), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "warning: tier 'legacy' takes no VM" in res.output
    assert re.search(r"sql\s.*\s1\s.*\s1\s.*\s6\s.*3h57m", res.output)
    assert re.search(r"web\s.*\s1\s.*\s1\s.*\s5\s.*1h00m", res.output)
    jobs = json.loads(out.read_text())
    assert len(jobs) == 13 and "13 jobs" in res.output
    sat = [j for j in jobs if j["vm"] == "web01" and j["level"] == "full"]
    assert [j["nights"] for j in sat] == [[4]]  # Saturday 5 December
    assert jobs[0]["pre_script"] == "C:\\scripts\\pre-freeze.cmd"
    assert jobs[0]["window"] == {"start": "22:00", "end": "04:00"}


BAD = [
    (
        "  - {name: gold, match: {tag: payroll}, full: weekly, change_rate: 0.1}",
        "tier 'gold': field 'full': full is {every: N}, {on: RRULE} or none, not 'weekly'",
    ),
    (
        "  - {name: gold, match: {tag: payroll}, full: {every: 8}, change_rate: 0.1}",
        "tier 'gold': field 'full.every': one full every 8 nights is longer than the cycle"
        " (7 nights)",
    ),
    (
        "  - {name: cold, match: {tag: payroll}, incremental: none, full: {every: 7},"
        " consistency: power-off}",
        "tier 'cold': field 'window': a power-off tier needs a maintenance window",
    ),
    (
        "  - {name: gold, match: {tag: payroll}, full: {every: 7}, change_rate: 0.1,"
        ' window: {start: "19:00", end: "23:00"}}',
        "tier 'gold': field 'window': 19:00-23:00 is not inside the policy window 20:00-06:00",
    ),
    (
        "  - {name: gold, match: {tag: payroll}, full: {every: 7}, change_rate: 0.1,"
        ' window: {start: "04:00", end: "07:00"}}',
        "tier 'gold': field 'window': 04:00-07:00 is not inside the policy window",
    ),
    (GOOD_TIER.rstrip("\n") + "\n" + GOOD_TIER.rstrip("\n"), "duplicate tier name"),
    (
        '  - {name: gold, match: {tag: payroll}, full: {on: "FREQ=WEEKLY;BYDAY=XX"}}',
        "tier 'gold': field 'full.on': bad RRULE 'FREQ=WEEKLY;BYDAY=XX'",
    ),
    (
        '  - {name: gold, match: {tag: payroll}, incremental: "FREQ=HOURLY", full: none,'
        " change_rate: 0.1}",
        "tier 'gold': field 'incremental': bad RRULE 'FREQ=HOURLY': a rule of nights needs",
    ),
    (
        '  - {name: gold, match: {tag: payroll}, incremental: "FREQ=YEARLY;BYMONTH=2;'
        'BYMONTHDAY=30", full: none, change_rate: 0.1}',
        "tier 'gold': field 'incremental': this rule never matches",
    ),
    (
        "  - {name: gold, match: {tag: payroll}, full: {every: 7}}",
        "tier 'gold': field 'change_rate': a tier with incrementals needs a change_rate",
    ),
    (
        '  - {name: gold, match: {tag: payroll}, full: {every: 7, on: "FREQ=DAILY"}}',
        "tier 'gold': field 'full': give exactly one of",
    ),
    (
        "  - {name: gold, match: {default: true, host: esx01}, full: {every: 7}, change_rate: 0.1}",
        "tier 'gold': field 'match': `default: true` takes every VM: drop host",
    ),
    (
        '  - {name: "go\\u001bld", match: {tag: payroll}, full: {every: 7}, change_rate: 0.1}',
        "tier 'go\\x1bld': field 'name': holds control character U+001B",
    ),
]


@pytest.mark.parametrize(("tiers", "message"), BAD)
def test_bad_tiers_refused_by_loader_and_cli(tmp_path: Path, tiers: str, message: str) -> None:
    pol = tmp_path / "policy.yaml"
    pol.write_text(BASE + tiers + "\n")
    with pytest.raises(InputError) as err:
        load_inputs(TOPO, pol)
    assert message in str(err.value) and err.value.file == str(pol)
    out = tmp_path / "jobs.json"
    for cmd in (
        ["cycle", str(TOPO), str(pol), "-o", str(out)],
        ["plan", str(TOPO), "-p", str(pol), "-o", str(out)],
    ):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 1, res.output
        [line] = _error_lines(res.output)  # one line, naming file, tier and field
        assert line.startswith(f"error: {pol}: ") and message in line
        assert "Traceback" not in res.output
        assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml"]


def test_vm_window_outside_the_policy_window_is_one_line(tmp_path: Path) -> None:
    topo = yaml.safe_load(TOPO.read_text())
    topo["vms"][0]["window"] = {"start": "19:00", "end": "21:00"}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(topo))
    pol = tmp_path / "p.yaml"
    pol.write_text(BASE + GOOD_TIER)
    res = runner.invoke(app, ["cycle", str(tmp_path / "t.yaml"), str(pol)])
    assert res.exit_code == 1
    [line] = _error_lines(res.output)
    assert "vm 'sql01': field 'window': 19:00-21:00 is not inside the policy window" in line


def test_unmatched_tier_is_a_counted_warning_and_the_run_goes_on(tmp_path: Path) -> None:
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        BASE + GOOD_TIER + "  - {name: ghost, match: {vms: [nope, gone]}, full: {every: 7},"
        " change_rate: 0.1}\n"
    )
    res = runner.invoke(app, ["cycle", str(TOPO), str(pol)])
    assert res.exit_code == 0, res.output
    assert "warning: tier 'ghost' takes no VM" in res.output
    assert "tier 'ghost': match.vms names 2 VM(s) the estate lacks: 'nope', 'gone'" in res.output
    assert "1 VM(s) match no tier and keep the policy's single regime" in res.output


def test_overlapping_tiers_first_match_wins(tmp_path: Path) -> None:
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        BASE
        + "  - {name: first, match: {host: esx01}, incremental: none, full: {every: 7}}\n"
        + GOOD_TIER
    )
    out = tmp_path / "jobs.json"
    res = runner.invoke(app, ["cycle", str(TOPO), str(pol), "-o", str(out)])
    assert res.exit_code == 0, res.output
    sql = [j for j in json.loads(out.read_text()) if j["vm"] == "sql01"]  # on esx01, payroll
    assert [j["tier"] for j in sql] == ["first"]
    assert "tier 'gold' takes no VM" in res.output


def test_plan_plans_tiers_and_validate_checks_them(tmp_path: Path) -> None:
    plain = EXAMPLES / "minimal" / "policy.yaml"
    sched = tmp_path / "s.json"
    res = runner.invoke(app, ["plan", str(TOPO), "-p", str(plain), "-o", str(sched)])
    assert res.exit_code == 0, res.output
    tiered = tmp_path / "tiered.yaml"
    tiered.write_text(plain.read_text() + "tiers:\n" + GOOD_TIER.replace("every: 7", "every: 1"))
    # The validator checks tiers: a plan made without them is not the tiered cycle.
    res = runner.invoke(app, ["validate", str(TOPO), str(tiered), str(sched)])
    assert res.exit_code == 4, res.output
    assert "job sql01 night 0 full: tier None, the policy puts the VM in 'gold'" in res.output
    # Planned with the tiers: every export written, and the independent validator agrees.
    out, csv, html = tmp_path / "t.json", tmp_path / "t.csv", tmp_path / "t.html"
    args = ["plan", str(TOPO), "-p", str(tiered), "-o", str(out), "--csv", str(csv)]
    res = runner.invoke(app, [*args, "--export", f"html:{html}"])
    assert res.exit_code == 0, res.output
    assert out.exists() and csv.exists() and html.exists()
    jobs = json.loads(out.read_text())["jobs"]
    assert {j["level"] for j in jobs if j["vm"] == "sql01"} == {"full"}  # every: 1
    res = runner.invoke(app, ["validate", str(TOPO), str(tiered), str(out)])
    assert res.exit_code == 0, res.output
    # A VM's own window is planned: web01 runs inside 21:00-23:00.
    topo = yaml.safe_load(TOPO.read_text())
    topo["vms"][1]["window"] = {"start": "21:00", "end": "23:00"}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(topo))
    res = runner.invoke(app, ["plan", str(tmp_path / "w.yaml"), "-p", str(plain), "-o", str(out)])
    assert res.exit_code == 0, res.output
    [web] = [j for j in json.loads(out.read_text())["jobs"] if j["vm"] == "web01"]
    assert web["start"][11:16] >= "21:00" and web["end"][11:16] <= "23:00"
