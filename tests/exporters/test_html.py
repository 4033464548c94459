"""HTML Gantt: opened in Debian's headless Chromium (DevTools protocol, see browser.py)."""

from __future__ import annotations

import itertools
import json
import random
import struct
from pathlib import Path
from typing import Any

import pytest
from browser import run_page
from hypothesis import given, settings
from hypothesis import strategies as st
from schedules import (
    ESTATE,
    POLICY,
    STARTS,
    estate_schedule,
    make_schedule,
    minimal_planned,
    policy,
    require_tool,
    topology,
)
from test_ics import DST_POLICY, DST_TOPO

from stagger.errors import InvalidScheduleError
from stagger.exporters import html as html_module
from stagger.exporters._common import peak_concurrency
from stagger.exporters.html import LOAD_TOP, _steps, json_for_script, page_data, render
from stagger.exporters.options import ExportOptions
from stagger.model.schedule import Schedule

BARS = "document.querySelectorAll('#grid .bar').length"


def _mode(mode: str) -> str:
    return (
        "(function(){var s=document.getElementById('mode');s.value='" + mode + "';"
        "s.dispatchEvent(new Event('change'));"
        "return Array.from(document.querySelectorAll('#grid .bar')).map(function(b){"
        "return b.getAttribute('data-vm')+'@'+b.closest('.lane').getAttribute('data-lane')})})()"
    )


HOVER = (
    "(function(){var b=document.querySelector('#grid .bar[data-vm=\"sql01\"]');"
    "var r=b.getBoundingClientRect();b.dispatchEvent(new MouseEvent('mousemove',"
    "{bubbles:true,clientX:r.left+2,clientY:r.top+2}));"
    "var t=document.getElementById('tip');return [t.style.display,t.textContent]})()"
)


def _write(tmp_path: Path, sched: Schedule) -> Path:
    page = tmp_path / "plan.html"
    page.write_text(render(sched, ExportOptions()), encoding="utf-8")
    return page


def test_page_in_chromium(tmp_path: Path) -> None:
    require_tool("chromium")
    sched = estate_schedule()
    sql01 = sched.job("sql01")
    assert sql01 is not None
    sql01.vm_display_name, sql01.vm_moref = "sql01", "vm-42"  # same name: not repeated
    web01 = sched.job("web01")
    assert web01 is not None
    web01.vm_display_name, web01.vm_moref = "WEB01 in vCenter", "vm-43"
    page = _write(tmp_path, sched)
    run = run_page(
        page,
        expressions={
            "rendered": "document.body.getAttribute('data-rendered')",
            "bars": BARS,
            "host": _mode("host"),
            "datastore": _mode("datastore"),
            "raid_group": _mode("raid_group"),
            "back": _mode("host"),
            "blackouts": "document.querySelectorAll('#grid .blackout').length",
            "edges": "document.querySelectorAll('#grid .edge').length",
            "lanes": "document.querySelectorAll('#grid .lane').length",
            "unscheduled": "document.getElementById('unscheduled').textContent",
            "cards": "document.getElementById('cards').textContent",
            "hover": HOVER,
            "hover_web01": _hover("web01"),
        },
        screenshot=True,
    )
    assert run.errors == []
    assert run.requests == [page.resolve().as_uri()]  # nothing fetched: works offline
    assert run.values["rendered"] == "1"
    assert run.values["bars"] == len(sched.jobs)  # one bar per job
    expect = {
        "host": sorted(f"{j.vm}@{j.host}" for j in sched.jobs),
        "datastore": sorted(f"{j.vm}@{d}" for j in sched.jobs for d in j.datastores),
        "raid_group": sorted(f"{j.vm}@{g}" for j in sched.jobs for g in j.raid_groups),
    }
    for mode, pairs in expect.items():
        assert sorted(run.values[mode]) == pairs, mode
    assert sorted(run.values["back"]) == expect["host"]
    # av-scan (cluster PROD-A: esx01, esx02) shades 2 lanes once each; patch-esx03 one lane.
    assert run.values["blackouts"] == 3
    # Window edges are drawn once per night across all lanes (not once per lane).
    assert run.values["edges"] == 2 * len(sched.nights)
    assert "huge01" in run.values["unscheduled"]
    for fig in ("makespan", "lower bound", "gap", "0.00 %"):
        assert fig in run.values["cards"]
    display, tip = run.values["hover"]
    assert display == "block" and "sql01" in tip and "esx01" in tip and "DS-03" in tip
    assert "in vCenter" not in tip
    assert "in vCenterWEB01 in vCenter (vm-43)" in run.values["hover_web01"][1]
    png = run.screenshot
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1400, 900)


