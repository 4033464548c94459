"""Hand-built instances with backup-infrastructure options, and an independent exact solver.

The solver is written from the instance contract only (common brief, issue 15): a job runs
in exactly one of its options (a job without options runs as itself), at one of that option's
allowed starts, for that option's duration, taking ``job.resources`` (``job.demands`` units,
1 each when empty) plus the option's resources (its ``demands``); at every slot the units
taken of a resource are at most its capacity (0: unlimited). The makespan is the largest
per-night span (window start to last job end). Time-indexed CP-SAT: one 0/1 variable per
(job, way, start), capacities checked at every slot.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ortools.sat.python import cp_model

from stagger.instance import Instance, Job, NightSlots, Option, Resource, allowed_starts

ANCHOR = datetime(2026, 12, 1, 20, tzinfo=UTC)


def nights_of(*lengths: int) -> list[NightSlots]:
    """Nights of these lengths (slots), one slot apart."""
    out, start = [], 0
    for i, n in enumerate(lengths):
        out.append(NightSlots(i, start, start + n))
        start += n + 1
    return out


def option(
    nights: list[NightSlots],
    proxy: tuple[str, int],
    duration: int,
    *,
    mode: str = "hotadd",
    repository: tuple[str, int, int, int] | None = None,
    forbidden: list[tuple[int, int]] | None = None,
) -> Option:
    """An option on ``proxy`` (name, resource index) writing to ``repository`` (name, its
    tasks resource, its ingest resource, MB/s the job takes) or to none."""
    resources: tuple[int, ...] = (proxy[1],)
    demands: tuple[int, ...] = (1,)
    name = None
    if repository is not None:
        name, tasks, ingest, rate = repository
        resources += (tasks, ingest)
        demands += (1, rate)
    return Option(
        proxy=proxy[0],
        mode=mode,
        repository=name,
        duration=duration,
        minutes=float(duration * 60),
        allowed=allowed_starts(nights, forbidden or [], duration),
        resources=resources,
        demands=demands,
    )


def job(
    vm: str,
    nights: list[NightSlots],
    options: tuple[Option, ...],
    *,
    resources: tuple[int, ...] = (),
    forbidden: list[tuple[int, int]] | None = None,
    level: str | None = None,
) -> Job:
    """A job with ``options``: duration and starts of its shortest (the instance contract)."""
    shortest = min(o.duration for o in options)
    return Job(
        vm=vm,
        duration=shortest,
        resources=resources,
        allowed=allowed_starts(nights, forbidden or [], shortest),
        size_gib=0.0,
        minutes=float(shortest * 60),
        level=level,  # type: ignore[arg-type]
        options=options,
    )


def instance(nights: list[NightSlots], resources: list[Resource], jobs: list[Job]) -> Instance:
    return Instance(60, ANCHOR, nights, resources, jobs)


def _ways(job: Job) -> list[tuple[int, tuple[tuple[tuple[int, int], ...], ...], dict[int, int]]]:
    own: dict[int, int] = {}
    for i, r in enumerate(job.resources):
        own[r] = own.get(r, 0) + (job.demands[i] if job.demands else 1)
    if not job.options:
        return [(job.duration, job.allowed, own)]
    out = []
    for o in job.options:
        units = dict(own)
        for i, r in enumerate(o.resources):
            units[r] = units.get(r, 0) + (o.demands[i] if o.demands else 1)
        out.append((o.duration, o.allowed, units))
    return out


def solve_exact(inst: Instance, *, every_job: bool) -> tuple[int, int | None, tuple[int, ...]]:
    """(jobs placed, makespan, per-night spans) of an optimal plan: with ``every_job`` the
    fewest slots among plans placing every job (makespan None when none does); else the most
    jobs placed."""
    m = cp_model.CpModel()
    starts: list[tuple[int, int, int, int, dict[int, int], cp_model.IntVar]] = []
    placed = []
    for j, jb in enumerate(inst.jobs):
        mine = []
        for d, allowed, units in _ways(jb):
            for n, spans in enumerate(allowed):
                for lo, hi in spans:
                    for s in range(lo, hi + 1):
                        x = m.new_bool_var(f"x{j}_{s}_{d}")
                        starts.append((j, s, d, n, units, x))
                        mine.append(x)
        p = m.new_bool_var(f"p{j}")
        m.add(sum(mine) == p)
        placed.append(p)
    for r, res in enumerate(inst.resources):
        if not res.capacity:
            continue
        for t in range(inst.horizon + 1):
            terms = [
                u * x for _, s, d, _, un, x in starts if (u := un.get(r, 0)) and s <= t < s + d
            ]
            if terms:
                m.add(sum(terms) <= res.capacity)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    if not every_job:
        m.maximize(sum(placed))
        status = solver.solve(m)
        assert status == cp_model.OPTIMAL
        return int(solver.objective_value), None, ()
    for p in placed:
        m.add(p == 1)
    span = m.new_int_var(0, inst.horizon, "span")
    night_span = [m.new_int_var(0, inst.horizon, f"n{n}") for n in range(len(inst.nights))]
    for _, s, d, n, _, x in starts:
        end = s + d - inst.nights[n].start
        m.add(night_span[n] >= end).only_enforce_if(x)
    for ns in night_span:
        m.add(span >= ns)
    m.minimize(span)
    status = solver.solve(m)
    if status == cp_model.INFEASIBLE:
        return 0, None, ()
    assert status == cp_model.OPTIMAL
    best = int(solver.value(span))
    # Per-night spans of that optimal plan: exact only up to the makespan, kept as evidence.
    return len(inst.jobs), best, tuple(int(solver.value(ns)) for ns in night_span)
