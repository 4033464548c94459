"""The schedule's own formats: schema-versioned JSON and a flat CSV for spreadsheets.

Every text cell of the CSV goes through :func:`~stagger.exporters.quoting.csv_cell`: a cell a
spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) gets a leading
``'``, as does one that starts with ``'``; strip one leading ``'`` to read the value back.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from stagger.atomic import write_text_atomic
from stagger.exporters._common import has_infrastructure
from stagger.exporters.quoting import csv_cell
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
    # How vCenter knows the VM (empty when `vm` is its vCenter name / not known).
    "vm_display_name",
    "vm_moref",
    "vm_instance_uuid",
    "vcenter",
]
INFRA_CSV_COLUMNS = ["proxy", "mode", "repository"]
"""Appended only for a schedule planned with an infrastructure file (``--infra``), so that
other schedules keep exactly their columns."""


def schedule_json(schedule: Schedule) -> str:
    return schedule.model_dump_json(indent=2, exclude_none=False) + "\n"


def schedule_csv(schedule: Schedule) -> str:
    buf = io.StringIO()
    # CRLF (RFC 4180): the writer then quotes a cell holding a CR as well as one holding a
    # newline; with "\n" a bare CR is written unquoted and splits the row on reading.
    w = csv.writer(buf, lineterminator="\r\n")
    infra = has_infrastructure(schedule)
    w.writerow(CSV_COLUMNS + (INFRA_CSV_COLUMNS if infra else []))
    for j in schedule.jobs:
        extra = [csv_cell(j.proxy or ""), j.mode or "", csv_cell(j.repository or "")]
        w.writerow(
            [
                csv_cell(j.vm),
                csv_cell(j.host),
                csv_cell(j.cluster or ""),
                csv_cell(";".join(j.datastores)),
                csv_cell(";".join(j.raid_groups)),
                j.start.isoformat(),
                j.end.isoformat(),
                j.duration_min,
                f"{j.size_gib:g}",
                j.night,
                csv_cell(j.vm_display_name or ""),
                csv_cell(j.vm_moref or ""),
                csv_cell(j.vm_instance_uuid or ""),
                csv_cell(j.vcenter or ""),
                *(extra if infra else []),
            ]
        )
    return buf.getvalue()


def write_json(schedule: Schedule, path: str | Path) -> None:
    write_text_atomic(path, schedule_json(schedule))
