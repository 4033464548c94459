"""examples/week: the 7-night tiered estate plans whole, validates, staggers its fulls over the
week, is deterministic, and its generator reproduces the committed YAML."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagger.cli import app
from stagger.cycle import cycle_jobs
from stagger.exporters import bacula
from stagger.exporters.options import ExportOptions
from stagger.planner import PlanOptions, plan
from stagger.sources.yamlfile import load_inputs, load_schedule
from stagger.tiers import assign_tiers
from stagger.validate import find_violations
from tests.exporters.schedules import require_tool
from tests.factories import EXAMPLES

WEEK = EXAMPLES / "week"
TOPO, POLICY = WEEK / "topology.yaml", WEEK / "policy.yaml"
runner = CliRunner()


@pytest.fixture(scope="module")
def greedy_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One plan of the week through the CLI (greedy: the suite stays cheap; the README shows
    CP-SAT), shared by the tests below."""
    out = tmp_path_factory.mktemp("week") / "schedule.json"
    args = ["plan", str(TOPO), "-p", str(POLICY), "-o", str(out), "--solver", "greedy"]
    res = runner.invoke(app, [*args, "--seed", "1"])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_the_week_is_the_estate_the_docs_describe() -> None:
    topo, pol = load_inputs(TOPO, POLICY)
    tiers = Counter(t.name if t else None for t in assign_tiers(topo, pol).values())
    assert sum(tiers.values()) == 400  # about 400 VMs that need a backup
    assert tiers == {"gold": 40, "files": 12, "legacy": 16, "default": 332}
    idx = topo.index()
    tier_of = assign_tiers(topo, pol)
    gold = [vm for vm in topo.vms if (t := tier_of.get(vm.name)) is not None and t.name == "gold"]
    assert {idx.hosts[vm.host].cluster for vm in gold} == {"SQL-A", "SQL-B"}
    by_name = {t.name: t for t in pol.tiers}
    assert by_name["gold"].consistency == "application" and by_name["gold"].priority == 1
    assert str(by_name["gold"].window) == "22:00-04:00"
    assert by_name["gold"].pre_script and by_name["gold"].post_script
    assert by_name["legacy"].consistency == "power-off" and by_name["legacy"].window
    assert pol.cycle.nights == 7 and pol.blackouts


def test_generator_reproduces_the_committed_topology(tmp_path: Path) -> None:
    # The generator writes next to itself: run a copy in a scratch folder.
    script = tmp_path / "generate.py"
    script.write_text((WEEK / "generate.py").read_text())
    subprocess.run([sys.executable, str(script)], check=True, cwd=tmp_path)
    assert (tmp_path / "topology.yaml").read_text() == TOPO.read_text()


def test_the_week_plans_every_vm_and_validates(greedy_plan: tuple[Path, str]) -> None:
    out, output = greedy_plan
    schedule = json.loads(out.read_text())
    topo, pol = load_inputs(TOPO, POLICY)
    assert schedule["unscheduled"] == []
    assert len(schedule["jobs"]) == len(cycle_jobs(topo, pol)) == 2704
    assert "2704 planned, 0 unscheduled" in output
    res = runner.invoke(app, ["validate", str(TOPO), str(POLICY), str(out)])
    assert res.exit_code == 0, res.output
    assert "valid: 2704 jobs, 0 unscheduled" in res.output


def test_the_week_staggers_its_fulls(greedy_plan: tuple[Path, str]) -> None:
    out, output = greedy_plan
    jobs = json.loads(out.read_text())["jobs"]
    fulls = Counter(j["night"] for j in jobs if j["level"] == "full")
    assert sorted(fulls) == list(range(7))  # a full on every night of the week
    average = sum(fulls.values()) / 7
    assert max(fulls.values()) <= 2 * average, fulls
    # Legacy fulls are fixed on Sunday (night 6), in the 01:00-05:00 maintenance window.
    legacy = [j for j in jobs if j["tier"] == "legacy"]
    assert len(legacy) == 16 and {j["night"] for j in legacy} == {6}
    assert all(j["start"][11:16] >= "01:00" and j["end"][11:16] <= "05:00" for j in legacy)
    # The summary's per-night lines show each night's fulls.
    for night, count in fulls.items():
        assert re.search(rf"│ {night}\s.*│ {count}\s+│", output), (night, count, output)


def test_the_week_plans_the_same_twice(greedy_plan: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = greedy_plan
    again = tmp_path / "again.json"
    args = ["plan", str(TOPO), "-p", str(POLICY), "-o", str(again), "--solver", "greedy"]
    res = runner.invoke(app, [*args, "--seed", "1"])
    assert res.exit_code == 0, res.output
    first, second = json.loads(out.read_text()), json.loads(again.read_text())
    assert first["jobs"] == second["jobs"]


def test_the_week_plans_with_cpsat_and_validates() -> None:
    """The default solver on a small deterministic budget (the README's run uses the
    default budget): every VM planned and the independent validator agrees."""
    topo, pol = load_inputs(TOPO, POLICY)
    opts = PlanOptions(solver="cpsat", deterministic_budget=0.1, seed=1, workers=1)
    schedule = plan(topo, pol, opts).schedule
    assert not schedule.unscheduled and len(schedule.jobs) == 2704
    assert find_violations(schedule, topo, pol) == []


def test_cycle_lists_the_weeks_jobs(tmp_path: Path) -> None:
    out = tmp_path / "jobs.json"
    res = runner.invoke(app, ["cycle", str(TOPO), str(POLICY), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "2704 jobs" in res.output
    for tier, vms, fulls, incrementals in (
        ("gold", 40, 40, 240),
        ("files", 12, 12, 72),
        ("default", 332, 332, 1992),
        ("legacy", 16, 16, 0),
    ):
        assert re.search(rf"{tier}\s.*\s{vms}\s.*\s{fulls}\s.*\s{incrementals}\s", res.output)
    # The one SQL VM with outdated VMware Tools is warned about (VSS may fail), on one line.
    assert "tier 'gold' asks for application-consistent backups but 1 of its VMs" in res.output
    jobs = json.loads(out.read_text())
    assert len(jobs) == 2704


def test_the_weeks_bacula_export_passes_bacula_dir(
    greedy_plan: tuple[Path, str], tmp_path: Path
) -> None:
    """The README shows the week's Bacula export: the real Director parser accepts it, and
    it holds each gold VM's full and incremental runs and the tier's scripts."""
    out, _ = greedy_plan
    schedule = load_schedule(out)
    conf = bacula.render(schedule, ExportOptions(standalone=True, workdir=str(tmp_path)))
    db = tmp_path / "bacula.db"  # bacula-dir -t opens the catalog: a Version table
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE Version (VersionId INTEGER UNSIGNED NOT NULL)")
        c.execute("INSERT INTO Version (VersionId) VALUES (16)")
    (tmp_path / "bacula-dir.conf").write_text(conf)
    res = subprocess.run(
        [require_tool("bacula-dir"), "-t", "-c", str((tmp_path / "bacula-dir.conf").resolve())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    sqla001 = conf[conf.index('Name = "stagger-sqla001"') :]
    assert "Run = Level=Full" in sqla001 and "Run = Level=Incremental" in sqla001
    assert 'Command = "C:\\\\scripts\\\\sql-pre-freeze.cmd"' in sqla001
