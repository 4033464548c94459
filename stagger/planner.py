"""The planning pipeline: topology + policy -> instance -> greedy -> CP-SAT -> Schedule ->
validator.

``plan()`` is what the CLI and the other tools call. The schedule it returns has passed the
independent validator; an invalid one raises instead of being returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from stagger.calendar import window_occurrences
from stagger.instance import Instance, compile_instance
from stagger.model.policy import Policy
from stagger.model.schedule import (
    Night,
    ResourceUse,
    Schedule,
    ScheduledJob,
    ScheduleInputs,
    SolverInfo,
    SolverStatus,
    UnscheduledVM,
)
from stagger.model.topology import Topology
from stagger.solve.bounds import Bound, describe_overload, lower_bound
from stagger.solve.cpsat import ProgressFn, solve_cpsat
from stagger.solve.decompose import components, solve_decomposed
from stagger.solve.greedy import Solution, solve_greedy, solve_greedy_best

SolverName = Literal["cpsat", "greedy"]


@dataclass
class PlanOptions:
    solver: SolverName = "cpsat"
    time_limit_s: float | None = None  # None: chosen from the instance size
    seed: int = 0
    workers: int = 4
    progress: ProgressFn | None = None
    decompose: bool = True  # solve independent components separately (stagger.solve.decompose)
    processes: int = 2  # process pool size for the components


@dataclass
class PlanResult:
    schedule: Schedule
    wall_s: float
    instance: Instance
    bound: Bound


def default_time_limit(n_jobs: int) -> float:
    """Seconds of (deterministic) solver time: small estates finish fast, big ones get more."""
    if n_jobs <= 200:
        return 10.0
    if n_jobs <= 2_000:
        return 30.0
    if n_jobs <= 20_000:
        return 60.0
    return 240.0


def night_spans(inst: Instance, sol: Solution) -> list[int]:
    spans = [0] * len(inst.nights)
    for j, s in sol.starts.items():
        n = inst.night_of(s)
        spans[n] = max(spans[n], s + inst.jobs[j].duration - inst.nights[n].start)
    return spans


def _dropped_reason(inst: Instance, bound: Bound, j: int) -> str:
    job = inst.jobs[j]
    over = [
        describe_overload(inst, load)
        for load in bound.loads
        if load.resource in job.resources
        and load.overloaded(inst.resources[load.resource].capacity or 1 << 30)
    ]
    if over:
        return "does not fit: " + "; ".join(over)
    labels = ", ".join(inst.resources[r].label for r in job.resources)
    return f"no free {job.duration * inst.slot_minutes} min stretch left on {labels} in any window"


def build_schedule(
    topology: Topology,
    policy: Policy,
    inst: Instance,
    sol: Solution,
    bound: Bound,
    info: SolverInfo,
) -> Schedule:
    idx = topology.index()
    tz = policy.tz
    slot = timedelta(minutes=inst.slot_minutes)
    jobs = []
    for j in sorted(sol.starts, key=lambda j: (sol.starts[j], inst.jobs[j].vm)):
        job = inst.jobs[j]
        vm = idx.vms[job.vm]
        s = sol.starts[j]
        start = (inst.anchor + s * slot).astimezone(tz)
        jobs.append(
            ScheduledJob(
                vm=vm.name,
                # How vCenter (and so the backup software) knows the VM: exporters use these.
                vm_display_name=vm.display_name if vm.display_name != vm.name else None,
                vm_moref=vm.moref,
                vm_instance_uuid=vm.instance_uuid,
                vcenter=vm.vcenter,
                host=vm.host,
                cluster=idx.cluster_of(vm),
                datastores=vm.datastores,
                raid_groups=idx.raid_groups_of(vm),
                start=start,
                end=(inst.anchor + (s + job.duration) * slot).astimezone(tz),
                duration_min=job.duration * inst.slot_minutes,
                size_gib=round(job.size_gib, 3),
                night=inst.night_of(s),
            )
        )
    unscheduled = [UnscheduledVM(vm=vm, reason=why) for vm, why in inst.unschedulable]
    unscheduled += [
        UnscheduledVM(vm=inst.jobs[j].vm, reason=_dropped_reason(inst, bound, j))
        for j in sol.dropped
    ]
    unscheduled.sort(key=lambda u: u.vm)

    spans = night_spans(inst, sol)
    nights = []
    for occ, span in zip(window_occurrences(policy), spans, strict=True):
        mine = [jb for jb in jobs if jb.night == occ.index]
        nights.append(
            Night(
                index=occ.index,
                date=occ.date,
                window_start=occ.start.astimezone(tz),
                window_end=occ.end.astimezone(tz),
                jobs=len(mine),
                last_end=max((jb.end for jb in mine), key=lambda t: t.timestamp(), default=None),
                makespan_min=span * inst.slot_minutes,
            )
        )
    makespan = max(spans, default=0)
    # With every job placed the bound is <= makespan; with some dropped it bounds a plan we did
    # not make, so it is clamped.
    lb = min(bound.makespan, makespan)
    gap = 0.0 if makespan == 0 else round((makespan - lb) / max(lb, 1) * 100, 2)

    busy: dict[int, int] = {}
    count: dict[int, int] = {}
    for j in sol.starts:
        for r in inst.jobs[j].resources:
            busy[r] = busy.get(r, 0) + inst.jobs[j].duration
            count[r] = count.get(r, 0) + 1
    use = []
    for load in bound.loads:
        res = inst.resources[load.resource]
        cap = res.capacity or len(inst.jobs)
        free = load.free * cap
        b = busy.get(load.resource, 0)
        use.append(
            ResourceUse(
                kind=res.kind,
                name=res.name,
                capacity=cap,
                jobs=count.get(load.resource, 0),
                busy_min=b * inst.slot_minutes,
                free_min=free * inst.slot_minutes,
                utilisation_pct=round(100 * b / free, 1) if free else 0.0,
            )
        )
    use.sort(key=lambda u: (-u.utilisation_pct, u.kind, u.name))
    bottlenecks = [
        describe_overload(inst, load)
        for load in bound.loads
        if load.overloaded(inst.resources[load.resource].capacity or 1 << 30)
    ]
    return Schedule(
        timezone=policy.timezone,
        cycle_start=policy.cycle.start,
        nights=nights,
        jobs=jobs,
        unscheduled=unscheduled,
        solver=info,
        makespan_min=makespan * inst.slot_minutes,
        lower_bound_min=lb * inst.slot_minutes,
        gap_pct=gap,
        utilisation=use,
        bottlenecks=bottlenecks,
        inputs=ScheduleInputs(topology=topology, policy=policy),
    )


def solve_instance(
    inst: Instance, bound: Bound, options: PlanOptions
) -> tuple[Solution, SolverInfo]:
    """Greedy, then (optionally) CP-SAT warm-started from it; keep the better of the two."""
    greedy = solve_greedy(inst)
    greedy_span = max(night_spans(inst, greedy), default=0)
    limit = options.time_limit_s or default_time_limit(len(inst.jobs))
    if options.solver == "greedy" or not inst.jobs:
        status = "GREEDY" if inst.jobs else "EMPTY"
        return greedy, SolverInfo(
            name="greedy",
            status=status,
            seed=options.seed,
            greedy_makespan_min=greedy_span * inst.slot_minutes,
        )
    # Warm start: the best of several list-scheduling orders (per component); the plain
    # longest-first greedy stays the reported baseline.
    groups = components(inst)
    warm = solve_greedy_best(inst, groups)
    warm_span = max(night_spans(inst, warm), default=0)
    if (len(warm.dropped), warm_span) < (len(greedy.dropped), greedy_span):
        better_warm = warm
    else:
        better_warm, warm_span = greedy, greedy_span
    if not better_warm.dropped and warm_span <= bound.makespan:
        # The warm start meets the lower bound: it is optimal, nothing to search.
        return better_warm, SolverInfo(
            name="cpsat",
            status="OPTIMAL",
            seed=options.seed,
            time_limit_s=limit,
            greedy_makespan_min=greedy_span * inst.slot_minutes,
        )
    user_progress = options.progress
    progress: ProgressFn | None = None
    if user_progress is not None:
        # Report our own bound (slots), not CP-SAT's weighted objective bound, so the caller
        # can show the gap; and the warm start's makespan before the search begins.
        def progress(span: int, wall: float, _cpsat_bound: float) -> None:
            user_progress(span, wall, float(bound.makespan))

        progress(warm_span, 0.0, 0.0)
    if options.decompose and len(groups) > 1:
        # Independent parts (shared by no host/datastore/RAID group) solved separately.
        dec, stats = solve_decomposed(
            inst,
            better_warm,
            time_limit_s=limit,
            seed=options.seed,
            workers=options.workers,
            processes=options.processes,
            progress=progress,
        )
        dec_span = max(night_spans(inst, dec), default=0)
        met = not dec.dropped and dec_span <= bound.makespan
        return dec, SolverInfo(
            name="cpsat",
            status="OPTIMAL" if stats.optimal or met else "FEASIBLE",
            seed=options.seed,
            time_limit_s=limit,
            greedy_makespan_min=greedy_span * inst.slot_minutes,
            interrupted=stats.interrupted,
        )
    res = solve_cpsat(
        inst,
        better_warm,
        time_limit_s=limit,
        seed=options.seed,
        workers=options.workers,
        progress=progress,
    )
    sol = res.solution
    better = (len(sol.dropped), max(night_spans(inst, sol), default=0)) <= (
        len(better_warm.dropped),
        warm_span,
    )
    final: SolverStatus = "OPTIMAL" if res.status == "OPTIMAL" else "FEASIBLE"
    if res.status not in ("OPTIMAL", "FEASIBLE"):
        final = "UNKNOWN"
    elif better and not sol.dropped and max(night_spans(inst, sol), default=0) <= bound.makespan:
        final = "OPTIMAL"  # meets our own lower bound
    if not better or res.status not in ("OPTIMAL", "FEASIBLE"):
        sol = better_warm
    return sol, SolverInfo(
        name="cpsat",
        status=final,
        seed=options.seed,
        time_limit_s=limit,
        objective=res.objective,
        greedy_makespan_min=greedy_span * inst.slot_minutes,
        interrupted=res.interrupted,
    )


def plan(
    topology: Topology,
    policy: Policy,
    options: PlanOptions | None = None,
    *,
    on_stage: Callable[[str], None] | None = None,
) -> PlanResult:
    from stagger.validate import validate

    opts = options or PlanOptions()
    t0 = time.perf_counter()
    inst = compile_instance(topology, policy)
    bound = lower_bound(inst)
    if on_stage:
        on_stage(f"{len(inst.jobs)} jobs, lower bound {bound.makespan * inst.slot_minutes} min")
    sol, info = solve_instance(inst, bound, opts)
    schedule = build_schedule(topology, policy, inst, sol, bound, info)
    validate(schedule, topology, policy)
    return PlanResult(schedule, time.perf_counter() - t0, inst, bound)
