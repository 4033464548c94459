"""iCalendar (RFC 5545): one VEVENT per job, with a VTIMEZONE for the policy's zone.

Summary = VM, location = ESXi host, description = datastores, RAID groups, size and level.
Events carry local times with a TZID, so a calendar shows the daylight-saving night right.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

from stagger.exporters._common import levels, utc
from stagger.exporters.registry import ExportOptions
from stagger.model.schedule import Schedule

PRODID = "-//stagger//backup plan//EN"


def render(schedule: Schedule, options: ExportOptions) -> str:
    tz = ZoneInfo(schedule.timezone)
    stamp = (options.now or datetime.now(UTC)).astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{options.prefix} backup plan {schedule.cycle_start}")
    cal.add("x-wr-timezone", schedule.timezone)
    ends = [n.window_end for n in schedule.nights] or [
        datetime.combine(schedule.cycle_start, datetime.min.time(), tz)
    ]
    first = date(schedule.cycle_start.year, 1, 1)
    last = date(max(ends).astimezone(tz).year + 1, 1, 1)
    cal.add_component(Timezone.from_tzid(schedule.timezone, first_date=first, last_date=last))
    level = levels(schedule)
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        ev = Event()
        ev.add("uid", f"{j.vm}-{j.start.astimezone(UTC):%Y%m%dT%H%M%SZ}@{options.prefix}")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", j.start.astimezone(tz))
        ev.add("dtend", j.end.astimezone(tz))
        ev.add("summary", j.vm)
        ev.add("location", j.host)
        ev.add(
            "description",
            f"Backup of {j.vm} ({level[j.vm]}, {j.size_gib:g} GiB,"
            f" {j.duration_min} min, night {j.night})\n"
            f"Host: {j.host}" + (f" (cluster {j.cluster})" if j.cluster else "") + "\n"
            f"Datastores: {', '.join(j.datastores) or '-'}\n"
            f"RAID groups: {', '.join(j.raid_groups) or '-'}",
        )
        ev.add("categories", ["backup"])
        ev.add("transp", "TRANSPARENT")
        cal.add_component(ev)
    return cal.to_ical().decode("utf-8")
