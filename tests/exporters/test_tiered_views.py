"""Tiered schedules (several jobs per VM, each ``full`` or ``incremental``, with a tier)
through the views: iCalendar, Markdown and the HTML page. The weeks are built by hand from
``cycle_jobs`` and pass the independent validator first (tests/tiered.py); each output is
parsed back (icalendar, markdown-it, real headless Chromium) and compared with the jobs."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
from browser import run_page
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from schedules import estate_schedule, require_tool
from test_markdown import _tables

from stagger.errors import InvalidScheduleError, visible
from stagger.exporters._common import local
from stagger.exporters.html import page_data
from stagger.exporters.options import ExportOptions
from stagger.exporters.registry import render
from stagger.fmt import hm
from stagger.model.schedule import Schedule
from stagger.validate import find_violations
from tests.hostile import VM_NAMES
from tests.tiered import ROLES, tiered_schedule, valid_week

STAMP = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
TIER_NAMES = ["gold", "g|old", "<b>gold</b>", "gold\\", "[g](x)", "g,old; x", "`g`", "日本 💾"]


def week(names: tuple[str, str, str, str] = ROLES, gold: str = "gold") -> Schedule:
    """The hand-built tiered week (the gold tier named ``gold``), checked by the validator
    before any export reads it."""
    jobs, topo, policy = valid_week(names, {"name": gold})
    sched = tiered_schedule(jobs, topo, policy)
    assert find_violations(sched, topo, policy) == []
    return sched


def _calendar(sched: Schedule) -> list[Any]:
    text = render(sched, "ics", ExportOptions(now=STAMP))
    return list(Calendar.from_ical(text).walk("VEVENT"))


def _check_ics(sched: Schedule) -> list[Any]:
    """One event per job at its times; summary and description carry its level and tier;
    every UID distinct."""
    events = _calendar(sched)
    assert len(events) == len(sched.jobs)
    wanted = Counter((j.vm, j.level, j.tier, j.start, j.end, j.night) for j in sched.jobs)
    got: Counter[tuple[Any, ...]] = Counter()
    for ev in events:
        summary = str(ev["SUMMARY"])
        desc = str(ev["DESCRIPTION"]).split("\n")
        job = next(
            j
            for j in sched.jobs
            if ev.decoded("DTSTART") == j.start and summary.startswith(j.vm + " (")
        )
        tier = f", tier {job.tier}" if job.tier is not None else ""
        assert summary == f"{job.vm} ({job.level}{tier})"
        assert desc[1] == f"Level: {job.level}, tier: {job.tier or '-'}"
        assert desc[0].startswith(f"Backup of {job.vm} ({job.level.capitalize()}, ")
        assert f"night {job.night})" in desc[0]
        got[
            (job.vm, job.level, job.tier, ev.decoded("DTSTART"), ev.decoded("DTEND"), job.night)
        ] += 1
    assert got == wanted
    uids = [str(ev["UID"]) for ev in events]
    assert len(set(uids)) == len(uids)
    return events


def test_ics_tiered_week() -> None:
    sched = week()
    events = _check_ics(sched)
    summaries = Counter(str(ev["SUMMARY"]) for ev in events)
    assert summaries["sql1 (full, tier gold)"] == 1
    assert summaries["sql1 (incremental, tier gold)"] == 6
    assert summaries["misc1 (full)"] == 1  # the single regime's VM in a tiered week
    uid = {str(ev["SUMMARY"]) + str(ev.decoded("DTSTART")): str(ev["UID"]) for ev in events}
    assert uid["cold1 (full, tier cold)2026-12-07 01:00:00+01:00"] == "cold1-20261206-full@stagger"


def test_ics_uids_survive_a_replan_of_the_same_cycle() -> None:
    """A job moved to another time keeps its UID (VM, night, level): a calendar client
    updates the event rather than showing the old one beside the new one."""
    before = {str(ev["UID"]) for ev in _calendar(week())}
    jobs, topo, policy = valid_week()
    for j in jobs:
        if j.vm == "sql1" and j.night == 1:
            j.start += timedelta(minutes=15)
            j.end += timedelta(minutes=15)
    moved = tiered_schedule(jobs, topo, policy)
    assert find_violations(moved, topo, policy) == []
    assert {str(ev["UID"]) for ev in _calendar(moved)} == before


def _markdown(sched: Schedule) -> tuple[list[list[str]], list[list[str]]]:
    tables = _tables(render(sched, "md", ExportOptions()))
    nights = next(t for t in tables if t[0][0] == "night")
    jobs = next(t for t in tables if t[0][0] == "start")
    return nights, jobs


def _check_markdown(sched: Schedule) -> None:
    nights, jobs = _markdown(sched)
    assert nights[0] == [
        "night",
        "window",
        "jobs",
        "fulls",
        "incrementals",
        "full min",
        "incremental min",
        "last end",
        "makespan",
    ]
    assert len(nights) == 1 + len(sched.nights)
    for row, n in zip(nights[1:], sched.nights, strict=True):
        mine = [j for j in sched.jobs if j.night == n.index]
        full = [j.duration_min for j in mine if j.level == "full"]
        inc = [j.duration_min for j in mine if j.level == "incremental"]
        assert len(full) + len(inc) == len(mine)
        assert row[0] == str(n.index)
        assert row[2:7] == [
            str(len(mine)),
            str(len(full)),
            str(len(inc)),
            str(sum(full)),
            str(sum(inc)),
        ]
        assert row[8] == hm(n.makespan_min)
    assert jobs[0][-2:] == ["level", "tier"]
    rows = Counter((r[0], r[2], r[-2], r[-1]) for r in jobs[1:])
    wanted = Counter(
        # A cell shows bidirectional marks and controls as \uNNNN (md_text's visible()).
        (
            f"{local(sched, j.start):%a %Y-%m-%d %H:%M}",
            visible(j.vm),
            j.level,
            visible(j.tier or "-"),
        )
        for j in sched.jobs
    )
    assert rows == wanted


def test_markdown_tiered_week() -> None:
    sched = week()
    _check_markdown(sched)
    text = render(sched, "md", ExportOptions())
    assert "- **Levels**: 4 full, 11 incremental; tiers cold, gold, web\n" in text


_name = st.sampled_from(VM_NAMES) | st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30
)
_tier = st.sampled_from(TIER_NAMES) | st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30
)


def _hostile_week(sql: str, web: str, cold: str, misc: str, gold: str) -> Schedule:
    names = ("sql" + sql, "web" + web, "cold" + cold, "misc" + misc)
    assume(len(set(names)) == 4 and gold not in ("web", "cold"))
    try:
        return week(names, gold)  # type: ignore[arg-type]
    except pydantic.ValidationError:
        assume(False)  # a tier name the policy refuses (e.g. only spaces) is not a view's case
        raise


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(_name, _name, _name, _name, _tier)
# A name ending in a space: Markdown trims cells, md_text must keep it (found by CI).
@example(sql="o'brien app", web="o'brien app", cold="o'brien app", misc=" ", gold="gold")
def test_ics_and_markdown_hostile_names_and_tiers(
    sql: str, web: str, cold: str, misc: str, gold: str
) -> None:
    sched = _hostile_week(sql, web, cold, misc, gold)
    _check_ics(sched)
    _check_markdown(sched)


# --- HTML page ------------------------------------------------------------------------------

_LEVEL_VALUES = {
    "rendered": "document.body.getAttribute('data-rendered')"
    "+'/'+document.body.getAttribute('data-levels-rendered')",
    # All nights: the Gantt is drawn again, and its new bars must get their levels too.
    "click": "document.querySelector('.nbtn[data-night=\"all\"]').click()",
    "all": "Array.from(document.querySelectorAll('#grid .bar')).map(b=>[b.getAttribute('data-vm'),"
    "D2(b),b.getAttribute('data-level'),b.getAttribute('aria-label'),"
    "getComputedStyle(b,'::before').content,getComputedStyle(b).backgroundImage!=='none'])",
    "chart": "Array.from(document.querySelectorAll('#levelchart .lvrow')).map(r=>["
    "Number(r.getAttribute('data-night')),"
    "Number(r.querySelector('.lvfull').getAttribute('data-min')),"
    "Number(r.querySelector('.lvinc').getAttribute('data-min')),"
    "Number(r.querySelector('.lvspan').getAttribute('data-min')),"
    "r.querySelector('.lvfull').getBBox().width,r.querySelector('.lvinc').getBBox().width,"
    "r.querySelector('.lvtext').textContent])",
    "table": "Array.from(document.querySelectorAll('#levelchart tr')).slice(1)"
    ".map(r=>Array.from(r.cells).map(c=>c.textContent))",
    "legend": "Array.from(document.querySelectorAll('[data-level-legend]')).map(x=>x.textContent)",
}
# Markup a name could have brought in (evaluated last, after the tooltips were shown).
_INJECTED = (
    "document.querySelectorAll('b b, #levelchart b, .bar *, [onerror], img,"
    " #tip div *:not(.k)').length"
)
# The job index a bar stands for, to compare each bar with its job.
_D2 = "function D2(b){return Number(b.getAttribute('data-i'))};"


def _tip(i: int) -> str:
    """The tooltip's text with the pointer over the bar of job ``i`` (all nights shown)."""
    return (
        f"(()=>{{const b=document.querySelector('#grid .bar[data-i=\"{i}\"]');"
        "b.scrollIntoView({block:'center',inline:'center'});const r=b.getBoundingClientRect();"
        "b.dispatchEvent(new MouseEvent('mousemove',{bubbles:true,clientX:r.left+1,"
        "clientY:r.top+1}));return Array.from(document.getElementById('tip').children)"
        ".map(c=>c.textContent)})()"
    )


