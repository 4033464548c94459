"""CP-SAT model: interval per job, NoOverlap / Cumulative per resource, blackouts in the domains.

Goals, lexicographic: schedule every VM that can be scheduled (a VM's jobs share one presence
literal: it runs whole or not at all), then keep the important ones, then minimise the largest
per-night makespan, then the sum of per-night makespans. When the greedy warm start already
places every job, presence is fixed to true (the first goal is met) and the model is smaller.

Runs are deterministic: interleaved search with a fixed seed and worker count, stopped by
CP-SAT's deterministic time (a count of work, not of seconds). On these models one
deterministic unit costs about five to ten wall seconds on 2 cores (up to 30 on large busy
runs), so the time limit is turned into ``DTIME_PER_SECOND`` units, and the planner also caps
wall time at what is left of the user's limit: a time limit is a promise. A run that stops on
the wall clock (not on deterministic time) is flagged, as it may not be reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ortools.sat.python import cp_model

from stagger.instance import Instance, Job
from stagger.solve.blocks import Lexicographic, add_resource_limit
from stagger.solve.greedy import importance
from stagger.solve.solution import Progress, ProgressFn, Solution

# Deterministic time per wall second with 4 interleaved workers on 2 cores, measured with
# benchmarks/calibrate.py: 0.10 (example estate, 146 jobs), 0.10-0.17 (benchmark components of
# 360-1,330 jobs) on a busy machine (load ~4), up to twice that when idle. 0.1 keeps a run
# within its wall budget on a shared 2-core machine; the wall-clock cap is only a safety net.
DTIME_PER_SECOND = 0.1


@dataclass
class CpSatResult:
    solution: Solution
    status: str  # OPTIMAL / FEASIBLE / UNKNOWN / INFEASIBLE
    objective: float | None
    wall_s: float
    interrupted: bool = False  # Ctrl-C: the best solution found so far
    wall_limit_hit: bool = False  # stopped on wall time (see stopped_on_wall)


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


def add_job(
    m: cp_model.CpModel,
    j: int,
    job: Job,
    all_present: bool,
    vm_lit: cp_model.IntVar | None = None,
) -> tuple[cp_model.IntVar, cp_model.IntVar | bool, cp_model.IntervalVar]:
    """A job's start (its allowed starts as the domain: windows, blackouts, pins), its
    presence (True when every job must run; ``vm_lit``, the presence of its VM's first job,
    when it has one: a VM runs whole or not at all) and its interval."""
    flat = [list(span) for spans_n in job.allowed for span in spans_n]
    start = m.new_int_var_from_domain(cp_model.Domain.from_intervals(flat), f"s{j}")
    if all_present:
        return start, True, m.new_fixed_size_interval_var(start, job.duration, f"i{j}")
    lit = vm_lit if vm_lit is not None else m.new_bool_var(f"p{j}")
    return start, lit, m.new_optional_fixed_size_interval_var(start, job.duration, lit, f"i{j}")


def add_job_nights(
    m: cp_model.CpModel,
    inst: Instance,
    j: int,
    start: cp_model.IntVar,
    lit: cp_model.IntVar | bool,
    spans: list[cp_model.IntVar],
) -> dict[int, cp_model.IntVar | bool]:
    """Which night the job runs in (one literal per night it may run in, exactly one of them
    when present), and each night's span at least the job's end relative to that night."""
    job = inst.jobs[j]
    by_night: dict[int, cp_model.IntVar | bool] = {}
    if len(job.nights) == 1:
        by_night[job.nights[0]] = lit
    else:
        for n in job.nights:
            in_night = m.new_bool_var(f"b{j}_{n}")
            dom = cp_model.Domain.from_intervals([list(s) for s in job.allowed[n]])
            m.add_linear_expression_in_domain(start, dom).only_enforce_if(in_night)
            by_night[n] = in_night
        m.add(sum(by_night.values()) == (1 if isinstance(lit, bool) else lit))
    for n, night_lit in by_night.items():
        ct = m.add(spans[n] >= start + job.duration - inst.nights[n].start)
        if not isinstance(night_lit, bool):
            ct.only_enforce_if(night_lit)
    return by_night


def add_group_nights(
    m: cp_model.CpModel, inst: Instance, night_of: list[dict[int, cp_model.IntVar | bool]]
) -> None:
    """The jobs of one group take distinct nights: per group and night, at most one of its
    jobs' night literals is true."""
    for members in inst.groups().values():
        by_night: dict[int, list[cp_model.IntVar | bool]] = {}
        for j in members:
            for n, lit in night_of[j].items():
                by_night.setdefault(n, []).append(lit)
        for lits in by_night.values():
            if len(lits) > 1:
                m.add(sum(lits) <= 1)