def test_planned_minimal_example_in_chromium(tmp_path: Path) -> None:
    require_tool("chromium")
    sched = minimal_planned()
    run = run_page(_write(tmp_path, sched), expressions={"bars": BARS})
    assert run.errors == []
    assert run.values["bars"] == len(sched.jobs)


def test_page_is_self_contained(tmp_path: Path) -> None:
    # The SVG namespace is a name, never fetched (Chromium's request log above proves it).
    text = render(estate_schedule(), ExportOptions()).replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in text and "https://" not in text and " src=" not in text
    assert "<\\/" in text or "</" not in text.split('id="plan-data"')[1].split("</script>")[0]
    # Names reach the page through textContent / setAttribute only: no HTML parsing of data.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in html_module._JS, sink
    # A VM name cannot break out of the data block.
    sched = estate_schedule()
    sched.jobs[0].vm = "x</script><script>alert(1)</script>"
    assert "alert(1)</script>" not in render(sched, ExportOptions()).split("<script>")[0]


def test_dst_night_positions() -> None:
    sched = make_schedule(
        topology(DST_TOPO),
        policy(DST_POLICY),
        {"before": "2026-10-24T20:00", "across": "2026-10-24T22:00", "after": "2026-10-25T04:00"},
    )
    data = page_data(sched)
    night = data["nights"][0]
    assert night["len"] == 13 * 60
    # Quarter hours with their local minute of day; the page labels a subset by pixel width.
    assert all(t[2] == int(t[1][:2]) * 60 + int(t[1][3:]) for t in night["ticks"])
    labels = [t[1] for t in night["ticks"] if t[2] % 60 == 0]
    assert labels.count("02:00") == 2 and labels[0] == "20:00" and labels[-1] == "08:00"
    across = next(j for j in data["jobs"] if j["vm"] == "across")
    assert (across["s"], across["e"]) == (120, 120 + 410)


# --- Safe embedding ------------------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_json_for_script_round_trips_and_holds_no_markup(data: Any) -> None:
    """In a <script> block the HTML tokenizer acts only on "<" (``</script``, ``<!--``): with
    no "<" in the payload no string can end the block or switch the tokenizer's state, and
    JSON.parse (here json.loads, same grammar) reads the data back unchanged."""
    out = json_for_script(data)
    assert not set(out) & set("<>&\u2028\u2029")
    assert json.loads(out) == data


@pytest.mark.parametrize(
    "name", ["<!--", "</script>", "<script>", "</SCRIPT >", "a\u2028b\u2029c", "\\u003c<", "&lt;"]
)
def test_json_for_script_known_breakers(name: str) -> None:
    out = json_for_script({"vm": name})
    assert json.loads(out) == {"vm": name}
    assert "<" not in out


# --- A small hostile estate ------------------------------------------------------------------

PROTO = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]
PWN = "document.body.setAttribute('data-pwned','1')"
HOSTILE_VMS = [
    "<!--",
    "x</script><script>" + PWN + "</script>",
    f'<img src=x onerror="{PWN}">',
    "a\u2028b\u2029c",
    'o\'brien "q" \u2018\u2019\u201a\u201b `id` $(id) ; # #> % {{x}} ${x}',
    "\u202eRTL \u200f mark",
    "[bold]x[/] [/x]",
    "=cmd|' /C calc'!A0",
    "@SUM(1)",
    "]]> <![CDATA[ &amp; &lt;",
    "\\u003c\\",
    "v" * 1000,
    *PROTO,
]
HOSTILE_HOSTS = [*PROTO[:4], "<b>esx</b> & 'q' <!--", "esx-" + "h" * 300]
HOSTILE_DS = ["constructor", "__proto__", "valueOf", "</script><!--<script>", "ds \u2028 sep"]


