"""Longest-first list scheduling: each job at its earliest feasible start.

Fast (numpy over the slot timeline), always valid, and the warm start for CP-SAT. On a cycle of
several nights a job goes to the night where it would end earliest relative to that night's
window start, which spreads load across nights instead of piling it onto the first.
"""

from __future__ import annotations

import time

import numpy as np

from stagger.instance import Instance, Option, fix_options
from stagger.solve.parallel_sgs import TARGET_RUNS, backward_order, sgs_candidates, start_order
from stagger.solve.solution import (
    GroupNights,
    Solution,
    Starts,
    drop_cost,
    night_spans,
    vm_jobs,
    whole_vms,
)
from stagger.solve.timeline import Timeline


def job_order(inst: Instance) -> list[int]:
    """Longest first; ties: more resources first, then by VM name for determinism."""
    return sorted(
        range(len(inst.jobs)),
        key=lambda j: (-inst.jobs[j].duration, -len(inst.jobs[j].resources), inst.jobs[j].vm),
    )


def importance(inst: Instance) -> list[int]:
    """Per job, the cost of dropping it beyond the count: with L distinct priorities, L for the
    most important (lowest number) down to 1 for the least; all 0 when every job has the same
    priority (then only the count matters)."""
    levels = sorted({job.priority for job in inst.jobs})
    if len(levels) < 2:
        return [0] * len(inst.jobs)
    rank = {p: len(levels) - i for i, p in enumerate(levels)}
    return [rank[job.priority] for job in inst.jobs]


def count_orders(inst: Instance) -> list[list[int]]:
    """Orders for when not every job fits: shortest first places the most jobs on a shared
    resource; the same within priority levels keeps the important ones."""
    jobs = range(len(inst.jobs))
    key = [(inst.jobs[j].duration, inst.jobs[j].vm) for j in jobs]
    shortest = sorted(jobs, key=lambda j: (key[j], inst.jobs[j].priority))
    by_priority = sorted(jobs, key=lambda j: (inst.jobs[j].priority, key[j]))
    return [shortest, by_priority]


def solve_greedy(inst: Instance, order: list[int] | None = None) -> Solution:
    """Each job of ``order`` (default: longest first) at its earliest relative end. A job
    with options (an infrastructure file) takes the option in which it ends earliest
    relative to its night's window start; ties: the least loaded proxy (its task-slot time
    placed so far per slot of capacity), then the first option in file order."""
    timeline = Timeline(inst)
    taken = GroupNights(inst)
    starts: Starts = {}
    chosen: dict[int, int] = {}
    dropped: list[int] = []
    # Task-slot time placed per proxy resource (slots x jobs), for the option tie-break.
    proxy_busy: dict[int, int] = {}
    # A VM is planned whole: one of its jobs that cannot be placed releases the others (their
    # capacity goes to the jobs still to come) and the VM's later jobs are not tried.
    siblings = vm_jobs(inst)
    lost: set[str] = set()

    def option_of(j: int) -> Option | None:
        return inst.jobs[j].options[chosen[j]] if j in chosen else None

    for j in order if order is not None else job_order(inst):
        job = inst.jobs[j]
        if job.vm in lost:
            dropped.append(j)
            continue
        best: tuple[int, float, int, int] | None = None  # (relative end, load, option, start)
        # With options: the job's own resources' mask once, each (resource, demand) row once.
        own = timeline.own_blocked(job) if job.options else None
        rows: dict[tuple[int, int], np.ndarray] = {}
        for k, option in enumerate(job.options or (None,)):
            duration = option.duration if option is not None else job.duration
            allowed = option.allowed if option is not None else job.allowed
            load = 0.0
            if option is None or own is None:
                within = timeline.free_starts(job)
            else:
                proxy = option.resources[0]
                load = proxy_busy.get(proxy, 0) / (inst.resources[proxy].capacity or 1)
                # Its earliest possible relative end: an option that cannot beat the best
                # one found (a later end; the same end on a proxy at least as loaded, and a
                # later option) is not looked at.
                soonest = min(
                    (spans[0][0] + duration - inst.nights[n].start)
                    for n, spans in enumerate(allowed)
                    if spans
                )
                if best is not None and (soonest, load) >= (best[0], best[1]):
                    continue
                blocked = own.copy()
                for r, d in zip(option.resources, option.demands, strict=True):
                    if (r, d) not in rows:
                        rows[(r, d)] = timeline.row_blocked(r, d)
                    blocked |= rows[(r, d)]
                within = timeline.starts_where_free(blocked, duration)
            for n, spans in enumerate(allowed):
                if job.group is not None and not taken.free(j, n):
                    continue  # a job of its group runs that night
                ws = inst.nights[n].start
                for lo, hi in spans:
                    ok = within(lo, hi)
                    if ok.size:
                        s = int(ok[0])
                        key = (s + duration - ws, load, k, s)
                        if best is None or key < best:
                            best = key
                        break
        if best is None:
            dropped.append(j)
            if len(siblings.get(job.vm, ())) > 1:
                lost.add(job.vm)
                for k in siblings[job.vm]:
                    if k in starts:
                        option = option_of(k)
                        timeline.remove(inst.jobs[k], starts.pop(k), option)
                        if option is not None:
                            busy = inst.jobs[k].options[chosen.pop(k)]
                            proxy_busy[busy.resources[0]] -= busy.duration
                        dropped.append(k)
            continue
        s, k = best[3], best[2]
        option = job.options[k] if job.options else None
        timeline.place(job, s, option)
        if option is not None:
            chosen[j] = k
            proxy_busy[option.resources[0]] = proxy_busy.get(option.resources[0], 0) + (
                option.duration
            )
        taken.take(j, inst.night_of(s))
        starts[j] = s
    return Solution(starts, sorted(dropped), chosen)


