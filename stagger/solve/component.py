"""One component solve: the unit of work of the decomposition.

:func:`solve_component` is a pure function of a picklable :class:`ComponentTask` (instance
slice, warm start, concurrency profile, deterministic budget, seed): it runs in a local process
pool (:mod:`stagger.solve.decompose`) and could run on a Ray or Dask cluster unchanged
(``docs/scale.md``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from stagger.instance import Instance
from stagger.solve.blocks import add_resource_limit
from stagger.solve.cpsat import (
    DTIME_PER_SECOND,
    CpSatModel,
    add_span_floor,
    build_model,
    extract_solution,
    solver_parameters,
    stopped_on_wall,
)
from stagger.solve.makespan_lns import LNS_MIN_JOBS, MakespanLns
from stagger.solve.profiles import Profile, running_jobs
from stagger.solve.solution import GroupNights, Solution, makespan_slots
from stagger.solve.timeline import Timeline


@dataclass(frozen=True)
class ComponentTask:
    """Everything one component solve needs; picklable, no shared state."""

    key: int  # component number, echoed back
    inst: Instance
    hint: dict[int, int]  # local job -> start slot
    hint_dropped: tuple[int, ...]
    concurrency: Profile | None  # capacity steps for the component's own jobs, or None
    time_limit_s: float
    seed: int
    workers: int
    target: int = 0  # stop as soon as the component's makespan is at most this (a lower bound)
    span_only: bool = False  # minimise the worst night's span alone (not the sum of spans)
    span_cap: int = 0  # if > 0: every night's span at most this (hard), else keep the hint
    deadline: float | None = None  # time.time() by which the solve must end (wall clock)
    # Above this many jobs: the makespan neighbourhood search instead of one model
    # (stagger.solve.makespan_lns).
    lns_min_jobs: int = LNS_MIN_JOBS


@dataclass
class ComponentResult:
    key: int
    starts: dict[int, int]
    dropped: list[int]
    status: str  # CP-SAT's, "OPTIMAL" also when the target was met; "CRASHED": see _run
    deterministic_time: float
    wall_s: float
    wall_limit_hit: bool = False
    span: int = 0  # worst night's span of the returned plan
    # Proven optimal for the component's own sub-instance with no profile, cap or drops: its
    # worst night's span is then a lower bound on the whole plan's makespan.
    proven_alone: bool = False


def _add_profile(built: CpSatModel, inst: Instance, profile: Profile) -> None:
    """The component's jobs, one unit each, under the capacity steps of ``profile``: the
    highest step is the capacity, the lower ones are capacity taken away. A job with options
    takes its task slot for the chosen option's length (its intervals of the model)."""
    m = built.model
    cmax = max(c for _, _, c in profile)
    ivs = []
    for j, job in enumerate(inst.jobs):
        p = built.present[j]
        if j in built.options:
            ivs += [run for run, _ in built.options[j].runs]
            continue
        if isinstance(p, bool):
            iv = m.new_fixed_size_interval_var(built.starts[j], job.duration, f"c{j}")
        else:
            iv = m.new_optional_fixed_size_interval_var(built.starts[j], job.duration, p, f"c{j}")
        ivs.append(iv)
    taken = [(s, e, cmax - c) for s, e, c in profile if c < cmax and e > s]
    add_resource_limit(m, ivs, cmax, occupied=taken, name="r")


def _hint_fits(task: ComponentTask) -> bool:
    """Whether the warm start satisfies every constraint the task adds (span cap, profile):
    only then may it be given as a hint (hinting an infeasible model can abort OR-Tools)."""
    inst = task.inst
    if task.span_cap and not task.hint_dropped and makespan_slots(inst, task.hint) > task.span_cap:
        return False
    if task.concurrency is not None:
        use = running_jobs(inst, task.hint, list(task.hint))
        for s, e, c in task.concurrency:
            if (use[s:e] > c).any():
                return False
    return True


def _repaired_hint(task: ComponentTask) -> Solution:
    """A plan that meets every constraint of a capped task (span cap, profile, the
    component's own resources and allowed starts), built from its warm start, which may break
    the cap or the profile: the warm start's jobs that still fit are kept, earliest first, then
    every other job is placed at its earliest start that fits, or left out. It is a valid plan
    of the task's model with optional jobs (always feasible: every job may be left out), so it
    may be hinted to that model; with no job left out, it is a plan of the capped model."""
    inst = task.inst
    cap = np.full(inst.horizon + 1, len(inst.jobs), dtype=np.int64)
    for s, e, c in task.concurrency or ():
        cap[s:e] = c
    timeline = Timeline(inst, concurrency=cap)

    def within_cap(j: int, s: int) -> bool:
        night = next((n for n in inst.nights if n.start <= s < n.end), None)
        return night is not None and s + inst.jobs[j].duration - night.start <= task.span_cap

    starts: dict[int, int] = {}
    taken = GroupNights(inst)
    for j, s in sorted(task.hint.items(), key=lambda js: (js[1], js[0])):
        n = inst.night_of(s)
        if within_cap(j, s) and taken.free(j, n) and timeline.fits(inst.jobs[j], s):
            timeline.place(inst.jobs[j], s)
            taken.take(j, n)
            starts[j] = s
    # The rest longest first, so that the short ones fill the gaps the long ones leave.
    rest = sorted(
        (j for j in range(len(inst.jobs)) if j not in starts),
        key=lambda j: (-inst.jobs[j].duration, j),
    )
    for j in rest:
        job = inst.jobs[j]
        within = timeline.free_starts(job)
        for n, spans in enumerate(job.allowed):
            if job.group is not None and not taken.free(j, n):
                continue  # a job of its group runs that night
            last = inst.nights[n].start + task.span_cap - job.duration
            ok = next((a for lo, hi in spans if (a := within(lo, min(hi, last))).size), None)
            if ok is not None:
                timeline.place(job, int(ok[0]))
                taken.take(j, n)
                starts[j] = int(ok[0])
                break
    return Solution(starts, [j for j in range(len(inst.jobs)) if j not in starts])


