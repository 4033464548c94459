"""The planning pipeline: topology + policy -> instance -> greedy -> CP-SAT -> Schedule ->
validator.

``plan()`` is what the CLI and the other tools call. The schedule it returns has passed the
independent validator; an invalid one raises instead of being returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stagger.calendar import window_occurrences
from stagger.infrastructure import check_infrastructure
from stagger.instance import Instance, Option, compile_instance, fix_options, shortest_option
from stagger.jobs import job_level
from stagger.model.infrastructure import Infrastructure
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
    gap_pct,
)
from stagger.model.topology import Topology
from stagger.solve.bottlenecks import bottlenecks as bottleneck_lines
from stagger.solve.bottlenecks import describe_infra_overload
from stagger.solve.bound_infra import INFRA_KINDS
from stagger.solve.bounds import (
    Bound,
    describe_overload,
    lower_bound,
    min_dropped,
    min_dropped_vms,
)
from stagger.solve.components import components
from stagger.solve.cpsat import DTIME_PER_SECOND, solve_cpsat
from stagger.solve.decompose import solve_decomposed
from stagger.solve.full_nights import assign_full_nights, with_nights
from stagger.solve.greedy import (
    importance,
    plan_score,
    solve_greedy,
    solve_greedy_best,
    solve_greedy_options,
)
from stagger.solve.makespan_lns import LNS_MIN_JOBS, MakespanLns
from stagger.solve.same_clock import SameClock, same_clock_incrementals
from stagger.solve.solution import (
    ProgressFn,
    Solution,
    drop_cost,
    makespan_slots,
    night_spans,
    whole_vms,
)
from stagger.solve.timeline import overloaded

SolverName = Literal["cpsat", "greedy"]

# Up to this many jobs one model of the whole instance is solved even when it falls apart
# into components: its OPTIMAL is a proof for the whole plan, where decomposition (other
# components' plans fixed) proves only what meets the bound. Larger whole models spend their
# budget on the sum of the nights' spans after reaching the bound (100 VMs: 84-94 s on a
# loaded machine against 4-5 s decomposed), so they are decomposed.
WHOLE_MODEL_MAX_JOBS = 50


@dataclass
class PlanOptions:
    solver: SolverName = "cpsat"
    # Wall seconds for the whole plan (compile to validated schedule), and the deterministic
    # budget's basis. None: chosen from the instance size, deterministic time only.
    time_limit_s: float | None = None
    # CP-SAT deterministic time for the whole search (a count of work, reproducible on any
    # machine). None: time_limit_s (or the default) times DTIME_PER_SECOND. With a generous
    # time_limit_s, the plan is the same byte for byte on every run.
    deterministic_budget: float | None = None
    seed: int = 0
    workers: int = 4
    progress: ProgressFn | None = None
    decompose: bool = True  # solve independent components separately (stagger.solve.decompose)
    processes: int = 2  # process pool size for the components
    # Components (or a whole one-component instance) of more jobs than this are improved by
    # the makespan neighbourhood search (stagger.solve.makespan_lns), not one CP-SAT model.
    lns_min_jobs: int = LNS_MIN_JOBS
    # Tiered cycles: choose every group's nights first (fulls balanced per resource and
    # night, stagger.solve.full_nights), then solve the nights as independent parts. None:
    # for instances with groups beyond WHOLE_MODEL_MAX_JOBS (smaller ones: one model of the
    # whole instance chooses the nights itself); True: whenever there are groups; False: never.
    night_split: bool | None = None


@dataclass
class PlanResult:
    schedule: Schedule
    wall_s: float
    instance: Instance
    """The instance the schedule's jobs are of: with an infrastructure file, the compiled one
    with each job's chosen option folded in (:func:`~stagger.instance.fix_options`)."""
    bound: Bound
    """The lower bound of the compiled instance (with options: over every choice)."""


def default_time_limit(n_jobs: int) -> float:
    """Seconds of (deterministic) solver time: small estates finish fast, big ones get more."""
    if n_jobs <= 200:
        return 10.0
    if n_jobs <= 2_000:
        return 30.0
    if n_jobs <= 20_000:
        return 60.0
    return 240.0