def plan_score(
    inst: Instance, sol: Solution, jobs: list[int] | None = None
) -> tuple[int, int, int, int]:
    """(VMs dropped, their importance, largest night span, sum of night spans) over ``jobs``
    (default: all)."""
    keep = set(jobs) if jobs is not None else None
    spans = night_spans(inst, sol.starts, jobs)
    lost = [j for j in sol.dropped if keep is None or j in keep]
    vms, weight = drop_cost(inst, lost, importance(inst)) if lost else (0, 0)
    return (vms, weight, max(spans, default=0), sum(spans))


def bottleneck_orders(inst: Instance) -> list[list[int]]:
    """Orders that put the jobs of the most loaded resources first, weighted by duration:
    the job's largest (or summed) resource load per unit of capacity, times its duration."""
    load: dict[int, int] = {}
    for job in inst.jobs:
        for r in job.resources:
            load[r] = load.get(r, 0) + job.duration
    rel = [
        [
            load[r] / inst.resources[r].capacity
            for r in job.resources
            if inst.resources[r].kind != "concurrent" and inst.resources[r].capacity
        ]
        or [0.0]
        for job in inst.jobs
    ]
    jobs = range(len(inst.jobs))
    by_max = sorted(jobs, key=lambda j: (-max(rel[j]) * inst.jobs[j].duration, inst.jobs[j].vm))
    by_sum = sorted(jobs, key=lambda j: (-sum(rel[j]) * inst.jobs[j].duration, inst.jobs[j].vm))
    return [by_max, by_sum]


def candidates(
    inst: Instance,
    bound_slots: int | None = None,
    *,
    first: Solution | None = None,
    first_s: float = 0.0,
    deadline: float | None = None,
) -> tuple[list[list[int]], list[Solution]]:
    """The plans ``solve_greedy_best`` chooses from, each with the job order it stands for:
    the serial schedule on several orders (longest first, bottleneck first; shortest first
    when jobs are left out). Unless the best of these already meets ``bound_slots`` (a lower
    bound on the worst night; None: unknown), also the time-stepping schedules of
    ``parallel_sgs`` (with their start orders) and the serial schedule on the order of a
    backward pass from the best plan so far: they remove the tail a saturated shared
    resource leaves behind the serial orders. (The serial schedule on a time-stepping plan's
    own start order was measured too and never did better than that plan.)

    ``first``: the longest-first plan (``solve_greedy(inst)``) when the caller has it already,
    and ``first_s`` the seconds it took.
    ``deadline`` (``time.time()`` value; None: none): a further candidate is tried only while
    the time left is at least what the longest-first plan took (the time-stepping ones, which
    cost about three serial passes each, three times that): at 70,000 jobs (a week of 10,000
    VMs) the candidates took minutes and a wall-time limit has to leave time to search."""
    t0 = time.time()
    orders = [job_order(inst)]
    runs = [first if first is not None else solve_greedy(inst, orders[0])]
    one_pass = time.time() - t0 if first is None else first_s  # seconds of one serial pass

    def time_for(passes: float) -> bool:
        return deadline is None or deadline - time.time() >= passes * one_pass

    for order in bottleneck_orders(inst):
        if time_for(1):
            orders.append(order)
            runs.append(solve_greedy(inst, order))
    if any(r.dropped for r in runs):
        extra = count_orders(inst)
        orders += extra
        runs += [solve_greedy(inst, o) for o in extra]
    best = min(range(len(runs)), key=lambda i: (plan_score(inst, runs[i]), i))
    meets_bound = (
        bound_slots is not None
        and not runs[best].dropped
        and plan_score(inst, runs[best])[2] <= bound_slots
    )
    if inst.jobs and not meets_bound and time_for(3 * (1 + TARGET_RUNS) + 1):
        best_slots = None if runs[best].dropped else plan_score(inst, runs[best])[2]
        # The time-stepping schedules place jobs one by one too: a VM they planned in part
        # is dropped whole.
        stepped = [whole_vms(inst, s) for s in sgs_candidates(inst, bound_slots or 0, best_slots)]
        orders += [start_order(inst, s) for s in stepped]
        runs += stepped
        best = min(range(len(runs)), key=lambda i: (plan_score(inst, runs[i]), i))
        orders.append(backward_order(inst, runs[best]))
        runs.append(solve_greedy(inst, orders[-1]))
    return orders, runs


