"""iCalendar (RFC 5545): one VEVENT per job, with a VTIMEZONE for the policy's zone.

Summary = VM, location = ESXi host, description = the VM's vCenter identity, datastores,
RAID groups, size and level. Events carry local times with a TZID, so a calendar shows the
daylight-saving night right. Every text value goes through :func:`ics_text`; the UID is built
from the VM's slug, so it stays the same from one export to the next.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from icalendar import Calendar, Event, Timezone
from icalendar.prop import vUnknown

from stagger.exporters._common import check_zone, identities, levels, utc
from stagger.exporters.options import ExportOptions, check_options
from stagger.exporters.quoting import ICS_NEWLINE, ics_text, slugs
from stagger.model.schedule import Schedule

PRODID = "-//stagger//backup plan//EN"


def _text(*lines: str) -> vUnknown:
    """A TEXT property value, one line per argument, escaped by :func:`ics_text` and written
    verbatim (``vUnknown``: the library neither escapes it again nor adds a VALUE type)."""
    return vUnknown(ICS_NEWLINE.join(ics_text(line) for line in lines))


def render(schedule: Schedule, options: ExportOptions) -> str:
    check_options(options)
    tz = check_zone(schedule)
    ids = identities(schedule)
    slug_of = slugs(j.vm for j in schedule.jobs)
    stamp = (options.now or datetime.now(UTC)).astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", _text(f"{options.prefix} backup plan {schedule.cycle_start}"))
    cal.add("x-wr-timezone", tz.key)
    ends = [n.window_end for n in schedule.nights] or [
        datetime.combine(schedule.cycle_start, datetime.min.time(), tz)
    ]
    first = date(schedule.cycle_start.year, 1, 1)
    last = date(max(ends).astimezone(tz).year + 1, 1, 1)
    cal.add_component(Timezone.from_tzid(tz.key, first_date=first, last_date=last))
    level = levels(schedule)
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        ident = ids[j.vm]
        vcenter = ", ".join(x for x in (ident.name, ident.moref, ident.vcenter) if x)
        ev = Event()
        ev.add("uid", f"{slug_of[j.vm]}-{j.start.astimezone(UTC):%Y%m%dT%H%M%SZ}@{options.prefix}")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", j.start.astimezone(tz))
        ev.add("dtend", j.end.astimezone(tz))
        ev.add("summary", _text(j.vm))
        ev.add("location", _text(j.host))
        cluster = f" (cluster {j.cluster})" if j.cluster else ""
        ev.add(
            "description",
            _text(
                f"Backup of {j.vm} ({level[j.vm]}, {j.size_gib:g} GiB,"
                f" {j.duration_min} min, night {j.night})",
                f"vCenter: {vcenter}",
                f"Host: {j.host}{cluster}",
                f"Datastores: {', '.join(j.datastores) or '-'}",
                f"RAID groups: {', '.join(j.raid_groups) or '-'}",
            ),
        )
        ev.add("categories", ["backup"])
        ev.add("transp", "TRANSPARENT")
        cal.add_component(ev)
    return cal.to_ical().decode("utf-8")
