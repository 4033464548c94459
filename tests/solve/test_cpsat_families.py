"""Each CP-SAT constraint family, run through CP-SAT on a hand-built instance where it binds.

Every instance is small enough to know its optimum by hand, and the greedy warm start misses
it (or the family is what keeps CP-SAT from a better, invalid plan), so the assertions hold
only if CP-SAT itself enforces the family and pursues the objective. Plans are checked here
from the instance's rules, not by the solver's own bookkeeping.
"""

from __future__ import annotations

from datetime import UTC, datetime

from stagger.instance import Instance, Job, NightSlots, Resource
from stagger.solve.cpsat import solve_cpsat
from stagger.solve.greedy import solve_greedy
from stagger.solve.solution import Solution, makespan_slots, night_spans


def _instance(
    jobs: list[tuple[str, int, tuple[int, ...], list[list[tuple[int, int]]], int]],
    capacities: list[int],
    nights: list[tuple[int, int]],
) -> Instance:
    """jobs: (vm, duration slots, resources, allowed start ranges per night, priority)."""
    return Instance(
        slot_minutes=60,
        anchor=datetime(2026, 1, 5, 20, tzinfo=UTC),
        nights=[NightSlots(i, s, e) for i, (s, e) in enumerate(nights)],
        resources=[Resource("datastore", f"DS-{r}", c) for r, c in enumerate(capacities)],
        jobs=[
            Job(
                vm=vm,
                duration=d,
                resources=res,
                allowed=tuple(tuple(n) for n in allowed),
                size_gib=1.0,
                minutes=d * 60.0,
                priority=prio,
            )
            for vm, d, res, allowed, prio in jobs
        ],
    )


def _check(inst: Instance, sol: Solution) -> None:
    """Independent of the solvers: allowed starts, inside one night, capacities per slot."""
    use = [[0] * (inst.horizon + 1) for _ in inst.resources]
    for j, s in sol.starts.items():
        job = inst.jobs[j]
        assert any(job.can_start(n, s) for n in range(len(inst.nights))), (job.vm, s)
        night = next(n for n in inst.nights if n.start <= s < n.end)
        assert s + job.duration <= night.end, (job.vm, s)
        for r in job.resources:
            for t in range(s, s + job.duration):
                use[r][t] += 1
    for r, res in enumerate(inst.resources):
        assert max(use[r]) <= res.capacity, res.name


def _solve(inst: Instance, hint: Solution | None) -> Solution:
    res = solve_cpsat(inst, hint, time_limit_s=20, seed=0, workers=1)
    assert res.status == "OPTIMAL"
    _check(inst, res.solution)
    return res.solution


def _blackout_instance() -> Instance:
    """One datastore, one job at a time, night [0, 12) with a blackout on slot 4: starts that
    would overlap it are not allowed. Longest first puts A at 0 and leaves the 1-slot hole
    before the blackout unused (makespan 11); B and C fill [0, 4) and the optimum is 10."""
    night = (0, 12)

    def allowed(d: int) -> list[list[tuple[int, int]]]:
        return [[(0, 4 - d), (5, 12 - d)]]

    return _instance(
        [(v, d, (0,), allowed(d), 100) for v, d in (("A", 3), ("B", 2), ("C", 2), ("D", 2))],
        [1],
        [night],
    )


def test_capacity_and_blackouts_bind_and_cpsat_improves_on_greedy() -> None:
    inst = _blackout_instance()
    greedy = solve_greedy(inst)
    assert makespan_slots(inst, greedy.starts) == 11
    sol = _solve(inst, greedy)
    # Without the capacity the optimum would be 3; without the blackout 9.
    assert makespan_slots(inst, sol.starts) == 10
    assert not sol.dropped