def solve_greedy_best(
    inst: Instance,
    groups: list[list[int]] | None = None,
    bound_slots: int | None = None,
    *,
    first: Solution | None = None,
    first_s: float = 0.0,
    deadline: float | None = None,
) -> Solution:
    """Several list-scheduling orders (longest first, bottleneck first); per independent group
    of jobs (``groups``, e.g. components) the order that does best, merged into one order and
    re-run over the whole instance (shared limits stay respected). The best plan overall wins.
    The plans and orders are ``candidates``' (``bound_slots``, ``first``, ``first_s``,
    ``deadline``: see there); the merged re-run, too, only while the time left is at least
    one serial pass."""
    t0 = time.time()
    orders, runs = candidates(inst, bound_slots, first=first, first_s=first_s, deadline=deadline)
    best = min(range(len(runs)), key=lambda i: (plan_score(inst, runs[i]), i))
    if not groups or len(groups) < 2 or len(orders) < 2:
        return runs[best]
    if deadline is not None and deadline - time.time() < (time.time() - t0) / len(runs):
        return runs[best]
    # Each group's jobs in the order that did best for it, interleaved by relative position.
    # Ranks looked up per job (not a pass over a whole order per group: quadratic in groups).
    rank = [[0] * len(inst.jobs) for _ in orders]
    for o, order in enumerate(orders):
        for k, j in enumerate(order):
            rank[o][j] = k
    position = [0.0] * len(inst.jobs)
    for g in groups:
        pick = min(range(len(runs)), key=lambda i: (plan_score(inst, runs[i], g), i))
        ranked = sorted(g, key=rank[pick].__getitem__)
        for k, j in enumerate(ranked):
            position[j] = k / len(ranked)
    merged = sorted(range(len(inst.jobs)), key=lambda j: (position[j], j))
    mixed = solve_greedy(inst, merged)
    return mixed if plan_score(inst, mixed) <= plan_score(inst, runs[best]) else runs[best]


# Above this many jobs only the longest-first order chooses options: a pass over 2,000 VMs
# with 24 options each took 23 s against 1.6 s without options (2 shared cores, loaded); the
# planner's list schedules on the fixed choice still try every order.
OPTIONS_ORDERS_MAX_JOBS = 2_000


def solve_greedy_options(inst: Instance, first: Solution | None = None) -> Solution:
    """For an instance whose jobs have options (an infrastructure file): the best of the
    serial schedule on several orders (longest first, bottleneck first; shortest first when
    jobs are left out), each choosing every job's option as it places it
    (:func:`solve_greedy`). Plans are compared at the lengths of the options they chose
    (fewest VMs dropped, their importance, worst night, sum of nights). ``first``: the
    longest-first plan, when the caller has it already; above
    :data:`OPTIONS_ORDERS_MAX_JOBS` jobs it alone. (The time-stepping schedules do not
    choose options: the planner runs them once the choice is fixed.)"""
    runs = [first if first is not None else solve_greedy(inst)]
    if len(inst.jobs) > OPTIONS_ORDERS_MAX_JOBS:
        return runs[0]
    runs += [solve_greedy(inst, o) for o in bottleneck_orders(inst)]
    if any(r.dropped for r in runs):
        runs += [solve_greedy(inst, o) for o in count_orders(inst)]
    scores = [plan_score(fix_options(inst, r.options), r) for r in runs]
    return runs[min(range(len(runs)), key=lambda i: (scores[i], i))]
