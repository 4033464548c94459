"""Compile topology + policy into the problem the solvers take.

Time is counted in whole planning slots from ``anchor`` (the first window's start, UTC). Each
job gets its duration in slots, the resources it occupies, and the start slots it may use in
each night: inside that night's window and clear of every blackout that applies to it. Solvers
need nothing else, so an instance can be pickled and solved anywhere.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from stagger.calendar import (
    WindowOccurrence,
    blackout_intervals,
    cycle_span,
    local_to_utc,
    window_occurrences,
)
from stagger.errors import InputError
from stagger.fmt import hm
from stagger.jobs import job_minutes, job_size_gib, job_slots
from stagger.model.policy import Policy
from stagger.model.topology import VM, Topology, TopologyIndex
from stagger.scope import affected_vms

ResourceKind = Literal["host", "datastore", "raid_group", "concurrent"]
Span = tuple[int, int]  # inclusive range of start slots


@dataclass(frozen=True, slots=True)
class Resource:
    kind: ResourceKind
    name: str
    capacity: int

    @property
    def label(self) -> str:
        return (
            "backup proxy task slots"
            if self.kind == "concurrent"
            else f"{self.kind.replace('_', ' ')} {self.name}"
        )


@dataclass(frozen=True, slots=True)
class NightSlots:
    index: int
    start: int  # first slot of the window
    end: int  # one past the last slot


@dataclass(slots=True)
class Job:
    vm: str
    duration: int  # slots
    resources: tuple[int, ...]
    allowed: tuple[tuple[Span, ...], ...]  # per night: start ranges, sorted
    size_gib: float
    minutes: float
    blackouts: tuple[str, ...] = ()  # names of the blackouts that apply to it

    def can_start(self, night: int, slot: int) -> bool:
        return any(lo <= slot <= hi for lo, hi in self.allowed[night])

    @property
    def nights(self) -> list[int]:
        return [n for n, spans in enumerate(self.allowed) if spans]


@dataclass
class Instance:
    slot_minutes: int
    anchor: datetime
    nights: list[NightSlots]
    resources: list[Resource]
    jobs: list[Job]
    unschedulable: list[tuple[str, str]] = field(default_factory=list)
    # Per resource, the slot ranges [start, end) in which some blackout applies to every job
    # using it: time the resource cannot spend on backups at all. Used by bounds and reports.
    resource_blocked: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return self.nights[-1].end if self.nights else 0

    def night_of(self, slot: int) -> int:
        for n in self.nights:
            if n.start <= slot < n.end:
                return n.index
        raise ValueError(f"slot {slot} lies in no window")

    def to_datetime(self, slot: int) -> datetime:
        return self.anchor + timedelta(minutes=slot * self.slot_minutes)

    def jobs_by_resource(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for j, job in enumerate(self.jobs):
            for r in job.resources:
                out[r].append(j)
        return out


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def free_segments(night: NightSlots, forbidden: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) ranges of the night's window not covered by ``forbidden`` (merged, sorted)."""
    out = []
    cur = night.start
    for fs, fe in forbidden:
        if fe <= cur:
            continue
        if fs >= night.end:
            break
        if fs > cur:
            out.append((cur, min(fs, night.end)))
        cur = max(cur, fe)
        if cur >= night.end:
            break
    if cur < night.end:
        out.append((cur, night.end))
    return out


def allowed_starts(
    nights: list[NightSlots], forbidden: list[tuple[int, int]], duration: int
) -> tuple[tuple[Span, ...], ...]:
    return tuple(
        tuple((a, b - duration) for a, b in free_segments(n, forbidden) if b - a >= duration)
        for n in nights
    )


def _capacity(kind: ResourceKind, name: str, idx: TopologyIndex, policy: Policy) -> int:
    limits = policy.limits
    if kind == "host":
        return idx.hosts[name].max_jobs or limits.per_host
    if kind == "datastore":
        return idx.datastores[name].max_jobs or limits.per_datastore
    if kind == "raid_group":
        return idx.raid_groups[name].max_jobs or limits.per_raid_group
    return limits.concurrent_jobs or 0


def _pin_slot(
    vm: VM, policy: Policy, occurrences: list[WindowOccurrence], anchor: datetime
) -> tuple[int | None, str | None]:
    """Start slot asked for by ``vm.pin``, or a reason why it lies in no window."""
    assert vm.pin is not None
    tz = policy.tz
    slot = timedelta(minutes=policy.slot_minutes)
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", vm.pin.strip())
    candidates: list[datetime] = []
    if clock:
        h, m = int(clock.group(1)), int(clock.group(2))
        for occ in occurrences:
            for day in (occ.date, occ.date + timedelta(days=1)):
                candidates.append(local_to_utc(datetime(day.year, day.month, day.day, h, m), tz))
    else:
        try:
            candidates.append(local_to_utc(datetime.fromisoformat(vm.pin.strip()), tz))
        except ValueError:
            raise InputError(
                f"'{vm.pin}' is neither HH:MM nor an ISO date-time",
                obj=f"vm '{vm.name}'",
                field="pin",
            ) from None
    for when in sorted(candidates):
        if any(o.start <= when < o.end for o in occurrences):
            return math.ceil((when - anchor) / slot), None
    return None, f"pinned at {vm.pin}, which lies in no backup window of the cycle"


