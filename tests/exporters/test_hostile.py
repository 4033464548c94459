"""The hostile-names estate (tests/hostile.py) through plan and every export, each read back
by the real parser of its target (issue 11 §1).

Bacula: ``bacula-dir -t`` accepts it and ``bdirjson`` finds exactly one Job per planned VM;
cron: croniter reads every entry and each command line, run by ``sh`` after cron's ``%``
rule, hands the backup script exactly the VM's vCenter name and logs to exactly its slug;
PowerShell: the tree-sitter grammar finds no error, the plan tables are pure data and the
script holds exactly the commands of a benign export; iCalendar, Markdown, CSV and JSON read
back every name. The HTML page is checked in Chromium by tests/exporters/test_html.py.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pwsh
import pytest
from croniter import croniter
from icalendar import Calendar
from markdown_it import MarkdownIt
from schedules import estate_schedule
from test_quoting import bacula_jobs, cronie_command

from stagger.exporters._common import identities
from stagger.exporters.jsoncsv import schedule_csv, schedule_json
from stagger.exporters.quoting import (
    BACULA_MAX_BYTES,
    bacula_value,
    csv_uncell,
    slugs,
    visible,
)
from stagger.exporters.registry import ExportOptions, render
from stagger.model.schedule import Schedule
from stagger.planner import PlanOptions, plan
from tests.hostile import OVERSIZED, PWNED, VM_NAMES, all_names, hostile_estate


@pytest.fixture(scope="module")
def hostile() -> Schedule:
    topo, pol = hostile_estate()
    result = plan(topo, pol, PlanOptions(solver="cpsat", time_limit_s=30, workers=1))
    sched = result.schedule
    # The estate is plannable: every VM but the oversized one.
    assert [u.vm for u in sched.unscheduled] == [OVERSIZED]
    assert len(sched.jobs) == len(topo.vms) - 1
    return sched


@pytest.fixture(autouse=True)
def _no_marker() -> None:
    if os.path.exists(PWNED):
        os.unlink(PWNED)
    yield
    assert not os.path.exists(PWNED), "a name was run as code"


def test_every_hostile_name_is_in_the_plan(hostile: Schedule) -> None:
    names = {j.vm for j in hostile.jobs}
    assert set(VM_NAMES) <= names
    text = schedule_json(hostile)
    assert Schedule.model_validate_json(text) == hostile


def test_bacula_one_job_per_vm(hostile: Schedule, tmp_path: Path) -> None:
    conf = render(hostile, "bacula", ExportOptions(standalone=True, workdir=str(tmp_path)))
    jobs = bacula_jobs(conf, tmp_path)
    names = slugs(j.vm for j in hostile.jobs)
    assert sorted(j["Name"] for j in jobs) == sorted(f"stagger-{names[j.vm]}" for j in hostile.jobs)
    assert not any("RunScript" in job for job in jobs)  # no directive came out of a name
    ids = identities(hostile)
    by_name = {j["Name"]: j for j in jobs}
    checked = 0
    for j in hostile.jobs:
        desc = by_name[f"stagger-{names[j.vm]}"]["Description"]
        assert desc.startswith("stagger: planned ")
        escaped = len(desc.encode()) + desc.count("\\") + desc.count('"')
        assert escaped <= BACULA_MAX_BYTES
        if not desc.endswith("…"):
            assert f"VM {ids[j.vm].name}" in desc and f"host {j.host};" in desc
            checked += 1
    assert checked >= len(hostile.jobs) // 2  # most descriptions are whole
    # The include-file variant (no Director resources) is the tail of the standalone one.
    include = render(hostile, "bacula", ExportOptions())
    assert conf.endswith(include[include.index("Schedule {") :])
    head = include[: include.index("Schedule {")].splitlines()
    assert all(line.startswith("# ") for line in head if line)


def _cron_entries(text: str) -> list[tuple[str, str]]:
    out = []
    # cron ends an entry only at "\n" (str.splitlines would also split at U+2028).
    for line in text.split("\n"):
        if not line or line.startswith("#") or line.startswith("CRON_TZ="):
            continue
        fields = line.split(" ", 5)
        out.append((" ".join(fields[:5]), fields[5]))
    return out


RECORDER = "#!/bin/sh\nprintf '%s\\0' \"$@\"\n"


def test_cron_every_line_runs_exactly_its_vm(hostile: Schedule, tmp_path: Path) -> None:
    recorder = tmp_path / "ghettoVCB.sh"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    logs = tmp_path / "logs"
    logs.mkdir()
    template = (
        f"{recorder} -m {{vm}} -g /etc/ghettovcb/ghettoVCB.conf"
        f" >> {logs}/ghettoVCB-{{slug}}.log 2>&1"
    )
    text = render(hostile, "cron", ExportOptions(command=template))
    entries = _cron_entries(text)
    assert len(entries) == len(hostile.jobs)  # exactly one command line per job
    zone = ZoneInfo(hostile.timezone)
    base = hostile.nights[0].window_start.astimezone(zone) - timedelta(minutes=1)
    ids = identities(hostile)
    names = slugs(j.vm for j in hostile.jobs)
    fires = sorted(
        croniter(expr, base.replace(tzinfo=None)).get_next(datetime) for expr, _ in entries
    )
    assert fires == sorted(j.start.astimezone(zone).replace(tzinfo=None) for j in hostile.jobs)
    expected = {names[j.vm]: ids[j.vm].name for j in hostile.jobs}
    for _, command in entries:
        shell_line, stdin = cronie_command(command)
        assert stdin == ""
        # As cronie runs it, then as busybox crond (ESXi, no % rule) runs it.
        for line in (shell_line, command):
            res = subprocess.run(["sh", "-c", line], capture_output=True, timeout=30)
            assert res.returncode == 0, (line, res.stderr)
    # Each job wrote exactly its own log, and the script saw exactly the vCenter name.
    assert sorted(p.name for p in logs.iterdir()) == sorted(f"ghettoVCB-{s}.log" for s in expected)
    for slug_, vm in expected.items():
        argv = (logs / f"ghettoVCB-{slug_}.log").read_bytes().split(b"\0")[:-1]
        # Run twice (as cronie, as busybox), appended twice.
        assert [a.decode() for a in argv] == ["-m", vm, "-g", "/etc/ghettovcb/ghettoVCB.conf"] * 2
    # The default template names the log by slug too.
    default = render(hostile, "cron", ExportOptions())
    for _, command in _cron_entries(default):
        argv = shlex.split(cronie_command(command)[0])
        assert re.fullmatch(r"/tmp/ghettoVCB-[A-Za-z0-9_.-]+\.log", argv[argv.index(">>") + 1])


def test_veeam_names_are_data(hostile: Schedule) -> None:
    text = render(hostile, "veeam", ExportOptions())
    assert text.startswith("\ufeff")  # UTF-8 BOM: Windows PowerShell 5.1 reads it as UTF-8
    body = text[1:]
    tree = pwsh.parse(body)
    assert pwsh.errors(tree) == []
    entries = pwsh.plan_data(body, "$Plan")
    ids = identities(hostile)
    assert sorted((vm["Name"], vm["MoRef"]) for e in entries for vm in e["VMs"]) == sorted(
        (ids[j.vm].name, ids[j.vm].moref or "") for j in hostile.jobs
    )
    assert pwsh.plan_data(body, "$NotScheduled") == [
        {"VM": u.vm, "Reason": u.reason} for u in hostile.unscheduled
    ]
    # Exactly the commands, sub-expressions and variables of a benign export: no name added one.
    benign = render(estate_schedule(), "veeam", ExportOptions())[1:]
    assert pwsh.code_nodes(tree) == pwsh.code_nodes(pwsh.parse(benign))
    # No name inside the comment-based help (a "#>" there would end it).
    help_block = body[: body.index("#>\n") + 2]
    assert help_block.count("#>") == 1
    for name in all_names():
        assert len(name) < 4 or name not in help_block  # ("-1" is in every date)
    # As Windows PowerShell 5.1 decodes the file: every string of the tables stays whole.
    pwsh.plan_data(pwsh.as_windows_powershell_reads(text.encode("utf-8")), "$Plan")


def test_veeam_without_bom_would_be_misread() -> None:
    """Why the byte-order mark: without it Windows PowerShell 5.1 decodes UTF-8 as
    Windows-1252, and 'ђ' (D1 92) becomes 'Ñ’', whose right quote ends the string."""
    script = "$Plan = @(@{ Name = 'ђ+$(calc)+ђ' })\n"
    with pytest.raises(pwsh.NotData):
        pwsh.plan_data(pwsh.as_windows_powershell_reads(script.encode("utf-8")), "$Plan")
    pwsh.plan_data(pwsh.as_windows_powershell_reads(b"\xef\xbb\xbf" + script.encode()), "$Plan")


def test_ics_reads_back_every_name(hostile: Schedule) -> None:
    text = render(hostile, "ics", ExportOptions(now=datetime(2026, 1, 1)))
    events = Calendar.from_ical(text).walk("VEVENT")
    assert len(events) == len(hostile.jobs)
    by_summary = {str(e["summary"]): e for e in events}
    assert set(by_summary) == {j.vm for j in hostile.jobs}
    ids = identities(hostile)
    for j in hostile.jobs:
        ev = by_summary[j.vm]
        assert str(ev["location"]) == j.host
        desc = str(ev["description"])
        assert f"vCenter: {ids[j.vm].name}" in desc
        assert f"Datastores: {', '.join(j.datastores)}" in desc
    assert len({str(e["uid"]) for e in events}) == len(events)


def _md_tables(text: str) -> list[list[list[tuple[str, set[str]]]]]:
    tables: list[list[list[tuple[str, set[str]]]]] = []
    inside = False
    for t in MarkdownIt("commonmark").enable("table").parse(text):
        if t.type in ("table_open", "table_close"):
            inside = t.type == "table_open"
            tables += [[]] if inside else []
        elif t.type == "tr_open":
            tables[-1].append([])
        elif t.type == "inline" and inside:
            kids = t.children or []
            tables[-1][-1].append(("".join(k.content for k in kids), {k.type for k in kids}))
    return tables


def test_markdown_tables_keep_their_columns(hostile: Schedule) -> None:
    text = render(hostile, "md", ExportOptions())
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    kinds = {t.type for t in tokens} | {k.type for t in tokens for k in t.children or []}
    assert not kinds & {"html_block", "html_inline", "link_open", "image"}
    tables = _md_tables(text)
    rows = 0
    for table in tables:
        width = len(table[0])
        for row in table:
            assert len(row) == width
            rows += 1
            assert all(k <= {"text"} for _, k in row)
    jobs = next(t for t in tables if [c for c, _ in t[0][:3]] == ["start", "end", "VM"])
    # Every VM, as its visible text (bidirectional marks shown as escapes).
    assert sorted(r[2][0] for r in jobs[1:]) == sorted(visible(j.vm).strip() for j in hostile.jobs)
    assert rows == sum(len(t) for t in tables)


def test_csv_reads_back_every_name(hostile: Schedule) -> None:
    rows = list(csv.DictReader(io.StringIO(schedule_csv(hostile), newline="")))
    assert len(rows) == len(hostile.jobs)
    for row, j in zip(rows, hostile.jobs, strict=True):
        assert csv_uncell(row["vm"]) == j.vm and csv_uncell(row["host"]) == j.host
        assert csv_uncell(row["datastores"]) == ";".join(j.datastores)
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_bacula_value_is_what_the_director_reads(hostile: Schedule, tmp_path: Path) -> None:
    """The long names are cut, not broken: each description is the start of the full text."""
    conf = render(hostile, "bacula", ExportOptions(standalone=True, workdir=str(tmp_path)))
    jobs = bacula_jobs(conf, tmp_path)
    cut = [j["Description"] for j in jobs if j["Description"].endswith("…")]
    assert cut  # the 1,000-character names do not fit
    for desc in cut:
        assert bacula_value(desc) == desc
