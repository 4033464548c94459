"""Performance history from a CSV export, for estates without API access to vCenter.

Two layouts, told apart by the header:

* ``esxtop -b`` batch mode (Windows PDH-CSV): the first cell is ``(PDH-CSV 4.0) (UTC)(0)``
  (zone name and its bias in minutes, local = UTC - bias), every other column is
  ``\\\\HOST\\Object(Instance)\\Counter``. Read: ``Physical Cpu(_Total)\\% Util Time`` (CPU %),
  the highest ``Average Guest MilliSec/Command`` of the ``Physical Disk SCSI Device`` /
  ``Physical Disk Adapter`` instances (latency ms) and the sum of ``MBits Transmitted/sec`` +
  ``MBits Received/sec`` of the ``Network Port`` instances on a ``vmnic`` (MB/s). Host level only.
* vCenter statistics exported with PowerCLI (``Get-Stat ... | Export-Csv``): columns
  ``Value, Timestamp, MetricId, Unit, Entity, EntityId, IntervalSecs, Instance``; one row per
  sample; hosts, clusters and datastores by ``EntityId`` (``HostSystem-host-12``). Rows of a
  device instance are skipped (the aggregate row has an empty ``Instance``).

Timestamps without a zone are read in ``naive_tz`` (esxtop states its own). Every problem is
one :class:`InputError` naming the file, the row or column and the field; columns and rows that
are not used are counted in the warnings, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections import Counter as Tally
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from statistics import median
from zoneinfo import ZoneInfo

from stagger.busyhours import (
    COUNTERS,
    CPU,
    DISK_LATENCY,
    NET,
    Counter,
    ResourceKind,
    Series,
)
from stagger.errors import InputError
from stagger.model.text import no_control_chars

MAX_CSV_BYTES = 512 << 20
"""Refuse a bigger file: a week of esxtop at 5 s on a large host is about 200 MiB."""
MAX_FIELD_CHARS = 4096
MAX_COLUMNS = 200_000
MAX_INTERVAL_S = 86400
"""vCenter's longest statistics level; longer samples say nothing about an hour of the week."""
_YEARS = (1971, 2200)

_PDH = re.compile(r"^\(PDH-CSV [\d.]+\)(?:\s*\((?P<zone>[^()]*)\)\s*\((?P<bias>-?\d+)\))?")
_ESXTOP_COLUMN = re.compile(
    r"^\\\\(?P<host>[^\\]+)\\(?P<object>[^\\(]+)(?:\((?P<inst>.*)\))?\\(?P<counter>[^\\]+)$"
)
_ENTITY_KIND: dict[str, ResourceKind] = {
    "HostSystem": "host",
    "ClusterComputeResource": "cluster",
    "Datastore": "datastore",
}
_GETSTAT_COLUMNS = ("Value", "Timestamp", "MetricId", "Entity", "EntityId")
_TIME_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)


@dataclass
class CsvHistory:
    series: list[Series]
    layout: str
    warnings: list[str] = field(default_factory=list)
    cluster_of: dict[str, str | None] = field(default_factory=dict)


