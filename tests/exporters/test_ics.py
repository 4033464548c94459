"""iCalendar exporter: parsed back with icalendar; the DST night keeps every time right."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar
from schedules import estate_schedule, make_schedule, policy, topology

from stagger.exporters.ics import render
from stagger.exporters.options import ExportOptions
from stagger.model.schedule import Schedule

STAMP = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _parse(sched: Schedule) -> Calendar:
    text = render(sched, ExportOptions(now=STAMP))
    assert text.startswith("BEGIN:VCALENDAR") and "\r\n" in text
    return Calendar.from_ical(text)


def _check_events(sched: Schedule, cal: Calendar) -> None:
    events = list(cal.walk("VEVENT"))
    assert len(events) == len(sched.jobs)
    by_vm = {j.vm: j for j in sched.jobs}
    uids = set()
    for ev in events:
        job = by_vm[str(ev["SUMMARY"])]
        start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
        assert ev["DTSTART"].params["TZID"] == sched.timezone
        assert start == job.start and end == job.end
        assert (
            end.astimezone(UTC) - start.astimezone(UTC)
        ).total_seconds() == job.duration_min * 60
        assert str(ev["LOCATION"]) == job.host
        desc = str(ev["DESCRIPTION"])
        for name in job.datastores + job.raid_groups:
            assert name in desc
        assert f"{job.size_gib:g} GiB" in desc
        uids.add(str(ev["UID"]))
    assert len(uids) == len(events)


def test_events_round_trip() -> None:
    sched = estate_schedule()
    cal = _parse(sched)
    tzs = list(cal.walk("VTIMEZONE"))
    assert [str(t["TZID"]) for t in tzs] == ["Europe/Berlin"]
    _check_events(sched, cal)


DST_TOPO = """
hosts: [{name: esx01}, {name: esx02}]
datastores: [{name: DS-1}, {name: DS-2}]
vms:
  - {name: before, host: esx01, disks: [{datastore: DS-1, size_gib: 1200}]}
  - {name: across, host: esx02, disks: [{datastore: DS-2, size_gib: 2400}]}
  - {name: after, host: esx01, disks: [{datastore: DS-1, size_gib: 600}]}
"""

DST_POLICY = """
timezone: Europe/Berlin
cycle: {start: 2026-10-24, nights: 1}
window: {start: "20:00", end: "08:00"}
slot_minutes: 5
throughput: {mb_per_s: 100}
"""


def test_dst_night() -> None:
    """The night of 24/25 Oct 2026 in Berlin has 13 real hours (02:00-03:00 happens twice)."""
    pol = policy(DST_POLICY)
    sched = make_schedule(
        topology(DST_TOPO),
        pol,
        # across: 2400 GiB at 100 MB/s = 409.6 min -> 410 min; 22:00 CEST + 410 real minutes
        # ends 03:50 CET: 5h50 later on the wall clock, as the clock goes back an hour.
        {"before": "2026-10-24T20:00", "across": "2026-10-24T22:00", "after": "2026-10-25T04:00"},
    )
    night = sched.nights[0]
    assert (night.window_end - night.window_start).total_seconds() == 13 * 3600
    cal = _parse(sched)
    _check_events(sched, cal)
    berlin = ZoneInfo("Europe/Berlin")
    ev = next(e for e in cal.walk("VEVENT") if str(e["SUMMARY"]) == "across")
    start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
    assert start.astimezone(berlin).strftime("%H:%M %Z") == "22:00 CEST"
    assert end.astimezone(berlin).strftime("%H:%M %Z") == "03:50 CET"
    assert (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 60 == 410
    # Python subtracts two times of one ZoneInfo by wall clock: the pitfall this guards.
    assert (end - start).total_seconds() / 60 == 350
    # The zone definition carries the change to standard time that night.
    tz = next(iter(cal.walk("VTIMEZONE")))
    changes = {
        (str(c["TZNAME"]), c.decoded("DTSTART").strftime("%Y%m%dT%H%M"))
        for c in tz.walk("STANDARD")
    }
    assert ("CET", "20261025T0300") in changes
    # Raw text: local times with TZID, not UTC.
    text = render(sched, ExportOptions(now=STAMP))
    assert "DTSTART;TZID=Europe/Berlin:20261024T220000" in text
    assert "DTEND;TZID=Europe/Berlin:20261025T035000" in text
