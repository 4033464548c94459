"""Recurring busy hours of hosts, clusters and datastores, found in performance history.

Pure functions: :class:`Series` (samples of one counter on one resource, from PerformanceManager
or a CSV export) in, :class:`BusyPeriod` (a weekly recurring busy stretch with its evidence) out,
and :func:`blackouts_yaml` turns the periods into blackout entries ``stagger plan --blackouts``
reads. Method (docs/busyhours.md):

* every sample is spread over the local hours of the week (Mon 00 = 0 ... Sun 23 = 167) that
  the interval it summarises covers (vCenter stamps a sample at the END of its interval);
* per hour of the week, the ``percentile`` of all its samples over all weeks seen is the
  hour's load; it is busy when that load is above the counter's threshold AND the hour was over
  the threshold (its own percentile in that week) in more than ``min_share`` of the weeks seen,
  and at least ``min_weeks`` weeks were seen: one bad week is not a habit;
* a cluster's series is the aggregate of its hosts' (mean for CPU %, max for latency, sum for
  network), sample by sample;
* busy hours of one resource (any counter) that touch are merged into one period, also across
  the Sunday/Monday boundary.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import yaml

HOURS_PER_WEEK = 168
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

ResourceKind = Literal["host", "cluster", "datastore"]
Aggregate = Literal["mean", "max", "sum"]


@dataclass(frozen=True)
class Counter:
    """A load measure, named by the vSphere counter it comes from, in the unit we compare."""

    key: str
    """vSphere ``group.name.rollup``, e.g. ``cpu.usage.average``."""
    unit: str
    threshold_option: str
    """The CLI option that sets its threshold."""
    aggregate: Aggregate
    """How a cluster combines its hosts' values."""


CPU = Counter("cpu.usage.average", "%", "--threshold-cpu", "mean")
DISK_LATENCY = Counter("disk.maxTotalLatency.latest", "ms", "--threshold-latency", "max")
DATASTORE_LATENCY = Counter(
    "datastore.throughput.contention.average", "ms", "--threshold-latency", "max"
)
NET = Counter("net.usage.average", "MB/s", "--threshold-net", "sum")
DATASTORE_IO = Counter(
    "datastore.throughput.usage.average", "MB/s", "--threshold-datastore-io", "sum"
)
COUNTERS: dict[str, Counter] = {
    c.key: c for c in (CPU, DISK_LATENCY, DATASTORE_LATENCY, NET, DATASTORE_IO)
}


