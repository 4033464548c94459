"""iCalendar (RFC 5545): one VEVENT per job, with a VTIMEZONE for the policy's zone.

Summary = VM, location = ESXi host, description = the VM's vCenter identity, datastores,
RAID groups, size and level. Events carry local times with a TZID, so a calendar shows the
daylight-saving night right. Every text value goes through :func:`ics_text`; the UID is built
from the VM's slug, so it stays the same from one export to the next.

A tiered schedule (several jobs per VM) gets one event per job too; its summary and
description carry the job's level and tier, and its UID is the VM's slug, the night's date
and the level, so a VM's events never share a UID and a re-planned cycle (other start times)
updates its events instead of adding new ones. A single-regime schedule is written exactly as
before (golden files).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from icalendar import Calendar, Event, Timezone
from icalendar.prop import vUnknown

from stagger.errors import InvalidScheduleError, visible
from stagger.exporters._common import check_zone, identities, job_level, levels, utc
from stagger.exporters.options import ExportOptions, check_options
from stagger.exporters.quoting import ICS_NEWLINE, ics_text, slugs
from stagger.model.schedule import Schedule
from stagger.tiers import is_tiered

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
    tiered = is_tiered(schedule)
    night_date = {n.index: n.date for n in schedule.nights}
    lost = [j for j in schedule.jobs if j.night not in night_date] if tiered else []
    if lost:  # the validator refuses this too; with `export --trust` nothing else would
        raise InvalidScheduleError(
            [
                f"job {visible(j.vm)!r} is on night {j.night}, which is not among the"
                " schedule's nights"
                for j in lost
            ]
        )
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        ident = ids[j.vm]
        vcenter = ", ".join(x for x in (ident.name, ident.moref, ident.vcenter) if x)
        ev = Event()
        # The single regime's level is per VM (its change rate); a tiered job has its own.
        lv = job_level(j) if tiered else level[j.vm]
        summary = j.vm
        if tiered:
            tier = f", tier {j.tier}" if j.tier is not None else ""
            summary = f"{j.vm} ({j.level}{tier})"
            uid = f"{slug_of[j.vm]}-{night_date[j.night]:%Y%m%d}-{j.level}@{options.prefix}"
        else:
            uid = f"{slug_of[j.vm]}-{j.start.astimezone(UTC):%Y%m%dT%H%M%SZ}@{options.prefix}"
        ev.add("uid", uid)
        ev.add("dtstamp", stamp)
        ev.add("dtstart", j.start.astimezone(tz))
        ev.add("dtend", j.end.astimezone(tz))
        ev.add("summary", _text(summary))
        ev.add("location", _text(j.host))
        cluster = f" (cluster {j.cluster})" if j.cluster else ""
        ev.add(
            "description",
            _text(
                f"Backup of {j.vm} ({lv}, {j.size_gib:g} GiB,"
                f" {j.duration_min} min, night {j.night})",
                *([f"Level: {j.level}, tier: {j.tier or '-'}"] if tiered else []),
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
