"""The schedule's own formats: schema-versioned JSON and a flat CSV for spreadsheets."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from stagger.atomic import write_text_atomic
from stagger.model.schedule import Schedule

CSV_COLUMNS = [
    "vm",
    "host",
    "cluster",
    "datastores",
    "raid_groups",
    "start",
    "end",
    "duration_min",
    "size_gib",
    "night",
]


def schedule_json(schedule: Schedule) -> str:
    return schedule.model_dump_json(indent=2, exclude_none=False) + "\n"


def schedule_csv(schedule: Schedule) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for j in schedule.jobs:
        w.writerow(
            [
                j.vm,
                j.host,
                j.cluster or "",
                ";".join(j.datastores),
                ";".join(j.raid_groups),
                j.start.isoformat(),
                j.end.isoformat(),
                j.duration_min,
                f"{j.size_gib:g}",
                j.night,
            ]
        )
    return buf.getvalue()


def write_json(schedule: Schedule, path: str | Path) -> None:
    write_text_atomic(path, schedule_json(schedule))


def write_csv(schedule: Schedule, path: str | Path) -> None:
    write_text_atomic(path, schedule_csv(schedule))