def _dropped_reason(inst: Instance, bound: Bound, j: int) -> str:
    job = inst.jobs[j]
    over = [
        describe_overload(inst, load)
        for load in bound.loads
        if load.resource in job.resources
        and inst.resources[load.resource].kind not in INFRA_KINDS
        and load.overloaded(inst.resources[load.resource].capacity or 1 << 30)
    ]
    # An overloaded set of proxies or repositories this job's chosen ones belong to.
    over += list(
        dict.fromkeys(
            describe_infra_overload(inst, ld)
            for ld in bound.infra
            if ld.overloaded and set(ld.resources) & set(job.resources)
        )
    )
    if over:
        return "does not fit: " + "; ".join(over)
    labels = ", ".join(inst.resources[r].label for r in job.resources)
    return f"no free {job.duration * inst.slot_minutes} min stretch left on {labels} in any window"


@dataclass
class Outcome:
    """What the solvers established, for the schedule's claims: only facts."""

    solution: Solution
    info: SolverInfo
    proven_makespan: int = 0  # a lower bound on the makespan proven beyond ``Bound`` (slots)
    proven_dropped: bool = False  # the number of dropped jobs is proven minimal
    whole_model_optimal: bool = False  # one CP-SAT model of the whole instance proved it


class BoundViolation(RuntimeError):
    """A valid plan beats a lower bound: a bug in the bound or the plan, never reported."""


