"""Write busy_getstat.csv: three weeks of 30-min vCenter statistics with planted busy hours.

Run ``python tests/data/make_busy_fixture.py`` to regenerate (seeded: same file every time).
Layout: PowerCLI ``Get-Stat | Export-Csv -NoTypeInformation`` (times in UTC, no zone).

Planted, in Europe/Berlin local time (CET, UTC+1, all of November 2026):

* esx01 CPU 88-97 % every Wednesday 01:00-03:00 (three of three weeks);
* esx02 CPU 85-95 % every Sunday 23:00 to Monday 01:00 (across the week boundary);
* DS-01 latency 35-50 ms every Saturday 02:00-04:00;
* noise that must NOT be reported: esx01 at 99 % on Thursday 14:00-15:00 of one week only, and
  twelve single-sample spikes of 95 % at random times, each in a different hour of the
  week; everything else 10-60 % / 1-8 ms.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 2, 0, 0, tzinfo=BERLIN)  # a Monday
WEEKS = 3
STEP = timedelta(minutes=30)
OUT = Path(__file__).with_name("busy_getstat.csv")


def _in(local: datetime, weekday: int, start_h: int, hours: int) -> bool:
    """Is the interval ending at ``local`` inside weekday start_h:00 + hours (may wrap)?"""
    begin = local - STEP
    week_hour = begin.weekday() * 24 + begin.hour
    first = weekday * 24 + start_h
    return (week_hour - first) % 168 < hours


def main() -> None:
    rng = random.Random(20261102)
    rows = []
    n = int(WEEKS * 7 * 24 * 3600 / STEP.total_seconds())
    # Isolated spikes: never two in the same hour of the week (two weeks alike is a pattern).
    spikes: set[int] = set()
    seen_hours: set[int] = set()
    while len(spikes) < 12:
        i = rng.randrange(1, n + 1)
        begin = (START + i * STEP - STEP).astimezone(BERLIN)
        hour = begin.weekday() * 24 + begin.hour
        if hour not in seen_hours and not _in(START + i * STEP, 2, 1, 2):
            spikes.add(i)
            seen_hours.add(hour)
    for i in range(1, n + 1):
        end = START + i * STEP
        local = end.astimezone(BERLIN)
        stamp = end.astimezone(UTC).strftime("%m/%d/%Y %H:%M:%S")
        cpu1 = rng.uniform(10, 60)
        if _in(local, 2, 1, 2):
            cpu1 = rng.uniform(88, 97)
        if _in(local, 3, 14, 1) and local < START + timedelta(days=7):
            cpu1 = 99.0
        if i in spikes:
            cpu1 = 95.0
        cpu2 = rng.uniform(85, 95) if _in(local, 6, 23, 2) else rng.uniform(10, 60)
        lat = rng.uniform(35, 50) if _in(local, 5, 2, 2) else rng.uniform(1, 8)
        for value, metric, unit, entity, eid in (
            (cpu1, "cpu.usage.average", "%", "esx01", "HostSystem-host-10"),
            (cpu2, "cpu.usage.average", "%", "esx02", "HostSystem-host-11"),
            (lat, "datastore.throughput.contention.average", "ms", "DS-01", "Datastore-ds-20"),
        ):
            rows.append([f"{value:.2f}", stamp, metric, unit, "", entity, eid, "1800", ""])
        # A per-CPU instance row: device rows are skipped (and counted), never mixed in.
        rows.append(
            ["100", stamp, "cpu.usage.average", "%", "", "esx01", "HostSystem-host-10", "1800", "0"]
        )
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(
            [
                "Value",
                "Timestamp",
                "MetricId",
                "Unit",
                "Description",
                "Entity",
                "EntityId",
                "IntervalSecs",
                "Instance",
            ]
        )
        w.writerows(rows)


if __name__ == "__main__":
    main()
