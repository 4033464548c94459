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

The baseline is mapped onto the new instance's slot grid job by job (:func:`map_baseline`). A
job's identity is (VM, night, level), the night being the one the baseline ran it on: a job of
the single regime (one per VM) is its VM; a tiered job on a fixed night is (VM, night, level);
a planner-chosen full is (VM, block, full), the block being the ``every`` nights its group
shares, so the full keeps its identity when it moves to another night of its block (a move:
"the full of sql01 moved Sat -> Tue"), and so do the incrementals of that block, which are
interchangeable (matched in night order). A job whose baseline start is no longer allowed (its
window, a blackout, a pin or the group rule changed) has to move; those are counted as
``forced``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from stagger.instance import Instance
from stagger.model.schedule import Schedule, ScheduledJob
from stagger.solve.blocks import Lexicographic
from stagger.solve.solution import Solution, night_spans


@dataclass(frozen=True)
class BaselineMap:
    """A previous schedule on the new instance's slot grid."""

    starts: dict[int, int]  # job index -> baseline start slot (only exact slots)
    spans: list[int]  # per night: baseline makespan in slots (0: night had no job)
    near: dict[int, int]  # job index -> baseline start slot, rounded down: every matched job


def _home_nights(inst: Instance) -> list[frozenset[int]]:
    """Per job, the nights that make its identity: its group's (a block's shared nights:
    where a planner-chosen full and its incrementals may run), else its own."""
    own = [frozenset(job.nights) for job in inst.jobs]
    for members in inst.groups().values():
        block = frozenset().union(*(own[j] for j in members))
        for j in members:
            own[j] = block
    return own


def match_baseline(inst: Instance, baseline: Schedule) -> dict[int, ScheduledJob]:
    """Job index -> the baseline job it continues (module doc: job identity). A single-regime
    job continues its VM's job when the baseline had exactly one; a tiered job the first
    unmatched baseline job of its VM with its level on one of its home nights, baseline jobs
    taken in start order and instance jobs in index order."""
    old: dict[str, list[ScheduledJob]] = defaultdict(list)
    for bj in sorted(baseline.jobs, key=lambda b: (b.start, b.night)):
        old[bj.vm].append(bj)
    mine: dict[str, list[int]] = defaultdict(list)
    for j, job in enumerate(inst.jobs):
        mine[job.vm].append(j)
    home: list[frozenset[int]] | None = None
    out: dict[int, ScheduledJob] = {}
    for vm, js in mine.items():
        was = old.get(vm, [])
        if not was:
            continue
        if len(js) == 1 and inst.jobs[js[0]].level is None:
            if len(was) == 1:
                out[js[0]] = was[0]
            continue
        if home is None:
            home = _home_nights(inst)
        free = list(js)
        for bj in was:
            hit = next(
                (j for j in free if inst.jobs[j].level == bj.level and bj.night in home[j]), None
            )
            if hit is not None:
                free.remove(hit)
                out[hit] = bj
    return out


def map_baseline(inst: Instance, baseline: Schedule) -> BaselineMap:
    starts: dict[int, int] = {}
    near: dict[int, int] = {}
    for j, bj in match_baseline(inst, baseline).items():
        s = inst.slot_at(bj.start)
        near[j] = math.floor(s)
        if s == math.floor(s):
            starts[j] = near[j]
    spans = [0] * len(inst.nights)
    for bj in baseline.jobs:  # every baseline job, also those of VMs no longer there
        s, e = math.floor(inst.slot_at(bj.start)), math.ceil(inst.slot_at(bj.end))
        for n in inst.nights:
            if n.start <= s < n.end:
                spans[n.index] = max(spans[n.index], min(e, n.end) - n.start)
    return BaselineMap(starts, spans, near)


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
    # With an infrastructure file: placed baseline jobs now run by another proxy, mode or
    # repository (counted in ``moved``; see :func:`stability_stats`).
    reassigned: int = 0


def allowed_at(inst: Instance, j: int, slot: int) -> bool:
    job = inst.jobs[j]
    return any(lo <= slot <= hi for spans in job.allowed for lo, hi in spans)


def stability_stats(
    inst: Instance,
    base: BaselineMap,
    sol: Solution,
    tolerance_slots: int = 0,
    reassigned: Collection[int] = (),
) -> StabilityStats:
    """How far ``sol`` is from ``base``. ``reassigned`` (with an infrastructure file, from
    :func:`reassigned_jobs`): jobs now run by another proxy, mode or repository than their
    baseline job; each one placed is moved whatever its start, and forced (re-planning keeps
    every baseline option that still exists, so a job changes option only when its own is
    gone)."""
    other = set(reassigned)
    moved = [j for j, b in base.starts.items() if sol.starts.get(j, b) != b]
    moved += [
        j for j in base.near if j not in base.starts and j in sol.starts
    ]  # baseline start off the slot grid: it moved, by definition
    moved += [j for j in other if j in sol.starts and j not in set(moved)]
    moved.sort()
    forced = sum(
        1
        for j in moved
        if j in other or j not in base.starts or not allowed_at(inst, j, base.starts[j])
    )
    shift = 0
    for j in moved:
        if j in sol.starts:
            b = base.starts.get(j, base.near[j])
            shift += abs(sol.starts[j] - b)
    spans = night_spans(inst, sol.starts)
    excess = [max(0, s - (c + tolerance_slots)) for s, c in zip(spans, base.spans, strict=True)]
    with_base = len(base.near)
    return StabilityStats(
        moved=len(moved),
        forced=forced,
        shift_slots=shift,
        kept=with_base - len(moved) - sum(1 for j in sol.dropped if j in base.near),
        new=len(inst.jobs) - with_base,
        dropped=len(sol.dropped),
        spans=spans,
        excess=excess,
        over_makespan=max(0, max(spans, default=0) - max(base.spans, default=0) - tolerance_slots),
        moved_jobs=moved,
        reassigned=sum(1 for j in other if j in sol.starts),
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


# --------------------------------------------------------------------------- options


def baseline_options(inst: Instance, matched: dict[int, ScheduledJob]) -> dict[int, int]:
    """With an infrastructure file: job index -> the index of its baseline option (the
    proxy, mode and repository of the baseline job it continues, ``matched``) in its
    ``Job.options``, for every job whose baseline option is still one of its options. A job
    whose option is gone (the proxy no longer reaches the VM, left the file, lost the mode; a
    repository left; the option no longer fits a window), or whose baseline job had none, is
    left out: it is free to choose."""
    out: dict[int, int] = {}
    for j, bj in matched.items():
        if bj.proxy is None:
            continue
        was = (bj.proxy, bj.mode, bj.repository)
        for k, o in enumerate(inst.jobs[j].options):
            if (o.proxy, o.mode, o.repository) == was:
                out[j] = k
                break
    return out


def reassigned_jobs(
    inst: Instance, matched: dict[int, ScheduledJob], choice: dict[int, int]
) -> list[int]:
    """Jobs whose baseline job had a proxy and that now run in another option (proxy, mode
    or repository): moved, whatever their start."""
    out = []
    for j, bj in sorted(matched.items()):
        if bj.proxy is None or not inst.jobs[j].options:
            continue
        k = choice.get(j)
        o = inst.jobs[j].options[k] if k is not None else None
        if o is None or (o.proxy, o.mode, o.repository) != (bj.proxy, bj.mode, bj.repository):
            out.append(j)
    return out
