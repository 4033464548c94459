"""CP-SAT model: interval per job, NoOverlap / Cumulative per resource, blackouts in the domains.

Goals, lexicographic: schedule every VM that can be scheduled (a VM's jobs share one presence
literal: it runs whole or not at all), then keep the important ones, then minimise the largest
per-night makespan, then the sum of per-night makespans. When the greedy warm start already
places every job, presence is fixed to true (the first goal is met) and the model is smaller.

A job with ``options`` (an infrastructure file: proxy, mode, repository) runs in exactly one of
them (:func:`add_job_options`): one literal per option, their sum the job's presence, and
optional intervals of the chosen option's duration on the option's proxy, repository tasks and
ingest (with its MB/s as demand) and on the job's own host, datastores and RAID groups. A job
without options is modelled exactly as before the infrastructure existed.

Runs are deterministic: interleaved search with a fixed seed and worker count, stopped by
CP-SAT's deterministic time (a count of work, not of seconds). On these models one
deterministic unit costs about five to ten wall seconds on 2 cores (up to 30 on large busy
runs), so the time limit is turned into ``DTIME_PER_SECOND`` units, and the planner also caps
wall time at what is left of the user's limit: a time limit is a promise. A run that stops on
the wall clock (not on deterministic time) is flagged, as it may not be reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    # Per job with options: its option literals (exactly one true when the job runs) and the
    # intervals that stand for it running, with their duration (one per distinct duration of
    # its options, present when an option of that duration is chosen). Absent: no options.
    options: dict[int, JobOptions] = field(default_factory=dict)


@dataclass
class JobOptions:
    """A job's choice among its options in a model (:func:`add_job_options`)."""

    chosen: list[cp_model.IntVar | bool]  # per option of Job.options
    # (interval, duration in slots): the job running for the chosen option's duration.
    runs: list[tuple[cp_model.IntervalVar, int]]
    # Per resource (the job's own and its options'): (interval, units it takes).
    uses: dict[int, list[tuple[cp_model.IntervalVar, int]]]
    # The job's length as an expression of the literals: exact whenever the job runs.
    duration: cp_model.LinearExpr | int
    # Literals standing for "one of these options is chosen" (option indices), for the hint.
    any_of: list[tuple[cp_model.IntVar, tuple[int, ...]]] = field(default_factory=list)


def add_job_start(
    m: cp_model.CpModel,
    j: int,
    job: Job,
    all_present: bool,
    vm_lit: cp_model.IntVar | None = None,
) -> tuple[cp_model.IntVar, cp_model.IntVar | bool]:
    """A job's start (its allowed starts as the domain: windows, blackouts, pins; with options,
    every option's) and its presence (True when every job must run; ``vm_lit``, the presence
    of its VM's first job, when it has one: a VM runs whole or not at all)."""
    flat = [list(span) for spans_n in job.allowed for span in spans_n]
    start = m.new_int_var_from_domain(cp_model.Domain.from_intervals(flat), f"s{j}")
    if all_present:
        return start, True
    return start, vm_lit if vm_lit is not None else m.new_bool_var(f"p{j}")


def add_job(
    m: cp_model.CpModel,
    j: int,
    job: Job,
    all_present: bool,
    vm_lit: cp_model.IntVar | None = None,
) -> tuple[cp_model.IntVar, cp_model.IntVar | bool, cp_model.IntervalVar]:
    """A job without options: its start and presence (:func:`add_job_start`) and its
    interval."""
    start, lit = add_job_start(m, j, job, all_present, vm_lit)
    if isinstance(lit, bool):
        return start, True, m.new_fixed_size_interval_var(start, job.duration, f"i{j}")
    return start, lit, m.new_optional_fixed_size_interval_var(start, job.duration, lit, f"i{j}")


