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
profiles that give up the task slots they need (:func:`~stagger.solve.profiles.squeeze_profiles`);
all or nothing.

Components and slices are :mod:`stagger.solve.components`, the profile arithmetic
:mod:`stagger.solve.profiles`; the unit of work,
:func:`~stagger.solve.component.solve_component`, is a pure function of a picklable task, run
here in a local process pool. Budgets are deterministic (CP-SAT deterministic time), so the
result does not depend on the number of processes or the machine's speed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from stagger.instance import Instance
from stagger.solve.bounds import lower_bound
from stagger.solve.component import ComponentResult, ComponentTask, solve_component
from stagger.solve.components import components, natural_parallelism, sub_instance
from stagger.solve.cpsat import DTIME_PER_SECOND
from stagger.solve.makespan_lns import LNS_MIN_JOBS
from stagger.solve.neighbourhood import require_folded
from stagger.solve.profiles import (
    Profile,
    profile_steps,
    running_jobs,
    split_evenly,
    squeeze_profiles,
)
from stagger.solve.solution import ProgressFn, Solution, night_spans

CRITICAL_SHARE = 0.5  # of the budget left to rounds one and two when round zero runs
# Round zero's hard components: their nights capped at the floor (a feasibility problem that
# may be infeasible, so hinted only with a repaired warm start that meets the cap, see
# solve_component), or (False) minimised down to the floor from the warm start, which
# respects the global limit and so is a valid hint.
CRITICAL_HARD_CAP = True


