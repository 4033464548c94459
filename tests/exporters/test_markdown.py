"""Markdown report: parsed with markdown-it (tables), one row per job."""

from __future__ import annotations

from datetime import datetime, timedelta

import schedules
from markdown_it import MarkdownIt
from schedules import estate_schedule, make_schedule

from stagger.exporters._common import local
from stagger.exporters.markdown import render
from stagger.exporters.options import ExportOptions


def _tables(text: str) -> list[list[list[str]]]:
    """Every table as rows of cells, each cell's text as rendered (escapes resolved)."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    tables: list[list[list[str]]] = []
    row: list[str] | None = None  # None outside a table row
    for t in tokens:
        if t.type == "table_open":
            tables.append([])
        elif t.type == "tr_open":
            row = []
        elif t.type == "inline" and tables and t.map is not None and row is not None:
            row.append("".join(k.content for k in t.children or []))
        elif t.type == "tr_close" and row is not None:
            tables[-1].append(row)
            row = None  # text after the table (the Rollback paragraph) joined the last row
    return tables


def test_report_tables() -> None:
    sched = estate_schedule()
    text = render(sched, ExportOptions())
    tables = _tables(text)
    jobs = next(t for t in tables if t[0][:3] == ["start", "end", "VM"])
    rows = jobs[1:]
    assert len(rows) == len(sched.jobs)
    by_vm = {j.vm: j for j in sched.jobs}
    for r in rows:
        j = by_vm[r[2]]
        assert r[0] == f"{local(sched, j.start):%a %Y-%m-%d %H:%M}"
        assert r[3] == j.vm  # the vCenter name (no MoRef known in this estate)
        assert r[4] == j.host and int(r[8]) == j.duration_min
    unsched = next(t for t in tables if t[0] == ["VM", "reason"])
    assert [r[0] for r in unsched[1:]] == ["huge01"]
    assert f"gap {sched.gap_text()}" in text
    assert "# Backup schedule change" in text.splitlines()[0]


def test_end_column_is_each_jobs_end() -> None:
    """The end column (a clock time) is the job's end, read back as a datetime after its
    start (the next day when the job crosses midnight) and compared as a datetime: a string
    compare of "HH:MM" could not tell 23:50 from 00:10 the next day."""
    # mail01 (25 min) from 23:50 ends at 00:15 the next day.
    sched = make_schedule(
        schedules.topology(schedules.ESTATE),
        schedules.policy(schedules.POLICY.replace("NIGHTS", "1")),
        {**schedules.STARTS, "mail01": "2026-12-01T23:50"},
        unscheduled={"huge01": "does not fit"},
    )
    rows = next(t for t in _tables(render(sched, ExportOptions())) if t[0][:2] == ["start", "end"])
    by_vm = {j.vm: j for j in sched.jobs}
    crossed = 0
    for r in rows[1:]:
        j = by_vm[r[2]]
        start = datetime.strptime(r[0], "%a %Y-%m-%d %H:%M")
        clock = datetime.strptime(r[1], "%H:%M").time()
        end = datetime.combine(start.date(), clock)
        if end <= start:
            end += timedelta(days=1)
            crossed += 1
        assert j.duration_min < 24 * 60
        assert end == local(sched, j.end).replace(tzinfo=None), (r, j.end)
        assert end > start
    assert crossed, "no job of the estate crosses midnight: the test would not see a day"