def plan_goals(
    inst: Instance,
    span_max: cp_model.IntVar,
    spans: list[cp_model.IntVar],
    present: list[cp_model.IntVar | bool],
) -> Lexicographic:
    """The planner's goals, most important first: schedule every VM that can be scheduled,
    then keep the important ones (the importance of the dropped VMs), then the worst night's
    span, then the sum of the nights' spans. A VM's jobs share one presence literal (see
    :func:`build_model`), counted once, with its first job's weight (one job per VM in the
    single regime: the same terms as counting jobs)."""
    goals = Lexicographic()
    lits: list[tuple[int, cp_model.IntVar]] = []
    seen: set[int] = set()
    for j, p in enumerate(present):
        if not isinstance(p, bool) and p.Index() not in seen:
            seen.add(p.Index())
            lits.append((j, p))
    weight = importance(inst)
    if lits:
        goals.add("dropped", sum(1 - p for _, p in lits), len(lits))
        if any(weight):
            goals.add(
                "importance",
                sum(weight[j] * (1 - p) for j, p in lits),
                sum(weight[j] for j, _ in lits),
            )
    goals.add("makespan", span_max, max(n.end - n.start for n in inst.nights))
    goals.add("spans", sum(spans), sum(n.end - n.start for n in inst.nights))
    return goals


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
    vm_present: dict[str, cp_model.IntVar] = {}  # VM -> the presence of all its jobs
    for j, job in enumerate(inst.jobs):
        start, lit, interval = add_job(m, j, job, all_present, vm_present.get(job.vm))
        if not isinstance(lit, bool):
            vm_present.setdefault(job.vm, lit)
        by_night = add_job_nights(m, inst, j, start, lit, spans)
        for r in job.resources:
            intervals_by_res.setdefault(r, []).append(interval)
        starts.append(start)
        present.append(lit)
        night_of.append(by_night)

    for r, ivs in intervals_by_res.items():
        add_resource_limit(m, ivs, inst.resources[r].capacity or None)  # 0: unlimited
    add_group_nights(m, inst, night_of)

    goals = plan_goals(inst, span_max, spans, present)
    # The planner's historical term order (the objective's variable order is part of the
    # model, and so of which plan a seed gives).
    order = [g for g in ("makespan", "spans", "dropped", "importance") if g in goals.weights()]
    terms = goals.terms(order)
    if hint is not None:
        add_hint(m, inst, hint, starts, present, night_of)
    return CpSatModel(m, starts, present, night_of, span_max, spans, terms)


def add_span_floor(built: CpSatModel, floor: int) -> None:
    """``span_max >= floor``: the worst night's span is at least a lower bound (or the target
    a decomposed search stops at). Only when every job is present: the bounds are for plans
    with every job, a plan that leaves jobs out may end earlier. A valid bound removes no plan
    that minimising the worst night could want (none is below it), and lets CP-SAT stop, proven
    optimal, as soon as it reaches the bound. The one place every model gets it."""
    if floor > 0 and all(isinstance(p, bool) for p in built.present):
        built.model.add(built.span_max >= floor)