def hostile_schedule() -> Schedule:
    """Every VM alone in its own 20-minute step, so any limits hold; names from the list above
    on VMs, hosts, clusters, datastores, RAID groups and a blackout."""
    topo = {
        "clusters": [{"name": "__proto__"}, {"name": "<!-- c -->"}],
        "hosts": [
            {"name": h, "cluster": "__proto__" if i % 2 else "<!-- c -->"}
            for i, h in enumerate(HOSTILE_HOSTS)
        ],
        "datastores": [{"name": d} for d in HOSTILE_DS],
        "raid_groups": [
            {"name": "toString", "datastores": HOSTILE_DS[:2]},
            {"name": "__proto__", "datastores": HOSTILE_DS[2:4]},
        ],
        "vms": [
            {
                "name": vm,
                "host": HOSTILE_HOSTS[i % len(HOSTILE_HOSTS)],
                "disks": [{"datastore": HOSTILE_DS[i % len(HOSTILE_DS)], "size_gib": 10}],
            }
            for i, vm in enumerate(HOSTILE_VMS)
        ],
    }
    pol = policy(
        {
            "timezone": "Europe/Berlin",
            "cycle": {"start": "2026-12-01", "nights": 1},
            "window": {"start": "20:00", "end": "06:00"},
            "slot_minutes": 5,
            "throughput": {"mb_per_s": 100, "overhead_minutes": 5},
            "blackouts": [
                {
                    "name": "</script><!-- bo",
                    "scope": {"host": "constructor"},
                    "start": "2026-12-02T05:00",
                    "end": "2026-12-02T05:30",
                }
            ],
        }
    )
    starts = {}
    for i, vm in enumerate(HOSTILE_VMS):
        minute = 20 * 60 + 20 * i
        starts[vm] = f"2026-12-0{1 + minute // 1440}T{minute // 60 % 24:02d}:{minute % 60:02d}"
    return make_schedule(topology(topo), pol, starts)


def _pairs(sched: Schedule) -> dict[str, list[str]]:
    return {
        "host": sorted(f"{j.vm}@{j.host}" for j in sched.jobs),
        "datastore": sorted(f"{j.vm}@{d}" for j in sched.jobs for d in j.datastores),
        "raid_group": sorted(
            f"{j.vm}@{g}" for j in sched.jobs for g in j.raid_groups or ["(no RAID group)"]
        ),
    }


def _hover(vm: str) -> str:
    return (
        "(function(){var v=" + json.dumps(vm) + ";var b=Array.from(document.querySelectorAll("
        "'#grid .bar')).find(function(x){return x.getAttribute('data-vm')===v});"
        "var r=b.getBoundingClientRect();b.dispatchEvent(new MouseEvent('mousemove',"
        "{bubbles:true,clientX:r.left+1,clientY:r.top+1}));"
        "var t=document.getElementById('tip');return [t.style.display,t.textContent,"
        "t.querySelectorAll('*').length]})()"
    )


def test_hostile_names_render_as_text_in_chromium(tmp_path: Path) -> None:
    require_tool("chromium")
    sched = hostile_schedule()
    assert len(sched.jobs) == len(HOSTILE_VMS)
    run = run_page(
        _write(tmp_path, sched),
        expressions={
            "rendered": "document.body.getAttribute('data-rendered')",
            "bars": BARS,
            "texts": "Array.from(document.querySelectorAll('#grid .bar')).map(b=>b.textContent)",
            "lanes": "Array.from(document.querySelectorAll('#grid .lane .name'))"
            ".map(n=>[n.textContent,n.title])",
            "blackout": "Array.from(document.querySelectorAll('#grid .blackout')).map(b=>b.title)",
            "host": _mode("host"),
            "datastore": _mode("datastore"),
            "raid_group": _mode("raid_group"),
            "hover": _hover(HOSTILE_VMS[2]),
            "injected": "[document.body.getAttribute('data-pwned'),"
            "document.querySelectorAll('img,iframe,object,embed').length,"
            "document.scripts.length]",
        },
    )
    assert run.errors == []
    assert run.values["rendered"] == "1"  # the page is not blank
    assert run.values["bars"] == len(sched.jobs)
    assert sorted(run.values["texts"]) == sorted(HOSTILE_VMS)  # names shown as text, intact
    assert sorted(n for n, _ in run.values["lanes"]) == sorted(HOSTILE_HOSTS)
    assert all(n == title for n, title in run.values["lanes"])  # full name on hover
    for mode, pairs in _pairs(sched).items():  # lane mode works for prototype names
        assert sorted(run.values[mode]) == pairs, mode
    assert run.values["blackout"] == [
        "blackout </script><!-- bo (host constructor): Wed 02 Dec 05:00-05:30"
    ]
    display, text, _ = run.values["hover"]
    assert display == "block" and HOSTILE_VMS[2] in text
    assert run.values["injected"] == [None, 0, 2]


