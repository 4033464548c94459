"""Decomposition: solve independent parts of the estate separately, in parallel.

Jobs that share no host, datastore or RAID group (directly or through other jobs) form
independent *components*. Only the global ``concurrent_jobs`` limit (backup proxy task slots)
couples them. It is reconciled by capacity sharing:

- the greedy warm start is computed on the whole instance, so it respects the global limit;
- when a set of components is re-solved in parallel, each one gets a concurrency *profile*: at
  every slot, its own current usage plus an equal share of the slack the current global plan
  leaves (limit - usage of all components). The shares add up to at most the slack, so any
  combination of the components' new plans respects the global limit, whatever each returns;
- a component whose natural parallelism (e.g. its number of hosts) never exceeds its profile
  gets no concurrency constraint at all.

Only components whose makespan exceeds both their own lower bound and the global lower bound
can improve the plan (the makespan is the largest per-night span over all components), so only
those are re-solved, the worst first; in the second round every one still above the bound, one
at a time (its profile is then the exact residual capacity of the others' plans). Before
both, round zero (:func:`_critical_first`) handles the components whose own bound is the
floor: solved alone with every night capped at the floor, then the others are re-solved under
profiles that give up the task slots they need (:func:`_squeeze_profiles`); all or nothing.

The unit of work, :func:`solve_component`, is a pure function of a picklable
:class:`ComponentTask` (instance slice, warm start, profile, deterministic budget, seed): it
runs in a local process pool here and could run on a Ray or Dask cluster unchanged
(``docs/scale.md``). Budgets are deterministic (CP-SAT deterministic time), so the result does
not depend on the number of processes or the machine's speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from stagger.instance import Instance, Job, Resource
from stagger.solve.bounds import lower_bound
from stagger.solve.cpsat import (
    DTIME_PER_SECOND,
    CpSatModel,
    build_model,
    extract_solution,
    solver_parameters,
    stopped_on_wall,
)
from stagger.solve.greedy import Solution

ProgressFn = Callable[[int, float, float], None]
CRITICAL_SHARE = 0.5  # of the budget left to rounds one and two when round zero runs
# Round zero's hard components: their nights capped at the floor (a feasibility problem that
# may be infeasible, so hinted only with a repaired warm start that meets the cap, see
# solve_component), or (False) minimised down to the floor from the warm start, which
# respects the global limit and so is a valid hint.
CRITICAL_HARD_CAP = True
Profile = tuple[tuple[int, int, int], ...]  # (start slot, end slot, capacity) steps


def components(inst: Instance) -> list[list[int]]:
    """Job indices grouped by shared host/datastore/RAID group, each sorted; groups ordered by
    their first job. The global concurrency resource is ignored."""
    parent = list(range(len(inst.jobs)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[int, int] = {}
    for j, job in enumerate(inst.jobs):
        for r in job.resources:
            if inst.resources[r].kind == "concurrent":
                continue
            if r in first:
                a, b = find(first[r]), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[r] = j
    groups: dict[int, list[int]] = {}
    for j in range(len(inst.jobs)):
        groups.setdefault(find(j), []).append(j)
    return sorted(groups.values(), key=lambda g: g[0])


def sub_instance(inst: Instance, jobs: list[int]) -> Instance:
    """The slice of ``inst`` with these jobs (indices renumbered 0..), their resources only and
    without the global concurrency resource (reconciled by a profile instead)."""
    res_map: dict[int, int] = {}
    resources: list[Resource] = []
    new_jobs = []
    for j in jobs:
        job = inst.jobs[j]
        local = []
        for r in job.resources:
            if inst.resources[r].kind == "concurrent":
                continue
            if r not in res_map:
                res_map[r] = len(resources)
                resources.append(inst.resources[r])
            local.append(res_map[r])
        new_jobs.append(
            Job(
                vm=job.vm,
                duration=job.duration,
                resources=tuple(local),
                allowed=job.allowed,
                size_gib=job.size_gib,
                minutes=job.minutes,
                blackouts=job.blackouts,
                priority=job.priority,
            )
        )
    sub = Instance(inst.slot_minutes, inst.anchor, inst.nights, resources, new_jobs)
    sub.night_origins = inst.night_origins
    sub.resource_blocked = {
        res_map[r]: spans for r, spans in inst.resource_blocked.items() if r in res_map
    }
    return sub


def natural_parallelism(inst: Instance) -> int:
    """Most jobs of ``inst`` that can ever run at once: bounded by the summed capacity of every
    resource kind that all its jobs use (each job holds at least one of them)."""
    best = len(inst.jobs)
    kinds = {"host", "datastore", "raid_group"}
    for kind in kinds:
        if all(any(inst.resources[r].kind == kind for r in j.resources) for j in inst.jobs):
            cap = sum(r.capacity or len(inst.jobs) for r in inst.resources if r.kind == kind)
            best = min(best, cap)
    return best


def spans_of(inst: Instance, starts: dict[int, int]) -> list[int]:
    spans = [0] * len(inst.nights)
    for j, s in starts.items():
        for n in inst.nights:
            if n.start <= s < n.end:
                spans[n.index] = max(spans[n.index], s + inst.jobs[j].duration - n.start)
                break
    return spans


def _profile_steps(cap: np.ndarray) -> Profile:
    steps = []
    start = 0
    for t in range(1, len(cap) + 1):
        if t == len(cap) or cap[t] != cap[start]:
            steps.append((start, t, int(cap[start])))
            start = t
    return tuple(steps)


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
    """The component's jobs, one unit each, under the capacity steps of ``profile``."""
    m = built.model
    cmax = max(c for _, _, c in profile)
    ivs = []
    demands = []
    for j, job in enumerate(inst.jobs):
        p = built.present[j]
        if isinstance(p, bool):
            iv = m.new_fixed_size_interval_var(built.starts[j], job.duration, f"c{j}")
        else:
            iv = m.new_optional_fixed_size_interval_var(built.starts[j], job.duration, p, f"c{j}")
        ivs.append(iv)
        demands.append(1)
    for s, e, c in profile:
        if c < cmax and e > s:
            ivs.append(m.new_fixed_size_interval_var(s, e - s, f"r{s}"))
            demands.append(cmax - c)
    m.add_cumulative(ivs, demands, cmax)