def _check_page(sched: Schedule, tmp_path: Path) -> dict[str, Any]:
    """In real Chromium: no error or request; every bar carries its job's level as pattern and
    text; the per-night chart's numbers (and bar widths) are the schedule's; names are text."""
    require_tool("chromium")
    page = tmp_path / "week.html"
    page.write_text(render(sched, "html", ExportOptions()), encoding="utf-8")
    data = page_data(sched)
    values = {k: (_D2 + v if k == "all" else v) for k, v in _LEVEL_VALUES.items()}
    probe = {j["vm"]: i for i, j in enumerate(data["jobs"])}  # one bar per VM is enough
    for vm, i in probe.items():
        values[f"tip {vm}"] = _tip(i)
    values["injected"] = _INJECTED
    run = run_page(page, expressions=values)
    assert run.errors == []
    assert run.requests == [page.resolve().as_uri()]  # nothing fetched: works offline
    v = run.values
    assert v["rendered"] == "1/1"
    assert len(v["all"]) >= len(sched.jobs)  # a job on several datastores shows once per lane
    for vm, i, level, label, before, striped in v["all"]:
        job = data["jobs"][i]
        assert (vm, level) == (job["vm"], job["level"])
        assert label == job["vm"] + f", {level}" + (f", tier {job['tier']}" if job["tier"] else "")
        assert before == ('"F"' if level == "full" else '"I"')
        assert striped == (level == "incremental")
    assert {i for _, i, *_ in v["all"]} == set(range(len(sched.jobs)))
    assert v["legend"] == ["F full backup (solid)", "I incremental (striped)"]
    top = 0.0
    for n in sched.nights:
        mine = [j for j in sched.jobs if j.night == n.index]
        full = sum(j.duration_min for j in mine if j.level == "full")
        inc = sum(j.duration_min for j in mine if j.level == "incremental")
        top = max(top, full + inc, n.makespan_min)
    assert [r[0] for r in v["chart"]] == [n.index for n in sched.nights]
    for row, cells, n in zip(v["chart"], v["table"], sched.nights, strict=True):
        mine = [j for j in sched.jobs if j.night == n.index]
        full = [j.duration_min for j in mine if j.level == "full"]
        inc = [j.duration_min for j in mine if j.level == "incremental"]
        assert row[1:4] == [sum(full), sum(inc), n.makespan_min]
        # Drawn to one scale: widths in the ratio of the minutes, the longest within the frame.
        assert row[4] == pytest.approx(sum(full) / (top * 1.05) * 520, abs=0.01)
        assert row[5] == pytest.approx(sum(inc) / (top * 1.05) * 520, abs=0.01)
        assert row[6] == (
            f"{len(mine)} jobs ({len(full)} full, {len(inc)} incremental) · full {sum(full)} min"
            f" + incremental {sum(inc)} min · makespan {hm(n.makespan_min)}"
        )
        assert cells[1:] == [
            str(len(mine)),
            str(len(full)),
            str(len(inc)),
            str(sum(full)),
            str(sum(inc)),
            hm(n.makespan_min),
        ]
    for vm, i in probe.items():
        job = data["jobs"][i]
        lines = v[f"tip {vm}"]
        assert lines[0] == vm  # the name, as text
        assert lines[-2:] == [
            f"level{job['level']}",
            f"tier{job['tier'] or 'none (single regime)'}",
        ]
    assert v["injected"] == 0
    return v