def add_job_options(
    m: cp_model.CpModel,
    j: int,
    job: Job,
    start: cp_model.IntVar,
    lit: cp_model.IntVar | bool,
) -> JobOptions:
    """A job that runs in exactly one of its ``options`` (``start``: its start over every
    option's allowed starts; ``lit``: its presence). One literal per option, their sum the
    presence; the chosen option's allowed starts; and its intervals: on every resource, one
    optional interval per distinct (duration, units) of the options that use it, present when
    one of those options is chosen. The job's own resources (host, datastores, RAID groups)
    are held for the chosen option's duration as well: they are busy as long as the job runs.
    Options that share a duration share their intervals, so a job of many proxies and
    repositories adds one interval per duration to its datastore, not one per option."""
    opts = job.options
    present = 1 if isinstance(lit, bool) else lit
    chosen: list[cp_model.IntVar | bool]
    if len(opts) == 1:
        chosen = [lit]
    else:
        chosen = [m.new_bool_var(f"o{j}_{k}") for k in range(len(opts))]
        m.add(sum(chosen) == present)
    out = JobOptions(chosen, [], {}, 0)
    literal: dict[tuple[int, ...], cp_model.IntVar | bool] = {}
    interval: dict[tuple[int, ...], cp_model.IntervalVar] = {}

    def any_of(members: Sequence[int]) -> cp_model.IntVar | bool:
        """One of the options ``members`` is chosen."""
        key = tuple(sorted(members))
        if key not in literal:
            if len(key) == len(opts):
                literal[key] = lit
            elif len(key) == 1:
                literal[key] = chosen[key[0]]
            else:
                z = m.new_bool_var(f"o{j}_" + "_".join(map(str, key)))
                m.add(z == sum(chosen[k] for k in key))
                out.any_of.append((z, key))
                literal[key] = z
        return literal[key]

    def running(members: Sequence[int]) -> cp_model.IntervalVar:
        """The job running for the duration the options ``members`` share."""
        key = tuple(sorted(members))
        if key not in interval:
            d = opts[key[0]].duration
            z = any_of(key)
            name = f"i{j}_" + "_".join(map(str, key))
            interval[key] = (
                m.new_fixed_size_interval_var(start, d, name)
                if isinstance(z, bool)
                else m.new_optional_fixed_size_interval_var(start, d, z, name)
            )
        return interval[key]

    by_duration: dict[int, list[int]] = {}
    by_allowed: dict[tuple[tuple[tuple[int, int], ...], ...], list[int]] = {}
    for k, opt in enumerate(opts):
        by_duration.setdefault(opt.duration, []).append(k)
        by_allowed.setdefault(opt.allowed, []).append(k)
    for allowed, members in by_allowed.items():
        if allowed != job.allowed:
            flat = [list(span) for spans_n in allowed for span in spans_n]
            ct = m.add_linear_expression_in_domain(start, cp_model.Domain.from_intervals(flat))
            z = any_of(members)
            if not isinstance(z, bool):
                ct.only_enforce_if(z)
    for d, members in sorted(by_duration.items()):
        iv = running(members)
        out.runs.append((iv, d))
        for i, r in enumerate(job.resources):
            out.uses.setdefault(r, []).append((iv, job.demand(i)))
    for r in sorted({r for opt in opts for r in opt.resources}):
        by_use: dict[tuple[int, int], list[int]] = {}
        for k, opt in enumerate(opts):
            for r2, units in zip(opt.resources, opt.demands, strict=True):
                if r2 == r:
                    by_use.setdefault((opt.duration, units), []).append(k)
        for (_, units), members in sorted(by_use.items()):
            out.uses.setdefault(r, []).append((running(members), units))
    if len(by_duration) == 1:
        out.duration = next(iter(by_duration))
    else:  # exactly one literal is true whenever the job runs (the only time it is read)
        out.duration = sum(d * any_of(ks) for d, ks in sorted(by_duration.items()))
    return out