# --- Reading a long cycle ---------------------------------------------------------------------

LONG_STARTS = {
    "sql01": "2026-12-01T20:00",  # night 0
    "o'brien app": "2026-12-04T20:00",  # night 3
    "web01": "2026-12-08T22:00",  # night 7
    "web 100%": "2026-12-11T03:00",  # night 9 (after midnight)
    "mail01": "2026-12-14T21:00",  # night 13
}


def long_schedule(nights: int = 14) -> Schedule:
    return make_schedule(
        topology(ESTATE),
        policy(POLICY.replace("NIGHTS", str(nights))),
        LONG_STARTS,
        unscheduled={"huge01": "does not fit"},
    )


LABELS = (
    "Array.from(document.querySelectorAll('#grid .axis .tlabel')).map(function(l){"
    "var r=l.getBoundingClientRect();return [r.left,r.right,l.textContent]})"
)


def _click(selector: str) -> str:
    return f"(function(){{document.querySelector({json.dumps(selector)}).click();return 1}})()"


def _assert_apart(labels: list[list[Any]], at_least: int) -> None:
    labels = sorted(labels)
    assert len(labels) >= at_least, labels
    for a, b in itertools.pairwise(labels):
        assert b[0] >= a[1], f"hour labels overlap: {a} and {b}"


def test_hour_labels_never_overlap(tmp_path: Path) -> None:
    require_tool("chromium")
    page = _write(tmp_path, long_schedule())
    for width in (1600, 900):
        run = run_page(
            page,
            width=width,
            height=800,
            expressions={
                "night": LABELS,  # a 14-night cycle opens on its first night with jobs
                "all": _click('.nbtn[data-night="all"]'),
                "all_labels": LABELS,
                "zout": _click("#zout"),
                "zout_labels": LABELS,
                "zout2": _click("#zout"),
                "zout2_labels": LABELS,
                "one": _click('.nbtn[data-night="7"]'),
                "fit": _click("#zfit"),
                "zin": _click("#zin"),
                "zin_labels": LABELS,
            },
        )
        assert run.errors == []
        _assert_apart(run.values["night"], 5)  # a 10 h window: at least every other hour
        _assert_apart(run.values["all_labels"], 14)  # at least one per night
        _assert_apart(run.values["zout_labels"], 14)
        _assert_apart(run.values["zout2_labels"], 14)
        _assert_apart(run.values["zin_labels"], 10)


def test_hour_labels_apart_on_the_dst_night(tmp_path: Path) -> None:
    """The night clocks go back shows 02:00 twice, an hour apart: at a zoom where labels are
    every two hours the second 02:00 would sit on top of the first; the page measures and
    drops it."""
    require_tool("chromium")
    sched = make_schedule(
        topology(DST_TOPO),
        policy(DST_POLICY),
        {"before": "2026-10-24T20:00", "across": "2026-10-24T22:00", "after": "2026-10-25T04:00"},
    )
    page = _write(tmp_path, sched)
    values = []
    for width in (600, 1000):
        run = run_page(
            page,
            width=width,
            height=700,
            expressions={
                "fit": LABELS,
                "zout": _click("#zout"),
                "zout_labels": LABELS,
                "zout2": _click("#zout"),
                "zout2_labels": LABELS,
            },
        )
        assert run.errors == []
        for key in ("fit", "zout_labels", "zout2_labels"):
            _assert_apart(run.values[key], 4)
            values.append([t for _, _, t in sorted(run.values[key])])
    assert any(v.count("02:00") == 2 for v in values)  # both kept where there is room


