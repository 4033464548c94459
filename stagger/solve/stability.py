"""Stable re-planning: change as few jobs of a previous schedule as possible.

Goals, lexicographic (weights chosen so that each goal outweighs everything below it):

1. schedule every job that can be scheduled;
2. keep the makespan (the longest night) within the baseline's plus a tolerance: the excess
   over that cap is minimised;
3. keep each night's makespan within that night's baseline makespan (plus the tolerance): the
   excess over those caps, summed over nights, is minimised. Both are needed: when the baseline
   had a night shorter than its longest, holding every night to its own span can be impossible
   (a RAID group whose load grew no longer fits in the sum of the nights' spans) and the sum
   alone would accept a longer worst night;
4. move as few of the baseline's jobs as possible (a job is moved when its start slot changes);
5. then move them as little as possible (total shift in slots). One more moved job costs more
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
from stagger.planner import night_spans
from stagger.solve.cpsat import (
    DTIME_PER_SECOND,
    ProgressFn,
    _Progress,
    build_model,
    extract_solution,
    solver_parameters,
)
from stagger.solve.decompose import ComponentTask, components, solve_component, sub_instance
from stagger.solve.greedy import Solution, job_order, solve_greedy


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
        over_makespan=max(0, max(spans, default=0) - (max(base.spans, default=0) + tolerance)),
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
    # Neighbourhood re-solves (large instances): (phase, jobs freed, CP-SAT status, accepted)
    neighbourhoods: list[tuple[str, int, str, bool]] = field(default_factory=list)


def _better(a: StabilityStats, b: StabilityStats) -> bool:
    return _key(a) < _key(b)


def _key(a: StabilityStats) -> tuple[int, int, int, int, int]:
    return (a.dropped, a.over_makespan, sum(a.excess), a.moved, a.shift_slots)


# Instances up to this many jobs are re-planned by one CP-SAT model over every job; larger ones
# by neighbourhood re-solves (see ``solve_stable``).
MONOLITHIC_MAX_JOBS = 2000


def solve_stable(
    inst: Instance,
    base: BaselineMap,
    *,
    tolerance: int = 0,
    time_limit_s: float = 10.0,
    seed: int = 0,
    workers: int = 4,
    progress: ProgressFn | None = None,
    monolithic_max_jobs: int = MONOLITHIC_MAX_JOBS,
) -> StableResult:
    """Re-plan ``inst`` as close to ``base`` as the rules allow (see the module doc).

    Up to ``monolithic_max_jobs`` jobs: one CP-SAT model over every job, warm-started from the
    repair. Above: a large neighbourhood search around the change (``_lns``): every job outside
    the neighbourhood keeps its place, CP-SAT re-plans the jobs inside it with each night's
    makespan capped at the baseline's + ``tolerance``, the neighbourhood widens until the cap
    holds, then the moved jobs' neighbourhoods are re-solved to move fewer. If the cap still
    does not hold, the whole-instance model gets what is left of the budget.

    Deterministic: neighbourhoods depend only on the instance and the plans, budgets are
    CP-SAT deterministic time (``time_limit_s`` wall seconds at ``DTIME_PER_SECOND``).
    """
    warm = repair_greedy(inst, base, tolerance)
    warm_stats = stability_stats(inst, base, warm, tolerance)
    if not warm.dropped and not any(warm_stats.excess) and warm_stats.moved == 0:
        return StableResult(warm, "OPTIMAL", warm_stats, warm_stats, 0.0)
    if not inst.jobs:
        return StableResult(warm, "OPTIMAL", warm_stats, warm_stats, 0.0)
    start, start_stats = warm, warm_stats
    if warm.dropped:
        # Kept slots can leave a grown job no gap although a plan with every VM exists. Every
        # VM planned is the first goal, so a fresh plan that drops fewer is the better start:
        # with every job present the model then only trades makespan, moves and shift.
        fresh = solve_greedy(inst)
        if len(fresh.dropped) < len(warm.dropped):
            start, start_stats = fresh, stability_stats(inst, base, fresh, tolerance)
    if len(inst.jobs) <= monolithic_max_jobs:
        return _solve_monolithic(
            inst, base, start, start_stats, warm_stats, tolerance, time_limit_s, seed, workers,
            progress,
        )  # fmt: skip

    lns = _Lns(inst, base, tolerance, seed, workers, progress)
    best, best_stats, used = lns.run(start, start_stats, time_limit_s)
    if (best_stats.dropped or best_stats.over_makespan) and time_limit_s - used > 0.5:
        res = _solve_monolithic(
            inst, base, best, best_stats, warm_stats, tolerance, time_limit_s - used, seed,
            workers, progress,
        )  # fmt: skip
        res.wall_s += lns.wall_s
        res.neighbourhoods = lns.log
        return res
    status = "REPAIR" if best is warm else "FEASIBLE"
    return StableResult(
        best, status, best_stats, warm_stats, lns.wall_s, None, neighbourhoods=lns.log
    )


def _solve_monolithic(
    inst: Instance,
    base: BaselineMap,
    hint: Solution,
    hint_stats: StabilityStats,
    warm_stats: StabilityStats,
    tolerance: int,
    time_limit_s: float,
    seed: int,
    workers: int,
    progress: ProgressFn | None,
) -> StableResult:
    """One CP-SAT model over every job, lexicographic goals as weights; never worse than
    ``hint``."""
    built = build_model(inst, hint, all_present=not hint.dropped)
    m = built.model
    terms_excess = []
    for n, night in enumerate(inst.nights):
        length = night.end - night.start
        cap = base.spans[n] + tolerance
        ex = m.new_int_var(0, length, f"excess_{n}")
        m.add(ex >= built.spans[n] - cap)
        m.add_hint(ex, hint_stats.excess[n])
        terms_excess.append(ex)
    longest = max(n.end - n.start for n in inst.nights)
    over = m.new_int_var(0, longest, "over_makespan")
    m.add(over >= built.span_max - (max(base.spans, default=0) + tolerance))
    m.add_hint(over, hint_stats.over_makespan)
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
        w = hint.starts.get(j)
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
    w_over = w_excess * (sum(n.end - n.start for n in inst.nights) + 2)
    w_drop = w_over * (longest + 2)
    objective: list[cp_model.LinearExprT] = [
        w_over * over,
        w_excess * sum(terms_excess),
        w_move * sum(moved_terms),
        sum(shift_terms),
    ]
    if hint.dropped:
        objective.append(w_drop * sum(1 - p for p in built.present if not isinstance(p, bool)))
    m.minimize(sum(objective))

    solver = solver_parameters(time_limit_s, seed, workers)
    callback = _Progress(built.span_max, progress) if progress else None
    status = solver.solve(m, callback)
    name = solver.status_name(status)
    kept = "REPAIR" if hint_stats is warm_stats else "FEASIBLE"
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return StableResult(hint, kept, hint_stats, warm_stats, solver.wall_time)
    sol = extract_solution(solver, built)
    stats = stability_stats(inst, base, sol, tolerance)
    if _better(hint_stats, stats):  # never return worse than the warm start
        return StableResult(hint, kept, hint_stats, warm_stats, solver.wall_time)
    return StableResult(sol, name, stats, warm_stats, solver.wall_time, solver.objective_value)


# --------------------------------------------------------------------------- neighbourhoods

# Depths of the resource-sharing neighbourhoods tried in turn around the jobs over the cap (1:
# the jobs sharing a host, datastore or RAID group with them; 2: and with those), before the
# seeds' whole components.
LNS_DEPTHS = (1, 2, 3)


class _Lns:
    """Large neighbourhood search for the stability goals on a large instance."""

    def __init__(
        self,
        inst: Instance,
        base: BaselineMap,
        tolerance: int,
        seed: int,
        workers: int,
        progress: ProgressFn | None,
    ) -> None:
        self.inst = inst
        self.base = base
        self.tolerance = tolerance
        self.seed = seed
        self.workers = workers
        self.progress = progress
        self.caps = [c + tolerance for c in base.spans]
        self.cap_all = max(base.spans, default=0) + tolerance
        self.by_res = {
            r: js
            for r, js in inst.jobs_by_resource().items()
            if inst.resources[r].kind != "concurrent"
        }
        self.conc = [
            r for r, res in enumerate(inst.resources) if res.kind == "concurrent" and res.capacity
        ]
        self.comp_of: dict[int, int] = {}
        self.groups = components(inst)
        for k, g in enumerate(self.groups):
            for j in g:
                self.comp_of[j] = k
        self.wall_s = 0.0
        self.log: list[tuple[str, int, str, bool]] = []

    # -- neighbourhoods

    def over_cap(self, sol: Solution) -> list[int]:
        inst = self.inst
        out = list(sol.dropped)
        for j, s in sol.starts.items():
            n = inst.night_of(s)
            if s + inst.jobs[j].duration - inst.nights[n].start > self.caps[n]:
                out.append(j)
        return sorted(out)

    def around(self, seeds: list[int], depth: int) -> list[int]:
        seen = set(seeds)
        frontier = sorted(seen)
        for _ in range(depth):
            nxt: set[int] = set()
            for j in frontier:
                for r in self.inst.jobs[j].resources:
                    for k in self.by_res.get(r, ()):
                        if k not in seen:
                            nxt.add(k)
            seen |= nxt
            frontier = sorted(nxt)
        return sorted(seen)

    def whole_components(self, seeds: list[int]) -> list[int]:
        ks = sorted({self.comp_of[j] for j in seeds})
        return sorted(j for k in ks for j in self.groups[k])

    # -- one re-solve

    def solve(
        self, cur: Solution, free: list[int], budget_s: float, hint: Solution | None = None
    ) -> tuple[Solution | None, str, float]:
        """CP-SAT on the jobs ``free``, every other job fixed where ``cur`` has it, the
        makespan capped at the baseline's + tolerance (hard) and the goals below it (each
        night's excess, moves, shift) as weights. Returns (plan or None, status, deterministic
        seconds used)."""
        inst, base = self.inst, self.base
        hint = hint or cur
        free_set = set(free)
        m = cp_model.CpModel()
        starts: dict[int, cp_model.IntVar] = {}
        ivs: dict[int, list[cp_model.IntervalVar]] = {}
        terms_move: list[cp_model.LinearExprT] = []
        terms_shift: list[cp_model.LinearExprT] = []
        max_shift = 0
        # Each night's excess over its own baseline span: at least what the fixed jobs make.
        fixed_span = [0] * len(inst.nights)
        for j, s in cur.starts.items():
            if j not in free_set:
                n = inst.night_of(s)
                end = s + inst.jobs[j].duration - inst.nights[n].start
                fixed_span[n] = max(fixed_span[n], end)
        excess = []
        for n, night in enumerate(inst.nights):
            ex = m.new_int_var(0, night.end - night.start, f"ex{n}")
            m.add(ex >= fixed_span[n] - self.caps[n])
            excess.append(ex)
        for j in free:
            job = inst.jobs[j]
            dom: list[list[int]] = []
            by_night: dict[int, list[list[int]]] = {}
            for n, spans in enumerate(job.allowed):
                last = inst.nights[n].start + self.cap_all - job.duration
                part = [[lo, min(hi, last)] for lo, hi in spans if lo <= min(hi, last)]
                if part:
                    by_night[n] = part
                    dom += part
            if not dom:
                return None, "INFEASIBLE", 0.0
            start = m.new_int_var_from_domain(cp_model.Domain.from_intervals(dom), f"s{j}")
            starts[j] = start
            iv = m.new_fixed_size_interval_var(start, job.duration, f"i{j}")
            for r in job.resources:
                ivs.setdefault(r, []).append(iv)
            if j in hint.starts:
                m.add_hint(start, hint.starts[j])
            lits: list[cp_model.IntVar] = []
            for n, part in by_night.items():
                if len(by_night) == 1:
                    m.add(excess[n] >= start + job.duration - inst.nights[n].start - self.caps[n])
                    continue
                lit = m.new_bool_var(f"b{j}_{n}")
                m.add_linear_expression_in_domain(
                    start, cp_model.Domain.from_intervals(part)
                ).only_enforce_if(lit)
                m.add(
                    excess[n] >= start + job.duration - inst.nights[n].start - self.caps[n]
                ).only_enforce_if(lit)
                if j in hint.starts:
                    m.add_hint(lit, inst.night_of(hint.starts[j]) == n)
                lits.append(lit)
            if lits:
                m.add_exactly_one(lits)
            target = base.starts.get(j)
            exact = target is not None
            if target is None and job.vm in base.by_vm:
                target = base.by_vm[job.vm][0]
            if target is None:
                continue
            reach = max(abs(dom[0][0] - target), abs(dom[-1][1] - target))
            max_shift = max(max_shift, reach)
            d = m.new_int_var(0, reach, f"d{j}")
            m.add_abs_equality(d, start - target)
            terms_shift.append(d)
            if exact and allowed_at(inst, j, target):
                mv = m.new_bool_var(f"m{j}")
                m.add(start == target).only_enforce_if(~mv)
                m.add(d >= 1).only_enforce_if(mv)
                terms_move.append(mv)
        usage = self._fixed_usage(cur, free_set)
        for r, r_ivs in sorted(ivs.items()):
            cap = inst.resources[r].capacity
            if not cap:
                continue
            fixed = usage(r)
            if len(r_ivs) + (int(fixed.max()) if fixed.size else 0) <= cap:
                continue  # never binding
            blocks = _steps(fixed)
            if cap == 1:
                extra = [m.new_fixed_size_interval_var(a, b - a, f"f{r}_{a}") for a, b, _ in blocks]
                m.add_no_overlap(r_ivs + extra)
            else:
                extra = [m.new_fixed_size_interval_var(a, b - a, f"f{r}_{a}") for a, b, _ in blocks]
                m.add_cumulative(r_ivs + extra, [1] * len(r_ivs) + [u for _, _, u in blocks], cap)
        w_move = max_shift + 1
        objective: list[cp_model.LinearExprT] = [
            w_move * (2 * len(free) + 1) * sum(excess),
            w_move * sum(terms_move),
            sum(terms_shift),
        ]
        m.minimize(sum(objective))
        solver = solver_parameters(budget_s, self.seed, self.workers)
        status = solver.solve(m)
        used = solver.deterministic_time / DTIME_PER_SECOND
        self.wall_s += solver.wall_time
        name = solver.status_name(status)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, name, used
        new = dict(cur.starts)
        for j, var in starts.items():
            new[j] = solver.value(var)
        dropped = [j for j in cur.dropped if j not in free_set]
        return Solution(new, dropped), name, used

    def _fixed_usage(self, cur: Solution, free: set[int]):  # type: ignore[no-untyped-def]
        """Per resource: usage per slot by the jobs that stay (not in ``free``)."""
        inst = self.inst
        horizon = inst.horizon + 1
        cache: dict[int, np.ndarray] = {}

        def usage(r: int) -> np.ndarray:
            if r in cache:
                return cache[r]
            diff = np.zeros(horizon + 1, dtype=np.int64)
            jobs = (
                range(len(inst.jobs))
                if inst.resources[r].kind == "concurrent"
                else self.by_res.get(r, ())
            )
            for k in jobs:
                if k in free or k not in cur.starts:
                    continue
                s = cur.starts[k]
                diff[s] += 1
                diff[s + inst.jobs[k].duration] -= 1
            cache[r] = np.cumsum(diff)[:horizon]
            return cache[r]

        return usage

    def makespan_hint(
        self, cur: Solution, free: list[int], budget_s: float
    ) -> tuple[Solution, float]:
        """A plan of the whole components ``free`` that meets the makespan cap, ignoring the
        moves: CP-SAT on makespan alone (as the planner does), stopped at the cap. It only
        hints the stability re-solve, which checks every rule again (the global concurrency
        limit too)."""
        ks = sorted({self.comp_of[j] for j in free})
        starts = dict(cur.starts)
        used = 0.0
        for i, k in enumerate(ks):
            group = self.groups[k]
            task = ComponentTask(
                key=k,
                inst=sub_instance(self.inst, group),
                hint={li: cur.starts[j] for li, j in enumerate(group) if j in cur.starts},
                hint_dropped=tuple(li for li, j in enumerate(group) if j not in cur.starts),
                concurrency=None,
                time_limit_s=max(0.5, (budget_s - used) / (len(ks) - i)),
                seed=self.seed,
                workers=self.workers,
                target=self.cap_all,
            )
            res = solve_component(task)
            used += res.deterministic_time / DTIME_PER_SECOND
            self.wall_s += res.wall_s
            for li, j in enumerate(group):
                if li in res.starts:
                    starts[j] = res.starts[li]
            self.log.append(("makespan hint", len(group), res.status, False))
        return Solution(starts, [j for j in cur.dropped if j not in set(free)]), used

    # -- the search

    def step(
        self,
        phase: str,
        cur: Solution,
        cur_stats: StabilityStats,
        free: list[int],
        budget_s: float,
        hint: Solution | None = None,
    ) -> tuple[Solution, StabilityStats, float]:
        sol, name, used = self.solve(cur, free, budget_s, hint)
        accepted = False
        if sol is not None:
            stats = stability_stats(self.inst, self.base, sol, self.tolerance)
            if _better(stats, cur_stats):
                cur, cur_stats, accepted = sol, stats, True
                if self.progress is not None:
                    self.progress(max(stats.spans, default=0), self.wall_s, 0.0)
        self.log.append((phase, len(free), name, accepted))
        return cur, cur_stats, used

    def run(
        self, warm: Solution, warm_stats: StabilityStats, time_limit_s: float
    ) -> tuple[Solution, StabilityStats, float]:
        """Returns (best plan, its stats, deterministic seconds used)."""
        cur, cur_stats = warm, warm_stats
        used = 0.0
        # 1. Makespan: widen the neighbourhood of the jobs over the cap until it holds.
        tried: list[list[int]] = []
        levels: list[tuple[str, int]] = [("depth", d) for d in LNS_DEPTHS] + [("component", 0)]
        for i, (kind, depth) in enumerate(levels):
            seeds = self.over_cap(cur)
            if not seeds:
                break
            free = self.around(seeds, depth) if kind == "depth" else self.whole_components(seeds)
            if free in tried:
                continue
            tried.append(free)
            left = time_limit_s - used
            if left <= 0:
                break
            budget = left / (len(levels) - i + 1)  # keep a share for the moves phase
            hint = None
            if kind == "component" and cur_stats.over_makespan + cur_stats.dropped:
                hint, u = self.makespan_hint(cur, free, budget / 2)
                used += u
                budget = max(0.5, budget - u)
            phase = f"makespan/{kind}{depth or ''}"
            cur, cur_stats, u = self.step(phase, cur, cur_stats, free, budget, hint)
            used += u
        if cur_stats.over_makespan or cur_stats.dropped:
            return cur, cur_stats, used
        # 2. Moves: per component with moved jobs, re-solve those jobs and their neighbours.
        moved = [j for j in cur_stats.moved_jobs if j in cur.starts]
        by_comp: dict[int, list[int]] = {}
        for j in moved:
            by_comp.setdefault(self.comp_of[j], []).append(j)
        todo = sorted(by_comp)
        for i, k in enumerate(todo):
            left = time_limit_s - used
            if left <= 0:
                break
            free = self.around(by_comp[k], 1)
            cur, cur_stats, u = self.step("moves", cur, cur_stats, free, left / (len(todo) - i))
            used += u
        return cur, cur_stats, used


def _steps(usage: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, level) runs of a usage profile where it is above zero."""
    out: list[tuple[int, int, int]] = []
    n = len(usage)
    t = 0
    while t < n:
        u = int(usage[t])
        e = t + 1
        while e < n and int(usage[e]) == u:
            e += 1
        if u > 0:
            out.append((t, e, u))
        t = e
    return out
