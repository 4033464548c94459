"""cron exporter: every line parsed back with croniter fires at the job's local start."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from schedules import ESTATE, POLICY, STARTS, estate_schedule, make_schedule, policy, topology

from stagger.exporters.cron import render
from stagger.exporters.options import ExportOptions
from stagger.model.schedule import Schedule


def _entries(text: str) -> list[tuple[str, str, str]]:
    """(comment above, five cron fields, command) per job line; env lines skipped."""
    out = []
    comment = ""
    for line in text.splitlines():
        if line.startswith("#"):
            comment = line
            continue
        if not line.strip() or "=" in line.split()[0]:
            continue
        fields = line.split(None, 5)
        out.append((comment, " ".join(fields[:5]), fields[5]))
    return out


def _vm_of(command: str) -> str:
    argv = shlex.split(command.replace("\\%", "%"))
    return argv[argv.index("-m") + 1]


def _check_fires(sched: Schedule, text: str, zone: ZoneInfo) -> None:
    entries = _entries(text)
    assert len(entries) == len(sched.jobs)
    by_vm = {j.vm: j for j in sched.jobs}
    # Each line's next firing after the cycle opens (minus a minute) is the planned start.
    base = sched.nights[0].window_start.astimezone(zone) - timedelta(minutes=1)
    seen = set()
    for comment, expr, command in entries:
        assert croniter.is_valid(expr), expr
        vm = _vm_of(command)
        job = by_vm[vm]
        seen.add(vm)
        fire = croniter(expr, base.replace(tzinfo=None)).get_next(datetime)
        assert fire == job.start.astimezone(zone).replace(tzinfo=None), (vm, expr)
        assert f"host {job.host}" in comment and vm in comment
        for ds in job.datastores:
            assert ds in comment
    assert seen == set(by_vm)


def test_daily_lines_fire_at_local_start() -> None:
    sched = estate_schedule()
    text = render(sched, ExportOptions())
    assert "CRON_TZ=Europe/Berlin" in text.splitlines()
    _check_fires(sched, text, ZoneInfo("Europe/Berlin"))
    assert "# NOT SCHEDULED: huge01" in text


def test_weekly_and_dated_cycles() -> None:
    for nights, start in ((7, "2026-12-05T03:00"), (3, "2026-12-03T03:00")):
        sched = make_schedule(
            topology(ESTATE),
            policy(POLICY.replace("NIGHTS", str(nights))),
            {**STARTS, "mail01": start},
            unscheduled={"huge01": "too big"},
        )
        text = render(sched, ExportOptions())
        _check_fires(sched, text, ZoneInfo("Europe/Berlin"))
        line = next(e for e in _entries(text) if _vm_of(e[2]) == "mail01")[1]
        assert line == ("0 3 * * 6" if nights == 7 else "0 3 3 12 *")


def test_utc_mode_for_esxi() -> None:
    sched = estate_schedule()
    text = render(sched, ExportOptions(extra={"utc": "yes"}))
    assert not any(line.startswith("CRON_TZ") for line in text.splitlines())
    _check_fires(sched, text, ZoneInfo("UTC"))
    assert text.count("0 19 * * *") == 1  # sql01 20:00 CET = 19:00 UTC
    assert datetime(2026, 12, 1, 19, tzinfo=UTC) == next(
        j.start for j in sched.jobs if j.vm == "sql01"
    )


def test_percent_and_spaces_are_safe() -> None:
    text = render(estate_schedule(), ExportOptions())
    line = next(e for e in _entries(text) if "web 100" in e[2])[2]
    # Quoted for the shell, each % escaped for cron outside the quotes.
    assert "'web 100'\\%''" in line
    assert _vm_of(line) == "web 100%"
    custom = render(estate_schedule(), ExportOptions(command="/opt/bk.sh -m {vm} --host {host}"))
    assert any("--host 'esx01'" in c and _vm_of(c) == "sql01" for _, _, c in _entries(custom))