def _hint_fits(task: ComponentTask) -> bool:
    """Whether the warm start satisfies every constraint the task adds (span cap, profile):
    only then may it be given as a hint (hinting an infeasible model can abort OR-Tools)."""
    inst = task.inst
    if (
        task.span_cap
        and not task.hint_dropped
        and max(spans_of(inst, task.hint), default=0) > task.span_cap
    ):
        return False
    if task.concurrency is not None:
        use = _usage(inst, task.hint, list(task.hint))
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
    horizon = inst.horizon + 1
    cap = np.full(horizon, len(inst.jobs), dtype=np.int64)
    for s, e, c in task.concurrency or ():
        cap[s:e] = c
    use = np.zeros(horizon, dtype=np.int64)
    res_use = np.zeros((len(inst.resources), horizon), dtype=np.int64)
    res_cap = [r.capacity or len(inst.jobs) for r in inst.resources]

    def fits(j: int, s: int) -> bool:
        job = inst.jobs[j]
        e = s + job.duration
        night = next((n for n in inst.nights if n.start <= s < n.end), None)
        if night is None or e - night.start > task.span_cap or e > horizon:
            return False
        if (use[s:e] >= cap[s:e]).any():
            return False
        return all((res_use[r, s:e] < res_cap[r]).all() for r in job.resources)

    def place(j: int, s: int) -> None:
        e = s + inst.jobs[j].duration
        use[s:e] += 1
        for r in inst.jobs[j].resources:
            res_use[r, s:e] += 1

    starts: dict[int, int] = {}
    for j, s in sorted(task.hint.items(), key=lambda js: (js[1], js[0])):
        if fits(j, s):
            place(j, s)
            starts[j] = s
    # The rest longest first, so that the short ones fill the gaps the long ones leave.
    rest = sorted(
        (j for j in range(len(inst.jobs)) if j not in starts),
        key=lambda j: (-inst.jobs[j].duration, j),
    )
    for j in rest:
        for lo, hi in (span for spans in inst.jobs[j].allowed for span in spans):
            at = next((s for s in range(lo, hi + 1) if fits(j, s)), None)
            if at is not None:
                place(j, at)
                starts[j] = at
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
    the partial plan may be its hint) minimises how many it leaves out, on what is left."""
    all_present = not task.hint_dropped
    warm = Solution(dict(task.hint), list(task.hint_dropped))
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
        if task.target:
            m.add(built.span_max >= task.target)
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
    span = max(spans_of(inst, sol.starts), default=0)
    return ComponentResult(
        task.key, sol.starts, sol.dropped, name, dtime, solver.wall_time, on_wall, span, alone
    )


@dataclass
class DecomposeStats:
    components: int = 0
    solved: list[tuple[int, int, str]] = field(default_factory=list)  # (key, jobs, status)
    interrupted: bool = False
    optimal: bool = False  # every re-solved component proven optimal (or met its bound)
    # Largest worst-night span of a component proven optimal on its own: a lower bound on
    # the makespan of the whole plan (0: none).
    proven_bound: int = 0
    wall_limit_hit: bool = False
    fallbacks: list[str] = field(default_factory=list)


def _score(inst: Instance, starts: dict[int, int], dropped: int) -> tuple[int, int, int]:
    spans = spans_of(inst, starts)
    return (dropped, max(spans, default=0), sum(spans))


def _usage(inst: Instance, starts: dict[int, int], jobs: list[int]) -> np.ndarray:
    diff = np.zeros(inst.horizon + 2, dtype=np.int64)
    for j in jobs:
        if j in starts:
            diff[starts[j]] += 1
            diff[starts[j] + inst.jobs[j].duration] -= 1
    return np.cumsum(diff)[: inst.horizon + 1]


def _fallback(task: ComponentTask, why: str) -> ComponentResult:
    return ComponentResult(
        task.key, dict(task.hint), list(task.hint_dropped), f"CRASHED ({why})", 0.0, 0.0
    )


def _record(stats: DecomposeStats, res: ComponentResult, jobs: int) -> None:
    stats.solved.append((res.key, jobs, res.status))
    stats.wall_limit_hit |= res.wall_limit_hit
    if res.proven_alone:
        stats.proven_bound = max(stats.proven_bound, res.span)
    if res.status.startswith("CRASHED"):
        stats.fallbacks.append(
            f"component {res.key} ({jobs} jobs): solver process failed, {res.status}; kept its"
            " previous plan"
        )


def _run(tasks: list[ComponentTask], processes: int) -> Iterator[ComponentResult]:
    """Solve ``tasks`` in worker processes, results in task order. A worker that dies (an
    OR-Tools abort kills the process, not just the call) cannot take the plan down: the tasks
    it took are re-run one per fresh process, and one that fails again keeps its warm start
    (status ``CRASHED``)."""
    if not tasks:
        return
    pool = ProcessPoolExecutor(max_workers=max(1, min(processes, len(tasks))))
    try:
        futures: list[Future[ComponentResult]] = [pool.submit(solve_component, t) for t in tasks]
        for t, f in zip(tasks, futures, strict=True):
            try:
                yield f.result()
            except KeyboardInterrupt:
                raise
            except Exception:
                yield _run_alone(t)
    except KeyboardInterrupt:
        for f in futures:
            f.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_alone(task: ComponentTask) -> ComponentResult:
    with ProcessPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(solve_component, task).result()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            return _fallback(task, type(exc).__name__)


def solve_decomposed(
    inst: Instance,
    greedy: Solution,
    *,
    time_limit_s: float,
    seed: int = 0,
    workers: int = 4,
    processes: int = 2,
    progress: ProgressFn | None = None,
    max_components: int = 64,
    deadline: float | None = None,
) -> tuple[Solution, DecomposeStats]:
    """Improve ``greedy`` (a valid plan of the whole instance) component by component.

    Deterministic for the same inputs and seed: which components are solved, their order and
    their budgets depend only on the instance and the warm start, never on wall time, unless
    the wall-clock ``deadline`` (``time.time()``) cuts a solve short (``stats.wall_limit_hit``).
    Ctrl-C stops the search and returns the best plan merged so far (always valid).
    """
    t0 = time.perf_counter()
    stats = DecomposeStats()
    groups = components(inst)
    stats.components = len(groups)
    global_lb = lower_bound(inst).makespan
    starts = dict(greedy.starts)
    dropped = set(greedy.dropped)
    conc = next(
        (r for r, res in enumerate(inst.resources) if res.kind == "concurrent" and res.capacity),
        None,
    )

    def report() -> None:
        if progress is not None:
            span = max(spans_of(inst, starts), default=0)
            progress(span, time.perf_counter() - t0, float(global_lb))

    # Which components can improve the plan: above the global bound and their own bound.
    candidates = []
    subs: dict[int, Instance] = {}
    own_lbs: dict[int, int] = {}
    for k, g in enumerate(groups):
        sub = sub_instance(inst, g)
        local = {j: starts[gj] for j, gj in enumerate(g) if gj in starts}
        nd = sum(1 for gj in g if gj in dropped)
        score = _score(sub, local, nd)
        own_lb = lower_bound(sub).makespan
        if nd or (score[1] > global_lb and score[1] > own_lb):
            candidates.append((-nd, -score[1], k))
            subs[k] = sub
            own_lbs[k] = own_lb
    candidates.sort()
    chosen = [k for _, _, k in candidates[:max_components]]
    stats.optimal = not chosen
    if not chosen:
        report()
        return Solution(starts, sorted(dropped)), stats

    # Two rounds: every candidate gets a share (by size) of 10% of the budget; then the
    # components still above the makespan's floor share the rest, each solved alone under the
    # exact residual capacity the others leave, minimising its worst night. The total is the
    # budget in deterministic time, whatever the number of processes (they share the same cores).
    report()
    status: dict[int, str] = {}
    rest = time_limit_s
    try:
        # Round zero: the components whose own bound is the floor, made room for (see
        # _critical_first); half the budget, nominally.
        floor0 = max([global_lb] + [own_lbs[k] for k in chosen])
        critical = [k for k in chosen if own_lbs[k] == floor0]
        if conc is not None and not dropped and critical:
            rest = time_limit_s * CRITICAL_SHARE
            z = 1 - CRITICAL_SHARE
            _critical_first(
                inst, groups, subs, critical, floor0, starts, conc,
                (time_limit_s * 0.8 * z, time_limit_s * 0.2 * z),
                seed, workers, processes, status, stats, deadline,
            )  # fmt: skip
            report()
        for r_i, fraction in enumerate((0.1, 0.9)):
            if r_i == 0:
                todo = [k for k in chosen if status.get(k) != "OPTIMAL"]
                if not todo:
                    continue
            else:
                spans = {k: _score(subs[k], _local(groups[k], starts), 0)[1] for k in chosen}
                worst = max(spans.values())
                if worst < max(spans_of(inst, starts), default=0):
                    break  # a component we cannot improve sets the makespan
                # Every component above the floor the makespan cannot go below, not only the
                # worst: the makespan drops only when all of them do.
                floor = max(
                    [global_lb]
                    + [own_lbs[k] for k in chosen]
                    + [spans[k] for k in chosen if status.get(k) == "OPTIMAL"]
                )
                todo = [k for k in chosen if spans[k] > floor and status.get(k) != "OPTIMAL"]
                if not todo:
                    break
            if r_i == 0:
                _round(
                    inst, groups, subs, own_lbs, todo, rest * fraction, starts,
                    dropped, conc, global_lb, seed, workers, processes, status, stats, report,
                    span_only=True, deadline=deadline,
                )  # fmt: skip
                continue
            # One by one, smallest first; what a component leaves unused (it met its bound
            # early) goes to the next. Deterministic: CP-SAT reports deterministic time used.
            left = rest * fraction
            todo.sort(key=lambda k: (len(groups[k]), k))
            for i, k in enumerate(todo):
                if deadline is not None and time.time() >= deadline:
                    stats.wall_limit_hit = True
                    break
                share = left / (len(todo) - i)
                used = _round(
                    inst, groups, subs, own_lbs, [k], share, starts, dropped, conc, global_lb,
                    seed, workers, 1, status, stats, report, span_only=True, deadline=deadline,
                )  # fmt: skip
                left = max(0.0, left - used)
    except KeyboardInterrupt:
        stats.interrupted = True
    stats.optimal = (
        not stats.interrupted
        and len(chosen) == len(candidates)
        and all(
            status.get(k) == "OPTIMAL"
            or _score(subs[k], _local(groups[k], starts), 0)[1] <= max(global_lb, own_lbs[k])
            for k in chosen
        )
    )
    return Solution(starts, sorted(dropped)), stats


def _local(group: list[int], starts: dict[int, int]) -> dict[int, int]:
    return {j: starts[gj] for j, gj in enumerate(group) if gj in starts}


def _round(
    inst: Instance,
    groups: list[list[int]],
    subs: dict[int, Instance],
    own_lbs: dict[int, int],
    todo: list[int],
    seconds: float,
    starts: dict[int, int],
    dropped: set[int],
    conc: int | None,
    global_lb: int,
    seed: int,
    workers: int,
    processes: int,
    status: dict[int, str],
    stats: DecomposeStats,
    report: Callable[[], None],
    span_only: bool = False,
    deadline: float | None = None,
) -> float:
    """Re-solve the components ``todo`` in parallel and merge what improves; returns the
    budget used, in seconds of deterministic time."""
    size = {k: len(groups[k]) for k in todo}
    total = sum(size.values())
    budget = {k: max(0.5, seconds * size[k] / total) for k in todo}

    # Concurrency shares: slack of the current plan split evenly among these components.
    profiles: dict[int, Profile | None] = {k: None for k in todo}
    if conc is not None:
        cap = inst.resources[conc].capacity
        slack = cap - _usage(inst, starts, list(range(len(inst.jobs))))
        for k, share in zip(todo, _split_evenly(slack, len(todo)), strict=True):
            prof = _usage(inst, starts, groups[k]) + share
            if int(prof.min()) < natural_parallelism(subs[k]):
                profiles[k] = _profile_steps(prof)

    tasks = [
        ComponentTask(
            key=k,
            inst=subs[k],
            hint=_local(groups[k], starts),
            hint_dropped=tuple(j for j, gj in enumerate(groups[k]) if gj in dropped),
            concurrency=profiles[k],
            time_limit_s=budget[k],
            seed=seed,
            workers=workers,
            target=max(global_lb, own_lbs[k]),
            span_only=span_only,
            deadline=deadline,
        )
        for k in todo
    ]
    used = 0.0
    for res in _run(tasks, processes):
        _merge(inst, groups[res.key], subs[res.key], res, starts, dropped)
        _record(stats, res, len(groups[res.key]))
        status[res.key] = res.status
        used += res.deterministic_time / DTIME_PER_SECOND
        report()
    return used


def _merge(
    inst: Instance,
    group: list[int],
    sub: Instance,
    res: ComponentResult,
    starts: dict[int, int],
    dropped: set[int],
) -> None:
    """Take the component's new plan if it is at least as good as the current one."""
    cur = {j: starts[gj] for j, gj in enumerate(group) if gj in starts}
    cur_nd = sum(1 for gj in group if gj in dropped)
    if _score(sub, res.starts, len(res.dropped)) > _score(sub, cur, cur_nd):
        return
    for j, gj in enumerate(group):
        starts.pop(gj, None)
        dropped.discard(gj)
        if j in res.starts:
            starts[gj] = res.starts[j]
        else:
            dropped.add(gj)