def load_perf_csv(path: str | Path, naive_tz: ZoneInfo | None = None) -> CsvHistory:
    """Series from an esxtop batch or PowerCLI Get-Stat CSV. Raises InputError (exit 1)."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise InputError("file not found", file=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(p)) from None
    if size > MAX_CSV_BYTES:
        raise InputError(
            f"{size / (1 << 20):.0f} MiB is more than the {MAX_CSV_BYTES >> 20} MiB read"
            " (export fewer days or a longer interval)",
            file=str(p),
        )
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(p)) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=str(p)) from None
    return parse_perf_csv(text, str(p), naive_tz or ZoneInfo("UTC"))


def _rows(text: str, file: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if len(row) > MAX_COLUMNS:
                raise InputError(
                    f"{len(row)} columns, more than {MAX_COLUMNS}",
                    file=file,
                    obj=f"row {reader.line_num}",
                )
            for cell in row:
                if len(cell) > MAX_FIELD_CHARS:
                    raise InputError(
                        f"a cell of {len(cell)} characters (at most {MAX_FIELD_CHARS})",
                        file=file,
                        obj=f"row {reader.line_num}",
                    )
            if row:
                rows.append(row)
    except csv.Error as exc:
        raise InputError(
            f"not valid CSV: {exc}", file=file, obj=f"line {reader.line_num}"
        ) from None
    return rows


def parse_perf_csv(text: str, file: str, naive_tz: ZoneInfo) -> CsvHistory:
    rows = _rows(text, file)
    if not rows:
        raise InputError("file is empty", file=file)
    head = rows[0]
    if _PDH.match(head[0].strip()):
        return _esxtop(rows, file)
    if all(c in head for c in _GETSTAT_COLUMNS):
        return _getstat(rows, file, naive_tz)
    raise InputError(
        "not a performance export: expected an esxtop batch CSV (first cell '(PDH-CSV 4.0) ...')"
        " or a PowerCLI Get-Stat CSV (columns " + ", ".join(_GETSTAT_COLUMNS) + ")",
        file=file,
        obj="row 1",
    )


def _name(value: str, file: str, obj: str, fld: str) -> str:
    name = value.strip()
    if not name:
        raise InputError("empty name", file=file, obj=obj, field=fld)
    try:
        return no_control_chars(name)
    except ValueError as exc:
        raise InputError(
            f"name {ascii(name)[:120]}: {exc}", file=file, obj=obj, field=fld
        ) from None


def _time(value: str, tz: timezone | ZoneInfo, file: str, obj: str) -> datetime:
    text = value.strip()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _TIME_FORMATS:
            try:
                when = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise InputError(f"{text[:40]!r} is not a time stamp", file=file, obj=obj) from None
    if not _YEARS[0] <= when.year <= _YEARS[1]:
        raise InputError(f"{text[:40]!r} is not a plausible time stamp", file=file, obj=obj)
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when.astimezone(UTC)


def _number(value: str) -> float | None:
    try:
        v = float(value.strip())
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None


def _interval_s(stamps: list[datetime], file: str) -> int:
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps) if b > a]
    interval = max(1, round(median(steps))) if steps else 1
    if interval > MAX_INTERVAL_S:
        raise InputError(
            f"samples are {interval} s apart, more than a day: no hour-of-week profile", file=file
        )
    return interval


# --- esxtop -b ---------------------------------------------------------------------------------


def _esxtop_role(obj: str, inst: str | None, counter: str) -> Counter | None:
    obj, counter = obj.strip(), counter.strip()
    if obj == "Physical Cpu" and inst == "_Total" and counter == "% Util Time":
        return CPU
    if obj in ("Physical Disk SCSI Device", "Physical Disk Adapter") and counter == (
        "Average Guest MilliSec/Command"
    ):
        return DISK_LATENCY
    if (
        obj == "Network Port"
        and inst is not None
        and "vmnic" in inst
        and counter in ("MBits Transmitted/sec", "MBits Received/sec")
    ):
        return NET
    return None


def _esxtop(rows: list[list[str]], file: str) -> CsvHistory:
    head = rows[0]
    m = _PDH.match(head[0].strip())
    assert m is not None
    bias = int(m["bias"]) if m["bias"] is not None else 0
    if abs(bias) > 24 * 60:
        raise InputError(f"time zone bias {bias} min is out of range", file=file, obj="row 1")
    # PDH: UTC = local + bias minutes.
    tz = timezone(timedelta(minutes=-bias))
    roles: dict[int, tuple[str, Counter]] = {}
    unused = 0
    for i, col in enumerate(head[1:], start=1):
        cm = _ESXTOP_COLUMN.match(col)
        if cm is None:
            raise InputError(
                f"column {col[:80]!a} is not \\\\HOST\\Object(Instance)\\Counter",
                file=file,
                obj=f"column {i + 1}",
            )
        role = _esxtop_role(cm["object"], cm["inst"], cm["counter"])
        if role is None:
            unused += 1
            continue
        roles[i] = (_name(cm["host"], file, f"column {i + 1}", "host"), role)
    warnings = []
    if unused:
        warnings.append(f"{file}: {unused} of {len(head) - 1} esxtop columns not used")
    if not roles:
        raise InputError(
            "no CPU, disk latency or vmnic network column (e.g. \\\\HOST\\Physical"
            " Cpu(_Total)\\% Util Time)",
            file=file,
            obj="row 1",
        )
    # (host, counter) -> time -> values of its columns in that row
    acc: dict[tuple[str, Counter], dict[datetime, list[float]]] = defaultdict(dict)
    stamps: list[datetime] = []
    blanks = 0
    for n, row in enumerate(rows[1:], start=2):
        when = _time(row[0], tz, file, f"row {n}")
        stamps.append(when)
        for i, (host, role) in roles.items():
            v = _number(row[i]) if i < len(row) else None
            if v is None:
                blanks += 1
                continue
            acc[(host, role)].setdefault(when, []).append(v)
    if blanks:
        warnings.append(f"{file}: {blanks} empty or non-numeric cells skipped")
    interval = _interval_s(sorted(stamps), file)
    series = []
    for (host, role), at in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1].key)):
        samples = []
        for when in sorted(at):
            values = at[when]
            if role is NET:
                samples.append((when, sum(values) / 8.0))  # Mbit/s of every uplink, as MB/s
            elif role is DISK_LATENCY:
                samples.append((when, max(values)))
            else:
                samples.append((when, values[0]))
        series.append(Series("host", host, role, interval, samples))
    return CsvHistory(series, "esxtop batch", warnings)


# --- PowerCLI Get-Stat -------------------------------------------------------------------------


def _getstat(rows: list[list[str]], file: str, naive_tz: ZoneInfo) -> CsvHistory:
    head = [h.strip() for h in rows[0]]
    col = {h: i for i, h in enumerate(head)}
    acc: dict[tuple[ResourceKind, str, str], list[tuple[datetime, float]]] = defaultdict(list)
    intervals: dict[tuple[ResourceKind, str, str], set[int]] = defaultdict(set)
    skipped: Tally[str] = Tally()

    def cell(row: list[str], name: str) -> str:
        i = col.get(name)
        return row[i] if i is not None and i < len(row) else ""

    for n, row in enumerate(rows[1:], start=2):
        obj = f"row {n}"
        metric = cell(row, "MetricId").strip()
        counter = COUNTERS.get(metric)
        if counter is None:
            skipped[f"counter {metric!r}"] += 1
            continue
        if cell(row, "Instance").strip():
            skipped["device instances"] += 1
            continue
        entity_type = cell(row, "EntityId").strip().split("-", 1)[0]
        kind = _ENTITY_KIND.get(entity_type)
        if kind is None:
            skipped[f"entity type {entity_type!r}"] += 1
            continue
        name = _name(cell(row, "Entity"), file, obj, "Entity")
        value = _number(cell(row, "Value"))
        if value is None:
            raise InputError(
                f"{cell(row, 'Value')[:40]!r} is not a non-negative number",
                file=file,
                obj=obj,
                field="Value",
            )
        unit = cell(row, "Unit").strip()
        if unit == "KBps":
            value /= 1024.0
        when = _time(cell(row, "Timestamp"), naive_tz, file, obj)
        acc[(kind, name, metric)].append((when, value))
        interval_s = _number(cell(row, "IntervalSecs"))
        if interval_s is not None and interval_s > MAX_INTERVAL_S:
            raise InputError(
                f"{interval_s:g} s is more than a day ({MAX_INTERVAL_S} s)",
                file=file,
                obj=obj,
                field="IntervalSecs",
            )
        if interval_s:
            intervals[(kind, name, metric)].add(int(interval_s))
    warnings = [
        f"{file}: {count} rows of {what} not used" for what, count in sorted(skipped.items())
    ]
    series = []
    for key, samples in sorted(acc.items()):
        kind, name, metric = key
        samples.sort()
        stated = intervals.get(key)
        interval = max(stated) if stated else _interval_s([t for t, _ in samples], file)
        series.append(Series(kind, name, COUNTERS[metric], interval, samples))
    if not series:
        raise InputError(
            "no rows of a counter busy-hours reads (" + ", ".join(sorted(COUNTERS)) + ")",
            file=file,
        )
    return CsvHistory(series, "PowerCLI Get-Stat", warnings)
