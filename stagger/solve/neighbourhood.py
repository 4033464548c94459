"""What every large neighbourhood search shares: a CP-SAT sub-model over the *free* jobs with
every other job fixed, and the resource neighbourhoods.

Both searches (:mod:`stagger.solve.lns`, the stability goals; :mod:`stagger.solve.makespan_lns`,
the worst night) free a set of jobs and re-solve it: the free jobs get start variables (their
allowed starts, cut at a cap on their night's span, optionally at a time window) and the jobs
that stay hold their resources as fixed occupied steps
(:func:`~stagger.solve.blocks.add_resource_limit`). Each search adds its own goals through the
hooks of :func:`add_free_jobs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from stagger.instance import Instance, Job
from stagger.solve.blocks import add_resource_limit
from stagger.solve.profiles import occupied_steps
from stagger.solve.solution import Solution

# A night's part of a free job: (job, night, its start variable, the literal "the job runs in
# this night", or None when the job can run in this night only).
NightHook = Callable[[int, int, cp_model.IntVar, cp_model.IntVar | None], None]
# After a free job's nights: (job, its start variable, its start domain as sorted ranges).
JobHook = Callable[[int, cp_model.IntVar, list[list[int]]], None]


def limited_jobs_by_resource(inst: Instance) -> dict[int, list[int]]:
    """Jobs per host, datastore and RAID group (not the global task slots, which every job
    holds)."""
    return {
        r: js for r, js in inst.jobs_by_resource().items() if inst.resources[r].kind != "concurrent"
    }


def require_folded(inst: Instance, search: str, jobs: Sequence[int] | None = None) -> None:
    """The searches that keep most jobs where they are (neighbourhoods, decomposition) move
    starts, not options: they take an instance whose options are folded into its jobs
    (``instance.fix_options``: each job holds its chosen proxy, repository and ingest with
    their units). An instance with options would have them ignored, so it is refused.
    ``jobs``: check only these (default: every job)."""
    if any(inst.jobs[j].options for j in (range(len(inst.jobs)) if jobs is None else jobs)):
        raise ValueError(
            f"{search} needs an instance without options (fold them with fix_options first)"
        )


def around(
    inst: Instance, by_res: dict[int, list[int]], seeds: Sequence[int], depth: int
) -> list[int]:
    """``seeds`` and the jobs sharing a host, datastore or RAID group with them, ``depth``
    times over (1: their neighbours; 2: and those's), sorted."""
    seen = set(seeds)
    frontier = sorted(seen)
    for _ in range(depth):
        nxt: set[int] = set()
        for j in frontier:
            for r in inst.jobs[j].resources:
                for k in by_res.get(r, ()):
                    if k not in seen:
                        nxt.add(k)
        seen |= nxt
        frontier = sorted(nxt)
    return sorted(seen)


def fixed_usage(
    inst: Instance, by_res: dict[int, list[int]], cur: Solution, free: set[int]
) -> Callable[[int], np.ndarray]:
    """Per resource: its usage per slot (0..horizon) by the jobs that stay (in ``cur``, not in
    ``free``), in the units each job takes of it (``Job.demand``: a repository's ingest in
    MB/s, one of anything else); the global task slots count every job, one each."""
    horizon = inst.horizon + 1
    cache: dict[int, np.ndarray] = {}

    def usage(r: int) -> np.ndarray:
        if r in cache:
            return cache[r]
        diff = np.zeros(horizon + 1, dtype=np.int64)
        jobs = (
            range(len(inst.jobs)) if inst.resources[r].kind == "concurrent" else by_res.get(r, ())
        )
        for k in jobs:
            if k in free or k not in cur.starts:
                continue
            s = cur.starts[k]
            units = units_on(inst.jobs[k], r)
            diff[s] += units
            diff[s + inst.jobs[k].duration] -= units
        cache[r] = np.cumsum(diff)[:horizon]
        return cache[r]

    return usage


def units_on(job: Job, r: int) -> int:
    """Units ``job`` takes of resource ``r`` while it runs (``Job.demand``); one when it does
    not list ``r`` (the global task slots, which every job holds)."""
    return next((job.demand(i) for i, q in enumerate(job.resources) if q == r), 1)


@dataclass
class FreeJobs:
    """The free jobs' variables in a sub-model: start per job, intervals per resource with
    the units each takes."""

    starts: dict[int, cp_model.IntVar] = field(default_factory=dict)
    intervals: dict[int, list[cp_model.IntervalVar]] = field(default_factory=dict)
    demands: dict[int, list[int]] = field(default_factory=dict)
    # Slot ranges [lo, hi) the free jobs may occupy (for clipping the fixed steps).
    ranges: list[tuple[int, int]] = field(default_factory=list)


def add_free_jobs(
    m: cp_model.CpModel,
    inst: Instance,
    free: Sequence[int],
    *,
    span_cap: int,
    hint: Solution,
    on_night: NightHook,
    on_job: JobHook | None = None,
    window: Callable[[int, int], tuple[int, int] | None] | None = None,
    fixed: Mapping[int, int] | None = None,
) -> FreeJobs | None:
    """Start variables for the jobs ``free``: their allowed starts ending within ``span_cap``
    slots of their night's window start, and (``window``: (job, night) -> [lo, hi] start range,
    or None for "not in this night") within a time window; one literal per night when a job
    may run in several, exactly one true. ``hint``'s starts are the model's hint. Returns None
    when a free job has no start left (the sub-model is infeasible).

    Groups (jobs taking distinct nights): a free job may not use a night that a job of its
    group among those that stay (``fixed``: their starts; default ``hint``'s) holds, and free
    jobs of one group take distinct nights."""
    require_folded(inst, "a neighbourhood sub-model", free)
    out = FreeJobs()
    free_set = set(free)
    stays = hint.starts if fixed is None else fixed
    held: set[tuple[int, int]] = set()  # (group, night) held by a job that stays
    groups = sorted({g for j in free if (g := inst.jobs[j].group) is not None})
    members = inst.groups() if groups else {}
    for g in groups:
        for k in members[g]:
            if k not in free_set and k in stays:
                held.add((g, inst.night_of(stays[k])))
    group_lits: dict[tuple[int, int], list[cp_model.IntVar | int]] = {}
    for j in free:
        job = inst.jobs[j]
        dom: list[list[int]] = []
        by_night: dict[int, list[list[int]]] = {}
        for n, spans in enumerate(job.allowed):
            if job.group is not None and (job.group, n) in held:
                continue  # a job of its group that stays runs that night
            lo_w, hi_w = -1, inst.nights[n].start + span_cap - job.duration
            if window is not None:
                w = window(j, n)
                if w is None:
                    continue
                lo_w, hi_w = max(lo_w, w[0]), min(hi_w, w[1])
            part = [
                [max(lo, lo_w), min(hi, hi_w)] for lo, hi in spans if max(lo, lo_w) <= min(hi, hi_w)
            ]
            if part:
                by_night[n] = part
                dom += part
        if not dom:
            return None
        out.ranges += [(lo, hi + job.duration) for lo, hi in dom]
        start = m.new_int_var_from_domain(cp_model.Domain.from_intervals(dom), f"s{j}")
        out.starts[j] = start
        iv = m.new_fixed_size_interval_var(start, job.duration, f"i{j}")
        for i, r in enumerate(job.resources):
            out.intervals.setdefault(r, []).append(iv)
            out.demands.setdefault(r, []).append(job.demand(i))
        if j in hint.starts:
            m.add_hint(start, hint.starts[j])
        lits: list[cp_model.IntVar] = []
        for n, part in by_night.items():
            if len(by_night) == 1:
                on_night(j, n, start, None)
                if job.group is not None:
                    group_lits.setdefault((job.group, n), []).append(1)
                continue
            lit = m.new_bool_var(f"b{j}_{n}")
            m.add_linear_expression_in_domain(
                start, cp_model.Domain.from_intervals(part)
            ).only_enforce_if(lit)
            on_night(j, n, start, lit)
            if job.group is not None:
                group_lits.setdefault((job.group, n), []).append(lit)
            if j in hint.starts:
                m.add_hint(lit, inst.night_of(hint.starts[j]) == n)
            lits.append(lit)
        if lits:
            m.add_exactly_one(lits)
        if on_job is not None:
            on_job(j, start, dom)
    for key in sorted(group_lits):
        if len(group_lits[key]) > 1:
            m.add(sum(group_lits[key]) <= 1)
    return out


def add_fixed_limits(
    m: cp_model.CpModel,
    inst: Instance,
    jobs: FreeJobs,
    usage: Callable[[int], np.ndarray],
    *,
    clip: bool = False,
) -> None:
    """Every resource the free jobs hold, at its capacity, with the jobs that stay as occupied
    steps (``usage``), each job taking its units (``Job.demand``). ``clip``: only the steps
    that can bind, i.e. inside the free jobs' slots and where the fixed use plus every free
    job's units on the resource exceeds the capacity (a smaller, equivalent model; off for the
    stability search, whose plans it would change)."""
    for r, r_ivs in sorted(jobs.intervals.items()):
        cap = inst.resources[r].capacity
        if not cap:
            continue
        units = jobs.demands[r]
        level = usage(r)
        if clip:
            level = clip_level(level, cap, sum(units), jobs.ranges)
        add_resource_limit(
            m, r_ivs, cap, demands=units, occupied=occupied_steps(level), name=f"f{r}_"
        )


def clip_level(
    level: np.ndarray, cap: int, free_units: int, ranges: Sequence[tuple[int, int]]
) -> np.ndarray:
    """A fixed usage profile reduced to where it can bind free jobs taking ``free_units``
    units in all (one each on task slots; an ingest's MB/s) running within the slot
    ``ranges`` ([lo, hi) each): zero outside them, zero where ``level + free_units <= cap``
    (the free jobs fit whatever they do), at most ``cap`` (full is full). The limit it gives
    the free jobs is the same."""
    inside = np.zeros(len(level) + 1, dtype=np.int64)
    for lo, hi in ranges:
        inside[lo] += 1
        inside[min(hi, len(level))] -= 1
    out = np.minimum(level, cap)
    out[np.cumsum(inside)[: len(level)] == 0] = 0
    out[out + free_units <= cap] = 0
    return out
