"""The planner's last goal: each VM's incrementals at one clock time every night.

Fewer distinct start times make simpler backup-software jobs (one Veeam or Bacula schedule
time per VM instead of one per night). It comes after every other goal, so it is a
deterministic post-pass over the search's plan rather than a term of the search: per VM (by
name), its incrementals are moved to one offset into their nights' windows (the offset most
of them already have, ties to the earliest; else the first night's) when every job that
moves still starts where it may (windows, blackouts: :attr:`Job.allowed`), fits every
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
        offsets = {j: _offset(inst, starts[j]) for j in js}
        if len(set(offsets.values())) == 1:
            aligned += 1
            continue
        counts = Counter(offsets.values())
        common = min(counts, key=lambda o: (-counts[o], o))
        first = offsets[js[0]]
        for target in dict.fromkeys((common, first)):
            if _move(
                inst, timeline, starts, ceiling, [j for j in js if offsets[j] != target], target
            ):
                aligned += 1
                break
    return Solution(starts, list(sol.dropped)), SameClock(len(vms), aligned, before)


def _move(
    inst: Instance,
    timeline: Timeline,
    starts: dict[int, int],
    ceiling: list[int],
    movers: list[int],
    offset: int,
) -> bool:
    """Move every job of ``movers`` (one VM's, each on its own night) to ``offset`` into its
    night, all or none; True when they moved."""
    new: dict[int, int] = {}
    for j in movers:
        job = inst.jobs[j]
        n = inst.night_of(starts[j])
        s = inst.nights[n].start + offset
        if not job.can_start(n, s) or offset + job.duration > ceiling[n]:
            return False
        new[j] = s
    for j in movers:
        timeline.remove(inst.jobs[j], starts[j])
    if all(timeline.fits(inst.jobs[j], s) for j, s in new.items()):
        for j, s in new.items():
            timeline.place(inst.jobs[j], s)
            starts[j] = s
        return True
    for j in movers:
        timeline.place(inst.jobs[j], starts[j])
    return False