def build_schedule(
    topology: Topology,
    policy: Policy,
    inst: Instance,
    sol: Solution,
    bound: Bound,
    info: SolverInfo,
    *,
    proven_makespan: int = 0,
    min_jobs_dropped: int = 0,
    min_vms_dropped: int = 0,
    vm_drops_proven: bool = False,
    clock: SameClock | None = None,
    infrastructure: Infrastructure | None = None,
    assignment: Mapping[int, Option] | None = None,
) -> Schedule:
    """``min_jobs_dropped``: a proven lower bound on how many of ``inst.jobs`` no plan can
    place (the VMs that cannot run at all, ``inst.unschedulable``, come on top).
    ``min_vms_dropped``: a proven lower bound on how many VMs with jobs in ``inst`` no plan
    can place (:func:`~stagger.solve.bounds.min_dropped_vms`; ``inst.unschedulable`` on top).
    ``vm_drops_proven``: one CP-SAT model of the whole instance, whose presence is per VM,
    proved the fewest (and least important) dropped VMs and the makespan of the rest.
    ``clock``: the same-clock post-pass's count, reported in the solver info.
    ``infrastructure`` and ``assignment`` (job index -> the option it runs in; ``inst`` has
    the options folded in): each job's proxy, mode and repository, and the file in the
    schedule's inputs.

    A VM is planned whole or not at all (a tiered VM has several jobs): a VM with a dropped
    job is unscheduled, its other jobs left out of the schedule."""
    idx = topology.index()
    tz = policy.tz
    dropped_vms: dict[str, int] = {}  # VM -> its first dropped job
    for j in sorted(sol.dropped):
        dropped_vms.setdefault(inst.jobs[j].vm, j)
    kept = {j: s for j, s in sol.starts.items() if inst.jobs[j].vm not in dropped_vms}
    jobs = []
    for j in sorted(kept, key=lambda j: (kept[j], inst.jobs[j].vm, j)):
        job = inst.jobs[j]
        vm = idx.vms[job.vm]
        s = kept[j]
        start = inst.to_datetime(s).astimezone(tz)
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
                end=inst.to_datetime(s + job.duration).astimezone(tz),
                duration_min=job.duration * inst.slot_minutes,
                size_gib=round(job.size_gib, 3),
                night=inst.night_of(s),
                # A tiered job carries its level; a single-regime job has the VM's.
                level=job.level if job.level is not None else job_level(vm, policy),
                tier=job.tier,
                **_assigned(assignment, j),
            )
        )
    unscheduled = [UnscheduledVM(vm=vm, reason=why) for vm, why in inst.unschedulable]
    unscheduled += [
        UnscheduledVM(vm=vm, reason=_dropped_reason(inst, bound, j))
        for vm, j in dropped_vms.items()
    ]
    unscheduled.sort(key=lambda u: u.vm)

    spans = night_spans(inst, kept)
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
    # The bound is for a plan with every job: never clamped. With every job placed it cannot
    # exceed the makespan; if it does, the bound or the plan is wrong, and we say so.
    lb = max(bound.makespan, proven_makespan)
    if not sol.dropped and inst.jobs and lb > makespan:
        raise BoundViolation(
            f"lower bound {lb * inst.slot_minutes} min exceeds the makespan"
            f" {makespan * inst.slot_minutes} min of a plan with every job ({bound.reason})"
        )
    gap: float | None = None
    if not sol.dropped:
        gap = 0.0 if makespan == 0 else gap_pct(makespan, lb)
    if min_jobs_dropped > len(sol.dropped):
        raise BoundViolation(
            f"at least {min_jobs_dropped} jobs must be left out, the plan leaves out"
            f" {len(sol.dropped)}"
        )
    # In VMs: at least ceil(jobs / most jobs of one VM) VMs lose a job (one per VM in the
    # single regime: the job bound itself).
    per_vm: dict[str, int] = {}
    for job in inst.jobs:
        per_vm[job.vm] = per_vm.get(job.vm, 0) + 1
    most = max(per_vm.values(), default=1)
    if info.status == "OPTIMAL" and dropped_vms and most > 1 and not vm_drops_proven:
        # Only the whole-instance CP-SAT model counts dropped VMs (one presence per VM); any
        # other OPTIMAL with a VM left out proves nothing about VMs: no OPTIMAL.
        info = info.model_copy(update={"status": "FEASIBLE"})
    if min_vms_dropped > len(dropped_vms):
        raise BoundViolation(
            f"at least {min_vms_dropped} VMs must be left out, the plan leaves out"
            f" {len(dropped_vms)}"
        )
    # The count is proven; the plan's importance and makespan with VMs left out are not, so
    # meeting it changes no status (the schedule reports it as unscheduled_min).
    must_drop = len(inst.unschedulable) + max(-(-min_jobs_dropped // most), min_vms_dropped)
    if vm_drops_proven:
        must_drop = len(inst.unschedulable) + len(dropped_vms)
    if clock is not None and clock.vms:
        info = info.model_copy(
            update={"incremental_vms": clock.vms, "incremental_vms_one_clock": clock.aligned}
        )
    dropped = len(inst.unschedulable) + len(dropped_vms)
    drop_gap = gap_pct(dropped, must_drop) if dropped else None

    # Per resource: its jobs and the units x slots they take (one task slot each; on a
    # repository's ingest their MB/s, so the row's busy and free minutes are both MB/s x
    # minutes and busy / free is the share of the ingest used).
    busy: dict[int, int] = {}
    count: dict[int, int] = {}
    for j in kept:
        job = inst.jobs[j]
        for i, r in enumerate(job.resources):
            busy[r] = busy.get(r, 0) + job.duration * job.demand(i)
            count[r] = count.get(r, 0) + 1
    # Free window per unit of capacity: the bound's, else (the proxies and repositories of
    # an infrastructure file, which the compiled jobs' own resources do not list) every
    # night's window whole, as nothing blocks them.
    free_of = {load.resource: load.free for load in bound.loads}
    window_slots = sum(n.end - n.start for n in inst.nights)
    for r in sorted(busy):
        free_of.setdefault(r, window_slots)
    use = []
    for r_i, free_slots in free_of.items():
        res = inst.resources[r_i]
        cap = res.capacity or len(inst.jobs)
        free = free_slots * cap
        b = busy.get(r_i, 0)
        use.append(
            ResourceUse(
                kind=res.kind,
                name=res.name,
                capacity=cap,
                jobs=count.get(r_i, 0),
                busy_min=b * inst.slot_minutes,
                free_min=free * inst.slot_minutes,
                utilisation_pct=round(100 * b / free, 1) if free else 0.0,
            )
        )
    use.sort(key=lambda u: (-u.utilisation_pct, u.kind, u.name))
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
        unscheduled_min=must_drop,
        unscheduled_gap_pct=drop_gap,
        utilisation=use,
        bottlenecks=bottleneck_lines(inst, bound),
        inputs=ScheduleInputs(topology=topology, policy=policy, infrastructure=infrastructure),
    )


def _assigned(assignment: Mapping[int, Option] | None, j: int) -> dict[str, str | None]:
    """The ScheduledJob fields of job ``j``'s option (none without an infrastructure)."""
    o = assignment.get(j) if assignment is not None else None
    if o is None:
        return {}
    return {"proxy": o.proxy, "mode": o.mode, "repository": o.repository}


def _better(inst: Instance, a: Solution, b: Solution) -> bool:
    """a is at least as good as b: fewer VMs dropped, then less importance dropped, then
    makespan."""
    weight = importance(inst)

    def key(x: Solution) -> tuple[int, int, int]:
        vms, lost = drop_cost(inst, x.dropped, weight)
        return (vms, lost, makespan_slots(inst, x.starts))

    return key(a) <= key(b)


def _night_split_applies(inst: Instance, options: PlanOptions) -> bool:
    if options.night_split is False or options.solver == "greedy":
        return False
    if not any(job.group is not None for job in inst.jobs):
        return False
    return options.night_split is True or len(inst.jobs) > WHOLE_MODEL_MAX_JOBS


def solve_instance(
    inst: Instance,
    bound: Bound,
    options: PlanOptions,
    *,
    min_jobs_dropped: int = 0,
    deadline: float | None = None,
) -> Outcome:
    """A tiered instance with groups (:func:`_night_split_applies`): its groups' nights are
    chosen first and the restricted instance solved (:func:`_solve_night_split`); otherwise
    :func:`_solve_direct`."""
    if _night_split_applies(inst, options):
        return _solve_night_split(inst, bound, options, deadline=deadline)
    return _solve_direct(inst, bound, options, min_jobs_dropped=min_jobs_dropped, deadline=deadline)


def _solve_night_split(
    inst: Instance, bound: Bound, options: PlanOptions, *, deadline: float | None
) -> Outcome:
    """Every group's jobs on nights chosen by load (:func:`assign_full_nights`), the instance
    narrowed to them (:func:`with_nights`; its components fall apart night by night) and
    solved by the usual pipeline; then the plain longest-first greedy of the original
    instance, if there is time for it, and the better of the two kept.

    Claims: a plan of the restricted instance is a plan of the original one, but a proof on
    it is not a proof on the original (the nights were chosen, not searched). The plan is
    OPTIMAL only when it meets ``bound`` (the original instance's lower bound) with every job;
    nothing proven on the restricted instance is reported."""
    t0 = time.time()
    restricted = with_nights(inst, assign_full_nights(inst))
    split = _solve_direct(restricted, bound, options, deadline=deadline)
    took = time.time() - t0
    sol = split.solution
    info = split.info
    # The original instance's own longest-first greedy: the reported baseline, and kept when
    # it beats the split plan. Skipped when the wall limit leaves no time for a pass (a pass
    # costs at most about what the whole split solve took on the same jobs).
    if deadline is None or deadline - time.time() > took:
        greedy = whole_vms(inst, solve_greedy(inst))
        info = info.model_copy(
            update={"greedy_makespan_min": makespan_slots(inst, greedy.starts) * inst.slot_minutes}
        )
        if not _better(inst, sol, greedy):
            sol = greedy
    met = not sol.dropped and makespan_slots(inst, sol.starts) <= bound.makespan
    status: SolverStatus = "OPTIMAL" if met else "FEASIBLE"
    if info.status in ("GREEDY", "EMPTY"):
        status = info.status
    return Outcome(sol, info.model_copy(update={"status": status}))


def _solve_direct(
    inst: Instance,
    bound: Bound,
    options: PlanOptions,
    *,
    min_jobs_dropped: int = 0,
    deadline: float | None = None,
) -> Outcome:
    """Greedy, then (optionally) CP-SAT warm-started from it; keep the better of the two.

    When the warm start drops jobs, one model of the whole instance (every limit, the global
    task slots included) maximises the number of scheduled jobs, then their importance, then
    minimises the makespan; decomposition, which fixes the other components' plans, could not
    trade a job of one component for two of another. Otherwise independent components are
    improved separately; their result is OPTIMAL only when it meets a valid global bound."""
    t_greedy = time.time()
    greedy = whole_vms(inst, solve_greedy(inst))
    greedy_s = time.time() - t_greedy
    greedy_span = makespan_slots(inst, greedy.starts)
    limit = options.time_limit_s or default_time_limit(len(inst.jobs))
    if options.deterministic_budget is not None:
        limit = round(options.deterministic_budget / DTIME_PER_SECOND, 6)
    base: dict[str, Any] = {
        "seed": options.seed,
        "greedy_makespan_min": greedy_span * inst.slot_minutes,
    }
    if options.solver == "greedy" or not inst.jobs:
        return Outcome(
            greedy,
            SolverInfo(name="greedy", status="GREEDY" if inst.jobs else "EMPTY", **base),
        )
    base["time_limit_s"] = limit
    # Warm start: the best of several list-scheduling orders (per component); the plain
    # longest-first greedy stays the reported baseline.
    groups = components(inst)
    # The longest-first plan is the first candidate: not computed twice. With a wall-time
    # limit, the further candidates only while there is time for them (70,000 jobs).
    warm = whole_vms(
        inst,
        solve_greedy_best(
            inst, groups, bound.makespan, first=greedy, first_s=greedy_s, deadline=deadline
        ),
    )
    if not _better(inst, warm, greedy):
        warm = greedy
    warm_span = makespan_slots(inst, warm.starts)
    if not warm.dropped and warm_span <= bound.makespan:
        # The warm start meets the lower bound: it is optimal, nothing to search.
        return Outcome(warm, SolverInfo(name="cpsat", status="OPTIMAL", **base))
    user_progress = options.progress
    progress: ProgressFn | None = None
    if user_progress is not None:
        # Report our own bound (slots), not CP-SAT's weighted objective bound, so the caller
        # can show the gap; and the warm start's makespan before the search begins.
        def progress(span: int, wall: float, _cpsat_bound: float) -> None:
            user_progress(span, wall, float(bound.makespan))

        progress(warm_span, 0.0, 0.0)

    def wall_left() -> float | None:
        return None if deadline is None else deadline - time.time()

    if deadline is not None and time.time() >= deadline:
        # The wall-time limit is spent (a week of 10,000 VMs on a loaded machine: compile,
        # bound and warm start took it all): building a model of 70,000 jobs to give it no
        # time cost minutes. The warm start is the plan, unproven.
        return Outcome(
            warm, SolverInfo(name="cpsat", status="FEASIBLE", wall_limit_hit=True, **base)
        )

    if (
        options.decompose
        and len(groups) > 1
        and not warm.dropped
        and len(inst.jobs) > WHOLE_MODEL_MAX_JOBS
    ):
        # Independent parts (shared by no host/datastore/RAID group) solved separately.
        dec, stats = solve_decomposed(
            inst,
            warm,
            time_limit_s=limit,
            seed=options.seed,
            workers=options.workers,
            processes=options.processes,
            progress=progress,
            deadline=deadline,
            lns_min_jobs=options.lns_min_jobs,
            global_bound=bound.makespan,
        )
        if not _better(inst, dec, warm):
            dec = warm
        dec_span = makespan_slots(inst, dec.starts)
        proven = max(bound.makespan, stats.proven_bound)
        met = not dec.dropped and dec_span <= proven
        return Outcome(
            dec,
            SolverInfo(
                name="cpsat",
                status="OPTIMAL" if met else "FEASIBLE",
                interrupted=stats.interrupted,
                wall_limit_hit=stats.wall_limit_hit,
                fallbacks=stats.fallbacks,
                **base,
            ),
            proven_makespan=stats.proven_bound,
        )
    if len(groups) == 1 and not warm.dropped and len(inst.jobs) > options.lns_min_jobs:
        # One large component: one model of it finds nothing in its budget; neighbourhoods
        # (every limit, the global task slots included, held by the jobs that stay) do.
        search = MakespanLns(
            inst,
            seed=options.seed,
            workers=options.workers,
            target=bound.makespan,
            progress=progress,
            deadline=deadline,
        )
        best, lns = search.run(warm, limit)
        met = makespan_slots(inst, best.starts) <= bound.makespan
        return Outcome(
            best,
            SolverInfo(
                name="cpsat",
                status="OPTIMAL" if met else "FEASIBLE",
                interrupted=lns.interrupted,
                wall_limit_hit=lns.wall_limit_hit,
                **base,
            ),
        )
    res = solve_cpsat(
        inst,
        warm,
        time_limit_s=limit,
        seed=options.seed,
        workers=options.workers,
        progress=progress,
        wall_s=wall_left(),
        span_floor=bound.makespan,
    )
    sol = res.solution
    solved = res.status in ("OPTIMAL", "FEASIBLE")
    if not solved or not _better(inst, sol, warm):
        sol = warm
    # One model of the whole instance: CP-SAT's OPTIMAL is a proof for the whole problem
    # (count, importance, makespan), unless we fell back to the warm start.
    proven = res.status == "OPTIMAL" and sol is res.solution
    span = makespan_slots(inst, sol.starts)
    status: SolverStatus = "FEASIBLE" if solved else "UNKNOWN"
    if proven or (not sol.dropped and span <= bound.makespan):
        status = "OPTIMAL"
    return Outcome(
        sol,
        SolverInfo(
            name="cpsat",
            status=status,
            objective=res.objective,
            interrupted=res.interrupted,
            wall_limit_hit=res.wall_limit_hit,
            **base,
        ),
        proven_makespan=span if proven and not sol.dropped else 0,
        proven_dropped=proven,
        whole_model_optimal=proven,
    )


def _options_key(inst: Instance, sol: Solution) -> tuple[int, int, int, int]:
    """The greedy's plan score (:func:`plan_score`) of a plan of an instance with options, at
    the lengths of the options it chose."""
    return plan_score(fix_options(inst, sol.options), sol)


def _chooses_options(inst: Instance, sol: Solution) -> bool:
    """Every placed job with options has its option in ``sol`` (a solver that ignores
    options would leave them out: its plan would be of other lengths and resources)."""
    return all(
        j in sol.options and 0 <= sol.options[j] < len(inst.jobs[j].options)
        for j in sol.starts
        if inst.jobs[j].options
    )


def solve_with_options(
    inst: Instance,
    bound: Bound,
    options: PlanOptions,
    *,
    min_jobs_dropped: int = 0,
    deadline: float | None = None,
) -> tuple[Outcome, Instance]:
    """Plan an instance whose jobs have options (an infrastructure file): the outcome (its
    ``solution.options`` the choice) and the instance with that choice folded in, whose
    jobs the plan's starts are of.

    The greedy chooses options as it places jobs (:func:`solve_greedy_options`). With
    CP-SAT, a small instance (up to :data:`WHOLE_MODEL_MAX_JOBS` jobs) is one model over
    every option (:func:`solve_cpsat`), its OPTIMAL a proof over every choice; a solver that
    returns no choice is not used. Otherwise the greedy's choice is fixed
    (:func:`fix_options`) and the usual pipeline plans that instance: a plan of it is a plan
    of ``inst``, but a proof on it is not (the choice was made, not searched), so the plan
    is OPTIMAL only when it meets ``bound``, the bound over every choice, with every job."""
    t0 = time.time()
    first = solve_greedy(inst)
    greedy_s = time.time() - t0
    greedy_span = makespan_slots(fix_options(inst, first.options), first.starts)
    base: dict[str, Any] = {
        "seed": options.seed,
        "greedy_makespan_min": greedy_span * inst.slot_minutes,
    }
    if options.solver == "greedy" or not inst.jobs:
        status: SolverStatus = "GREEDY" if inst.jobs else "EMPTY"
        return Outcome(first, SolverInfo(name="greedy", status=status, **base)), fix_options(
            inst, first.options
        )
    limit = options.time_limit_s or default_time_limit(len(inst.jobs))
    if options.deterministic_budget is not None:
        limit = round(options.deterministic_budget / DTIME_PER_SECOND, 6)
    base["time_limit_s"] = limit
    warm = first
    if deadline is None or deadline - time.time() > 4 * greedy_s:
        warm = solve_greedy_options(inst, first)
    fixed = fix_options(inst, warm.options)
    span = makespan_slots(fixed, warm.starts)
    if not warm.dropped and span <= bound.makespan:
        return Outcome(warm, SolverInfo(name="cpsat", status="OPTIMAL", **base)), fixed
    if len(inst.jobs) <= WHOLE_MODEL_MAX_JOBS and (deadline is None or time.time() < deadline):
        res = solve_cpsat(
            inst,
            warm,
            time_limit_s=limit,
            seed=options.seed,
            workers=options.workers,
            wall_s=None if deadline is None else deadline - time.time(),
            span_floor=bound.makespan,
        )
        sol = res.solution
        if res.status in ("OPTIMAL", "FEASIBLE") and _chooses_options(inst, sol):
            if _options_key(inst, sol) > _options_key(inst, warm) or overloaded(
                fix_options(inst, sol.options), sol.starts
            ):
                sol = warm
            proven = res.status == "OPTIMAL" and sol is res.solution
            done = fix_options(inst, sol.options)
            span = makespan_slots(done, sol.starts)
            status = (
                "OPTIMAL"
                if proven or (not sol.dropped and span <= bound.makespan)
                else ("FEASIBLE")
            )
            info = SolverInfo(
                name="cpsat",
                status=status,
                objective=res.objective,
                interrupted=res.interrupted,
                wall_limit_hit=res.wall_limit_hit,
                **base,
            )
            return Outcome(
                sol,
                info,
                proven_makespan=span if proven and not sol.dropped else 0,
                proven_dropped=proven,
                whole_model_optimal=proven,
            ), done
    out = solve_instance(
        fixed, bound, options, min_jobs_dropped=min_jobs_dropped, deadline=deadline
    )
    sol = out.solution
    # The greedy's plan is kept when it is as good, and when a solver's plan breaks a
    # capacity counted in units (an ingest rate): a safety net (every CP-SAT model weighs
    # demands since the options work; the check is the timeline's own count), so that a
    # solver bug costs quality, never a plan the validator refuses.
    if not _better(fixed, sol, warm) or overloaded(fixed, sol.starts):
        sol = warm
    met = not sol.dropped and makespan_slots(fixed, sol.starts) <= bound.makespan
    status = out.info.status
    if met:
        status = "OPTIMAL"
    elif status == "OPTIMAL":
        status = "FEASIBLE"  # proven on the fixed choice only
    chosen = {j: k for j, k in warm.options.items() if j in sol.starts}
    info = out.info.model_copy(update={"status": status, **base})
    return Outcome(Solution(sol.starts, sol.dropped, chosen), info), fixed


def plan(
    topology: Topology,
    policy: Policy,
    options: PlanOptions | None = None,
    *,
    on_stage: Callable[[str], None] | None = None,
    infrastructure: Infrastructure | None = None,
) -> PlanResult:
    """Plan ``topology`` under ``policy``: a schedule that passed the validator.

    ``infrastructure``: the backup infrastructure (``--infra``): each job is processed by a
    proxy that reaches its VM, in one of its modes, writing to a repository, chosen by the
    planner within their task slots and ingest (docs/infrastructure.md). A VM no proxy can
    process is an error (:class:`~stagger.errors.InputError`), as ``stagger infra check``
    says. None: the plan is exactly what it was without one."""
    from stagger.validate import validate

    if infrastructure is not None:
        check_infrastructure(infrastructure, topology, policy).check()

    opts = options or PlanOptions()
    t0 = time.perf_counter()
    # The time limit is a promise in wall time: the solvers get what is left of it after
    # compiling, minus a reserve for building and validating the schedule.
    limit = opts.time_limit_s
    deadline = None if limit is None else time.time() + limit
    # Tiers and VM windows are planned: several jobs per VM, each on its nights and window.
    inst = compile_instance(topology, policy, infrastructure=infrastructure)
    bound = lower_bound(inst)
    must_drop, _why = min_dropped(inst, bound)
    must_drop_vms, vms_why = min_dropped_vms(inst, bound)
    if on_stage:
        short = f"; at least {must_drop_vms} VMs cannot fit: {vms_why}" if must_drop_vms else ""
        on_stage(
            f"{len(inst.jobs)} jobs, lower bound {bound.makespan * inst.slot_minutes} min{short}"
        )
    if deadline is not None and limit is not None:
        # Measured at 70,000 jobs (a tiered week of 10,000 VMs): the clock post-pass,
        # building and validating the schedule take 17 s on an idle 2-core machine.
        deadline -= min(0.35 * limit, 2.0 + len(inst.jobs) * 1e-3)
    planned = inst  # the instance the plan's starts are of
    assignment: dict[int, Option] | None = None
    if infrastructure is not None:
        out, planned = solve_with_options(
            inst, bound, opts, min_jobs_dropped=must_drop, deadline=deadline
        )
        assignment = {
            j: inst.jobs[j].options[out.solution.options.get(j, shortest_option(inst.jobs[j]))]
            for j in out.solution.starts
            if inst.jobs[j].options
        }
    else:
        out = solve_instance(inst, bound, opts, min_jobs_dropped=must_drop, deadline=deadline)
    if out.proven_dropped:
        must_drop = len(out.solution.dropped)
    # Last goal: a VM's incrementals at one clock time, where that makes no night longer.
    aligned, clock = same_clock_incrementals(planned, out.solution)
    schedule = build_schedule(
        topology,
        policy,
        planned,
        aligned,
        bound,
        out.info,
        proven_makespan=out.proven_makespan,
        min_jobs_dropped=must_drop,
        min_vms_dropped=must_drop_vms,
        vm_drops_proven=out.proven_dropped,
        clock=clock,
        infrastructure=infrastructure,
        assignment=assignment,
    )
    validate(schedule, topology, policy)
    return PlanResult(schedule, time.perf_counter() - t0, planned, bound)
