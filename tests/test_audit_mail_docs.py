"""docs/audit-mail.md stays true: its schedules fire on Mondays at 07:00 and its commands parse."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
from datetime import datetime

import pytest
from croniter import croniter
from typer.main import get_command

from stagger.cli import app
from tests.factories import ROOT

DOC = (ROOT / "docs" / "audit-mail.md").read_text()


def _blocks() -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", DOC, flags=re.S)


def _cron_line() -> str:
    (line,) = [ln for b in _blocks() for ln in b.splitlines() if re.match(r"^[0-9*]+ [0-9*]", ln)]
    return line


def _on_calendar() -> str:
    (spec,) = re.findall(r"^OnCalendar=(.+)$", DOC, flags=re.M)
    return str(spec)


def test_cron_line_fires_every_monday_at_seven() -> None:
    fields = _cron_line().split()
    it = croniter(" ".join(fields[:5]), datetime(2026, 11, 25, 12, 0))
    runs = [it.get_next(datetime) for _ in range(4)]
    assert all(r.weekday() == 0 and (r.hour, r.minute) == (7, 0) for r in runs)
    assert [(b - a).days for a, b in itertools.pairwise(runs)] == [7, 7, 7]
    assert fields[5] == "stagger"  # the user field of /etc/cron.d


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_on_calendar_fires_every_monday_at_seven() -> None:
    out = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=3", _on_calendar()],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    nexts = re.findall(r"(?:Next elapse|Iter\. #\d+): (\w+) \S+ (\d\d:\d\d:\d\d)", out)
    assert len(nexts) == 3 and set(nexts) == {("Mon", "07:00:00")}, out


def _doc_commands() -> list[list[str]]:
    cmds = []
    for block in _blocks():
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            m = re.search(r"/usr/local/bin/stagger (audit .*)$", line)
            if m:
                cmds.append(shlex.split(m.group(1)))
    return cmds


def test_doc_commands_use_real_audit_options() -> None:
    cmds = _doc_commands()
    assert len(cmds) == 2  # the systemd service and the cron line
    audit = get_command(app).commands["audit"]  # type: ignore[attr-defined]
    for args in cmds:
        ctx = audit.make_context("audit", args[1:], resilient_parsing=False)
        assert ctx.params["mail_to"] and ctx.params["smtp"] == "mail.example.com:587"
        assert ctx.params["starttls"] is True and ctx.params["smtp_user"] == "stagger"
