"""Lower bounds on the makespan, and the load of every resource against its free window time.

CP-SAT's own bound is weak on these models, so we compute one from first principles:
- a resource of capacity c with load L (slot-sum of its jobs) needs M with c * free(M) >= L,
  where free(M) counts, over every night, the slots in the first M of the window that no
  blackout applying to all of its jobs covers;
- a job can end no earlier than its earliest allowed start plus its duration;
- Hall's condition on each resource: the jobs that can only run inside a region R (the slots a
  job may occupy if every night ends by M: its own blackouts, whole-job fit) must fit in
  capacity x |R|. This catches jobs on one datastore whose hosts have *different* blackouts at
  the same hours, which the first rule, looking only at blackouts shared by all jobs, misses.
The makespan is the largest per-night span (window start to last job end), in slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stagger.instance import Instance, Resource


@dataclass(frozen=True)
class ResourceLoad:
    resource: int
    load: int  # slots of jobs
    free: int  # slots of window left after blackouts (per unit of capacity)
    bound: int  # smallest makespan (slots) this resource allows; > longest night = cannot fit

    def overloaded(self, capacity: int) -> bool:
        return self.load > capacity * self.free


@dataclass(frozen=True)
class Bound:
    makespan: int  # slots
    reason: str
    loads: list[ResourceLoad]


def _free_profile(inst: Instance, blocked: list[tuple[int, int]]) -> np.ndarray:
    """cs[M] = free slots within the first M slots of every night, summed over nights."""
    longest = max(n.end - n.start for n in inst.nights)
    counts = np.zeros(longest, dtype=np.int64)
    for night in inst.nights:
        avail = np.ones(night.end - night.start, dtype=np.int64)
        for s, e in blocked:
            lo, hi = max(s, night.start), min(e, night.end)
            if lo < hi:
                avail[lo - night.start : hi - night.start] = 0
        counts[: len(avail)] += avail
    return np.concatenate(([0], np.cumsum(counts)))


def job_earliest_end(inst: Instance, j: int) -> int:
    job = inst.jobs[j]
    return min(
        spans[0][0] + job.duration - inst.nights[n].start
        for n, spans in enumerate(job.allowed)
        if spans
    )


def _occupiable(inst: Instance, j: int, prefix: int) -> np.ndarray:
    """Slots job j could occupy in a plan whose nights all end within ``prefix`` slots."""
    job = inst.jobs[j]
    mask = np.zeros(inst.horizon + 1, dtype=bool)
    for n, spans in enumerate(job.allowed):
        last = inst.nights[n].start + prefix - job.duration
        for lo, hi in spans:
            if lo <= min(hi, last):
                mask[lo : min(hi, last) + job.duration] = True
    return mask


# Above this many distinct job regions on one resource only each region alone and the union
# of all are tried, keeping the check linear.
_HALL_PAIRWISE = 64


def _hall_holds(inst: Instance, members: list[int], cap: int, prefix: int) -> bool:
    groups: dict[tuple[object, int], list[int]] = {}
    for j in members:
        job = inst.jobs[j]
        groups.setdefault((job.allowed, job.duration), []).append(j)
    regions = [
        (_occupiable(inst, js[0], prefix), sum(inst.jobs[j].duration for j in js))
        for js in groups.values()
    ]
    union = np.logical_or.reduce([r for r, _ in regions])
    if cap * int(union.sum()) < sum(load for _, load in regions):
        return False
    for region, load in regions:
        size = cap * int(region.sum())
        if len(regions) > _HALL_PAIRWISE:
            inside = load
        else:
            inside = sum(other_load for other, other_load in regions if not (other & ~region).any())
        if inside > size:
            return False
    return True


def hall_bound(inst: Instance, start: int) -> tuple[int, str]:
    """Raise ``start`` while some resource breaks Hall's condition; scanning upward one slot at
    a time keeps the result a valid bound (the condition is necessary, not monotone)."""
    best, reason = start, ""
    longest = max(n.end - n.start for n in inst.nights)
    for r, members in sorted(inst.jobs_by_resource().items()):
        res = inst.resources[r]
        cap = min(res.capacity, len(members)) if res.capacity else len(members)
        prefix = best
        while prefix <= longest and not _hall_holds(inst, members, cap, prefix):
            prefix += 1
        if prefix > best:
            best, reason = prefix, f"jobs on {res.label} and their own blackouts"
    return best, reason


def lower_bound(inst: Instance) -> Bound:
    if not inst.jobs:
        return Bound(0, "no jobs", [])
    best, reason = 0, ""
    for j, job in enumerate(inst.jobs):
        end = job_earliest_end(inst, j)
        if end > best:
            best, reason = end, f"job {job.vm} cannot end earlier"
    profiles: dict[tuple[tuple[int, int], ...], np.ndarray] = {}
    loads = []
    for r, members in sorted(inst.jobs_by_resource().items()):
        res: Resource = inst.resources[r]
        load = sum(inst.jobs[j].duration for j in members)
        cap = min(res.capacity, len(members)) if res.capacity else len(members)
        key = tuple(inst.resource_blocked.get(r, []))
        if key not in profiles:
            profiles[key] = _free_profile(inst, list(key))
        cs = profiles[key]
        free = int(cs[-1])
        # len(cs) = past every window: this resource cannot take its load.
        fits = cap * free >= load
        bound = int(np.searchsorted(cs * cap, load, side="left")) if fits else len(cs)
        loads.append(ResourceLoad(r, load, free, bound))
        if bound > best:
            best, reason = bound, f"load on {res.label}"
    hall, why = hall_bound(inst, best)
    if hall > best:
        best, reason = hall, why
    return Bound(best, reason, loads)


def describe_overload(inst: Instance, load: ResourceLoad) -> str:
    """'datastore DS-7: 13.2 h of backups, 9.0 h of window left after blackouts'."""
    res = inst.resources[load.resource]
    hours = inst.slot_minutes / 60
    cap = f" x {res.capacity} slots" if res.capacity > 1 else ""
    return (
        f"{res.label}: {load.load * hours:.1f} h of backups, "
        f"{load.free * hours:.1f} h of window{cap} left after blackouts"
    )


def min_dropped(inst: Instance) -> tuple[int, str]:
    """A lower bound on how many of ``inst.jobs`` no plan can schedule, and why.

    Per resource of capacity c: its jobs, shortest first, while their slots fit in c times the
    window time its blackouts (those applying to all of its jobs) leave; every job beyond that
    count cannot be placed. Valid because every placed job holds the resource for its whole
    duration inside some night's free time."""
    best, reason = 0, ""
    profiles: dict[tuple[tuple[int, int], ...], int] = {}
    for r, members in sorted(inst.jobs_by_resource().items()):
        res = inst.resources[r]
        if not res.capacity or res.capacity >= len(members):
            continue
        key = tuple(inst.resource_blocked.get(r, []))
        if key not in profiles:
            profiles[key] = int(_free_profile(inst, list(key))[-1])
        room = res.capacity * profiles[key]
        durations = np.sort(np.array([inst.jobs[j].duration for j in members], dtype=np.int64))
        fit = int(np.searchsorted(np.cumsum(durations), room, side="right"))
        if len(members) - fit > best:
            best = len(members) - fit
            reason = (
                f"{res.label}: only {fit} of its {len(members)} jobs fit in its window time,"
                " shortest first"
            )
    return best, reason