def test_capacity_two_is_cumulative() -> None:
    # Two at a time on one datastore: four 3-slot jobs need 6 slots, never fewer.
    jobs = [(f"vm{i}", 3, (0,), [[(0, 9)]], 100) for i in range(4)]
    inst = _instance(jobs, [2], [(0, 12)])
    sol = _solve(inst, solve_greedy(inst))
    assert makespan_slots(inst, sol.starts) == 6


def test_night_windows_bind_per_night() -> None:
    # Two nights of 6 slots, one datastore, 3 + 3 + 2 + 2 = 10 slots of work. Each night's
    # span counts from its own window start; the hint puts 6 in night 0 and 4 in night 1,
    # the optimum 5 in each (A + C, B + D). A job never runs across a night's end.
    nights = [(0, 6), (10, 16)]

    def allowed(d: int) -> list[list[tuple[int, int]]]:
        return [[(0, 6 - d)], [(10, 16 - d)]]

    jobs = [(v, d, (0,), allowed(d), 100) for v, d in (("A", 3), ("B", 3), ("C", 2), ("D", 2))]
    inst = _instance(jobs, [1], nights)
    hint = Solution({0: 0, 1: 3, 2: 10, 3: 12})
    _check(inst, hint)
    assert night_spans(inst, hint.starts) == [6, 4]
    sol = _solve(inst, hint)
    assert night_spans(inst, sol.starts) == [5, 5]


def test_dropping_keeps_the_most_jobs_then_the_important_ones() -> None:
    # Night of 5 slots, one job at a time: at most two jobs fit (3 + 2 or 2 + 2). "a-bulk" and
    # "z-key" (priority 1) both last 3 slots; longest first breaks their tie by name and keeps
    # a-bulk (with b); CP-SAT must keep two jobs, z-key among them.
    jobs = [
        ("a-bulk", 3, (0,), [[(0, 2)]], 100),
        ("z-key", 3, (0,), [[(0, 2)]], 1),
        ("b", 2, (0,), [[(0, 3)]], 100),
        ("c", 2, (0,), [[(0, 3)]], 100),
    ]
    inst = _instance(jobs, [1], [(0, 5)])
    greedy = solve_greedy(inst)
    kept = {inst.jobs[j].vm for j in greedy.starts}
    assert "a-bulk" in kept and "z-key" not in kept
    sol = _solve(inst, greedy)
    kept = {inst.jobs[j].vm for j in sol.starts}
    assert len(kept) == 2  # the most jobs that fit
    assert "z-key" in kept  # and among those plans, the important one


def test_count_beats_importance() -> None:
    # One of three important 5-slot jobs or two ordinary 2-slot ones: two jobs win, however
    # much more the important ones weigh (four priority levels: importance 4, 3, 2 and 1).
    jobs = [
        ("key", 5, (0,), [[(0, 0)]], 1),
        ("f1", 5, (0,), [[(0, 0)]], 20),
        ("f2", 5, (0,), [[(0, 0)]], 50),
        ("x", 2, (0,), [[(0, 3)]], 100),
        ("y", 2, (0,), [[(0, 3)]], 100),
    ]
    inst = _instance(jobs, [1], [(0, 5)])
    sol = _solve(inst, None)
    assert {inst.jobs[j].vm for j in sol.starts} == {"x", "y"}


def test_a_pinned_job_stays_at_its_pin_although_moving_it_would_shorten_the_night() -> None:
    # P is pinned at slot 6 (one allowed start); A needs 5 slots. Unpinned, the best plan is
    # A 0-5, P 5-7 (makespan 7); pinned, P stays at 6 and the makespan is 8.
    jobs = [
        ("A", 5, (0,), [[(0, 7)]], 100),
        ("P", 2, (0,), [[(6, 6)]], 100),
    ]
    inst = _instance(jobs, [1], [(0, 12)])
    sol = _solve(inst, None)
    starts = {inst.jobs[j].vm: s for j, s in sol.starts.items()}
    assert starts["P"] == 6
    assert makespan_slots(inst, sol.starts) == 8
