"""Stable re-planning: change as few jobs of a previous schedule as possible.

The goals are :mod:`stagger.solve.baseline`'s; the warm start is :func:`repair_greedy`
(:mod:`stagger.solve.repair`). Up to ``MONOLITHIC_MAX_JOBS`` jobs one CP-SAT model over every
job pursues them; above, a large neighbourhood search (:mod:`stagger.solve.lns`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from stagger.instance import Instance
from stagger.solve.baseline import (
    BaselineMap,
    StabilityStats,
    add_move,
    allowed_at,
    better,
    stability_goals,
    stability_stats,
)
from stagger.solve.cpsat import add_span_floor, build_model, extract_solution, solver_parameters
from stagger.solve.greedy import solve_greedy
from stagger.solve.lns import Lns
from stagger.solve.repair import repair_greedy
from stagger.solve.solution import Progress, ProgressFn, Solution


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


# Instances up to this many jobs are re-planned by one CP-SAT model over every job; larger ones
# by neighbourhood re-solves (see ``solve_stable``).
MONOLITHIC_MAX_JOBS = 2000


def solve_stable(
    inst: Instance,
    base: BaselineMap,
    *,
    tolerance_slots: int = 0,
    time_limit_s: float = 10.0,
    seed: int = 0,
    workers: int = 4,
    progress: ProgressFn | None = None,
    monolithic_max_jobs: int = MONOLITHIC_MAX_JOBS,
    span_floor: int = 0,
) -> StableResult:
    """Re-plan ``inst`` as close to ``base`` as the rules allow (see the module doc).

    The jobs' options (an infrastructure file) must be fixed first
    (:func:`stagger.instance.fix_options`, the choice by
    :func:`stagger.solve.repair.choose_options`): the goals count moved starts, and a
    proof here is a proof on that choice only. An instance with options is refused
    (``ValueError``).

    Up to ``monolithic_max_jobs`` jobs: one CP-SAT model over every job, warm-started from the
    repair. Above: a large neighbourhood search around the change (``_lns``): every job outside
    the neighbourhood keeps its place, CP-SAT re-plans the jobs inside it with each night's
    makespan capped at the baseline's + ``tolerance_slots``, the neighbourhood widens until the cap
    holds, then the moved jobs' neighbourhoods are re-solved to move fewer. If the cap still
    does not hold, the whole-instance model gets what is left of the budget.

    Deterministic: neighbourhoods depend only on the instance and the plans, budgets are
    CP-SAT deterministic time (``time_limit_s`` wall seconds at ``DTIME_PER_SECOND``).
    ``span_floor``: a lower bound on the makespan of every plan with every job, a constraint
    of the whole-instance model (:func:`~stagger.solve.cpsat.add_span_floor`).
    """
    if any(job.options for job in inst.jobs):
        raise ValueError("solve_stable plans fixed options only (see fix_options)")
    warm = repair_greedy(inst, base, tolerance_slots)
    warm_stats = stability_stats(inst, base, warm, tolerance_slots)
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
            start, start_stats = fresh, stability_stats(inst, base, fresh, tolerance_slots)
    if len(inst.jobs) <= monolithic_max_jobs:
        return _solve_monolithic(
            inst, base, start, start_stats, warm_stats, tolerance_slots, time_limit_s, seed,
            workers, progress, span_floor,
        )  # fmt: skip

    lns = Lns(inst, base, tolerance_slots, seed, workers, progress)
    best, best_stats, used = lns.run(start, start_stats, time_limit_s)
    if (best_stats.dropped or best_stats.over_makespan) and time_limit_s - used > 0.5:
        res = _solve_monolithic(
            inst, base, best, best_stats, warm_stats, tolerance_slots, time_limit_s - used, seed,
            workers, progress, span_floor,
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
    tolerance_slots: int,
    time_limit_s: float,
    seed: int,
    workers: int,
    progress: ProgressFn | None,
    span_floor: int = 0,
) -> StableResult:
    """One CP-SAT model over every job, lexicographic goals as weights; never worse than
    ``hint``."""
    built = build_model(inst, hint, all_present=not hint.dropped)
    add_span_floor(built, span_floor)
    m = built.model
    terms_excess = []
    for n, night in enumerate(inst.nights):
        length = night.end - night.start
        cap = base.spans[n] + tolerance_slots
        ex = m.new_int_var(0, length, f"excess_{n}")
        m.add(ex >= built.spans[n] - cap)
        m.add_hint(ex, hint_stats.excess[n])
        terms_excess.append(ex)
    longest = max(n.end - n.start for n in inst.nights)
    over = m.new_int_var(0, longest, "over_makespan")
    m.add(over >= built.span_max - (max(base.spans, default=0) + tolerance_slots))
    m.add_hint(over, hint_stats.over_makespan)
    moved_terms: list[cp_model.IntVar] = []
    shift_terms: list[cp_model.IntVar] = []
    reaches: list[int] = []
    for j, b in sorted(base.starts.items()):
        start = built.starts[j]
        lo, hi = (
            min(s[0] for n in inst.jobs[j].allowed for s in n),
            max(s[1] for n in inst.jobs[j].allowed for s in n),
        )
        reach = max(abs(lo - b), abs(hi - b))
        d, mv = add_move(m, start, b, reach, allowed_at(inst, j, b), (f"shift_{j}", f"moved_{j}"))
        shift_terms.append(d)
        reaches.append(reach)
        w = hint.starts.get(j)
        if w is not None:
            m.add_hint(d, abs(w - b))
        if mv is not None:
            moved_terms.append(mv)
            if w is not None:
                m.add_hint(mv, w != b)
    optional = [p for p in built.present if not isinstance(p, bool)]
    goals = stability_goals(
        inst,
        dropped=(sum(1 - p for p in optional), len(optional)) if hint.dropped else None,
        over_makespan=over,
        excess=terms_excess,
        moved=moved_terms,
        shifts=shift_terms,
        shift_reach=reaches,
    )
    order = ["over_makespan", "excess", "moved", "shift", "dropped"]
    objective = goals.terms([g for g in order if g in goals.weights()])
    m.minimize(sum(objective))

    solver = solver_parameters(time_limit_s, seed, workers)
    callback = Progress(built.span_max, progress) if progress else None
    status = solver.solve(m, callback)
    name = solver.status_name(status)
    kept = "REPAIR" if hint_stats is warm_stats else "FEASIBLE"
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return StableResult(hint, kept, hint_stats, warm_stats, solver.wall_time)
    sol = extract_solution(solver, built)
    stats = stability_stats(inst, base, sol, tolerance_slots)
    if better(hint_stats, stats):  # never return worse than the warm start
        return StableResult(hint, kept, hint_stats, warm_stats, solver.wall_time)
    return StableResult(sol, name, stats, warm_stats, solver.wall_time, solver.objective_value)
