"""Performance history of hosts and datastores from vCenter's PerformanceManager.

One connection, bounded like the inventory load (the same ``--timeout`` deadline and
``--max-response-mib`` byte cap through :func:`stagger.sources.vcenter.connect`):

1. the inventory (the same bulk retrieval and naming as ``load_vcenter``, so host, cluster and
   datastore names match the topology ``plan`` reads and the blackout scopes resolve);
2. ``perfManager.perfCounter``: counter keys looked up by ``group.name.rollup``, never by a
   hard-coded id (ids differ between vCenter builds);
3. ``perfManager.historicalInterval``: the shortest enabled interval whose retention covers
   ``days`` (vCenter keeps 5-min samples a day, 30-min a week, 2-h a month, 1-day a year);
4. ``QueryAvailablePerfMetric`` on one host and one datastore: which wanted counters this server
   collects at that interval (a missing one is a warning, not an error);
5. ``QueryPerf`` in bulk: one spec per entity, at most ``MAX_QUERY_METRICS`` entity x counter
   pairs per call (vCenter's ``config.vpxd.stats.maxQueryMetrics`` default is 64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from stagger.busyhours import (
    CPU,
    DATASTORE_IO,
    DATASTORE_LATENCY,
    DISK_LATENCY,
    NET,
    Counter,
    ResourceKind,
    Series,
)
from stagger.errors import InputError, SourceProtocolError
from stagger.sources.vcenter import (
    InventoryTree,
    RetrievalStats,
    VCenterOptions,
    connect,
    disconnect,
    parse_server,
    read_compute,
    read_storage,
    refuse_control_chars,
    retrieve,
    translate_errors,
)

MAX_QUERY_METRICS = 64
MAX_DAYS = 366
MAX_INTERVAL_S = 86400

HOST_COUNTERS: tuple[Counter, ...] = (CPU, DISK_LATENCY, NET)
DATASTORE_COUNTERS: tuple[Counter, ...] = (DATASTORE_LATENCY, DATASTORE_IO)

# vCenter's default statistics intervals (seconds, retention seconds): used only when the
# server lists none (ESXi, the simulator), and said so in a warning.
DEFAULT_INTERVALS: tuple[tuple[int, int], ...] = (
    (300, 86400),
    (1800, 7 * 86400),
    (7200, 30 * 86400),
    (86400, 365 * 86400),
)


def to_unit(counter: Counter, raw: float) -> float:
    """A raw PerformanceManager value in the unit busy-hours compares."""
    if counter.unit == "%":
        return raw / 100.0  # percent counters are in hundredths of a percent
    if counter.unit == "MB/s":
        return raw / 1024.0  # KBps
    return raw


@dataclass
class PerfHistory:
    series: list[Series]
    cluster_of: dict[str, str | None]
    """Host name -> its cluster (None when standalone)."""
    interval_s: int
    warnings: list[str] = field(default_factory=list)
    query_calls: int = 0
    bytes_read: int = 0


def choose_interval(intervals: list[tuple[int, int, bool]], days: int) -> tuple[int, list[str]]:
    """(samplingPeriod, warnings): the shortest enabled interval that keeps ``days``."""
    warnings: list[str] = []
    # Samples longer than a day say nothing about an hour of the week (and a server listing
    # absurd periods must not make the profile walk them hour by hour).
    usable = sorted(
        (p, keep) for p, keep, enabled in intervals if enabled and 0 < p <= MAX_INTERVAL_S
    )
    if not usable:
        usable = list(DEFAULT_INTERVALS)
        warnings.append(
            "the server lists no historical statistics intervals: assuming vCenter's defaults"
            " (5 min for a day, 30 min for a week, 2 h for a month, 1 day for a year)"
        )
    need = days * 86400
    for period, keep in usable:
        if keep >= need:
            return period, warnings
    period, keep = max(usable, key=lambda x: x[1])
    warnings.append(
        f"no statistics interval keeps {days} days: using the {period} s samples, kept"
        f" {keep // 86400} days"
    )
    return period, warnings


def load_perf(opts: VCenterOptions, days: int, *, now: datetime | None = None) -> PerfHistory:
    """Counters of every host and datastore for the last ``days``. Raises SourceError (exit 3)
    when the server fails and InputError when it holds unusable names; nothing partial."""
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"must be 1 to {MAX_DAYS}, not {days}", field="--days")
    host, port = parse_server(opts.server)
    opts = replace(opts, server=host, port=port or opts.port)
    session = connect(opts)
    try:
        with translate_errors(opts, session.budget, "reading performance history"):
            objs = retrieve(session, RetrievalStats())
            refuse_control_chars(objs, opts.server)
            tree = InventoryTree(objs)
            compute = read_compute(objs, tree, opts.server)
            storage = read_storage(objs, tree, opts.server)
            cluster_of = {h.name: h.cluster for h in compute.hosts}
            entities: list[tuple[ResourceKind, str, str, tuple[Counter, ...]]] = [
                ("host", ref, name, HOST_COUNTERS) for ref, name in compute.host_of_ref.items()
            ] + [
                ("datastore", ref, name, DATASTORE_COUNTERS) for ref, name in storage.by_ref.items()
            ]
            history = _query(session.si, entities, days, now or datetime.now(UTC))
            history.cluster_of = cluster_of
            history.bytes_read = session.budget.bytes_read
            return history
    finally:
        disconnect(session)


def _query(
    si: Any,
    entities: list[tuple[ResourceKind, str, str, tuple[Counter, ...]]],
    days: int,
    now: datetime,
) -> PerfHistory:
    from pyVmomi import vim

    content = si.RetrieveContent()
    pm = content.perfManager
    if pm is None:
        raise SourceProtocolError("the server has no PerformanceManager")
    keys: dict[str, int] = {}
    for c in pm.perfCounter or []:
        name = f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}"
        keys.setdefault(name, c.key)
    intervals = [
        (int(i.samplingPeriod), int(i.length), bool(i.enabled)) for i in pm.historicalInterval or []
    ]
    period, warnings = choose_interval(intervals, days)
    history = PerfHistory([], {}, period, warnings)
    start = now - timedelta(days=days)
    max_samples = math.ceil(days * 86400 / period) + 1

    available: dict[ResourceKind, set[int]] = {}
    for kind in ("host", "datastore"):
        sample = next((e for e in entities if e[0] == kind), None)
        if sample is None:
            continue
        moref = _moref(kind, sample[1])
        ids = pm.QueryAvailablePerfMetric(entity=moref, intervalId=period) or []
        available[kind] = {m.counterId for m in ids}
        for counter in sample[3]:
            key = keys.get(counter.key)
            if key is None or key not in available[kind]:
                history.warnings.append(
                    f"{counter.key} is not collected for {kind}s at the {period} s interval"
                    " (statistics level too low?): not used"
                )

    # One spec per (entity, its available counters); batched by entity x counter pairs.
    specs: list[tuple[Any, list[tuple[int, Counter]], ResourceKind, str]] = []
    for kind, ref, name, counters in entities:
        wanted = [
            (keys[c.key], c)
            for c in counters
            if c.key in keys and keys[c.key] in available.get(kind, set())
        ]
        if wanted:
            specs.append((_moref(kind, ref), wanted, kind, name))
    batch: list[tuple[Any, list[tuple[int, Counter]], ResourceKind, str]] = []
    pairs = 0
    for spec in [*specs, None]:
        if spec is not None and pairs + len(spec[1]) <= MAX_QUERY_METRICS:
            batch.append(spec)
            pairs += len(spec[1])
            continue
        if batch:
            query = [
                vim.PerformanceManager.QuerySpec(
                    entity=moref,
                    metricId=[
                        vim.PerformanceManager.MetricId(counterId=k, instance="") for k, _ in w
                    ],
                    intervalId=period,
                    startTime=start,
                    endTime=now,
                    maxSample=max_samples,
                    format="normal",
                )
                for moref, w, _, _ in batch
            ]
            result = pm.QueryPerf(querySpec=query) or []
            history.query_calls += 1
            by_entity = {r.entity._moId: r for r in result}
            for moref, wanted, kind, name in batch:
                history.series.extend(
                    _series(by_entity.get(moref._moId), wanted, kind, name, period)
                )
        batch = [spec] if spec is not None else []
        pairs = len(spec[1]) if spec is not None else 0
    return history


def _moref(kind: ResourceKind, ref: str) -> Any:
    from pyVmomi import vim

    cls = vim.HostSystem if kind == "host" else vim.Datastore
    return cls(ref)


def _series(
    metric: Any, wanted: list[tuple[int, Counter]], kind: ResourceKind, name: str, period: int
) -> list[Series]:
    if metric is None:
        return []
    stamps = [(s.timestamp, int(s.interval or period)) for s in metric.sampleInfo or []]
    by_key = {k: c for k, c in wanted}
    out = []
    for values in metric.value or []:
        counter = by_key.get(values.id.counterId)
        if counter is None or values.id.instance not in ("", None):
            continue
        samples = []
        for (when, _interval), raw in zip(stamps, values.value or [], strict=False):
            if raw is None or raw < 0:  # -1: no value collected for that interval
                continue
            samples.append((_aware(when), to_unit(counter, float(raw))))
        samples.sort()
        out.append(Series(kind, name, counter, period, samples))
    return out


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
