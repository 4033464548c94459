"""Stable re-planning: change as few jobs of a previous schedule as possible.

Goals, lexicographic (weights chosen so that each goal outweighs everything below it):

1. schedule every job that can be scheduled;
2. keep each night's makespan within the baseline's (plus a tolerance): the excess over that
   cap, summed over nights, is minimised;
3. move as few of the baseline's jobs as possible (a job is moved when its start slot changes);
4. then move them as little as possible (total shift in slots). One more moved job costs more
   than the largest shift a single job can have.

The baseline is mapped onto the new instance's slot grid by VM name. A job whose baseline start
is no longer allowed (its window, a blackout or a pin changed) has to move; those are counted
as ``forced``. The warm start is a repair of the baseline: every job that still fits stays where
it was (pinned jobs first, then in baseline order), the rest go to the nearest free start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from stagger.instance import Instance
from stagger.model.schedule import Schedule
from stagger.solve.cpsat import ProgressFn, build_model, solver_parameters
from stagger.solve.greedy import Solution, job_order


@dataclass(frozen=True)
class BaselineMap:
    """A previous schedule on the new instance's slot grid."""

    starts: dict[int, int]  # job index -> baseline start slot (only exact slots)
    spans: list[int]  # per night: baseline makespan in slots (0: night had no job)
    by_vm: dict[str, tuple[int, int]]  # vm -> (start slot, end slot) incl. VMs no longer there


def map_baseline(inst: Instance, baseline: Schedule) -> BaselineMap:
    slot_s = inst.slot_minutes * 60
    by_vm: dict[str, tuple[int, int]] = {}
    exact: dict[str, bool] = {}
    for job in baseline.jobs:
        s = (job.start - inst.anchor).total_seconds() / slot_s
        e = (job.end - inst.anchor).total_seconds() / slot_s
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
    moved_jobs: list[int] = field(default_factory=list)


def allowed_at(inst: Instance, j: int, slot: int) -> bool:
    job = inst.jobs[j]
    return any(lo <= slot <= hi for spans in job.allowed for lo, hi in spans)


def night_spans(inst: Instance, sol: Solution) -> list[int]:
    spans = [0] * len(inst.nights)
    for j, s in sol.starts.items():
        n = inst.night_of(s)
        spans[n] = max(spans[n], s + inst.jobs[j].duration - inst.nights[n].start)
    return spans


def stability_stats(
    inst: Instance, base: BaselineMap, sol: Solution, tolerance: int = 0
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
    spans = night_spans(inst, sol)
    excess = [max(0, s - (c + tolerance)) for s, c in zip(spans, base.spans, strict=True)]
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
        moved_jobs=moved,
    )


def _single_start(inst: Instance, j: int) -> bool:
    spans = [s for n in inst.jobs[j].allowed for s in n]
    return len(spans) == 1 and spans[0][0] == spans[0][1]


def repair_greedy(inst: Instance, base: BaselineMap, tolerance: int = 0) -> Solution:
    """Keep every baseline job that still fits where it was; place the others nearby."""
    horizon = inst.horizon
    usage = np.zeros((len(inst.resources), horizon + 1), dtype=np.int32)
    caps = np.array([r.capacity or 1 << 30 for r in inst.resources], dtype=np.int32)
    starts: dict[int, int] = {}
    deferred: list[int] = []

    def fits(j: int, s: int) -> bool:
        job = inst.jobs[j]
        res = list(job.resources)
        return bool((usage[res, s : s + job.duration] < caps[res, None]).all())

    def place(j: int, s: int) -> None:
        job = inst.jobs[j]
        usage[list(job.resources), s : s + job.duration] += 1
        starts[j] = s

    pinned = [j for j in range(len(inst.jobs)) if _single_start(inst, j)]
    keep = sorted(
        (j for j in base.starts if j not in set(pinned)),
        key=lambda j: (base.starts[j], inst.jobs[j].vm),
    )
    for j in pinned:
        s = inst.jobs[j].allowed[next(n for n, a in enumerate(inst.jobs[j].allowed) if a)][0][0]
        if fits(j, s):
            place(j, s)
        else:
            deferred.append(j)
    for j in keep:
        b = base.starts[j]
        if allowed_at(inst, j, b) and fits(j, b):
            place(j, b)
        else:
            deferred.append(j)
    placed = set(starts) | set(deferred)
    rest = [j for j in job_order(inst) if j not in placed]
    dropped: list[int] = []
    cap_rel = [c + tolerance for c in base.spans]
    for j in deferred + rest:
        job = inst.jobs[j]
        d = job.duration
        res = list(job.resources)
        full = (usage[res] >= caps[res, None]).any(axis=0)
        busy = np.concatenate(([0], np.cumsum(full, dtype=np.int64)))
        target = base.starts.get(j)
        if target is None and job.vm in base.by_vm:
            target = base.by_vm[job.vm][0]
        best: tuple[int, int, int] | None = None  # (excess, distance or relative end, start)
        for n, spans in enumerate(job.allowed):
            ws = inst.nights[n].start
            for lo, hi in spans:
                cand = np.arange(lo, hi + 1)
                ok = cand[np.flatnonzero(busy[cand + d] - busy[cand] == 0)]
                if not ok.size:
                    continue
                rel_end = ok + d - ws
                over = np.maximum(0, rel_end - cap_rel[n])
                score = np.abs(ok - target) if target is not None else rel_end
                k = int(np.lexsort((ok, score, over))[0])
                key = (int(over[k]), int(score[k]), int(ok[k]))
                if best is None or key < best:
                    best = key
        if best is None:
            dropped.append(j)
            continue
        place(j, best[2])
    return Solution(starts, sorted(dropped))


