"""`stagger export` end to end with typer's CliRunner: formats, refusals, --trust."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exporters"))
from schedules import estate_schedule

from stagger.cli import app
from stagger.exporters.jsoncsv import schedule_json

runner = CliRunner()


def _schedule_file(tmp_path: Path, edit: object = None) -> Path:
    data = json.loads(schedule_json(estate_schedule()))
    if callable(edit):
        edit(data)
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [
        ("bacula", "Schedule {"),
        ("veeam", "Set-VBRJobSchedule"),
        ("cron", "CRON_TZ=Europe/Berlin"),
        ("ics", "BEGIN:VCALENDAR"),
        ("html", '<div id="chart">'),
        ("md", "# Backup schedule change"),
    ],
)
def test_each_format(tmp_path: Path, fmt: str, marker: str) -> None:
    out = tmp_path / f"out.{fmt}"
    res = runner.invoke(app, ["export", str(_schedule_file(tmp_path)), "-f", fmt, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert marker in out.read_text(encoding="utf-8")


def test_standalone_and_stdout(tmp_path: Path) -> None:
    sched = _schedule_file(tmp_path)
    res = runner.invoke(app, ["export", str(sched), "-f", "bacula", "--standalone", "-o", "-"])
    assert res.exit_code == 0 and "Director {" in res.output
    res = runner.invoke(app, ["export", str(sched), "-f", "veeam", "--per-vm", "-o", "-"])
    assert res.exit_code == 0 and "'stagger sql01'" in res.output


def test_wrong_schema_version_refused(tmp_path: Path) -> None:
    def bump(d: dict) -> None:
        d["schema_version"] = "stagger.schedule/9"

    out = tmp_path / "out.ics"
    res = runner.invoke(
        app, ["export", str(_schedule_file(tmp_path, bump)), "-f", "ics", "-o", str(out)]
    )
    assert res.exit_code == 1
    assert "schema_version" in res.output and "stagger.schedule/1" in res.output
    assert not out.exists()


def _overlap(d: dict) -> None:
    """Hand-edit web01 onto sql01's time: same RAID group RG-2 at once."""
    sql = next(j for j in d["jobs"] if j["vm"] == "sql01")
    web = next(j for j in d["jobs"] if j["vm"] == "web01")
    web["start"] = sql["start"]
    web["end"] = sql["start"].replace("20:00", "20:20")


def test_overlap_refused_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "out.conf"
    sched = _schedule_file(tmp_path, _overlap)
    res = runner.invoke(app, ["export", str(sched), "-f", "bacula", "-o", str(out)])
    assert res.exit_code == 4
    assert "invalid schedule" in res.output and "RG-2" in res.output
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [sched]  # no temp file left
    res = runner.invoke(app, ["export", str(sched), "-f", "md", "-o", "-"])
    assert res.exit_code == 4 and "|" not in res.output


def test_trust_bypasses_validation(tmp_path: Path) -> None:
    out = tmp_path / "out.conf"
    sched = _schedule_file(tmp_path, _overlap)
    res = runner.invoke(app, ["export", str(sched), "-f", "bacula", "--trust", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "daily at 20:00" in out.read_text()


def test_unknown_format(tmp_path: Path) -> None:
    res = runner.invoke(app, ["export", str(_schedule_file(tmp_path)), "-f", "pdf", "-o", "x"])
    assert res.exit_code == 1 and "unknown export format 'pdf'" in res.output


def test_plan_export_option(tmp_path: Path) -> None:
    minimal = Path(__file__).resolve().parents[2] / "examples" / "minimal"
    out, page, cal = tmp_path / "s.json", tmp_path / "plan.html", tmp_path / "plan.ics"
    res = runner.invoke(
        app,
        [
            "plan", str(minimal / "topology.yaml"), "-p", str(minimal / "policy.yaml"),
            "-o", str(out), "--solver", "greedy",
            "--export", f"html:{page}", "--export", f"ics:{cal}",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    jobs = json.loads(out.read_text())["jobs"]
    assert page.read_text().count('"vm":') == len(jobs)
    assert cal.read_text().count("BEGIN:VEVENT") == len(jobs)
    bad = runner.invoke(
        app, ["plan", str(minimal / "topology.yaml"), "-p", str(minimal / "policy.yaml"),
              "-o", str(tmp_path / "t.json"), "--export", "html"],
    )  # fmt: skip
    assert bad.exit_code == 1 and "FMT:OUT" in bad.output
    assert not (tmp_path / "t.json").exists()  # refused before planning
