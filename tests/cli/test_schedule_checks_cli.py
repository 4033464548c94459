"""Schedules are checked as a whole before validate / export / whatif trust them (CliRunner).

Each test hand-edits a field that an exporter or a report reads and that used to be trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stagger.cli import app

runner = CliRunner()
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def planned(minimal_paths: tuple[Path, Path], tmp_path: Path) -> Path:
    topo, policy = minimal_paths
    out = tmp_path / "s.json"
    args = ["plan", str(topo), "-p", str(policy), "-o", str(out), "--solver", "greedy"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return out


def _edited(path: Path, edit: Edit) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    out = path.with_name("edited.json")
    out.write_text(json.dumps(data))
    return out


def _job(data: dict[str, Any], vm: str) -> dict[str, Any]:
    return next(j for j in data["jobs"] if j["vm"] == vm)


def _one_error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def _new_york(data: dict[str, Any]) -> None:
    data["timezone"] = "America/New_York"


def _new_york_everywhere(data: dict[str, Any]) -> None:
    data["timezone"] = "America/New_York"
    data["inputs"]["policy"]["timezone"] = "America/New_York"


def _bogus_zone(data: dict[str, Any]) -> None:
    data["timezone"] = "Mars/Olympus_Mons"


def _no_nights(data: dict[str, Any]) -> None:
    data["nights"] = []


def _cluster(data: dict[str, Any]) -> None:
    _job(data, "web01")["cluster"] = "PROD-B"


def _makespan(data: dict[str, Any]) -> None:
    data["makespan_min"] = 60
    data["nights"][0]["makespan_min"] = 60


def _night_window(data: dict[str, Any]) -> None:
    data["nights"][0]["window_start"] = "2026-12-01T18:00:00+01:00"


def _size(data: dict[str, Any]) -> None:
    _job(data, "web01")["size_gib"] = 1.0


def _moref(data: dict[str, Any]) -> None:
    _job(data, "web01")["vm_moref"] = "vm-999"


CASES: list[tuple[str, Edit, int, str]] = [
    ("zone moved", _new_york, 4, "timezone 'America/New_York'"),
    ("zone moved with the policy", _new_york_everywhere, 4, "not inside one backup window"),
    # A malformed file (no such zone, no night at all) is refused by the schedule loader
    # itself: bad input, exit 1, before any rule is checked.
    ("bogus zone", _bogus_zone, 1, "unknown IANA time zone 'Mars/Olympus_Mons'"),
    ("empty nights", _no_nights, 1, "field 'nights' is empty"),
    ("cluster", _cluster, 4, "cluster is PROD-B"),
    ("makespan", _makespan, 4, "makespan_min 60, the jobs give 135"),
    ("night window", _night_window, 4, "night 0: window"),
    ("size", _size, 4, "size_gib 1"),
    ("moref", _moref, 4, "vm_moref is 'vm-999'"),
]


@pytest.mark.parametrize(("case", "edit", "code", "message"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("fmt", ["bacula", "html"])
def test_export_refuses_edited_fields_nothing_written(
    planned: Path, case: str, edit: Edit, code: int, message: str, fmt: str
) -> None:
    sched = _edited(planned, edit)
    out = planned.parent / f"out.{fmt}"
    res = runner.invoke(app, ["export", str(sched), "-f", fmt, "-o", str(out)])
    assert res.exit_code == code, res.output
    assert message in _one_error_line(res.output)
    assert not out.exists()


@pytest.mark.parametrize(
    "edit", [_new_york, _bogus_zone, _no_nights, _cluster], ids=lambda f: f.__name__
)
def test_trust_still_checks_fields(planned: Path, edit: Edit) -> None:
    sched = _edited(planned, edit)
    out = planned.parent / "out.conf"
    res = runner.invoke(app, ["export", str(sched), "-f", "bacula", "--trust", "-o", str(out)])
    malformed = edit in (_bogus_zone, _no_nights)  # refused by the loader: bad input
    assert res.exit_code == (1 if malformed else 4), res.output
    _one_error_line(res.output)
    assert not out.exists()


@pytest.mark.parametrize(("case", "edit", "code", "message"), CASES, ids=[c[0] for c in CASES])
def test_validate_refuses_edited_fields(
    minimal_paths: tuple[Path, Path],
    planned: Path,
    case: str,
    edit: Edit,
    code: int,
    message: str,
) -> None:
    topo, policy = minimal_paths
    if edit is _new_york_everywhere:  # checked against the policy file, not the edited copy
        message = "timezone 'America/New_York'"
    res = runner.invoke(app, ["validate", str(topo), str(policy), str(_edited(planned, edit))])
    assert res.exit_code == code, res.output
    assert message in res.output and "Traceback" not in res.output


def test_validate_prints_the_recomputed_makespan(
    minimal_paths: tuple[Path, Path], planned: Path
) -> None:
    topo, policy = minimal_paths
    res = runner.invoke(app, ["validate", str(topo), str(policy), str(planned)])
    assert res.exit_code == 0 and "makespan 2h15m" in res.output, res.output


def _into_blackout_without_it(data: dict[str, Any]) -> None:
    """web01 (cluster PROD-A) moved into the daily av-scan blackout 01:00-02:00, and the
    blackouts deleted from the embedded policy so that the embedded copy agrees."""
    web = _job(data, "web01")
    web["start"], web["end"] = "2026-12-02T01:00:00+01:00", "2026-12-02T01:20:00+01:00"
    data["nights"][0]["last_end"] = web["end"]
    data["nights"][0]["makespan_min"] = data["makespan_min"] = 320
    # The claims follow the new makespan, or the validator refuses the file for them.
    data["gap_pct"] = round((320 - data["lower_bound_min"]) / data["lower_bound_min"] * 100, 2)
    data["solver"]["status"] = "FEASIBLE"
    data["inputs"]["policy"]["blackouts"] = []


def test_export_checks_against_current_inputs_when_given(
    minimal_paths: tuple[Path, Path], planned: Path
) -> None:
    topo, policy = minimal_paths
    sched = _edited(planned, _into_blackout_without_it)
    out = planned.parent / "out.conf"
    res = runner.invoke(app, ["export", str(sched), "-f", "bacula", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "checked against the topology embedded in the schedule and the policy embedded" in (
        res.output.replace("\n", " ")
    )
    out.unlink()
    args = [
        "export",
        str(sched),
        "-f",
        "bacula",
        "-o",
        str(out),
        "-t",
        str(topo),
        "-p",
        str(policy),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 4, res.output
    assert "overlaps blackout 'av-scan'" in _one_error_line(res.output)
    assert not out.exists()
    res = runner.invoke(
        app, ["export", str(planned), "-f", "bacula", "-o", str(out), "-p", str(policy)]
    )
    assert res.exit_code == 0, res.output
    said = res.output.replace("\n", " ")
    assert f"policy {policy}" in said and "topology embedded in the schedule" in said


def test_whatif_and_plan_refuse_an_invalid_baseline(
    minimal_paths: tuple[Path, Path], planned: Path
) -> None:
    topo, policy = minimal_paths
    base = _edited(planned, _new_york)
    out = planned.parent / "new.json"
    res = runner.invoke(
        app, ["whatif", str(topo), "-p", str(policy), "-b", str(base), "-o", str(out)]
    )
    assert res.exit_code == 4, res.output
    assert "baseline" in res.output and "timezone" in _one_error_line(res.output)
    res = runner.invoke(
        app,
        ["plan", str(topo), "-p", str(policy), "-o", str(out), "--baseline", str(base)],
    )
    assert res.exit_code == 4 and "baseline" in res.output, res.output
    assert not out.exists()


def test_export_policy_naming_unknown_objects_is_bad_input(
    minimal_paths: tuple[Path, Path], planned: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        minimal_paths[1].read_text() + "  - {name: x, scope: {host: esx99}, start: "
        '"2026-12-01T22:00", end: "2026-12-01T23:00"}\n'
    )
    out = tmp_path / "out.conf"
    res = runner.invoke(
        app, ["export", str(planned), "-f", "bacula", "-o", str(out), "-p", str(policy)]
    )
    assert res.exit_code == 1, res.output
    assert str(policy) in _one_error_line(res.output) and "esx99" in res.output
    assert not out.exists()