def test_fourteen_nights_all_reachable(tmp_path: Path) -> None:
    require_tool("chromium")
    sched = long_schedule()
    per_night = {
        n.index: sorted(j.vm for j in sched.jobs if j.night == n.index) for n in sched.nights
    }
    clicks = (
        "Array.from(document.querySelectorAll('.nbtn')).map(function(b){b.click();"
        "return [b.getAttribute('data-night'),b.getAttribute('aria-pressed'),"
        "Array.from(document.querySelectorAll('#grid .bar')).map(x=>x.getAttribute('data-vm')),"
        "document.querySelectorAll('#grid .axis .nlabel').length]})"
    )
    keys = (
        "(function(){var seen=[];for(var i=0;i<16;i++){document.dispatchEvent(new KeyboardEvent("
        "'keydown',{key:'ArrowRight',bubbles:true}));seen.push(document.querySelector("
        "'.nbtn[aria-pressed=\"true\"]').getAttribute('data-night'))}return seen})()"
    )
    run = run_page(
        _write(tmp_path, sched),
        width=1600,
        height=1000,
        expressions={
            "first": "document.querySelector('.nbtn[aria-pressed=\"true\"]')"
            ".getAttribute('data-night')",
            "clicks": clicks,
            "home": _click('.nbtn[data-night="all"]'),
            "keys": keys,
        },
    )
    assert run.errors == []
    assert run.values["first"] == "0"
    clicked = run.values["clicks"]
    assert [c[0] for c in clicked] == ["all"] + [str(i) for i in range(14)]
    assert all(c[1] == "true" for c in clicked)
    all_view = clicked[0]
    assert sorted(all_view[2]) == sorted(j.vm for j in sched.jobs) and all_view[3] == 14
    for key, _, vms, nlabels in clicked[1:]:
        assert sorted(vms) == per_night[int(key)], key
        assert nlabels == 1
    assert run.values["keys"] == [str(i) for i in range(14)] + ["13", "13"]


def test_night_from_address_fragment(tmp_path: Path) -> None:
    require_tool("chromium")
    run = run_page(
        _write(tmp_path, long_schedule()),
        fragment="#night-9",
        expressions={"vms": _mode("host")},
    )
    assert run.errors == []
    assert run.values["vms"] == ["web 100%@esx03"]
    every = run_page(_write(tmp_path, long_schedule()), fragment="#all", expressions={"b": BARS})
    assert every.errors == [] and every.values["b"] == len(LONG_STARTS)


def test_lane_label_column_fits_and_keeps_full_names(tmp_path: Path) -> None:
    require_tool("chromium")
    long_host = "esx-" + "very-long-host-name-" * 20
    topo, pol = ESTATE.replace("esx03", long_host), POLICY.replace("esx03", long_host)
    sched = make_schedule(
        topology(topo), policy(pol.replace("NIGHTS", "1")), STARTS, {"huge01": "too big"}
    )
    label = (
        "(function(){var n=document.querySelector('#grid .lane[data-lane=\"" + long_host + '"]'
        " .name');return [n.getBoundingClientRect().width,n.scrollWidth>n.clientWidth,n.title,"
        "getComputedStyle(n).textOverflow]})()"
    )
    short = run_page(
        _write(tmp_path, estate_schedule()),
        expressions={
            "w": "document.querySelector('#grid .lane .name').getBoundingClientRect().width"
        },
    )
    run = run_page(_write(tmp_path, sched), expressions={"label": label, "hover": _hover("web01")})
    assert short.errors == [] and run.errors == []
    assert 120 <= short.values["w"] <= 200  # fits short names without wasting the chart's width
    width, cut, title, overflow = run.values["label"]
    assert width <= 301 and cut and overflow == "ellipsis" and title == long_host
    assert long_host in run.values["hover"][1]  # full host name in the bar's details


# --- Load chart --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 30)), max_size=12))
def test_steps_count_the_jobs_running(raw: list[tuple[int, int]]) -> None:
    spans = [(float(s), float(s + d)) for s, d in raw]
    steps = _steps(spans)
    assert steps[0][0] == 0 and steps[-1][1] == 0
    assert all(a[1] != b[1] and a[0] < b[0] for a, b in itertools.pairwise(steps))
    for t in [x / 2 for x in range(0, 170)]:
        expect = sum(1 for s, e in spans if s <= t < e)
        got = [c for m, c in steps if m <= t][-1]
        assert got == expect, t