def _split_evenly(slack: np.ndarray, n: int) -> list[np.ndarray]:
    """Per-slot ``slack`` split into ``n`` shares that add up to it; the first ones get the
    remainder, one slot each."""
    share = slack // n
    extra = slack - share * n
    return [share + (extra > i) for i in range(n)]


def _squeeze_profiles(
    inst: Instance,
    groups: list[list[int]],
    starts: dict[int, int],
    fixed: list[int],
    cap: int,
) -> dict[int, np.ndarray] | None:
    """Capacity profiles for every component not in ``fixed`` such that, with the ``fixed``
    components' plans, the global limit holds: where the plans together overflow ``cap``, the
    others give up task slots in proportion to their use (largest users first for the rest);
    the slack left elsewhere is shared evenly. Only components whose profile drops below their
    current use anywhere are returned (the others keep their plans). None if the ``fixed``
    components alone overflow ``cap``."""
    others = [k for k in range(len(groups)) if k not in fixed]
    if not others:
        return {}
    fixed_use = np.zeros(inst.horizon + 1, dtype=np.int64)
    for k in fixed:
        fixed_use += _usage(inst, starts, groups[k])
    if (fixed_use > cap).any():
        return None
    use = {k: _usage(inst, starts, groups[k]) for k in others}
    total = sum(use.values(), np.zeros_like(fixed_use))
    over = np.maximum(fixed_use + total - cap, 0)
    prof = {k: use[k] - over * use[k] // np.maximum(total, 1) for k in others}
    rem = over - sum((use[k] - prof[k] for k in others), np.zeros_like(over))
    for t in np.nonzero(rem > 0)[0]:
        order = sorted(others, key=lambda k: (-int(prof[k][t]), k))
        i = 0
        while rem[t] > 0:  # ends: the others use at least rem[t] here (fixed_use <= cap)
            k = order[i % len(order)]
            if prof[k][t] > 0:
                prof[k][t] -= 1
                rem[t] -= 1
            i += 1
    slack = np.maximum(cap - fixed_use - total, 0)
    for k, share in zip(others, _split_evenly(slack, len(others)), strict=True):
        prof[k] = prof[k] + share
    return {k: prof[k] for k in others if (prof[k] < use[k]).any()}


def _critical_first(
    inst: Instance,
    groups: list[list[int]],
    subs: dict[int, Instance],
    critical: list[int],
    floor: int,
    starts: dict[int, int],
    conc: int,
    seconds: tuple[float, float],
    seed: int,
    workers: int,
    processes: int,
    status: dict[int, str],
    stats: DecomposeStats,
    deadline: float | None = None,
) -> float:
    """The components whose own bound is the makespan's floor are the hard ones: solve each
    alone, ignoring the global limit, to a plan with every night within ``floor``; then make
    room for them: every other component whose task slots they need is re-solved under a
    profile that gives those slots up (:func:`_squeeze_profiles`), within ``floor`` too. All
    or nothing: unless every piece succeeds, the plan is left as it was. Returns the budget
    used (seconds of deterministic time)."""
    used = 0.0
    cap = inst.resources[conc].capacity or 0
    size = sum(len(groups[k]) for k in critical)
    alone = ((0, inst.horizon + 1, cap),)  # the global limit itself, no other component
    tasks = [
        ComponentTask(
            key=k,
            inst=subs[k],
            hint=_local(groups[k], starts),
            hint_dropped=(),
            concurrency=alone if natural_parallelism(subs[k]) > cap else None,
            time_limit_s=max(0.5, seconds[0] * len(groups[k]) / size),
            seed=seed,
            workers=workers,
            target=floor,
            span_only=True,
            span_cap=floor if CRITICAL_HARD_CAP else 0,
            deadline=deadline,
        )
        for k in critical
    ]
    new = dict(starts)
    for res in _run(tasks, processes):
        used += res.deterministic_time / DTIME_PER_SECOND
        _record(stats, res, len(groups[res.key]))
        if res.status not in ("OPTIMAL", "FEASIBLE") or res.dropped or res.span > floor:
            return used
        for j, gj in enumerate(groups[res.key]):
            new[gj] = res.starts[j]
    profiles = _squeeze_profiles(inst, groups, new, critical, cap)
    if profiles is None:
        return used
    if profiles:
        size = sum(len(groups[k]) for k in profiles)
        tasks = [
            ComponentTask(
                key=k,
                inst=subs.get(k) or sub_instance(inst, groups[k]),
                hint=_local(groups[k], new),
                hint_dropped=(),
                concurrency=_profile_steps(prof),
                time_limit_s=max(0.5, seconds[1] * len(groups[k]) / size),
                seed=seed,
                workers=workers,
                target=floor,
                span_only=True,
                span_cap=floor,
                deadline=deadline,
            )
            for k, prof in sorted(profiles.items())
        ]
        results = []
        for res in _run(tasks, processes):
            used += res.deterministic_time / DTIME_PER_SECOND
            _record(stats, res, len(groups[res.key]))
            if res.status not in ("OPTIMAL", "FEASIBLE") or res.dropped:
                return used
            results.append(res)
        for res in results:
            for j, gj in enumerate(groups[res.key]):
                new[gj] = res.starts[j]
    starts.update(new)
    for k in critical:
        status[k] = "OPTIMAL"  # at the floor: the makespan cannot go below it
    return used
