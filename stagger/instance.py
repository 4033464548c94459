"""Compile topology + policy into the problem the solvers take.

Time is counted in whole planning slots, anchored per night: slot ``nights[n].start`` is night
``n``'s window start (``night_origins[n]``, UTC) and each later slot of the night is
``slot_minutes`` after the previous one, so every night's first slot is its window start even
when ``slot_minutes`` does not divide the day (25 min) or a night has 23 or 25 hours. Nights
are numbered in order and never share a slot (a job lies inside one night). Each job gets its
duration in slots, the resources it occupies, and the start slots it may use in each night:
inside that night's window and clear of every blackout that applies to it. Solvers need
nothing else, so an instance can be pickled and solved anywhere.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

from stagger.calendar import (
    BlackoutInterval,
    WindowOccurrence,
    blackout_intervals,
    cycle_span,
    local_to_utc,
    window_occurrences,
    window_on_night,
)
from stagger.cycle import BackupJob, Level, cycle_jobs
from stagger.errors import InputError, shown
from stagger.fmt import hm
from stagger.infrastructure import Pins, job_rate, pins_of
from stagger.infrastructure import options as reach_options
from stagger.jobs import job_minutes, job_size_gib, job_slots, transfer_minutes
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import BackupWindow, Policy, TransportMode
from stagger.model.schedule import ScheduledJob
from stagger.model.topology import VM, Topology
from stagger.rules import (
    CONCURRENT,
    ResourceKind,
    ResourceRef,
    blackouts_by_vm,
    capacity,
    infrastructure_capacity,
    ingest_demand,
    needs_job,
    vm_resources,
)
from stagger.tiers import assign_tiers

Span = tuple[int, int]  # inclusive range of start slots
# A job's window as its clock times (start, end) and the nights it may run on.
_WindowKey = tuple[object, object, tuple[int, ...]]
# The blackouts that apply to a VM: each one's name and its [lo, hi) slots.
_Blackouts = list[tuple[str, list[tuple[int, int]]]]


@dataclass(frozen=True, slots=True)
class Resource:
    kind: ResourceKind
    name: str
    capacity: int

    @property
    def label(self) -> str:
        return ResourceRef(self.kind, self.name).label


@dataclass(frozen=True, slots=True)
class NightSlots:
    index: int
    start: int  # first slot of the window
    end: int  # one past the last slot


@dataclass(frozen=True, slots=True)
class Option:
    """One way the backup infrastructure can process a job (an infrastructure file given):
    a proxy that reaches the VM, in one of its transport modes, writing to one repository.
    The mode's rate (:func:`stagger.infrastructure.job_rate`) sets the job's length, so each
    option has its own duration and allowed starts."""

    proxy: str
    mode: str
    repository: str | None
    duration: int  # slots at this option's rate
    minutes: float  # before rounding: BackupJob.minutes_at(rate)
    allowed: tuple[tuple[Span, ...], ...]  # per night: start ranges for this duration
    resources: tuple[int, ...]  # the proxy's task slots, the repository's tasks and ingest
    demands: tuple[int, ...]  # per resource: 1 task slot; on ingest the MB/s, rounded up


@dataclass(slots=True)
class Job:
    vm: str
    duration: int  # slots
    resources: tuple[int, ...]
    allowed: tuple[tuple[Span, ...], ...]  # per night: start ranges, sorted
    size_gib: float
    minutes: float
    blackouts: tuple[str, ...] = ()  # names of the blackouts that apply to it
    priority: int = 100  # lower = more important (kept when not every job fits)
    # Tiered cycles (compiled from :func:`stagger.cycle.cycle_jobs`): the job's level and
    # tier, and its group: the jobs of one group (a VM's full and incrementals of one
    # ``every`` block, which share their nights) take distinct nights. None: single regime.
    level: Level | None = None
    tier: str | None = None
    group: int | None = None
    # With an infrastructure file: the ways to process the job, at least one. The job runs
    # in exactly one of them, occupying ``resources`` plus that option's resources, for that
    # option's duration, at one of that option's allowed starts. ``duration``, ``minutes``
    # and ``allowed`` are then the shortest option's (every option's starts lie inside them).
    # Empty: no infrastructure; ``duration``, ``resources`` and ``allowed`` are the job.
    options: tuple[Option, ...] = ()
    # Units the job takes of each of ``resources`` (a repository's ingest is in MB/s); empty:
    # one of each, as for every estate resource.
    demands: tuple[int, ...] = ()

    def demand(self, i: int) -> int:
        """Units of ``resources[i]`` the job takes while it runs."""
        return self.demands[i] if self.demands else 1

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
    # UTC start of each night's window: the time of slot nights[n].start. Empty: slots are
    # counted from ``anchor`` alone (hand-built instances in tests).
    night_origins: list[datetime] = field(default_factory=list)

    @property
    def horizon(self) -> int:
        return self.nights[-1].end if self.nights else 0

    def _night_at_slot(self, slot: float) -> int | None:
        """Night whose slots (end included: a job may end at the window end) hold ``slot``."""
        for n in self.nights:
            if n.start <= slot <= n.end:
                return n.index
        return None

    def night_of(self, slot: int) -> int:
        for n in self.nights:
            if n.start <= slot < n.end:
                return n.index
        raise ValueError(f"slot {slot} lies in no window")

    def to_datetime(self, slot: int) -> datetime:
        """UTC time of a slot boundary (a start, or an end up to its night's window end)."""
        n = self._night_at_slot(slot) if self.night_origins else None
        if n is None:
            return self.anchor + timedelta(minutes=slot * self.slot_minutes)
        return self.night_origins[n] + timedelta(
            minutes=(slot - self.nights[n].start) * self.slot_minutes
        )

    def slot_at(self, t: datetime) -> float:
        """Inverse of :meth:`to_datetime`: the (fractional) slot of ``t`` on its night's grid;
        outside every window, counted from ``anchor``."""
        size = timedelta(minutes=self.slot_minutes)
        for n, origin in zip(self.nights, self.night_origins, strict=False):
            if origin <= t <= origin + (n.end - n.start) * size + size:
                return n.start + (t - origin) / size
        return (t - self.anchor) / size

    def groups(self) -> dict[int, list[int]]:
        """Group id -> its jobs (indices, ascending): the jobs that take distinct nights."""
        out: dict[int, list[int]] = defaultdict(list)
        for j, job in enumerate(self.jobs):
            if job.group is not None:
                out[job.group].append(j)
        return out

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


def _pin_slot(
    vm: VM, policy: Policy, occurrences: list[WindowOccurrence], nights: list[NightSlots]
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
        for o, n in zip(occurrences, nights, strict=True):
            if o.start <= when < o.end:
                return n.start + math.ceil((when - o.start) / slot), None
    return None, f"pinned at {vm.pin}, which lies in no backup window of the cycle"


def _apply_pin(
    job: Job,
    vm: VM,
    kept: datetime | None,
    policy: Policy,
    occurrences: list[WindowOccurrence],
    nights: list[NightSlots],
) -> str | None:
    """Narrow ``job`` to the start its pin (or kept baseline slot) asks for; or say why not."""
    if vm.pin is not None:
        pin, why = _pin_slot(vm, policy, occurrences, nights)
        asked = vm.pin
    else:
        assert kept is not None
        asked = f"its baseline slot {kept.astimezone(policy.tz):%Y-%m-%d %H:%M}"
        home = next(
            ((o, n) for o, n in zip(occurrences, nights, strict=True) if o.start <= kept < o.end),
            None,
        )
        if home is None:
            return f"pinned to {asked}, which lies in no backup window of the cycle"
        exact = (kept - home[0].start) / timedelta(minutes=policy.slot_minutes)
        if exact != int(exact):
            return f"pinned to {asked}, which is not on a {policy.slot_minutes}-minute slot"
        pin, why = home[1].start + int(exact), None
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


def _night_name(occ: WindowOccurrence) -> str:
    """How a reason names a night: its index and the date its window opens."""
    return f"night {occ.index} ({occ.date:%a %d %b})"


def _clock_slot(
    h: int, m: int, policy: Policy, occ: WindowOccurrence, night: NightSlots
) -> int | None:
    """Slot of local ``h:m`` on this night (rounded up to the slot grid, as a single-regime
    pin), or None when that time lies outside the night's policy window."""
    slot = timedelta(minutes=policy.slot_minutes)
    for day in (occ.date, occ.date + timedelta(days=1)):
        when = local_to_utc(datetime(day.year, day.month, day.day, h, m), policy.tz)
        if occ.start <= when < occ.end:
            return night.start + math.ceil((when - occ.start) / slot)
    return None


def _why_not_at(
    job: Job,
    bj: BackupJob,
    at: int | None,
    night: NightSlots,
    window_cut: list[tuple[int, int]],
    blackouts: _Blackouts,
) -> str:
    """Why ``job`` cannot start at slot ``at`` of ``night``: outside its window, past the
    window's end, or into a blackout (``window_cut``: the slots its window forbids;
    ``blackouts``: the name and slots of each blackout that applies to the VM)."""
    if at is None:
        return "that time lies outside the night's backup window"
    if at >= night.end or any(lo <= at < hi for lo, hi in window_cut):
        return f"that time lies outside its window {bj.window}"
    end = at + job.duration
    if end > night.end or any(lo < end and at < hi for lo, hi in window_cut):
        return f"a {hm(job.minutes)} job starting then runs past the end of its window {bj.window}"
    hit = [name for name, slots in blackouts if any(lo < end and at < hi for lo, hi in slots)]
    return f"a {hm(job.minutes)} job starting then runs into blackout " + ", ".join(
        shown(b) for b in hit or job.blackouts
    )


def _pin_tiered(
    vm: VM,
    own: list[BackupJob],
    vm_jobs: list[Job],
    window_cuts: list[list[tuple[int, int]]],
    blackouts: _Blackouts,
    policy: Policy,
    occurrences: list[WindowOccurrence],
    nights: list[NightSlots],
) -> str | None:
    """Narrow the jobs of a VM of a tier (or with its own window) to what ``vm.pin`` asks
    (docs/tiers.md, "Pins"), or say why the VM cannot be planned so.

    ``HH:MM``: every job starts at that local time on each night it may run; a job with one
    night that cannot start then, or a block whose full and incrementals cannot take its
    nights one each at that time, makes the VM unscheduled. An ISO date-time fixes the VM's
    job on that night (a block's full; a fixed night's job) and leaves the others free."""
    assert vm.pin is not None
    text = vm.pin.strip()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if clock is None:
        return _pin_tiered_date(
            vm, own, vm_jobs, window_cuts, blackouts, policy, occurrences, nights
        )
    h, m = int(clock.group(1)), int(clock.group(2))
    at = [_clock_slot(h, m, policy, o, n) for o, n in zip(occurrences, nights, strict=True)]
    ok: list[list[int]] = []  # per job, the nights it can start at the pin on
    for job, bj in zip(vm_jobs, own, strict=True):
        fits = [n for n in bj.nights if (a := at[n]) is not None and job.can_start(n, a)]
        ok.append(fits)
        job.allowed = tuple(
            ((a, a),) if n in fits and a is not None else () for n, a in enumerate(at)
        )

    def why(i: int, n: int) -> str:
        job, bj = vm_jobs[i], own[i]
        cause = _why_not_at(job, bj, at[n], nights[n], window_cuts[i], blackouts)
        return (
            f"pinned at {vm.pin}, but on {_night_name(occurrences[n])} its {bj.level} job"
            f" cannot start then: {cause}"
        )

    by_nights: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, bj in enumerate(own):
        by_nights[bj.nights].append(i)
    for block, members in by_nights.items():
        if len(members) == 1:
            # A fixed night's job, or a job the planner may put on any of its nights.
            (i,) = members
            if not ok[i]:
                return why(i, block[0])
            continue
        # An ``every`` block: one full and len(block) - 1 interchangeable incrementals,
        # one per night. The incrementals need every night but the full's.
        full = next(i for i in members if own[i].level == "full")
        incr = next(i for i in members if own[i].level == "incremental")
        bad = [n for n in block if n not in ok[incr]]
        if len(bad) >= 2:
            return why(incr, bad[1])
        if bad and bad[0] not in ok[full]:
            return why(full, bad[0])
        if not ok[full]:
            return why(full, block[0]).replace(
                f"on {_night_name(occurrences[block[0]])}",
                f"on any night of nights {block[0]}-{block[-1]}",
            )
    return None


def _pin_tiered_date(
    vm: VM,
    own: list[BackupJob],
    vm_jobs: list[Job],
    window_cuts: list[list[tuple[int, int]]],
    blackouts: _Blackouts,
    policy: Policy,
    occurrences: list[WindowOccurrence],
    nights: list[NightSlots],
) -> str | None:
    """An ISO date-time pin on a VM of a tier: the VM's job on that night starts then."""
    assert vm.pin is not None
    when = local_to_utc(datetime.fromisoformat(vm.pin.strip()), policy.tz)
    home = next(
        ((o, n) for o, n in zip(occurrences, nights, strict=True) if o.start <= when < o.end),
        None,
    )
    if home is None:
        return f"pinned at {vm.pin}, which lies in no backup window of the cycle"
    occ, night = home
    at = night.start + math.ceil((when - occ.start) / timedelta(minutes=policy.slot_minutes))
    here = [i for i, bj in enumerate(own) if occ.index in bj.nights]
    if not here:
        return f"pinned at {vm.pin}, on {_night_name(occ)}, when the cycle gives it no job"
    # A block's full takes the date (its night is the planner's choice otherwise); a fixed
    # night has one job; a job free over its nights has no sibling.
    i = next((i for i in here if own[i].level == "full"), here[0])
    job, bj = vm_jobs[i], own[i]
    if not job.can_start(occ.index, at):
        return (
            f"pinned at {vm.pin}, but on {_night_name(occ)} its {bj.level} job cannot start"
            f" then: {_why_not_at(job, bj, at, night, window_cuts[i], blackouts)}"
        )
    job.allowed = tuple(((at, at),) if n == occ.index else () for n in range(len(nights)))
    for k in here:
        if k != i and len(own[k].nights) > 1:  # its block siblings take the other nights
            sib = vm_jobs[k]
            sib.allowed = tuple(() if n == occ.index else s for n, s in enumerate(sib.allowed))
            if not any(sib.allowed):  # every job the compiler hands on has a start
                block = own[k].nights
                return (
                    f"pinned at {vm.pin}: its {bj.level} job takes {_night_name(occ)}, and its"
                    f" {own[k].level} job can run on no other night of nights"
                    f" {block[0]}-{block[-1]}"
                )
    return None


def _window_forbidden(
    window: BackupWindow,
    job_nights: tuple[int, ...],
    policy: Policy,
    occurrences: list[WindowOccurrence],
    nights: list[NightSlots],
) -> list[tuple[int, int]]:
    """[lo, hi) slots a job may not use: every night not in ``job_nights`` whole, and on its
    nights the slots outside ``window`` (rounded inward: a start on the grid inside it)."""
    slot = timedelta(minutes=policy.slot_minutes)
    out: list[tuple[int, int]] = []
    for o, n in zip(occurrences, nights, strict=True):
        if n.index not in job_nights:
            out.append((n.start, n.end))
            continue
        if window == policy.window:
            continue
        start, end = window_on_night(window, policy, n.index)
        lo = n.start + max(0, math.ceil((start - o.start) / slot - 1e-9))
        hi = n.start + math.floor((end - o.start) / slot + 1e-9)
        out += [(n.start, min(lo, n.end)), (max(hi, n.start), n.end)]
    return _merge([(a, b) for a, b in out if a < b])


def _groups(jobs: list[BackupJob], first_id: int) -> list[int | None]:
    """Per job of one VM, its group: one id per set of nights shared by several jobs (an
    ``every`` block's full and incrementals); None for a job alone on its nights."""
    shared: dict[tuple[int, ...], int] = {}
    for bj in jobs:
        shared[bj.nights] = shared.get(bj.nights, 0) + 1
    ids: dict[tuple[int, ...], int] = {}
    for nights, count in shared.items():
        if count > 1:
            ids[nights] = first_id + len(ids)
    return [ids.get(bj.nights) for bj in jobs]


def _intersect(
    a: tuple[tuple[Span, ...], ...], b: tuple[tuple[Span, ...], ...]
) -> tuple[tuple[Span, ...], ...]:
    """Per night, the starts in both ``a`` and ``b`` (inclusive ranges, sorted)."""
    out: list[tuple[Span, ...]] = []
    for ra, rb in zip(a, b, strict=True):
        both = [
            (max(lo1, lo2), min(hi1, hi2))
            for lo1, hi1 in ra
            for lo2, hi2 in rb
            if max(lo1, lo2) <= min(hi1, hi2)
        ]
        out.append(tuple(sorted(both)))
    return tuple(out)


def _narrow_options(job: Job) -> None:
    """After a pin (or a kept baseline start) narrowed ``job.allowed`` (the shortest option's
    starts), narrow every option to the starts it shares with it; an option left with none
    goes. The shortest option keeps ``job.allowed`` itself, so some option always stays (a
    longer option's starts lie inside the shortest's: same window, longer job)."""
    if not job.options:
        return
    kept = []
    for o in job.options:
        allowed = _intersect(o.allowed, job.allowed)
        if any(allowed):
            kept.append(replace(o, allowed=allowed))
    job.options = tuple(kept)


def _with_options(job: Job, options: list[Option]) -> Job:
    """``job`` running in one of ``options`` (non-empty): its duration, minutes and allowed
    starts are the shortest option's (ties: the first in file order)."""
    shortest = min(options, key=lambda o: o.duration)
    job.duration = shortest.duration
    job.minutes = shortest.minutes
    job.allowed = shortest.allowed
    job.options = tuple(options)
    return job


def shortest_option(job: Job) -> int:
    """Index of the option whose duration is the job's (the first shortest)."""
    return next(k for k, o in enumerate(job.options) if o.duration == job.duration)


def fix_options(inst: Instance, choice: Mapping[int, int]) -> Instance:
    """``inst`` with each job that has options folded into a plain job running in the option
    ``choice`` gives it (job index -> index into its options; a job absent from ``choice``,
    e.g. one the plan left out, takes its shortest option): that option's duration, minutes
    and allowed starts, its resources appended to the job's with their demands. Solvers that
    do not choose options (decompose, LNS, stability) plan the result; a plan of it is a plan
    of ``inst`` with that choice. The resources (and their indices) are ``inst``'s."""
    jobs = []
    for j, job in enumerate(inst.jobs):
        if not job.options:
            jobs.append(job)
            continue
        o = job.options[choice.get(j, shortest_option(job))]
        own = job.demands or (1,) * len(job.resources)
        jobs.append(
            replace(
                job,
                duration=o.duration,
                minutes=o.minutes,
                allowed=o.allowed,
                resources=job.resources + o.resources,
                demands=own + o.demands,
                options=(),
            )
        )
    return Instance(
        inst.slot_minutes,
        inst.anchor,
        inst.nights,
        inst.resources,
        jobs,
        list(inst.unschedulable),
        dict(inst.resource_blocked),
        list(inst.night_origins),
    )


def option_label(o: Option, rate_mb_per_s: float | None = None) -> str:
    """How a reason names an option: 'proxy 'prx-a1' in nbd mode (120 MB/s)'."""
    rate = f" ({rate_mb_per_s:g} MB/s)" if rate_mb_per_s is not None else ""
    repo = f" to repository {shown(o.repository)}" if o.repository is not None else ""
    return f"proxy {shown(o.proxy)} in {o.mode} mode{rate}{repo}"


def keep_baseline(
    inst: Instance,
    matched: dict[int, ScheduledJob],
    topology: Topology,
    policy: Policy,
) -> None:
    """``pinned: true`` on VMs of a tier (or with their own window), once the instance is
    compiled: each job that continues a baseline job (``matched``: job index -> that job, by
    :func:`stagger.solve.baseline.match_baseline`, the one definition of a job's identity) is
    narrowed to that job's start; a job the baseline had no run of stays free. A VM one of
    whose kept starts is no longer allowed is unscheduled, with the reason naming the night.
    (The single regime's ``pinned`` is applied by :func:`compile_instance`.)"""
    vms = topology.index().vms
    keep = {
        job.vm
        for job in inst.jobs
        if job.level is not None and vms[job.vm].pinned and vms[job.vm].pin is None
    }
    if not keep:
        return
    occurrences = window_occurrences(policy)
    failed: dict[str, str] = {}
    for j, old in sorted(matched.items()):
        job = inst.jobs[j]
        if job.vm not in keep or job.vm in failed:
            continue
        slot = inst.slot_at(old.start)
        n = next((n.index for n in inst.nights if n.start <= slot < n.end), None)
        asked = (
            f"pinned to its baseline slot {old.start.astimezone(policy.tz):%Y-%m-%d %H:%M}"
            f" ({old.level} job" + (f", {_night_name(occurrences[n])})" if n is not None else ")")
        )
        if n is None:
            failed[job.vm] = f"{asked}, which lies in no backup window of the cycle"
        elif slot != int(slot):
            failed[job.vm] = f"{asked}, which is not on a {policy.slot_minutes}-minute slot"
        elif not job.can_start(n, int(slot)):
            failed[job.vm] = (
                f"{asked}, but a {hm(job.minutes)} {job.level} job starting then breaks its"
                " window, a blackout or the night its cycle gives it"
                + (f" (blackouts: {', '.join(job.blackouts)})" if job.blackouts else "")
            )
        else:
            at = int(slot)
            job.allowed = tuple(((at, at),) if i == n else () for i in range(len(inst.nights)))
            _narrow_options(job)
    if failed:
        inst.jobs = [job for job in inst.jobs if job.vm not in failed]
        inst.unschedulable += [(v.name, failed[v.name]) for v in topology.vms if v.name in failed]


def compile_instance(
    topology: Topology,
    policy: Policy,
    *,
    baseline_starts: dict[str, datetime] | None = None,
    infrastructure: Infrastructure | None = None,
) -> Instance:
    """``infrastructure`` (an ``--infra`` file, checked against the estate by
    :func:`stagger.infrastructure.check_infrastructure`): each job gets its options, one per
    (proxy, mode) pair that may process its VM (:func:`stagger.infrastructure.options`, pins
    honoured) and repository (the pinned one, else each of the file's; none listed: None),
    each with its length at the mode's rate (:func:`stagger.infrastructure.job_rate`, rounded
    to slots as every job) and its own allowed starts; an option that fits no window is left
    out, and a job with none left makes its VM unscheduled with that reason. The proxies'
    and repositories' task slots and the repositories' ingest (MB/s) are appended to the
    resources as they are first used. None: the instance is exactly what it was before.

    ``baseline_starts`` (VM name -> aware start of its job in the previous schedule) is what
    ``pinned: true`` keeps for a VM of the single regime; without it ``pinned`` has nothing to
    keep and is ignored. A VM of a tier or with its own window keeps its jobs' baseline starts
    by :func:`keep_baseline`, called on the compiled instance (job identity needs it).

    A VM of a tier, or with its own window, compiles from :func:`stagger.cycle.cycle_jobs`
    (one job per backup run, on its nights, inside its window, grouped by shared nights); a VM
    of the single regime to its one job per cycle."""
    idx = topology.index()
    occurrences = window_occurrences(policy)
    anchor = occurrences[0].start
    slot = timedelta(minutes=policy.slot_minutes)

    # Slots anchored per night: night n's first slot is its window start. Numbering keeps
    # roughly the absolute distance between nights (at least one past the previous night).
    nights: list[NightSlots] = []
    after = 0
    for o in occurrences:
        first = max(after, math.floor((o.start - anchor) / slot))
        nights.append(NightSlots(o.index, first, first + math.floor((o.end - o.start) / slot)))
        after = nights[-1].end + 1

    def night_slots(iv: BlackoutInterval) -> list[tuple[int, int]]:
        """[lo, hi) slots of every night that the interval touches: rounded outward, so a
        blackout off the slot grid forbids every slot it touches."""
        start, end = iv.start, iv.end
        out = []
        for o, n in zip(occurrences, nights, strict=True):
            if start < o.end and end > o.start:
                lo = n.start + math.floor((max(start, o.start) - o.start) / slot)
                hi = n.start + math.ceil((min(end, o.end) - o.start) / slot)
                out.append((lo, min(hi, n.end)))
        return out

    # Blackouts: absolute intervals once per blackout, then which VMs each one touches.
    span = cycle_span(policy)
    blackout_slots = [
        _merge([sl for iv in blackout_intervals(b, policy, span) for sl in night_slots(iv)])
        for b in policy.blackouts
    ]
    vm_blackouts = blackouts_by_vm(policy, idx)

    resources: list[Resource] = []
    res_index: dict[ResourceRef, int] = {}

    def resource(ref: ResourceRef) -> int:
        if ref not in res_index:
            res_index[ref] = len(resources)
            if ref.kind in ("proxy", "repository", "ingest"):
                assert infrastructure is not None
                cap = infrastructure_capacity(ref, infrastructure)
            else:
                cap = capacity(ref, idx, policy)
            resources.append(Resource(ref.kind, ref.name, cap))
        return res_index[ref]

    tier_pins: dict[str, Pins] = {
        t.name: Pins(proxy=t.proxy, mode=t.mode, repository=t.repository) for t in policy.tiers
    }

    # Per (mode, repository): the rate and the demands; per (proxy, repository): the resources.
    rate_of: dict[tuple[str, str | None], float] = {}
    demands_of: dict[tuple[str, str | None], tuple[int, ...]] = {}
    used_of: dict[tuple[str, str | None], tuple[int, ...]] = {}

    def job_options(
        vm: VM,
        tier: str | None,
        fixed_minutes: float,
        size_gib: float,
        starts_for: Callable[[int], tuple[tuple[Span, ...], ...]],
    ) -> tuple[list[Option], str]:
        """The options of one job of ``vm`` (see the docstring), and when there are none,
        why (the fastest way that fits no window, or no proxy for the VM)."""
        assert infrastructure is not None
        pins = pins_of(vm, tier_pins.get(tier) if tier is not None else None)
        pairs = reach_options(vm, pins, infrastructure, idx)
        if pins.repository is not None:
            repos: list[str | None] = [pins.repository]
        else:
            repos = [r.name for r in infrastructure.repositories] or [None]
        out: list[Option] = []
        fastest: tuple[float, str] | None = None  # the shortest option that fits no window
        for proxy, mode in pairs:
            for repo in repos:
                if (mode, repo) not in rate_of:  # computed once per estate: 10,000s of jobs
                    rate_of[(mode, repo)] = job_rate(
                        infrastructure, cast(TransportMode, mode), repo
                    )
                rate = rate_of[(mode, repo)]
                minutes = fixed_minutes + transfer_minutes(size_gib, rate)
                duration = max(1, math.ceil(minutes / policy.slot_minutes - 1e-9))
                allowed = starts_for(duration)
                if not any(allowed):
                    if fastest is None or minutes < fastest[0]:
                        option = Option(proxy, mode, repo, duration, minutes, allowed, (), ())
                        fastest = (minutes, option_label(option, rate))
                    continue
                if (proxy, repo) not in used_of:
                    res = [resource(ResourceRef("proxy", proxy))]
                    if repo is not None:
                        res.append(resource(ResourceRef("repository", repo)))
                        res.append(resource(ResourceRef("ingest", repo)))
                    used_of[(proxy, repo)] = tuple(res)
                used = used_of[(proxy, repo)]
                if (mode, repo) not in demands_of:
                    demands_of[(mode, repo)] = (
                        (1, 1, ingest_demand(rate, resources[used[2]].capacity))
                        if repo is not None
                        else (1,)
                    )
                out.append(
                    Option(
                        proxy,
                        mode,
                        repo,
                        duration,
                        minutes,
                        allowed,
                        used,
                        demands_of[(mode, repo)],
                    )
                )
        if out:
            return out, ""
        if fastest is None:
            return out, "no proxy of the infrastructure file can process it"
        return out, f"with {fastest[1]}, the fastest way, its {hm(fastest[0])} job fits no window"

    # The task slots come first in the resource list (index 0 when limited) whatever the
    # estate holds; solvers and reports list resources in this order.
    if policy.limits.concurrent_jobs:
        resource(ResourceRef("concurrent", CONCURRENT))

    jobs: list[Job] = []
    unschedulable: list[tuple[str, str]] = []
    allowed_cache: dict[tuple[tuple[int, ...], int], tuple[tuple[Span, ...], ...]] = {}
    forbidden_cache: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    # The tiered path's caches: a window on a job's nights (by clock times and nights), that
    # with blackouts, and the start ranges of a duration in it.
    window_cache: dict[_WindowKey, list[tuple[int, int]]] = {}
    tier_forbidden_cache: dict[tuple[tuple[int, ...], _WindowKey], list[tuple[int, int]]] = {}
    tier_allowed_cache: dict[
        tuple[tuple[tuple[int, ...], _WindowKey], int], tuple[tuple[Span, ...], ...]
    ] = {}
    tier_of = assign_tiers(topology, policy) if infrastructure is not None and policy.tiers else {}
    tiered: dict[str, list[BackupJob]] = {}
    if policy.tiers or any(vm.window is not None for vm in topology.vms):
        for bj in cycle_jobs(topology, policy):
            tiered.setdefault(bj.vm, []).append(bj)
    n_groups = 0
    for vm in topology.vms:
        if not needs_job(vm):
            continue
        b_key = vm_blackouts.get(vm.name, ())
        if b_key not in forbidden_cache:
            forbidden_cache[b_key] = _merge([iv for b in b_key for iv in blackout_slots[b]])
        own = tiered.get(vm.name, [])
        if own and (own[0].tier is not None or vm.window is not None):
            groups = _groups(own, n_groups)
            n_groups += len({g for g in groups if g is not None})
            res_t = tuple(resource(ref) for ref in vm_resources(vm, idx, policy))
            vm_jobs: list[Job] = []
            window_cuts: list[list[tuple[int, int]]] = []
            why = None
            blackout_names = tuple(policy.blackouts[b].name for b in b_key)
            for bj, group in zip(own, groups, strict=True):
                duration = max(1, math.ceil(bj.minutes / policy.slot_minutes - 1e-9))
                # A week of 10,000 VMs has 70,000 jobs but a few hundred distinct (blackouts,
                # window, nights, duration): each is cut and scanned once, as in the single
                # regime (the window as its clock times: the models are not hashable).
                w_key = (bj.window.start, bj.window.end, bj.nights)
                t_key = (b_key, w_key)
                if t_key not in tier_forbidden_cache:
                    window_cut = window_cache.get(w_key)
                    if window_cut is None:
                        window_cut = _window_forbidden(
                            bj.window, bj.nights, policy, occurrences, nights
                        )
                        window_cache[w_key] = window_cut
                    tier_forbidden_cache[t_key] = _merge(forbidden_cache[b_key] + window_cut)
                forbidden = tier_forbidden_cache[t_key]

                def tier_starts(
                    duration: int, t_key: tuple[tuple[int, ...], _WindowKey] = t_key
                ) -> tuple[tuple[Span, ...], ...]:
                    a_key = (t_key, duration)
                    if a_key not in tier_allowed_cache:
                        tier_allowed_cache[a_key] = allowed_starts(
                            nights, tier_forbidden_cache[t_key], duration
                        )
                    return tier_allowed_cache[a_key]

                job = Job(
                    vm=vm.name,
                    duration=duration,
                    resources=res_t,
                    allowed=tier_starts(duration),
                    size_gib=bj.size_gib,
                    minutes=bj.minutes,
                    blackouts=blackout_names,
                    priority=bj.priority,
                    level=bj.level,
                    tier=bj.tier,
                    group=group,
                )
                if infrastructure is not None:
                    opts, no_way = job_options(
                        vm, bj.tier, bj.fixed_minutes, bj.size_gib, tier_starts
                    )
                    if not opts:
                        why = f"its {bj.level} job: {no_way}"
                        if any(job.allowed):  # else the window alone, said below
                            break
                    else:
                        _with_options(job, opts)
                if not any(job.allowed):
                    longest = max(
                        (b - a for n in nights for a, b in free_segments(n, forbidden)), default=0
                    )
                    why = (
                        f"its {bj.level} job needs {hm(bj.minutes)} but the longest free"
                        f" stretch of window {bj.window} on its nights is"
                        f" {hm(longest * policy.slot_minutes)}"
                    )
                    if job.blackouts:
                        why += f" after blackouts {', '.join(job.blackouts)}"
                    break
                vm_jobs.append(job)
                window_cuts.append(window_cache[w_key])
            if why is None and vm.pin is not None:
                named = [(policy.blackouts[b].name, blackout_slots[b]) for b in b_key]
                why = _pin_tiered(vm, own, vm_jobs, window_cuts, named, policy, occurrences, nights)
                for job in vm_jobs:
                    _narrow_options(job)
            # A VM is planned whole or not at all (the validator's rule).
            if why is not None:
                unschedulable.append((vm.name, why))
            else:
                jobs += vm_jobs
            continue
        duration = job_slots(vm, policy)
        res = [resource(ref) for ref in vm_resources(vm, idx, policy)]
        key = (b_key, duration)
        if key not in allowed_cache:
            allowed_cache[key] = allowed_starts(nights, forbidden_cache[b_key], duration)
        allowed = allowed_cache[key]
        minutes = job_minutes(vm, policy)

        def single_starts(
            duration: int, b_key: tuple[int, ...] = b_key
        ) -> tuple[tuple[Span, ...], ...]:
            if (b_key, duration) not in allowed_cache:
                allowed_cache[(b_key, duration)] = allowed_starts(
                    nights, forbidden_cache[b_key], duration
                )
            return allowed_cache[(b_key, duration)]

        job = Job(
            vm=vm.name,
            duration=duration,
            resources=tuple(res),
            allowed=allowed,
            size_gib=job_size_gib(vm, policy),
            minutes=minutes,
            blackouts=tuple(policy.blackouts[b].name for b in b_key),
            priority=vm.priority,
        )
        if infrastructure is not None:
            taken_by = tier_of.get(vm.name)
            tier = taken_by.name if taken_by is not None else None
            opts, no_way = job_options(
                vm,
                tier,
                policy.throughput.overhead_minutes,
                job.size_gib,
                single_starts,
            )
            if not opts:
                unschedulable.append((vm.name, no_way))
                continue
            _with_options(job, opts)
            allowed = job.allowed
        kept = baseline_starts.get(vm.name) if baseline_starts and vm.pinned else None
        if vm.pin is not None or kept is not None:
            why = _apply_pin(job, vm, kept, policy, occurrences, nights)
            if why is not None:
                unschedulable.append((vm.name, why))
                continue
            _narrow_options(job)
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
    inst.night_origins = [o.start for o in occurrences]
    by_res = inst.jobs_by_resource()
    for r, members in by_res.items():
        keys = {vm_blackouts.get(jobs[j].vm, ()) for j in members}
        common = set.intersection(*(set(k) for k in keys)) if keys else set()
        inst.resource_blocked[r] = _merge([iv for b in sorted(common) for iv in blackout_slots[b]])
    return inst
