"""CP-SAT model: interval per job, NoOverlap / Cumulative per resource, blackouts in the domains.

Goals, lexicographic: schedule every job that can be scheduled, then minimise the largest
per-night makespan, then the sum of per-night makespans. When the greedy warm start already
places every job, presence is fixed to true (the first goal is met) and the model is smaller.

Runs are deterministic: interleaved search with a fixed seed and worker count, stopped by
CP-SAT's deterministic time (a count of work, not of seconds). On these models one
deterministic unit costs about five to ten wall seconds on 2 cores, so a wall-clock budget is turned
into ``DTIME_PER_SECOND`` units; a wall-clock cap stays as a safety net for slow machines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from stagger.instance import Instance
from stagger.solve.greedy import Solution

# Deterministic time per wall second with 4 interleaved workers on 2 cores, measured with
# benchmarks/calibrate.py: 0.10 (example estate, 146 jobs), 0.10-0.17 (benchmark components of
# 360-1,330 jobs) on a busy machine (load ~4), up to twice that when idle. 0.1 keeps a run
# within its wall budget on a shared 2-core machine; the wall-clock cap is only a safety net.
DTIME_PER_SECOND = 0.1

ProgressFn = Callable[[int, float, float], None]  # (makespan slots, wall seconds, best bound)


@dataclass
class CpSatResult:
    solution: Solution
    status: str  # OPTIMAL / FEASIBLE / UNKNOWN / INFEASIBLE
    objective: float | None
    wall_s: float
    interrupted: bool = False  # Ctrl-C: the best solution found so far


class _Progress(cp_model.CpSolverSolutionCallback):
    """Reports each improving solution; Ctrl-C while it reports stops the search cleanly, so
    the best solution so far is returned instead of being lost with the exception."""

    def __init__(self, span_max: cp_model.IntVar, fn: ProgressFn) -> None:
        super().__init__()
        self._span_max = span_max
        self._fn = fn
        self.interrupted = False

    def on_solution_callback(self) -> None:
        try:
            self._fn(self.Value(self._span_max), self.WallTime(), self.BestObjectiveBound())
        except KeyboardInterrupt:
            self.interrupted = True
            self.StopSearch()


@dataclass
class CpSatModel:
    """The built model with the variables other objectives (e.g. stability) may use."""

    model: cp_model.CpModel
    starts: list[cp_model.IntVar]
    present: list[cp_model.IntVar | bool]
    night_of: list[dict[int, cp_model.IntVar | bool]]
    span_max: cp_model.IntVar
    spans: list[cp_model.IntVar]
    objective_terms: list[cp_model.LinearExprT]


def build_model(inst: Instance, hint: Solution | None, all_present: bool) -> CpSatModel:
    m = cp_model.CpModel()
    longest = max(n.end - n.start for n in inst.nights)
    spans = [m.new_int_var(0, n.end - n.start, f"span_{n.index}") for n in inst.nights]
    span_max = m.new_int_var(0, longest, "span_max")
    for s in spans:
        m.add(span_max >= s)

    starts: list[cp_model.IntVar] = []
    present: list[cp_model.IntVar | bool] = []
    night_of: list[dict[int, cp_model.IntVar | bool]] = []
    intervals_by_res: dict[int, list[cp_model.IntervalVar]] = {}
    for j, job in enumerate(inst.jobs):
        flat = [list(span) for spans_n in job.allowed for span in spans_n]
        start = m.new_int_var_from_domain(cp_model.Domain.from_intervals(flat), f"s{j}")
        lit: cp_model.IntVar | bool
        if all_present:
            lit = True
            interval = m.new_fixed_size_interval_var(start, job.duration, f"i{j}")
        else:
            lit = m.new_bool_var(f"p{j}")
            interval = m.new_optional_fixed_size_interval_var(start, job.duration, lit, f"i{j}")
        nights = job.nights
        by_night: dict[int, cp_model.IntVar | bool] = {}
        if len(nights) == 1:
            by_night[nights[0]] = lit
        else:
            for n in nights:
                in_night = m.new_bool_var(f"b{j}_{n}")
                dom = cp_model.Domain.from_intervals([list(s) for s in job.allowed[n]])
                m.add_linear_expression_in_domain(start, dom).only_enforce_if(in_night)
                by_night[n] = in_night
            m.add(sum(by_night.values()) == (1 if all_present else lit))
        for n, night_lit in by_night.items():
            ct = m.add(spans[n] >= start + job.duration - inst.nights[n].start)
            if not isinstance(night_lit, bool):
                ct.only_enforce_if(night_lit)
        for r in job.resources:
            intervals_by_res.setdefault(r, []).append(interval)
        starts.append(start)
        present.append(lit)
        night_of.append(by_night)

    for r, ivs in intervals_by_res.items():
        cap = inst.resources[r].capacity
        if not cap or len(ivs) <= cap:
            continue
        if cap == 1:
            m.add_no_overlap(ivs)
        else:
            m.add_cumulative(ivs, [1] * len(ivs), cap)

    # Weights make the sum objective lexicographic: one more scheduled job beats any makespan,
    # one slot less on the worst night beats any saving on the others.
    sum_weight = 1
    max_weight = sum(n.end - n.start for n in inst.nights) + 1
    drop_weight = max_weight * (longest + 1)
    terms: list[cp_model.LinearExprT] = [max_weight * span_max, sum_weight * sum(spans)]
    if not all_present:
        terms.append(drop_weight * sum(1 - p for p in present if not isinstance(p, bool)))
    if hint is not None:
        for j, s in enumerate(starts):
            if j in hint.starts:
                m.add_hint(s, hint.starts[j])
                p = present[j]
                if not isinstance(p, bool):
                    m.add_hint(p, True)
                for n, night_lit in night_of[j].items():
                    if not isinstance(night_lit, bool) and night_lit is not p:
                        ns = inst.nights[n]
                        m.add_hint(night_lit, ns.start <= hint.starts[j] < ns.end)
            else:
                p = present[j]
                if not isinstance(p, bool):
                    m.add_hint(p, False)
    return CpSatModel(m, starts, present, night_of, span_max, spans, terms)


def solver_parameters(time_limit_s: float, seed: int, workers: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.random_seed = seed
    p.num_workers = workers
    p.interleave_search = True
    p.max_deterministic_time = time_limit_s * DTIME_PER_SECOND
    # Safety net on slow machines; hitting it (not the deterministic limit) loses determinism.
    p.max_time_in_seconds = time_limit_s * 3 + 5
    return solver


def solve_cpsat(
    inst: Instance,
    hint: Solution | None,
    *,
    time_limit_s: float,
    seed: int = 0,
    workers: int = 4,
    progress: ProgressFn | None = None,
    extra_objective: Callable[[CpSatModel], list[cp_model.LinearExprT]] | None = None,
) -> CpSatResult:
    all_present = hint is not None and not hint.dropped
    built = build_model(inst, hint, all_present)
    terms = built.objective_terms + (extra_objective(built) if extra_objective else [])
    built.model.minimize(sum(terms))
    solver = solver_parameters(time_limit_s, seed, workers)
    callback = _Progress(built.span_max, progress) if progress else None
    try:
        status = solver.solve(built.model, callback)
    except KeyboardInterrupt:
        return CpSatResult(hint or Solution({}), "UNKNOWN", None, solver.wall_time, True)
    name = solver.status_name(status)
    interrupted = callback is not None and callback.interrupted
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpSatResult(hint or Solution({}), name, None, solver.wall_time, interrupted)
    sol = extract_solution(solver, built)
    return CpSatResult(sol, name, solver.objective_value, solver.wall_time, interrupted)


def extract_solution(solver: cp_model.CpSolver, built: CpSatModel) -> Solution:
    """Start slots of the present jobs, and the dropped ones, from a solved model."""
    starts: dict[int, int] = {}
    dropped: list[int] = []
    for j, s in enumerate(built.starts):
        p = built.present[j]
        if isinstance(p, bool) or solver.boolean_value(p):
            starts[j] = solver.value(s)
        else:
            dropped.append(j)
    return Solution(starts, dropped)
