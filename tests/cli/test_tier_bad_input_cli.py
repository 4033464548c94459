"""Issue 14's bad-input list through every command that reads a tiered policy (plan, cycle,
validate): each problem one line (error: exit 1, nothing written; warning: counted, the run
goes on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stagger.cli import app
from tests.cli.test_cycle_cli import BAD, BASE, GOOD_TIER, TOPO

runner = CliRunner()  # click 8.2: .stdout and .stderr apart, .output both


def _commands(topo: Path, pol: Path, out: Path) -> list[list[str]]:
    """plan, cycle and validate of ``topo`` and ``pol``, each writing (or reading) ``out``."""
    return [
        ["plan", str(topo), "-p", str(pol), "-o", str(out)],
        ["cycle", str(topo), str(pol), "-o", str(out)],
        ["validate", str(topo), str(pol), str(out)],
    ]


def _lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


@pytest.mark.parametrize(("tiers", "message"), BAD)
def test_validate_refuses_bad_tiers_in_one_line(tmp_path: Path, tiers: str, message: str) -> None:
    """test_cycle_cli checks plan and cycle; validate reads the same policy."""
    pol = tmp_path / "policy.yaml"
    pol.write_text(BASE + tiers + "\n")
    res = runner.invoke(app, ["validate", str(TOPO), str(pol), str(tmp_path / "s.json")])
    assert res.exit_code == 1, res.output
    [line] = _lines(res.stderr + res.stdout, "error:")
    assert line.startswith(f"error: {pol}: ") and message in line
    assert "Traceback" not in res.stdout + res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml"]


def test_a_tier_that_matches_nothing_is_one_warning_in_every_command(tmp_path: Path) -> None:
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        BASE + GOOD_TIER + "  - {name: ghost, match: {cluster: NOPE-X}, full: {every: 7},"
        " change_rate: 0.1}\n"
    )
    out = tmp_path / "s.json"
    for cmd in _commands(TOPO, pol, out):
        if cmd[0] == "cycle":  # validate below reads the plan's schedule
            cmd[-1] = str(tmp_path / "jobs.json")
        res = runner.invoke(app, cmd)
        assert res.exit_code == 0, (cmd[0], res.stdout, res.stderr)
        warnings = _lines(res.stderr, "warning:")
        assert [w for w in warnings if "'ghost'" in w] == [
            "warning: tier 'ghost' takes no VM: its match selects no VM that needs a backup,"
            " or earlier tiers took them (first match wins)"
        ], (cmd[0], res.stderr)
        assert "1 VM(s) match no tier" in res.stderr
    assert out.exists() and (tmp_path / "jobs.json").exists()


def test_overlapping_tiers_first_match_wins_in_the_plan(tmp_path: Path) -> None:
    pol = tmp_path / "policy.yaml"
    # sql01 (esx01, tag payroll) matches both; it is planned in `first`, as documented.
    pol.write_text(
        BASE
        + "  - {name: first, match: {host: esx01}, incremental: none, full: {every: 7}}\n"
        + GOOD_TIER
    )
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["plan", str(TOPO), "-p", str(pol), "-o", str(out)])
    assert res.exit_code == 0, res.stdout + res.stderr
    jobs = [j for j in json.loads(out.read_text())["jobs"] if j["vm"] == "sql01"]
    assert [(j["tier"], j["level"]) for j in jobs] == [("first", "full")]
    assert "warning: tier 'gold' takes no VM" in res.stderr
    res = runner.invoke(app, ["validate", str(TOPO), str(pol), str(out)])
    assert res.exit_code == 0, res.stdout + res.stderr


POWER_OFF = (
    "  - {name: cold, match: {tag: payroll}, incremental: none,"
    ' full: {on: "FREQ=WEEKLY;BYDAY=SU"}, consistency: power-off}\n'
)


def _topology_with_windows(tmp_path: Path, windows: dict[str, dict[str, str]]) -> Path:
    topo = yaml.safe_load(TOPO.read_text())
    for vm in topo["vms"]:
        if vm["name"] in windows:
            vm["window"] = windows[vm["name"]]
        vm["tags"] = ["payroll"]  # both VMs in the power-off tier
    path = tmp_path / "topology.yaml"
    path.write_text(yaml.safe_dump(topo))
    return path


def test_power_off_without_any_maintenance_window_is_one_error(tmp_path: Path) -> None:
    """Neither the tier nor one of its VMs has a window: refused by every command, naming
    the VM that lacks one; nothing written."""
    topo = _topology_with_windows(tmp_path, {"sql01": {"start": "01:00", "end": "05:00"}})
    pol = tmp_path / "policy.yaml"
    pol.write_text(BASE + POWER_OFF)
    out = tmp_path / "out.json"
    for cmd in _commands(topo, pol, out):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 1, (cmd[0], res.stdout, res.stderr)
        [line] = _lines(res.stderr + res.stdout, "error:")
        assert line == (
            f"error: {pol}: tier 'cold': field 'window': a power-off tier needs a maintenance"
            " window: set `window` on the tier or on each of its VMs (1 of its VMs have none:"
            " 'web01')"
        )
        assert not out.exists()


def test_power_off_with_each_vms_own_window_plans_inside_them(tmp_path: Path) -> None:
    """A VM's own `window` is its maintenance window when the tier sets none."""
    windows = {
        "sql01": {"start": "01:00", "end": "05:00"},
        "web01": {"start": "23:00", "end": "02:00"},
    }
    topo = _topology_with_windows(tmp_path, windows)
    pol = tmp_path / "policy.yaml"
    pol.write_text(BASE + POWER_OFF)
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["plan", str(topo), "-p", str(pol), "-o", str(out)])
    assert res.exit_code == 0, res.stdout + res.stderr
    jobs = json.loads(out.read_text())["jobs"]
    assert {j["vm"]: j["night"] for j in jobs} == {"sql01": 5, "web01": 5}  # Sunday 6 Dec
    for job in jobs:
        start, end = job["start"][11:16], job["end"][11:16]
        window = windows[job["vm"]]
        if window["start"] < window["end"]:
            assert window["start"] <= start and end <= window["end"], job
        else:  # crosses midnight
            assert start >= window["start"] or end <= window["end"], job
    res = runner.invoke(app, ["validate", str(topo), str(pol), str(out)])
    assert res.exit_code == 0, res.stdout + res.stderr