def test_load_ranks_resources_by_time_per_unit_of_limit() -> None:
    sched = estate_schedule()
    data = page_data(sched)
    night = data["nights"][0]
    assert max(c for _, c in night["all"]) == peak_concurrency(sched)
    top = [(r["kind"], r["name"], r["busy"], r["cap"]) for r in night["top"]]
    # RG-2: sql01 75 + web01 20 + web 100% 15 + mail01 25 min back to back; RG-1: 75 + 30;
    # DS-03: 75 + 25; then DS-01 and esx01 (sql01 only), tied, by kind then name.
    assert (
        top
        == [
            ("raid_group", "RG-2", 135, 1),
            ("raid_group", "RG-1", 105, 1),
            ("datastore", "DS-03", 100, 1),
            ("datastore", "DS-01", 75, 1),
            ("host", "esx01", 75, 1),
        ][:LOAD_TOP]
    )
    assert night["top"][0]["steps"] == [[[0, 1], [135, 0]]]
    assert data["cycle_top"][0]["name"] == "RG-2"


# Over the all-jobs row of the load chart: at the x of the bar's left edge + 3 px, then 40 px
# past its right edge (the load chart shares the Gantt's x axis).
READOUT = (
    "(function(){document.querySelector('.nbtn[data-night=\"3\"]').click();"
    "var bar=document.querySelector('#grid .bar').getBoundingClientRect();"
    "var row=document.querySelector('#loadgrid .lrow[data-r=\"0\"] svg');"
    "var y=row.getBoundingClientRect().top+5,t=document.getElementById('tip'),out=[];"
    "[bar.left+3,bar.right+40].forEach(function(x){row.dispatchEvent(new MouseEvent("
    "'mousemove',{bubbles:true,clientX:x,clientY:y}));out.push(t.textContent)});return out})()"
)


def test_load_chart_in_chromium(tmp_path: Path) -> None:
    require_tool("chromium")
    sched = long_schedule()
    run = run_page(
        _write(tmp_path, sched),
        expressions={
            "night0": "Array.from(document.querySelectorAll('#loadgrid .lrow[data-resource]'))"
            ".map(r=>[r.getAttribute('data-resource'),r.querySelectorAll('path').length,"
            "r.querySelectorAll('line').length])",
            "all": _click('.nbtn[data-night="all"]'),
            "cycle": "Array.from(document.querySelectorAll('#loadgrid .lrow[data-resource]'))"
            ".map(r=>[r.getAttribute('data-resource'),r.querySelectorAll('path').length])",
            "widths": "[document.getElementById('grid').style.width,"
            "document.getElementById('loadgrid').style.width]",
            "readout": READOUT,
        },
    )
    assert run.errors == []
    # Night 0 holds sql01 only: all jobs (limit 4) then its host, datastores and RAID groups.
    assert run.values["night0"][0] == ["all jobs", 1, 1]
    assert {r[0] for r in run.values["night0"][1:]} == {
        "host esx01",
        "datastore DS-01",
        "datastore DS-03",
        "RAID group RG-1",
        "RAID group RG-2",
    }
    # All nights: one area per night in each row, the rows of the cycle's busiest resources.
    assert all(r[1] == 14 for r in run.values["cycle"])
    assert len(run.values["cycle"]) == 1 + LOAD_TOP
    w1, w2 = run.values["widths"]
    assert w1 == w2  # the load chart lines up with the Gantt
    # Night 3 (o'brien app, 20:00-20:30) back in view: pointer over its bar, then after it.
    during, after = run.values["readout"]
    assert during.startswith("all jobsat20:") and during.endswith(
        "night 3 (Fri 04 Dec)running1 of 4"
    )
    assert after.endswith("running0 of 4")


def test_jobs_on_unknown_nights_are_refused_not_a_traceback() -> None:
    """With ``export --trust`` nothing re-validates the schedule: a hand-edited one whose
    ``nights`` list is empty must give one line (exit 4), not a KeyError."""
    sched = estate_schedule()
    sched.nights = []
    with pytest.raises(InvalidScheduleError, match=r"job 'sql01' is on night 0, which is not"):
        render(sched, ExportOptions())


def test_no_jobs_and_no_nights_still_renders(tmp_path: Path) -> None:
    require_tool("chromium")
    sched = estate_schedule()
    sched.nights, sched.jobs = [], []
    data = page_data(sched)
    assert data["nights"] == [] and data["jobs"] == [] and data["cycle_top"] == []
    run = run_page(
        _write(tmp_path, sched),
        expressions={"rendered": "document.body.getAttribute('data-rendered')", "bars": BARS},
    )
    assert run.errors == [] and run.values == {"rendered": "1", "bars": 0}