def _apply_pin(
    job: Job,
    vm: VM,
    kept: datetime | None,
    policy: Policy,
    occurrences: list[WindowOccurrence],
    nights: list[NightSlots],
    anchor: datetime,
) -> str | None:
    """Narrow ``job`` to the start its pin (or kept baseline slot) asks for; or say why not."""
    if vm.pin is not None:
        pin, why = _pin_slot(vm, policy, occurrences, anchor)
        asked = vm.pin
    else:
        assert kept is not None
        asked = f"its baseline slot {kept.astimezone(policy.tz):%Y-%m-%d %H:%M}"
        exact = (kept - anchor) / timedelta(minutes=policy.slot_minutes)
        if exact != int(exact):
            return f"pinned to {asked}, which is not on a {policy.slot_minutes}-minute slot"
        pin, why = int(exact), None
    if pin is None:
        return why
    n = next((n.index for n in nights if n.start <= pin < n.end), None)
    if n is None or not job.can_start(n, pin):
        return (
            f"pinned at {asked}, but a {hm(job.minutes)} job starting then"
            " runs past the window or into a blackout"
            + (f" ({', '.join(job.blackouts)})" if job.blackouts else "")
        )
    job.allowed = tuple(((pin, pin),) if i == n else () for i in range(len(nights)))
    return None


def compile_instance(
    topology: Topology, policy: Policy, *, baseline_starts: dict[str, datetime] | None = None
) -> Instance:
    """``baseline_starts`` (VM name -> aware start of its job in the previous schedule) is what
    ``pinned: true`` keeps; without it ``pinned`` has nothing to keep and is ignored."""
    idx = topology.index()
    occurrences = window_occurrences(policy)
    anchor = occurrences[0].start
    slot = timedelta(minutes=policy.slot_minutes)

    def floor_slot(t: datetime) -> int:
        return math.floor((t - anchor) / slot)

    def ceil_slot(t: datetime) -> int:
        return math.ceil((t - anchor) / slot)

    nights = [NightSlots(o.index, ceil_slot(o.start), floor_slot(o.end)) for o in occurrences]

    # Blackouts: absolute intervals once per blackout, then which VMs each one touches.
    span = cycle_span(policy)
    vm_blackouts: dict[str, list[int]] = defaultdict(list)
    blackout_slots: list[list[tuple[int, int]]] = []
    for b_i, b in enumerate(policy.blackouts):
        blackout_slots.append(
            [
                (floor_slot(iv.start), ceil_slot(iv.end))
                for iv in blackout_intervals(b, policy, span)
            ]
        )
        for name in sorted(affected_vms(b, idx)):
            vm_blackouts[name].append(b_i)

    resources: list[Resource] = []
    res_index: dict[tuple[str, str], int] = {}

    def resource(kind: ResourceKind, name: str) -> int:
        key = (kind, name)
        if key not in res_index:
            res_index[key] = len(resources)
            resources.append(Resource(kind, name, _capacity(kind, name, idx, policy)))
        return res_index[key]

    concurrent = resource("concurrent", "*") if policy.limits.concurrent_jobs else None

    jobs: list[Job] = []
    unschedulable: list[tuple[str, str]] = []
    allowed_cache: dict[tuple[tuple[int, ...], int], tuple[tuple[Span, ...], ...]] = {}
    forbidden_cache: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for vm in topology.vms:
        if not vm.needs_backup:
            continue
        duration = job_slots(vm, policy)
        res = [resource("host", vm.host)]
        res += [resource("datastore", d) for d in vm.datastores]
        res += [resource("raid_group", g) for g in idx.raid_groups_of(vm)]
        if concurrent is not None:
            res.append(concurrent)
        b_key = tuple(vm_blackouts.get(vm.name, ()))
        if b_key not in forbidden_cache:
            forbidden_cache[b_key] = _merge([iv for b in b_key for iv in blackout_slots[b]])
        key = (b_key, duration)
        if key not in allowed_cache:
            allowed_cache[key] = allowed_starts(nights, forbidden_cache[b_key], duration)
        allowed = allowed_cache[key]
        minutes = job_minutes(vm, policy)
        job = Job(
            vm=vm.name,
            duration=duration,
            resources=tuple(res),
            allowed=allowed,
            size_gib=job_size_gib(vm, policy),
            minutes=minutes,
            blackouts=tuple(policy.blackouts[b].name for b in b_key),
        )
        kept = baseline_starts.get(vm.name) if baseline_starts and vm.pinned else None
        if vm.pin is not None or kept is not None:
            why = _apply_pin(job, vm, kept, policy, occurrences, nights, anchor)
            if why is not None:
                unschedulable.append((vm.name, why))
                continue
        if not any(allowed):
            longest = max(
                (b - a for n in nights for a, b in free_segments(n, forbidden_cache[b_key])),
                default=0,
            )
            reason = (
                f"needs {hm(minutes)} ({job.size_gib:,.0f} GiB at"
                f" {policy.throughput.mb_per_s:g} MB/s + {policy.throughput.overhead_minutes:g} min"
                f" overhead) but the longest free stretch in its windows is"
                f" {hm(longest * policy.slot_minutes)}"
            )
            if job.blackouts:
                reason += f" after blackouts {', '.join(job.blackouts)}"
            unschedulable.append((vm.name, reason))
            continue
        jobs.append(job)

    inst = Instance(policy.slot_minutes, anchor, nights, resources, jobs, unschedulable)
    by_res = inst.jobs_by_resource()
    for r, members in by_res.items():
        keys = {tuple(vm_blackouts.get(jobs[j].vm, ())) for j in members}
        common = set.intersection(*(set(k) for k in keys)) if keys else set()
        inst.resource_blocked[r] = _merge([iv for b in sorted(common) for iv in blackout_slots[b]])
    return inst
