"""The lower bound over the backup infrastructure (issue 15) on hand-computed instances, and
against an independent exact solver on small random ones (tests/solve/infra_instances.py).

Every instance here is 60-minute slots, so a figure in slots is a figure in hours."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from stagger.instance import Instance, Job, Resource, allowed_starts
from stagger.solve.bottlenecks import bottlenecks
from stagger.solve.bound_infra import InfraBounds, earliest_end
from stagger.solve.bounds import describe_infra_bound, lower_bound, min_dropped, min_dropped_vms
from tests.solve.crosscheck import exact_settings
from tests.solve.infra_instances import instance, job, nights_of, option, solve_exact

EXAMPLES = int(os.environ.get("STAGGER_BOUNDS_EXAMPLES", "60"))


def test_proxy_energy_uses_each_jobs_fastest_option() -> None:
    """Eight jobs that only prx-a1 (4 task slots) reaches, each 2 h in hot-add or 4 h in NBD,
    on an 8 h night: 8 x 2 h = 16 h of tasks for 4 slots: 4 h, the optimum (two rounds of
    four hot-add jobs). prx-b (unused by them) adds nothing. With the slowest option the
    rule would claim 8 h; without it the bound is a job's 2 h."""
    ns = nights_of(8)
    resources = [Resource("proxy", "prx-a1", 4), Resource("proxy", "prx-b", 4)]
    a1 = ("prx-a1", 0)
    jobs = [job(f"vm{i}", ns, (option(ns, a1, 2), option(ns, a1, 4, mode="nbd"))) for i in range(8)]
    inst = instance(ns, resources, jobs)
    b = lower_bound(inst)
    assert b.makespan == 4
    assert b.reason == "proxy prx-a1: 16h00m of tasks for 4 slots in 8h00m"
    assert solve_exact(inst, every_job=True)[1] == 4


def test_a_reach_group_of_two_proxies_needs_their_slots_together() -> None:
    """prx-a and prx-b (1 slot each) are the only proxies that reach four 2 h jobs; prx-c (2
    slots) reaches two others. Each proxy alone is forced nothing by the four (each has the
    other), all three together have 12 h for 4 slots: 3 h. The reach group {prx-a, prx-b}:
    8 h of tasks for 2 slots, 4 h: the optimum."""
    ns = nights_of(8)
    resources = [
        Resource("proxy", "prx-a", 1),
        Resource("proxy", "prx-b", 1),
        Resource("proxy", "prx-c", 2),
    ]
    pa, pb, pc = ("prx-a", 0), ("prx-b", 1), ("prx-c", 2)
    jobs = [job(f"ab{i}", ns, (option(ns, pa, 2), option(ns, pb, 2))) for i in range(4)]
    jobs += [job(f"c{i}", ns, (option(ns, pc, 2),)) for i in range(2)]
    inst = instance(ns, resources, jobs)
    loads = {ld.resources: ld for ld in InfraBounds(inst).loads()}
    assert loads[(0, 1)].bound == 4 and loads[(0, 1)].energy == 8
    assert loads[(0, 1, 2)].bound == 3
    assert (0,) not in loads and (1,) not in loads  # nothing forced into one of them
    b = lower_bound(inst)
    assert b.makespan == 4
    assert b.reason == "proxies prx-a, prx-b: 8h00m of tasks for 2 slots in 8h00m"
    assert solve_exact(inst, every_job=True)[1] == 4


def test_jobs_on_a_proxy_are_not_split() -> None:
    """Three 3 h jobs that only prx-a1 (2 slots) reaches: 9 h of tasks for 2 slots says 5 h
    (4.5 rounded up), but a slot holds one 3 h job until 6 h, when it holds two: 6 h, the
    optimum (night packing on the proxy)."""
    ns = nights_of(8)
    resources = [Resource("proxy", "prx-a1", 2)]
    jobs = [job(f"vm{i}", ns, (option(ns, ("prx-a1", 0), 3),)) for i in range(3)]
    inst = instance(ns, resources, jobs)
    assert InfraBounds(inst).loads()[0].bound == 5
    b = lower_bound(inst)
    assert b.makespan == 6
    assert b.reason == "jobs that need proxy prx-a1 cannot be split between nights"
    assert solve_exact(inst, every_job=True)[1] == 6