def add_hint(
    m: cp_model.CpModel,
    inst: Instance,
    hint: Solution,
    starts: list[cp_model.IntVar],
    present: list[cp_model.IntVar | bool],
    night_of: list[dict[int, cp_model.IntVar | bool]],
) -> None:
    """``hint`` as CP-SAT's warm start: starts, presence and night literals. A VM's jobs share
    their presence literal: hinted once (``hint`` keeps or drops each VM whole)."""
    hinted: set[int] = set()
    for j, s in enumerate(starts):
        p = present[j]
        if not isinstance(p, bool):
            if p.Index() in hinted:
                p = True  # hinted with the VM's first job
            else:
                hinted.add(p.Index())
        if j in hint.starts:
            m.add_hint(s, hint.starts[j])
            if not isinstance(p, bool):
                m.add_hint(p, True)
            for n, night_lit in night_of[j].items():
                if not isinstance(night_lit, bool) and night_lit is not present[j]:
                    ns = inst.nights[n]
                    m.add_hint(night_lit, ns.start <= hint.starts[j] < ns.end)
        elif not isinstance(p, bool):
            m.add_hint(p, False)


def solver_parameters(
    time_limit_s: float, seed: int, workers: int, wall_s: float | None = None
) -> cp_model.CpSolver:
    """``time_limit_s`` is turned into deterministic time (the budget that keeps plans
    reproducible); ``wall_s`` caps wall time (the user's time limit; hitting it costs
    determinism). Without ``wall_s``: ten times the limit plus a minute, a safety net."""
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.random_seed = seed
    p.num_workers = workers
    p.interleave_search = True
    p.max_deterministic_time = time_limit_s * DTIME_PER_SECOND
    # Without a wall limit from the user only a safety net applies: generous, since hitting it
    # costs determinism and a shared machine can run ten times slower than the calibration.
    p.max_time_in_seconds = max(0.05, wall_s) if wall_s is not None else time_limit_s * 10 + 60
    return solver


def stopped_on_wall(solver: cp_model.CpSolver, status: Any) -> bool:
    """True when the search ended on the wall-clock limit, not on deterministic time or a
    proof: the one way the same inputs can give another plan."""
    if status in (cp_model.OPTIMAL, cp_model.INFEASIBLE):
        return False
    p = solver.parameters
    return solver.deterministic_time < p.max_deterministic_time * 0.999 and (
        solver.wall_time >= p.max_time_in_seconds * 0.98
    )


def solve_cpsat(
    inst: Instance,
    hint: Solution | None,
    *,
    time_limit_s: float,
    seed: int = 0,
    workers: int = 4,
    progress: ProgressFn | None = None,
    extra_objective: Callable[[CpSatModel], list[cp_model.LinearExprT]] | None = None,
    wall_s: float | None = None,
    span_floor: int = 0,
) -> CpSatResult:
    """Whole instance, one model. ``hint`` must be a valid plan of ``inst`` (a hint to an
    infeasible model can abort OR-Tools); with every job in it, presence is fixed.
    ``span_floor``: a lower bound on the makespan of every plan with every job
    (:func:`~stagger.solve.bounds.lower_bound`), added as a constraint (:func:`add_span_floor`)."""
    all_present = hint is not None and not hint.dropped
    built = build_model(inst, hint, all_present)
    add_span_floor(built, span_floor)
    terms = built.objective_terms + (extra_objective(built) if extra_objective else [])
    built.model.minimize(sum(terms))
    solver = solver_parameters(time_limit_s, seed, workers, wall_s)
    callback = Progress(built.span_max, progress) if progress else None
    try:
        status = solver.solve(built.model, callback)
    except KeyboardInterrupt:
        return CpSatResult(hint or Solution({}), "UNKNOWN", None, solver.wall_time, True)
    name = solver.status_name(status)
    interrupted = callback is not None and callback.interrupted
    wall = stopped_on_wall(solver, status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpSatResult(hint or Solution({}), name, None, solver.wall_time, interrupted, wall)
    sol = extract_solution(solver, built)
    return CpSatResult(sol, name, solver.objective_value, solver.wall_time, interrupted, wall)


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