def add_job_nights(
    m: cp_model.CpModel,
    inst: Instance,
    j: int,
    start: cp_model.IntVar,
    lit: cp_model.IntVar | bool,
    spans: list[cp_model.IntVar],
    duration: cp_model.LinearExpr | int | None = None,
) -> dict[int, cp_model.IntVar | bool]:
    """Which night the job runs in (one literal per night it may run in, exactly one of them
    when present), and each night's span at least the job's end relative to that night.
    ``duration``: the job's length when it depends on its option (default ``job.duration``)."""
    job = inst.jobs[j]
    length = job.duration if duration is None else duration
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
        ct = m.add(spans[n] >= start + length - inst.nights[n].start)
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
    units_by_res: dict[int, list[int]] = {}
    options: dict[int, JobOptions] = {}
    vm_present: dict[str, cp_model.IntVar] = {}  # VM -> the presence of all its jobs
    for j, job in enumerate(inst.jobs):
        if job.options:
            start, lit = add_job_start(m, j, job, all_present, vm_present.get(job.vm))
        else:
            start, lit, interval = add_job(m, j, job, all_present, vm_present.get(job.vm))
        if not isinstance(lit, bool):
            vm_present.setdefault(job.vm, lit)
        if job.options:
            choice = options[j] = add_job_options(m, j, job, start, lit)
            by_night = add_job_nights(m, inst, j, start, lit, spans, choice.duration)
            for r, uses in choice.uses.items():
                intervals_by_res.setdefault(r, []).extend(iv for iv, _ in uses)
                units_by_res.setdefault(r, []).extend(u for _, u in uses)
        else:
            by_night = add_job_nights(m, inst, j, start, lit, spans)
            for i, r in enumerate(job.resources):
                intervals_by_res.setdefault(r, []).append(interval)
                units_by_res.setdefault(r, []).append(job.demand(i))
        starts.append(start)
        present.append(lit)
        night_of.append(by_night)

    for r, ivs in intervals_by_res.items():
        # 0: unlimited; units: 1 per job, an ingest's MB/s
        add_resource_limit(m, ivs, inst.resources[r].capacity or None, demands=units_by_res[r])
    add_group_nights(m, inst, night_of)

    goals = plan_goals(inst, span_max, spans, present)
    # The planner's historical term order (the objective's variable order is part of the
    # model, and so of which plan a seed gives).
    order = [g for g in ("makespan", "spans", "dropped", "importance") if g in goals.weights()]
    terms = goals.terms(order)
    if hint is not None:
        add_hint(m, inst, hint, starts, present, night_of)
        add_option_hint(m, hint, options)
    return CpSatModel(m, starts, present, night_of, span_max, spans, terms, options)


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


def add_option_hint(m: cp_model.CpModel, hint: Solution, options: dict[int, JobOptions]) -> None:
    """``hint.options`` (job -> option index) as the warm start of the option literals; a job
    the hint places without naming its option gets no option hint (CP-SAT chooses)."""
    for j, choice in sorted(options.items()):
        if j not in hint.starts:
            continue  # dropped: its presence hint (False) says it all
        k = hint.options.get(j)
        if k is None or not 0 <= k < len(choice.chosen):
            continue
        if len(choice.chosen) > 1:  # one option: its literal is the presence, hinted already
            for i, x in enumerate(choice.chosen):
                if not isinstance(x, bool):
                    m.add_hint(x, i == k)
        for z, members in choice.any_of:
            m.add_hint(z, k in members)


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
    """Start slots of the present jobs, the option each of them runs in (jobs with options),
    and the dropped ones, from a solved model."""
    starts: dict[int, int] = {}
    dropped: list[int] = []
    chosen: dict[int, int] = {}
    for j, s in enumerate(built.starts):
        p = built.present[j]
        if isinstance(p, bool) or solver.boolean_value(p):
            starts[j] = solver.value(s)
            if j in built.options:
                lits = built.options[j].chosen
                chosen[j] = next(
                    k for k, x in enumerate(lits) if isinstance(x, bool) or solver.boolean_value(x)
                )
        else:
            dropped.append(j)
    return Solution(starts, dropped, chosen)
