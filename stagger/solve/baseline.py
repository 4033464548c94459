"""The stability objective: a previous schedule on the new slot grid, and how far a plan is
from it.

Goals, lexicographic (each outweighs everything below it; :func:`stability_goals` weighs them
with :class:`~stagger.solve.blocks.Lexicographic`):

1. schedule every job that can be scheduled;
2. keep the makespan (the longest night) within the baseline's plus a tolerance: the excess
   over that cap is minimised;
3. keep each night's makespan within that night's baseline makespan (plus the tolerance): the
   excess over those caps, summed over nights, is minimised. Both are needed: when the baseline
   had a night shorter than its longest, holding every night to its own span can be impossible
   (a RAID group whose load grew no longer fits in the sum of the nights' spans) and the sum
   alone would accept a longer worst night;
4. move as few of the baseline's jobs as possible (a job is moved when its start slot changes);
5. then move them as little as possible (total shift in slots).

The baseline is mapped onto the new instance's slot grid by VM name. A job whose baseline start
is no longer allowed (its window, a blackout or a pin changed) has to move; those are counted
as ``forced``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from stagger.instance import Instance
from stagger.model.schedule import Schedule
from stagger.solve.blocks import Lexicographic
from stagger.solve.solution import Solution, night_spans


@dataclass(frozen=True)
class BaselineMap:
    """A previous schedule on the new instance's slot grid."""

    starts: dict[int, int]  # job index -> baseline start slot (only exact slots)
    spans: list[int]  # per night: baseline makespan in slots (0: night had no job)
    by_vm: dict[str, tuple[int, int]]  # vm -> (start slot, end slot) incl. VMs no longer there


def map_baseline(inst: Instance, baseline: Schedule) -> BaselineMap:
    by_vm: dict[str, tuple[int, int]] = {}
    exact: dict[str, bool] = {}
    for job in baseline.jobs:
        s = inst.slot_at(job.start)
        e = inst.slot_at(job.end)
        by_vm[job.vm] = (math.floor(s), math.ceil(e))
        exact[job.vm] = s == math.floor(s)
    starts = {
        j: by_vm[job.vm][0] for j, job in enumerate(inst.jobs) if job.vm in by_vm and exact[job.vm]
    }
    spans = [0] * len(inst.nights)
    for s, e in by_vm.values():
        for n in inst.nights:
            if n.start <= s < n.end:
                spans[n.index] = max(spans[n.index], min(e, n.end) - n.start)
    return BaselineMap(starts, spans, by_vm)


@dataclass
class StabilityStats:
    moved: int  # baseline jobs whose start changed
    forced: int  # of those, jobs whose baseline start is no longer allowed
    shift_slots: int  # sum of |new start - baseline start| over moved jobs
    kept: int  # baseline jobs at their baseline start
    new: int  # jobs with no baseline slot
    dropped: int
    spans: list[int]  # per night makespan, slots
    excess: list[int]  # per night slots over the baseline's makespan + tolerance
    over_makespan: int = 0  # slots of the longest night over the baseline's longest + tolerance
    moved_jobs: list[int] = field(default_factory=list)


def allowed_at(inst: Instance, j: int, slot: int) -> bool:
    job = inst.jobs[j]
    return any(lo <= slot <= hi for spans in job.allowed for lo, hi in spans)


def stability_stats(
    inst: Instance, base: BaselineMap, sol: Solution, tolerance_slots: int = 0
) -> StabilityStats:
    moved = [j for j, b in base.starts.items() if sol.starts.get(j, b) != b]
    moved += [
        j
        for j, job in enumerate(inst.jobs)
        if j not in base.starts and job.vm in base.by_vm and j in sol.starts
    ]  # baseline start off the slot grid: it moved, by definition
    moved.sort()
    forced = sum(
        1 for j in moved if j not in base.starts or not allowed_at(inst, j, base.starts[j])
    )
    shift = 0
    for j in moved:
        if j in sol.starts:
            b = base.starts.get(j, base.by_vm[inst.jobs[j].vm][0])
            shift += abs(sol.starts[j] - b)
    spans = night_spans(inst, sol.starts)
    excess = [max(0, s - (c + tolerance_slots)) for s, c in zip(spans, base.spans, strict=True)]
    with_base = sum(1 for job in inst.jobs if job.vm in base.by_vm)
    return StabilityStats(
        moved=len(moved),
        forced=forced,
        shift_slots=shift,
        kept=with_base - len(moved) - sum(1 for j in sol.dropped if inst.jobs[j].vm in base.by_vm),
        new=len(inst.jobs) - with_base,
        dropped=len(sol.dropped),
        spans=spans,
        excess=excess,
        over_makespan=max(0, max(spans, default=0) - max(base.spans, default=0) - tolerance_slots),
        moved_jobs=moved,
    )


def stability_key(a: StabilityStats) -> tuple[int, int, int, int, int]:
    """The goals in order, to compare two plans: smaller is better."""
    return (a.dropped, a.over_makespan, sum(a.excess), a.moved, a.shift_slots)


def better(a: StabilityStats, b: StabilityStats) -> bool:
    return stability_key(a) < stability_key(b)


def add_move(
    m: cp_model.CpModel,
    start: cp_model.IntVar,
    target: int,
    reach: int,
    movable: bool,
    names: tuple[str, str],
) -> tuple[cp_model.IntVar, cp_model.IntVar | None]:
    """A job's shift ``|start - target|`` (at most ``reach``) and, when its baseline start is
    still allowed (``movable``), whether it moved (start differs from the baseline's). Names
    (shift, moved) of the new variables. Returns (shift, moved or None)."""
    d = m.new_int_var(0, reach, names[0])
    m.add_abs_equality(d, start - target)
    if not movable:
        return d, None
    mv = m.new_bool_var(names[1])
    m.add(start == target).only_enforce_if(~mv)
    m.add(d >= 1).only_enforce_if(mv)
    return d, mv


def stability_goals(
    inst: Instance,
    *,
    dropped: tuple[cp_model.LinearExprT, int] | None,
    over_makespan: cp_model.LinearExprT | None,
    excess: list[cp_model.IntVar],
    moved: list[cp_model.IntVar],
    shifts: list[cp_model.IntVar],
    shift_reach: list[int],
) -> Lexicographic:
    """Goals 1-5 (module doc) as one lexicographic objective, the weights derived from the
    largest value of each goal: one more moved job costs more than any total shift. ``dropped``
    is (jobs left out, how many may be); ``over_makespan`` None when the cap is hard. If the
    exact weights would overflow CP-SAT's objective, the shift is left out of it (it is still
    compared by :func:`stability_key`)."""
    longest = max(n.end - n.start for n in inst.nights)
    total = sum(n.end - n.start for n in inst.nights)

    def goals(with_shift: bool) -> Lexicographic:
        g = Lexicographic()
        if dropped is not None:
            g.add("dropped", dropped[0], dropped[1])
        if over_makespan is not None:
            g.add("over_makespan", over_makespan, longest)
        g.add("excess", sum(excess), total)
        g.add("moved", sum(moved), len(moved))
        if with_shift:
            g.add("shift", sum(shifts), sum(shift_reach))
        return g

    full = goals(True)
    return full if full.fits() else goals(False)
