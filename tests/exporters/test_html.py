"""HTML Gantt: opened in Debian's headless Chromium (DevTools protocol, see browser.py)."""

from __future__ import annotations

import struct
from pathlib import Path

from browser import run_page
from schedules import (
    estate_schedule,
    make_schedule,
    minimal_planned,
    policy,
    require_tool,
    topology,
)
from test_ics import DST_POLICY, DST_TOPO

from stagger.exporters.html import page_data, render
from stagger.exporters.registry import ExportOptions
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
    assert run.values["edges"] == 2 * run.values["lanes"] * len(sched.nights)
    assert "huge01" in run.values["unscheduled"]
    for fig in ("makespan", "lower bound", "gap", "0.00 %"):
        assert fig in run.values["cards"]
    display, tip = run.values["hover"]
    assert display == "block" and "sql01" in tip and "esx01" in tip and "DS-03" in tip
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
    text = render(estate_schedule(), ExportOptions())
    assert "http://" not in text and "https://" not in text and " src=" not in text
    assert "<\\/" in text or "</" not in text.split('id="plan-data"')[1].split("</script>")[0]
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
    labels = [t[1] for t in night["ticks"]]
    assert labels.count("02:00") == 2 and labels[0] == "20:00" and labels[-1] == "08:00"
    across = next(j for j in data["jobs"] if j["vm"] == "across")
    assert (across["s"], across["e"]) == (120, 120 + 410)