def _random_names(count: int, seed: int) -> list[str]:
    """Seeded random names over the whole of Unicode that a loader lets through (no controls,
    no lone surrogates): ASCII punctuation, any BMP letter or symbol, astral (emoji),
    combining marks, bidi and zero-width format characters, line/paragraph separators and
    noncharacters, in random mixes."""
    rng = random.Random(seed)
    pools = [
        [chr(c) for c in range(0x20, 0x7F)],
        list("<>&'\"`$(){}[];#%=@\\/!-"),
        [chr(c) for c in (0x2028, 0x2029, 0x200B, 0x200E, 0x200F, 0x202A, 0x202E, 0x2066)],
        [chr(c) for c in (0xFDD0, 0xFFFE, 0xFFFF, 0x1FFFE, 0xFEFF, 0x0301, 0x0336)],
    ]
    names: set[str] = set()
    while len(names) < count:
        out = []
        for _ in range(rng.randint(1, 24)):
            kind = rng.random()
            if kind < 0.6:
                out.append(rng.choice(rng.choice(pools)))
            elif kind < 0.85:
                c = rng.randint(0xA0, 0xFFFD)
                out.append(chr(c) if not 0xD800 <= c <= 0xDFFF else "x")
            else:
                out.append(chr(rng.randint(0x10000, 0x10FFFF - 2)))
        names.add("".join(out))
    return sorted(names)


def test_random_unicode_names_render_as_text(tmp_path: Path) -> None:
    require_tool("chromium")
    names = _random_names(30, seed=2026)
    hosts = _random_names(4, seed=7)
    topo = {
        "hosts": [{"name": h} for h in hosts],
        "datastores": [{"name": "DS"}],
        "vms": [
            {"name": n, "host": hosts[i % 4], "disks": [{"datastore": "DS", "size_gib": 5}]}
            for i, n in enumerate(names)
        ],
    }
    pol = policy(POLICY.replace("NIGHTS", "1").split("blackouts:")[0])
    starts = {}
    for i, n in enumerate(names):  # one at a time, 15 minutes apart, from 20:00
        minute = 20 * 60 + 15 * i
        starts[n] = f"2026-12-0{1 + minute // 1440}T{minute // 60 % 24:02d}:{minute % 60:02d}"
    sched = make_schedule(topology(topo), pol, starts)
    run = run_page(
        _write(tmp_path, sched),
        expressions={
            "texts": "Array.from(document.querySelectorAll('#grid .bar')).map(b=>b.textContent)",
            "attrs": "Array.from(document.querySelectorAll('#grid .bar'))"
            ".map(b=>b.getAttribute('data-vm'))",
            "lanes": "Array.from(document.querySelectorAll('#grid .lane')).map(l=>l.title||"
            "l.getAttribute('data-lane'))",
        },
    )
    assert run.errors == []
    assert sorted(run.values["texts"]) == names
    assert sorted(run.values["attrs"]) == names
    assert sorted(run.values["lanes"]) == hosts


def test_load_of_objects_missing_from_the_topology_uses_the_policy_limits() -> None:
    """With ``export --trust`` a hand-edited schedule's job may name a host, datastore or RAID
    group its embedded topology does not hold: the load chart still draws them, at the
    policy's limit for their kind (distinct limits here, so each kind's is checked)."""
    sched = estate_schedule()
    pol = sched.inputs.policy
    sched.inputs.policy = pol.model_copy(
        update={
            "limits": pol.limits.model_copy(
                update={"per_host": 2, "per_datastore": 3, "per_raid_group": 4}
            )
        }
    )
    sched.jobs = [
        j.model_copy(
            update={"host": "gone-esx", "datastores": ["gone-ds"], "raid_groups": ["gone-rg"]}
        )
        if j.vm == "sql01"
        else j
        for j in sched.jobs
    ]
    rows = {(r["kind"], r["name"]): r["cap"] for r in page_data(sched)["cycle_top"]}
    gone = {k: cap for k, cap in rows.items() if k[1].startswith("gone-")}
    assert gone == {
        ("host", "gone-esx"): 2,
        ("datastore", "gone-ds"): 3,
        ("raid_group", "gone-rg"): 4,
    }
