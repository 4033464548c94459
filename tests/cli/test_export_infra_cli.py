"""`stagger export` of a schedule planned with an infrastructure file: the exporters get the
embedded infrastructure (proxies' and repositories' slots), and bacula takes --client."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exporters"))
from schedules import planned_with_infrastructure

from stagger.cli import app
from stagger.exporters.jsoncsv import schedule_json

runner = CliRunner()


def _schedule_file(tmp_path: Path) -> Path:
    path = tmp_path / "schedule.json"
    path.write_text(schedule_json(planned_with_infrastructure()))
    return path


def test_veeam_and_bacula_get_the_infrastructure(tmp_path: Path) -> None:
    sched = _schedule_file(tmp_path)
    res = runner.invoke(app, ["export", str(sched), "-f", "veeam", "-o", "-"])
    assert res.exit_code == 0, res.output
    assert "@{ Name = 'prx-any'; MaxTasks = '2'; TransportMode = 'Nbd'" in res.output
    res = runner.invoke(app, ["export", str(sched), "-f", "bacula", "--standalone", "-o", "-"])
    assert res.exit_code == 0, res.output
    assert "# Storage stagger-repo-1: Maximum Concurrent Jobs = 12" in res.output


def test_bacula_client_template(tmp_path: Path) -> None:
    sched = _schedule_file(tmp_path)
    res = runner.invoke(
        app, ["export", str(sched), "-f", "bacula", "--client", "{proxy}-fd", "-o", "-"]
    )
    assert res.exit_code == 0, res.output
    assert '  Client = "prx-b1-fd"' in res.output


def test_client_is_bacula_only(tmp_path: Path) -> None:
    out = tmp_path / "x.ps1"
    res = runner.invoke(
        app,
        ["export", str(_schedule_file(tmp_path)), "-f", "veeam", "--client", "x", "-o", str(out)],
    )
    assert res.exit_code == 1 and "--client" in res.output
    assert not out.exists()