def test_nbd_only_reach_doubles_a_duration() -> None:
    """A VM that only prx-any reaches, in NBD (4 h where hot-add takes 2 h): it ends no
    earlier than 4 h; the same VM reached in hot-add too: 2 h."""
    ns = nights_of(8)
    resources = [Resource("proxy", "prx-a1", 2), Resource("proxy", "prx-any", 2)]
    nbd = option(ns, ("prx-any", 1), 4, mode="nbd")
    hot = option(ns, ("prx-a1", 0), 2)
    only_nbd = instance(ns, resources, [job("web07", ns, (nbd,))])
    assert lower_bound(only_nbd).makespan == 4
    both = instance(ns, resources, [job("web07", ns, (hot, nbd))])
    assert lower_bound(both).makespan == 2


def test_earliest_end_is_the_earliest_over_options() -> None:
    """Rule (c) over options whose starts differ: hot-add 2 h may start from 5 h (a blackout
    on its proxy's side before), NBD 3 h from 0: it can end at 3 h, not 7 h."""
    ns = nights_of(10)
    resources = [Resource("proxy", "p1", 1), Resource("proxy", "p2", 1)]
    hot = option(ns, ("p1", 0), 2, forbidden=[(0, 5)])
    nbd = option(ns, ("p2", 1), 3, mode="nbd")
    jb = Job("vm", 2, (), hot.allowed, 0.0, 120.0, options=(hot, nbd))
    inst = instance(ns, resources, [jb])
    assert earliest_end(inst, 0) == 3
    assert lower_bound(inst).makespan == 3


def test_a_repository_ingest_cap_forces_two_fast_jobs_apart() -> None:
    """Two 2 h Direct SAN jobs at 600 MB/s writing to repo-1 (1,000 MB/s ingest, 12 tasks):
    together 1,200 MB/s, so one after the other: 4 h. The energy alone (2 x 2 h x 600 MB/s
    over 1,000 MB/s) says 3 h (2.4 h rounded up); the heavy-jobs rule (each above 500 MB/s:
    at most one at once) 4 h, the optimum."""
    ns = nights_of(8)
    resources = [
        Resource("proxy", "prx-san", 8),
        Resource("repository", "repo-1", 12),
        Resource("ingest", "repo-1", 1000),
    ]
    repo = ("repo-1", 1, 2, 600)
    jobs = [
        job(f"db{i}", ns, (option(ns, ("prx-san", 0), 2, mode="san", repository=repo),))
        for i in range(2)
    ]
    inst = instance(ns, resources, jobs)
    ingest = next(ld for ld in InfraBounds(inst).loads() if ld.kind == "ingest")
    assert (ingest.energy, ingest.capacity, ingest.bound) == (2400, 1000, 3)
    assert describe_infra_bound(inst, ingest) == (
        "repository repo-1: ingest 8.6 TB at 1000 MB/s in 8h00m"
    )
    b = lower_bound(inst)
    assert b.makespan == 4
    assert b.reason == (
        "repository repo-1: ingest 1000 MB/s runs at most 1 of its 2 jobs of over 500 MB/s at once"
    )
    assert solve_exact(inst, every_job=True)[1] == 4


def test_repository_tasks_bound() -> None:
    """repo-2 takes one task at a time; three 2 h jobs through three proxies write to it: 6 h."""
    ns = nights_of(8)
    resources = [Resource("proxy", f"p{i}", 1) for i in range(3)] + [
        Resource("repository", "repo-2", 1),
        Resource("ingest", "repo-2", 600),
    ]
    jobs = [
        job(f"vm{i}", ns, (option(ns, (f"p{i}", i), 2, repository=("repo-2", 3, 4, 100)),))
        for i in range(3)
    ]
    inst = instance(ns, resources, jobs)
    b = lower_bound(inst)
    assert b.makespan == 6
    assert b.reason == "repository repo-2: 6h00m of tasks for 1 slot in 8h00m"