def solve_component(task: ComponentTask) -> ComponentResult:
    """CP-SAT on one component, warm-started when the warm start is a plan of the model;
    returns the warm start if it finds nothing better.

    The stop at the target is part of the model (``span_max >= target`` while minimising
    ``span_max``), so CP-SAT proves optimality itself when it reaches the bound: no callback
    stops the search, which keeps multi-worker runs deterministic.

    A capped task whose warm start breaks the cap or the profile may be infeasible, so that
    warm start cannot be its hint, and without any hint CP-SAT may find no plan at all (round
    zero's squeezed component of 876 jobs in the 10,000-VM benchmark did not). The warm start
    is then repaired (:func:`_repaired_hint`): with every job in it, it is a plan of the
    capped model and its hint. Otherwise the capped model is tried without a hint on half the
    budget, then, if that finds nothing, a model that may leave jobs out (always feasible, so
    the partial plan may be its hint) minimises how many it leaves out, on what is left.

    A component of more than ``task.lns_min_jobs`` jobs whose warm start (or, under a span cap,
    its repair) places every job within the task's limits is searched by neighbourhoods
    instead (:func:`_lns`): one model of thousands of coupled jobs finds nothing in its budget.
    """
    all_present = not task.hint_dropped
    warm = Solution(dict(task.hint), list(task.hint_dropped))
    if all_present and len(task.inst.jobs) > task.lns_min_jobs:
        start = warm if _hint_fits(task) else _repaired_hint(task) if task.span_cap else None
        if start is not None and not start.dropped:
            return _lns(task, start)
    if not (task.span_cap and all_present) or _hint_fits(task):
        return _attempt(task, warm if _hint_fits(task) else None, all_present, task.time_limit_s)
    repaired = _repaired_hint(task)
    if not repaired.dropped:
        return _attempt(task, repaired, True, task.time_limit_s)
    first = _attempt(task, None, True, task.time_limit_s / 2)
    if first.status in ("OPTIMAL", "FEASIBLE", "INFEASIBLE") or first.wall_limit_hit:
        return first
    left = max(0.05, task.time_limit_s - first.deterministic_time / DTIME_PER_SECOND)
    second = _attempt(task, repaired, False, left)
    second.deterministic_time += first.deterministic_time
    second.wall_s += first.wall_s
    return second


def _lns(task: ComponentTask, start: Solution) -> ComponentResult:
    """The makespan neighbourhood search from ``start`` (a plan with every job that meets the
    task's cap and profile; the search never makes a night longer, so the result does too).
    OPTIMAL only when the makespan meets the task's target, a valid lower bound; never a proof
    for the component alone."""
    inst = task.inst
    search = MakespanLns(
        inst,
        seed=task.seed,
        workers=task.workers,
        concurrency=task.concurrency,
        target=task.target,
        deadline=task.deadline,
    )
    best, stats = search.run(start, task.time_limit_s)
    span = makespan_slots(inst, best.starts)
    met = bool(task.target) and span <= task.target
    return ComponentResult(
        task.key,
        best.starts,
        [],
        "OPTIMAL" if met else "FEASIBLE",
        stats.deterministic_s * DTIME_PER_SECOND,
        stats.wall_s,
        stats.wall_limit_hit,
        span,
    )


def _attempt(
    task: ComponentTask, hint: Solution | None, all_present: bool, time_limit_s: float
) -> ComponentResult:
    """One CP-SAT solve of the task's model; ``hint`` must be a plan of that model (every
    job in it when ``all_present``; otherwise the jobs it leaves out may stay out)."""
    inst = task.inst
    built = build_model(inst, hint, all_present)
    m = built.model
    if task.concurrency is not None:
        _add_profile(built, inst, task.concurrency)
    if task.span_cap and not task.hint_dropped:
        m.add(built.span_max <= task.span_cap)
    if task.span_only and all_present:
        add_span_floor(built, task.target)
        m.minimize(built.span_max)
    else:
        m.minimize(sum(built.objective_terms))
    wall = None if task.deadline is None else task.deadline - time.time()
    solver = solver_parameters(time_limit_s, task.seed, task.workers, wall)
    status = solver.solve(m)
    dtime = solver.deterministic_time
    name = solver.status_name(status)
    on_wall = stopped_on_wall(solver, status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ComponentResult(
            task.key, dict(task.hint), list(task.hint_dropped), name, dtime, solver.wall_time,
            on_wall,
        )  # fmt: skip
    sol = extract_solution(solver, built)
    # Optimal for the component alone: its model is the sub-instance, no more; with the target
    # constraint, "optimal" at the target is optimal too (the target is a valid bound).
    alone = (
        status == cp_model.OPTIMAL
        and task.concurrency is None
        and not task.span_cap
        and not sol.dropped
        and all_present
    )
    span = makespan_slots(inst, sol.starts)
    return ComponentResult(
        task.key, sol.starts, sol.dropped, name, dtime, solver.wall_time, on_wall, span, alone
    )