def test_html_tiered_week_in_chromium(tmp_path: Path) -> None:
    v = _check_page(week(), tmp_path)
    levels = Counter(level for _, _, level, *_ in v["all"])
    assert levels == {"full": 4, "incremental": 11}


@pytest.mark.parametrize(
    ("names", "gold"),
    [
        (
            ("sql</script><b>x", "web<img src=x onerror=alert(1)>", "cold{{x}}", "misc__proto__"),
            "<b>gold</b>",
        ),
        (("sql’+$(id)+’", 'web "x" &amp;', "cold\u202egnp.exe", "misc constructor"), "g|old`"),
    ],
)
def test_html_hostile_names_and_tiers_in_chromium(
    names: tuple[str, str, str, str], gold: str, tmp_path: Path
) -> None:
    sched = week(names, gold)
    v = _check_page(sched, tmp_path)
    assert {vm for vm, *_ in v["all"]} == set(names)


def test_single_regime_page_has_no_levels() -> None:
    """A schedule without tiers: no level data, legend, chart or script on the page (the
    golden files hold it byte for byte)."""
    sched = estate_schedule(7)
    page = render(sched, "html", ExportOptions())
    assert "levels" not in page_data(sched)
    for marker in ("levelchart", "data-level", "lvfull", "data-levels-rendered"):
        assert marker not in page


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(_name, _name, _name, _name, _tier)
def test_html_page_data_levels_hostile(sql: str, web: str, cold: str, misc: str, gold: str) -> None:
    """The page's data carries each job's level and tier exactly, and the embedded JSON gives
    them back (json_for_script), whatever the names."""
    sched = _hostile_week(sql, web, cold, misc, gold)
    data = page_data(sched)
    page = render(sched, "html", ExportOptions())
    embedded = page.split('<script id="plan-data" type="application/json">')[1].split("</script>")[
        0
    ]
    assert json.loads(embedded) == data
    wanted = Counter((j.vm, j.level, j.tier or "") for j in sched.jobs)
    assert Counter((j["vm"], j["level"], j["tier"]) for j in data["jobs"]) == wanted
    assert sum(n["jobs"] for n in data["levels"]) == len(sched.jobs)


def test_ics_tiered_jobs_on_unknown_nights_are_refused_not_a_traceback() -> None:
    """With ``export --trust`` nothing re-validates: a tiered schedule edited so that its
    ``nights`` list lacks a job's night gives one line (exit 4), not a KeyError from the
    UID's night date."""
    sched = week()
    sched.nights = sched.nights[:3]
    with pytest.raises(InvalidScheduleError, match=r"job 'sql1' is on night 3, which is not"):
        render(sched, "ics", ExportOptions(now=STAMP))