def _folded(ns: list, resources: tuple[int, ...], demands: tuple[int, ...], d: int) -> Job:
    allowed = allowed_starts(ns, [], d)
    return Job("vm", d, resources, allowed, 0.0, d * 60.0, demands=demands)


def test_folded_jobs_with_weighted_demands_are_bound_by_units() -> None:
    """Folded jobs (options chosen: proxy and ingest in ``resources`` with ``demands``):
    three 2 h jobs taking 400 MB/s of a 1,000 MB/s ingest run at most two at once: 4 h (the
    optimum); the plain unit count would say 2 h, the energy 3 h."""
    ns = nights_of(8)
    resources = [Resource("proxy", "p", 4), Resource("ingest", "repo", 1000)]
    jobs = [_folded(ns, (0, 1), (1, 400), 2) for _ in range(3)]
    inst = instance(ns, resources, jobs)
    b = lower_bound(inst)
    assert b.makespan == 4
    assert solve_exact(inst, every_job=True)[1] == 4
    # The generalised load rule: 2 400 MB/s-slots of 1 000 MB/s: 3 h.
    ingest = next(ld for ld in b.loads if ld.resource == 1)
    assert (ingest.load, ingest.bound) == (2400, 3)


def test_a_job_taking_no_units_of_a_resource_does_not_load_it() -> None:
    """Two 3 h jobs on a repository that takes one task, one of them with demand 0 there:
    they may run together (3 h). Counting the second as one task would claim 6 h, above the
    optimum: a false OPTIMAL."""
    ns = nights_of(8)
    resources = [Resource("repository", "repo", 1)]
    jobs = [_folded(ns, (0,), (1,), 3), _folded(ns, (0,), (0,), 3)]
    inst = instance(ns, resources, jobs)
    assert solve_exact(inst, every_job=True)[1] == 3
    assert lower_bound(inst).makespan == 3
    assert min_dropped(inst)[0] == 0


def test_min_dropped_counts_jobs_only_a_proxy_reaches() -> None:
    """Three 2 h jobs that only prx-1 (one slot) reaches on a 4 h night: two fit, one is
    dropped whatever the plan."""
    ns = nights_of(4)
    resources = [Resource("proxy", "prx-1", 1), Resource("proxy", "prx-2", 4)]
    jobs = [job(f"vm{i}", ns, (option(ns, ("prx-1", 0), 2),)) for i in range(3)]
    inst = instance(ns, resources, jobs)
    assert min_dropped(inst) == (
        1,
        "proxy prx-1: only 2 of the 3 jobs that need it fit in the time they may use,"
        " smallest first",
    )
    assert solve_exact(inst, every_job=False)[0] == 2


def test_bottlenecks_name_proxies_and_repositories() -> None:
    """31 one-hour jobs that only prx-a1 (4 slots) reaches on a 7 h night; nine 1 h jobs at
    600 MB/s into repo-2 (600 MB/s) through prx-b: 9 h of ingest where the night has 8 h."""
    ns = nights_of(7)
    resources = [
        Resource("proxy", "prx-a1", 4),
        Resource("proxy", "prx-b", 100),
        Resource("repository", "repo-2", 100),
        Resource("ingest", "repo-2", 600),
    ]
    jobs = [job(f"a{i}", ns, (option(ns, ("prx-a1", 0), 1),)) for i in range(31)]
    repo = ("repo-2", 2, 3, 600)
    jobs += [job(f"b{i}", ns, (option(ns, ("prx-b", 1), 1, repository=repo),)) for i in range(9)]
    inst = instance(ns, resources, jobs)
    lines = bottlenecks(inst, lower_bound(inst))
    assert lines == [
        "proxy prx-a1: 31 h of tasks for 4 slots in 7 h",
        "repository repo-2: ingest 19.4 TB at 600 MB/s needs 2h00m more than the window",
    ]