@dataclass
class StableResult:
    solution: Solution
    status: str  # OPTIMAL / FEASIBLE / REPAIR (warm start kept) / UNKNOWN
    stats: StabilityStats
    warm_start: StabilityStats
    wall_s: float
    objective: float | None = None


class _Progress(cp_model.CpSolverSolutionCallback):
    def __init__(self, span_max: cp_model.IntVar, fn: ProgressFn) -> None:
        super().__init__()
        self._span_max = span_max
        self._fn = fn

    def on_solution_callback(self) -> None:
        self._fn(self.Value(self._span_max), self.WallTime(), self.BestObjectiveBound())


def _better(a: StabilityStats, b: StabilityStats) -> bool:
    return (a.dropped, sum(a.excess), a.moved, a.shift_slots) < (
        b.dropped,
        sum(b.excess),
        b.moved,
        b.shift_slots,
    )


def solve_stable(
    inst: Instance,
    base: BaselineMap,
    *,
    tolerance: int = 0,
    time_limit_s: float = 10.0,
    seed: int = 0,
    workers: int = 4,
    progress: ProgressFn | None = None,
) -> StableResult:
    """Re-plan ``inst`` as close to ``base`` as the rules allow (see the module doc)."""
    warm = repair_greedy(inst, base, tolerance)
    warm_stats = stability_stats(inst, base, warm, tolerance)
    if not warm.dropped and not any(warm_stats.excess) and warm_stats.moved == 0:
        return StableResult(warm, "OPTIMAL", warm_stats, warm_stats, 0.0)
    if not inst.jobs:
        return StableResult(warm, "OPTIMAL", warm_stats, warm_stats, 0.0)

    built = build_model(inst, warm, all_present=not warm.dropped)
    m = built.model
    terms_excess = []
    for n, night in enumerate(inst.nights):
        length = night.end - night.start
        cap = base.spans[n] + tolerance
        ex = m.new_int_var(0, length, f"excess_{n}")
        m.add(ex >= built.spans[n] - cap)
        m.add_hint(ex, warm_stats.excess[n])
        terms_excess.append(ex)
    moved_terms: list[cp_model.LinearExprT] = []
    shift_terms: list[cp_model.LinearExprT] = []
    max_shift = 0
    for j, b in sorted(base.starts.items()):
        start = built.starts[j]
        lo, hi = (
            min(s[0] for n in inst.jobs[j].allowed for s in n),
            max(s[1] for n in inst.jobs[j].allowed for s in n),
        )
        reach = max(abs(lo - b), abs(hi - b))
        max_shift = max(max_shift, reach)
        d = m.new_int_var(0, reach, f"shift_{j}")
        m.add_abs_equality(d, start - b)
        shift_terms.append(d)
        w = warm.starts.get(j)
        if w is not None:
            m.add_hint(d, abs(w - b))
        if allowed_at(inst, j, b):
            mv = m.new_bool_var(f"moved_{j}")
            m.add(start == b).only_enforce_if(~mv)
            m.add(d >= 1).only_enforce_if(mv)
            moved_terms.append(mv)
            if w is not None:
                m.add_hint(mv, w != b)
    n_base = len(base.starts)
    w_move = max_shift + 1
    w_excess = 2 * w_move * (n_base + 1)
    w_drop = w_excess * (sum(n.end - n.start for n in inst.nights) + 2)
    objective: list[cp_model.LinearExprT] = [
        w_excess * sum(terms_excess),
        w_move * sum(moved_terms),
        sum(shift_terms),
    ]
    if warm.dropped:
        objective.append(w_drop * sum(1 - p for p in built.present if not isinstance(p, bool)))
    m.minimize(sum(objective))

    solver = solver_parameters(time_limit_s, seed, workers)
    callback = _Progress(built.span_max, progress) if progress else None
    status = solver.solve(m, callback)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return StableResult(warm, "REPAIR", warm_stats, warm_stats, solver.wall_time)
    starts: dict[int, int] = {}
    dropped: list[int] = []
    for j, s in enumerate(built.starts):
        p = built.present[j]
        if isinstance(p, bool) or solver.boolean_value(p):
            starts[j] = solver.value(s)
        else:
            dropped.append(j)
    sol = Solution(starts, dropped)
    stats = stability_stats(inst, base, sol, tolerance)
    if _better(warm_stats, stats):  # never return worse than the warm start
        return StableResult(warm, "REPAIR", warm_stats, warm_stats, solver.wall_time)
    return StableResult(sol, name, stats, warm_stats, solver.wall_time, solver.objective_value)