@dataclass
class Series:
    """Samples of one counter on one resource: (UTC end of the interval, value in its unit)."""

    kind: ResourceKind
    name: str
    counter: Counter
    interval_s: int
    samples: list[tuple[datetime, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Thresholds:
    cpu_pct: float = 80.0
    latency_ms: float = 20.0
    net_mb_s: float = 100.0
    datastore_io_mb_s: float = 200.0

    def of(self, counter: Counter) -> float:
        if counter.threshold_option == "--threshold-cpu":
            return self.cpu_pct
        if counter.threshold_option == "--threshold-latency":
            return self.latency_ms
        if counter.threshold_option == "--threshold-net":
            return self.net_mb_s
        return self.datastore_io_mb_s


@dataclass(frozen=True)
class Settings:
    tz: ZoneInfo
    percentile: float = 95.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    min_weeks: int = 2
    min_share: float = 0.5
    """An hour is busy only when it was over the threshold in MORE than this share of weeks."""


@dataclass(frozen=True)
class HourLoad:
    hour: int
    """Hour of the week, local: Monday 00:00-01:00 = 0."""
    level: float
    """The percentile of every sample of this hour over all weeks seen."""
    weeks_seen: int
    weeks_over: int
    """Weeks in which this hour's own percentile was above the threshold."""


@dataclass
class Profile:
    """The weekly load profile of one counter on one resource."""

    kind: ResourceKind
    name: str
    counter: Counter
    threshold: float
    percentile: float
    hours: dict[int, HourLoad]
    busy: set[int]
    samples: int


@dataclass(frozen=True)
class Evidence:
    counter: str
    unit: str
    percentile: float
    peak: float
    """The highest hourly level inside the period."""
    threshold: float
    weeks_over: int
    weeks_seen: int


@dataclass(frozen=True)
class BusyPeriod:
    kind: ResourceKind
    name: str
    start_hour: int
    """Local hour of the week the period starts (Mon 00 = 0)."""
    hours: int
    evidence: tuple[Evidence, ...]

    @property
    def label(self) -> str:
        day, hour = divmod(self.start_hour, 24)
        return f"{DAY_NAMES[day]} {hour:02d}:00 for {self.hours}h"

    @property
    def rrule(self) -> str:
        day, hour = divmod(self.start_hour, 24)
        return f"FREQ=WEEKLY;BYDAY={DAYS[day]};BYHOUR={hour};BYMINUTE=0;BYSECOND=0"


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolation percentile (numpy's default) of a non-empty sequence."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def hour_of_week(when: datetime, tz: ZoneInfo) -> tuple[int, tuple[int, int]]:
    """(local hour of the week, ISO (year, week)) of an aware instant."""
    local = when.astimezone(tz)
    iso = local.isocalendar()
    return local.weekday() * 24 + local.hour, (iso.year, iso.week)


def _covered_hours(
    end: datetime, interval_s: int, tz: ZoneInfo
) -> list[tuple[int, tuple[int, int]]]:
    """The local (hour of week, week) buckets the interval ``(end - interval, end]`` touches."""
    # A sample longer than a week covers every hour once: no need to walk further.
    start = end - timedelta(seconds=min(max(interval_s, 1), HOURS_PER_WEEK * 3600))
    out: list[tuple[int, tuple[int, int]]] = []
    # Walk the interval in whole hours; the last second of it decides the final bucket.
    t = start + timedelta(seconds=1)
    while t <= end:
        bucket = hour_of_week(t, tz)
        if not out or out[-1] != bucket:
            out.append(bucket)
        t += timedelta(hours=1)
    last = hour_of_week(end - timedelta(microseconds=1), tz)
    if out[-1] != last:
        out.append(last)
    return out


def profile(series: Series, settings: Settings) -> Profile:
    """The per-hour-of-week load of one series and which hours are busy."""
    threshold = settings.thresholds.of(series.counter)
    by_hour: dict[int, list[float]] = defaultdict(list)
    by_hour_week: dict[tuple[int, tuple[int, int]], list[float]] = defaultdict(list)
    for end, value in series.samples:
        if not math.isfinite(value):
            continue
        for hour, week in _covered_hours(end, series.interval_s, settings.tz):
            by_hour[hour].append(value)
            by_hour_week[(hour, week)].append(value)
    weeks_of: dict[int, list[float]] = defaultdict(list)
    for (hour, _week), values in by_hour_week.items():
        weeks_of[hour].append(percentile(values, settings.percentile))
    hours: dict[int, HourLoad] = {}
    busy: set[int] = set()
    for hour, values in by_hour.items():
        per_week = weeks_of[hour]
        load = HourLoad(
            hour=hour,
            level=percentile(values, settings.percentile),
            weeks_seen=len(per_week),
            weeks_over=sum(1 for v in per_week if v > threshold),
        )
        hours[hour] = load
        if (
            load.level > threshold
            and load.weeks_seen >= settings.min_weeks
            and load.weeks_over > settings.min_share * load.weeks_seen
        ):
            busy.add(hour)
    return Profile(
        kind=series.kind,
        name=series.name,
        counter=series.counter,
        threshold=threshold,
        percentile=settings.percentile,
        hours=hours,
        busy=busy,
        samples=len(series.samples),
    )


def cluster_series(hosts: Iterable[Series], cluster_of: dict[str, str | None]) -> list[Series]:
    """Per cluster and counter, the aggregate of its hosts' series at each sample time."""
    groups: dict[tuple[str, str], list[Series]] = defaultdict(list)
    for s in hosts:
        cluster = cluster_of.get(s.name)
        if s.kind == "host" and cluster:
            groups[(cluster, s.counter.key)].append(s)
    out = []
    for (cluster, _key), members in sorted(groups.items()):
        counter = members[0].counter
        at: dict[datetime, list[float]] = defaultdict(list)
        for s in members:
            for when, value in s.samples:
                at[when].append(value)
        samples = []
        for when in sorted(at):
            values = at[when]
            if counter.aggregate == "mean":
                v = sum(values) / len(values)
            elif counter.aggregate == "max":
                v = max(values)
            else:
                v = sum(values)
            samples.append((when, v))
        interval = max(s.interval_s for s in members)
        out.append(Series("cluster", cluster, counter, interval, samples))
    return out


def periods(profiles: Iterable[Profile]) -> list[BusyPeriod]:
    """Merge each resource's busy hours (any counter) into contiguous weekly periods."""
    by_resource: dict[tuple[ResourceKind, str], list[Profile]] = defaultdict(list)
    for p in profiles:
        by_resource[(p.kind, p.name)].append(p)
    out: list[BusyPeriod] = []
    for (kind, name), profs in sorted(by_resource.items()):
        busy = set().union(*(p.busy for p in profs))
        for start, length in _runs(busy):
            span = {(start + i) % HOURS_PER_WEEK for i in range(length)}
            evidence = tuple(
                Evidence(
                    counter=p.counter.key,
                    unit=p.counter.unit,
                    percentile=p.percentile,
                    peak=max(p.hours[h].level for h in span & p.busy),
                    threshold=p.threshold,
                    weeks_over=min(p.hours[h].weeks_over for h in span & p.busy),
                    weeks_seen=max(p.hours[h].weeks_seen for h in span & p.busy),
                )
                for p in sorted(profs, key=lambda p: p.counter.key)
                if span & p.busy
            )
            out.append(BusyPeriod(kind, name, start, length, evidence))
    return out


def _runs(hours: set[int]) -> list[tuple[int, int]]:
    """Contiguous runs of hours of the week as (start, length), wrapping Sun 23 -> Mon 00."""
    if not hours:
        return []
    if len(hours) == HOURS_PER_WEEK:
        return [(0, HOURS_PER_WEEK)]
    starts = sorted(h for h in hours if (h - 1) % HOURS_PER_WEEK not in hours)
    out = []
    for s in starts:
        n = 1
        while (s + n) % HOURS_PER_WEEK in hours:
            n += 1
        out.append((s, n))
    return out


def detect(series: Iterable[Series], settings: Settings) -> tuple[list[Profile], list[BusyPeriod]]:
    """Profiles of every series (cluster aggregates already included) and the busy periods."""
    profs = [profile(s, settings) for s in series if s.samples]
    return profs, periods(profs)


def _fmt(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def evidence_text(e: Evidence) -> str:
    return (
        f"{e.counter} p{e.percentile:g} peak {_fmt(e.peak)} {e.unit} > threshold"
        f" {_fmt(e.threshold)} {e.unit}, over in {e.weeks_over} of {e.weeks_seen} weeks seen"
    )


def blackout_name(p: BusyPeriod) -> str:
    day, hour = divmod(p.start_hour, 24)
    return f"busy {p.kind} {p.name} {DAY_NAMES[day]} {hour:02d}:00"


def blackout_entry(p: BusyPeriod) -> dict[str, object]:
    return {
        "name": blackout_name(p),
        "scope": {p.kind: p.name},
        "rrule": p.rrule,
        "duration": f"{p.hours}h",
    }


def blackouts_yaml(
    found: Sequence[BusyPeriod], *, timezone: str, source: str, settings: Settings
) -> str:
    """The blackout file: ``timezone`` + ``blackouts`` (each with its evidence as comments).

    Names only ever go through yaml.safe_dump (quoted as YAML needs); comments hold counters and
    figures, plus the resource name ``ascii``-escaped, so a name cannot end a comment line.
    """
    lines = [
        "# Busy hours found by `stagger busy-hours` from " + ascii(source),
        f"# p{settings.percentile:g} per local hour of the week; busy in more than"
        f" {settings.min_share:.0%} of at least {settings.min_weeks} weeks seen.",
        "# Use with: stagger plan ... --blackouts THIS_FILE (the time zone must match the policy).",
    ]
    lines.append(yaml.safe_dump({"timezone": timezone}, sort_keys=False).rstrip("\n"))
    if not found:
        lines.append("blackouts: []")
        return "\n".join(lines) + "\n"
    lines.append("blackouts:")
    for p in found:
        lines.append(f"# {p.kind} {p.name!a}: {p.label}")
        for e in p.evidence:
            lines.append(f"#   {evidence_text(e)}")
        entry = yaml.safe_dump(
            [blackout_entry(p)], sort_keys=False, allow_unicode=False, width=4096
        )
        lines.append(entry.rstrip("\n"))
    return "\n".join(lines) + "\n"


def utc(when: datetime) -> datetime:
    """An instant as aware UTC; a naive one is taken as UTC already."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