@dataclass
class _Rounds:
    """What every round of one decomposed solve shares: the instance and its components, the
    plan being improved (``starts``/``dropped``, merged into in place), the solver settings
    and what is recorded."""

    inst: Instance
    groups: list[list[int]]  # job indices per component
    subs: dict[int, Instance]  # component -> its slice (the candidates)
    own_lbs: dict[int, int]  # component -> its own lower bound, slots
    starts: dict[int, int]
    dropped: set[int]
    conc: int | None  # the global task-slot resource, if limited
    global_lb: int  # slots
    seed: int
    workers: int
    processes: int
    status: dict[int, str]  # component -> last CP-SAT status
    stats: DecomposeStats
    report: Callable[[], None]
    deadline: float | None = None
    lns_min_jobs: int = LNS_MIN_JOBS  # larger components: neighbourhood search (component.py)


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
    spans = night_spans(inst, starts)
    return (dropped, max(spans, default=0), sum(spans))


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
    lns_min_jobs: int = LNS_MIN_JOBS,
    global_bound: int | None = None,
) -> tuple[Solution, DecomposeStats]:
    """Improve ``greedy`` (a valid plan of the whole instance) component by component.
    ``global_bound``: the whole instance's lower bound (slots) when the caller has it, so that
    it is not computed twice (it costs seconds at 10,000 VMs).

    ``inst`` has no options (an infrastructure plan folds the chosen ones first,
    ``instance.fix_options``): the components keep each job's proxy and repository, with their
    units (``Job.demands``) in every component model.

    Deterministic for the same inputs and seed: which components are solved, their order and
    their budgets depend only on the instance and the warm start, never on wall time, unless
    the wall-clock ``deadline`` (``time.time()``) cuts a solve short (``stats.wall_limit_hit``).
    Ctrl-C stops the search and returns the best plan merged so far (always valid).
    """
    require_folded(inst, "the decomposition")
    t0 = time.perf_counter()
    stats = DecomposeStats()
    groups = components(inst)
    stats.components = len(groups)
    global_lb = lower_bound(inst).makespan if global_bound is None else global_bound
    starts = dict(greedy.starts)
    dropped = set(greedy.dropped)
    conc = next(
        (r for r, res in enumerate(inst.resources) if res.kind == "concurrent" and res.capacity),
        None,
    )

    def report() -> None:
        if progress is not None:
            span = max(night_spans(inst, starts), default=0)
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
        if not nd and score[1] <= global_lb:
            continue  # it cannot lower the makespan: no need for its own bound (a night
            # split week has hundreds of such components, each bound seconds at 70,000 jobs)
        own_lb = lower_bound(sub).makespan
        if nd or score[1] > own_lb:
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
    rounds = _Rounds(
        inst, groups, subs, own_lbs, starts, dropped, conc, global_lb, seed, workers,
        processes, status, stats, report, deadline, lns_min_jobs,
    )  # fmt: skip
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
                rounds, critical, floor0, conc,
                (time_limit_s * 0.8 * z, time_limit_s * 0.2 * z),
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
                if worst < max(night_spans(inst, starts), default=0):
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
                _round(rounds, todo, rest * fraction, span_only=True)
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
                used = _round(rounds, [k], share, span_only=True, processes=1)
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
    rounds: _Rounds,
    todo: list[int],
    seconds: float,
    *,
    span_only: bool = False,
    processes: int | None = None,
) -> float:
    """Re-solve the components ``todo`` in parallel and merge what improves; returns the
    budget used, in seconds of deterministic time. ``processes``: default the pool's."""
    inst, groups, subs, starts = rounds.inst, rounds.groups, rounds.subs, rounds.starts
    conc = rounds.conc
    size = {k: len(groups[k]) for k in todo}
    total = sum(size.values())
    budget = {k: max(0.5, seconds * size[k] / total) for k in todo}

    # Concurrency shares: slack of the current plan split evenly among these components.
    profiles: dict[int, Profile | None] = {k: None for k in todo}
    if conc is not None:
        cap = inst.resources[conc].capacity
        slack = cap - running_jobs(inst, starts, list(range(len(inst.jobs))))
        for k, share in zip(todo, split_evenly(slack, len(todo)), strict=True):
            prof = running_jobs(inst, starts, groups[k]) + share
            if int(prof.min()) < natural_parallelism(subs[k]):
                profiles[k] = profile_steps(prof)

    tasks = [
        ComponentTask(
            key=k,
            inst=subs[k],
            hint=_local(groups[k], starts),
            hint_dropped=tuple(j for j, gj in enumerate(groups[k]) if gj in rounds.dropped),
            concurrency=profiles[k],
            time_limit_s=budget[k],
            seed=rounds.seed,
            workers=rounds.workers,
            target=max(rounds.global_lb, rounds.own_lbs[k]),
            span_only=span_only,
            deadline=rounds.deadline,
            lns_min_jobs=rounds.lns_min_jobs,
        )
        for k in todo
    ]
    used = 0.0
    for res in _run(tasks, rounds.processes if processes is None else processes):
        _merge(inst, groups[res.key], subs[res.key], res, starts, rounds.dropped)
        _record(rounds.stats, res, len(groups[res.key]))
        rounds.status[res.key] = res.status
        used += res.deterministic_time / DTIME_PER_SECOND
        rounds.report()
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


def _critical_first(
    rounds: _Rounds,
    critical: list[int],
    floor: int,
    conc: int,
    seconds: tuple[float, float],
) -> float:
    """The components whose own bound is the makespan's floor are the hard ones: solve each
    alone, ignoring the global limit, to a plan with every night within ``floor``; then make
    room for them: every other component whose task slots they need is re-solved under a
    profile that gives those slots up (:func:`~stagger.solve.profiles.squeeze_profiles`),
    within ``floor`` too. All or nothing: unless every piece succeeds, the plan is left as it
    was. Returns the budget used (seconds of deterministic time)."""
    inst, groups, subs, starts = rounds.inst, rounds.groups, rounds.subs, rounds.starts
    seed, workers, processes = rounds.seed, rounds.workers, rounds.processes
    stats, deadline = rounds.stats, rounds.deadline
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
            lns_min_jobs=rounds.lns_min_jobs,
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
    profiles = squeeze_profiles(inst, groups, new, critical, cap)
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
                concurrency=profile_steps(prof),
                time_limit_s=max(0.5, seconds[1] * len(groups[k]) / size),
                seed=seed,
                workers=workers,
                target=floor,
                span_only=True,
                span_cap=floor,
                deadline=deadline,
                lns_min_jobs=rounds.lns_min_jobs,
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
        rounds.status[k] = "OPTIMAL"  # at the floor: the makespan cannot go below it
    return used