# --- the cross-check -------------------------------------------------------------------------


@st.composite
def infra_instances(draw: st.DrawFn) -> Instance:
    """1-2 nights of 3-7 slots; 1-3 proxies, 0-2 repositories (tasks and ingest), a host;
    2-5 jobs, each with 1-3 options (or folded: one option's resources in its own), some
    with a blackout of their own."""
    ns = nights_of(*draw(st.lists(st.integers(3, 7), min_size=1, max_size=2)))
    resources = [Resource("host", "h", draw(st.integers(0, 2)))]
    proxies = []
    for i in range(draw(st.integers(1, 3))):
        proxies.append((f"p{i}", len(resources)))
        resources.append(Resource("proxy", f"p{i}", draw(st.integers(1, 2))))
    repos = []
    for i in range(draw(st.integers(0, 2))):
        tasks = len(resources)
        resources.append(Resource("repository", f"r{i}", draw(st.integers(1, 3))))
        resources.append(Resource("ingest", f"r{i}", draw(st.sampled_from([500, 1000, 1500]))))
        repos.append((f"r{i}", tasks, tasks + 1))
    tiered = draw(st.booleans())
    jobs = []
    horizon = ns[-1].end
    for v in range(draw(st.integers(2, 5))):
        forbidden = []
        if draw(st.integers(0, 3)) == 0:
            lo = draw(st.integers(0, horizon - 1))
            forbidden = [(lo, lo + draw(st.integers(1, 2)))]
        opts = []
        for _ in range(draw(st.integers(1, 3))):
            repo = None
            if repos and draw(st.booleans()):
                name, tasks, ingest = draw(st.sampled_from(repos))
                repo = (name, tasks, ingest, draw(st.sampled_from([200, 400, 600, 900])))
            opts.append(
                option(
                    ns,
                    draw(st.sampled_from(proxies)),
                    draw(st.integers(1, 4)),
                    repository=repo,
                    forbidden=forbidden,
                )
            )
        own = (0,) if draw(st.booleans()) else ()
        level = "full" if tiered else None
        if not any(any(n) for n in min(opts, key=lambda o: o.duration).allowed):
            continue  # no start at all: the compiler leaves such a VM unscheduled
        if draw(st.integers(0, 3)) == 0:  # folded: the first option chosen
            o = opts[0]
            if not any(any(n) for n in o.allowed):
                continue
            jobs.append(
                Job(
                    f"v{v}",
                    o.duration,
                    own + o.resources,
                    o.allowed,
                    0.0,
                    o.minutes,
                    level=level,  # type: ignore[arg-type]
                    demands=(1,) * len(own) + o.demands,
                )
            )
        else:
            jobs.append(
                job(f"v{v}", ns, tuple(opts), resources=own, forbidden=forbidden, level=level)
            )
    return instance(ns, resources, jobs)


@exact_settings(EXAMPLES)
@given(infra_instances())
def test_bounds_never_exceed_the_exact_optimum(inst: Instance) -> None:
    """On random instances with options, folded jobs and weighted ingest: the makespan bound
    (and each night's) is at most an optimal plan's, and the dropped counts at most the jobs
    (VMs: one job each) an optimal plan must leave out."""
    if not inst.jobs:
        return
    placed, _, _ = solve_exact(inst, every_job=False)
    drop, _ = min_dropped(inst)
    assert drop <= len(inst.jobs) - placed
    b = lower_bound(inst)
    drop_vms, _ = min_dropped_vms(inst, b)
    assert drop_vms <= len(inst.jobs) - placed
    if placed < len(inst.jobs):
        return
    _, best, spans = solve_exact(inst, every_job=True)
    assert best is not None
    assert b.makespan <= best, b.reason
    for n, (lo, span) in enumerate(zip(b.nights, spans, strict=False)):
        # Per night: a bound on that night's span in any plan with every job, so at most
        # this plan's span there (a night with no job has span 0 and bound 0).
        assert lo <= max(span, 0) or lo == 0, (n, b.nights, spans)
