"""Lower bounds on the makespan, and the load of every resource against its free window time.

CP-SAT's own bound is weak on these models, so we compute one from first principles:
- a resource of capacity c with load L (slot-sum of its jobs) needs M with c * free(M) >= L,
  where free(M) counts, over every night, the slots in the first M of the window that no
  blackout applying to all of its jobs covers;
- a job can end no earlier than its earliest allowed start plus its duration.
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
