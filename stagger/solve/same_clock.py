"""The planner's last goal: each VM's incrementals at one clock time every night.

Fewer distinct start times make simpler backup-software jobs (one Veeam or Bacula schedule
time per VM instead of one per night). It comes after every other goal, so it is a
deterministic post-pass over the search's plan rather than a term of the search: per VM (by
name), its incrementals are moved to one offset into their nights' windows: one they
already have where it fits (the most common first, ties to the earliest; then the first
night's), else the earliest offset that fits. An offset fits when every one of them
still starts where it may (windows, blackouts: :attr:`Job.allowed`), fits every
capacity (the :class:`~stagger.solve.timeline.Timeline` of the whole plan: hosts,
datastores, RAID groups, task slots) and ends within its night's span in the search's plan.
So no night gets longer: the worst night and the sum of nights never get worse, and the
group rule holds (a job keeps its night). A VM whose move does not fit keeps its starts.

The offset is counted in slots from the night's window start, which opens at the same local
clock time every night, so one offset is one clock time (on a night whose window holds a
daylight-saving change, the clock after the change is shifted by it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from stagger.instance import Instance
from stagger.solve.solution import Solution, night_spans
from stagger.solve.timeline import Timeline


@dataclass(frozen=True)
class SameClock:
    vms: int = 0  # scheduled VMs with two or more incrementals
    aligned: int = 0  # of those, the ones whose incrementals start at one clock time
    aligned_before: int = 0  # the same count in the search's plan


def _offset(inst: Instance, slot: int) -> int:
    return slot - inst.nights[inst.night_of(slot)].start


def same_clock_incrementals(inst: Instance, sol: Solution) -> tuple[Solution, SameClock]:
    """``sol`` with as many VMs' incrementals at one clock time as fit (see the module doc),
    and the count. ``sol`` itself when there is nothing to align (the single regime)."""
    incrementals: dict[str, list[int]] = {}
    for j in sorted(sol.starts):
        job = inst.jobs[j]
        if job.tier is not None and job.level == "incremental":
            incrementals.setdefault(job.vm, []).append(j)
    vms = {vm: js for vm, js in incrementals.items() if len(js) > 1}
    if not vms:
        return sol, SameClock()
    starts = dict(sol.starts)
    before = sum(1 for js in vms.values() if len({_offset(inst, starts[j]) for j in js}) == 1)
    ceiling = night_spans(inst, starts)  # no night may end later than in the search's plan
    timeline = Timeline(inst)
    for j, s in starts.items():
        timeline.place(inst.jobs[j], s)
    aligned = 0
    for vm in sorted(vms):
        js = sorted(vms[vm], key=lambda j: starts[j])
        offsets = [_offset(inst, starts[j]) for j in js]
        if len(set(offsets)) == 1:
            aligned += 1
            continue
        counts = Counter(offsets)
        # The offsets it has, most common first (ties: earliest), then its first night's.
        prefer = [*sorted(counts, key=lambda o: (-counts[o], o)), offsets[0]]
        if _align(inst, timeline, starts, ceiling, js, prefer):
            aligned += 1
    return Solution(starts, list(sol.dropped), dict(sol.options)), SameClock(
        len(vms), aligned, before
    )


def _align(
    inst: Instance,
    timeline: Timeline,
    starts: dict[int, int],
    ceiling: list[int],
    js: list[int],
    prefer: list[int],
) -> bool:
    """Move the incrementals ``js`` of one VM (each on its own night) to one offset into
    their nights, all or none: the first of ``prefer`` where every one of them may start,
    fits and ends within its night's ``ceiling``, else the earliest such offset. True when
    they share one offset afterwards."""
    for j in js:
        timeline.remove(inst.jobs[j], starts[j])
    common: set[int] | None = None
    for j in js:
        job = inst.jobs[j]
        n = inst.night_of(starts[j])
        origin = inst.nights[n].start
        within = timeline.free_starts(job)
        fits: set[int] = set()
        for lo, hi in job.allowed[n]:
            hi = min(hi, origin + ceiling[n] - job.duration)
            if lo <= hi:
                fits.update((within(lo, hi) - origin).tolist())
        common = fits if common is None else common & fits
        if not common:
            break
    if common:
        offset = next((o for o in prefer if o in common), min(common))
        for j in js:
            starts[j] = inst.nights[inst.night_of(starts[j])].start + offset
    for j in js:
        timeline.place(inst.jobs[j], starts[j])
    return bool(common)
