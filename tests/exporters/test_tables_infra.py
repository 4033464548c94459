"""CSV and Markdown of a schedule planned with an infrastructure file: proxy, mode and
repository columns (CSV: only then, so other schedules keep exactly their columns), and the
Markdown report's per-proxy/per-repository table. Hostile names read back exactly."""

from __future__ import annotations

import csv
import io

from schedules import ASSIGN, estate_schedule, with_infrastructure
from test_hostile import _md_tables

from stagger.errors import visible
from stagger.exporters.jsoncsv import CSV_COLUMNS, INFRA_CSV_COLUMNS, schedule_csv
from stagger.exporters.options import ExportOptions
from stagger.exporters.quoting import csv_uncell
from stagger.exporters.registry import render
from tests.hostile import VM_NAMES

# Spreadsheet formula prefixes, quotes, Markdown/HTML syntax, a pipe, RTL marks.
HOSTILE = ["=HYPERLINK(1)", "-1+1", "a | b", "<b>x</b>", "[x](y)", "`c`", "\u200fr", *VM_NAMES[:5]]


def _hostile_schedule():  # type: ignore[no-untyped-def]
    infra = {
        "proxies": [{"name": n, "max_tasks": 2, "modes": ["nbd"]} for n in HOSTILE[:5]],
        "transport": {"nbd": {"mb_per_s": 120}},
        "repositories": [
            {"name": n, "max_tasks": 2, "ingest_mb_per_s": 500} for n in HOSTILE[5:10]
        ],
    }
    assign = {vm: (HOSTILE[i], "nbd", HOSTILE[5 + i]) for i, vm in enumerate(ASSIGN)}
    return with_infrastructure(estate_schedule(), infra, assign), assign


def test_csv_without_infrastructure_keeps_its_columns() -> None:
    header = schedule_csv(estate_schedule()).split("\r\n")[0]
    assert header == ",".join(CSV_COLUMNS)


def test_csv_infrastructure_columns_read_back() -> None:
    sched, assign = _hostile_schedule()
    rows = list(csv.DictReader(io.StringIO(schedule_csv(sched), newline="")))
    assert list(rows[0]) == CSV_COLUMNS + INFRA_CSV_COLUMNS
    for row, j in zip(rows, sched.jobs, strict=True):
        proxy, mode, repo = assign[j.vm]
        assert (csv_uncell(row["proxy"]), row["mode"], csv_uncell(row["repository"])) == (
            proxy,
            mode,
            repo,
        )
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_markdown_columns_and_infrastructure_table() -> None:
    sched, assign = _hostile_schedule()
    text = render(sched, "md", ExportOptions())
    tables = _md_tables(text)
    for table in tables:
        assert all(len(row) == len(table[0]) for row in table)
        assert all(k <= {"text"} for row in table for _, k in row)
    jobs = next(t for t in tables if [c for c, _ in t[0][:3]] == ["start", "end", "VM"])
    head = [c for c, _ in jobs[0]]
    assert head[-3:] == ["proxy", "mode", "repository"]
    got = {(r[2][0], r[-3][0], r[-2][0], r[-1][0]) for r in jobs[1:]}
    want = {
        (visible(vm).strip(), visible(p).strip(), m, visible(r).strip())
        for vm, (p, m, r) in assign.items()
    }
    assert got == want
    infra = next(t for t in tables if t[0][0][0] == "kind")
    assert [(r[0][0], r[1][0], r[2][0], r[4][0]) for r in infra[1:]] == [
        *(("proxy", visible(n).strip(), "2", "1") for n in HOSTILE[:5]),
        *(("repository", visible(n).strip(), "2", "1") for n in HOSTILE[5:10]),
    ]


def test_markdown_without_infrastructure_has_no_such_columns() -> None:
    text = render(estate_schedule(), "md", ExportOptions())
    assert "proxy" not in text and "Backup infrastructure" not in text
