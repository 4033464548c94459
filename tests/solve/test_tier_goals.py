"""The planner's goals for a tiered cycle (docs/tiers.md, "Goals"), on hand-built instances
whose answers are worked out by hand: the VM is the unit dropped (fewest VMs, then their
importance), in CP-SAT and in the list scheduler; then, last, a VM's incrementals at one
clock time where that makes no night longer.

Every instance: one resource (a host), nights of 10 slots at 0-10, 20-30 (and 40-50)."""

from __future__ import annotations

from datetime import UTC, datetime

from stagger.instance import Instance, Job, NightSlots, Resource
from stagger.planner import PlanOptions, solve_instance
from stagger.solve.bounds import lower_bound
from stagger.solve.cpsat import solve_cpsat
from stagger.solve.greedy import solve_greedy
from stagger.solve.same_clock import same_clock_incrementals
from stagger.solve.solution import Solution, night_spans

NIGHTS = [(0, 10), (20, 30), (40, 50)]


def _job(
    vm: str,
    duration: int,
    nights: list[int] | dict[int, tuple[int, int]],
    group: int | None,
    priority: int = 100,
    level: str | None = "incremental",
) -> Job:
    """A job that may run anywhere in the windows of the ``nights`` listed, or start in
    ``nights`` {night: (first, last start slot)}."""
    if isinstance(nights, list):
        nights = {n: (NIGHTS[n][0], NIGHTS[n][1] - duration) for n in nights}
    allowed = tuple((nights[n],) if n in nights else () for n in range(len(NIGHTS)))
    return Job(
        vm=vm,
        duration=duration,
        resources=(0,),
        allowed=allowed,
        size_gib=1.0,
        minutes=duration * 5.0,
        priority=priority,
        level=level,  # type: ignore[arg-type]
        tier="t" if level is not None else None,
        group=group,
    )


def _inst(jobs: list[Job], capacity: int = 1) -> Instance:
    return Instance(
        slot_minutes=5,
        anchor=datetime(2026, 12, 1, 20, tzinfo=UTC),
        nights=[NightSlots(i, s, e) for i, (s, e) in enumerate(NIGHTS)],
        resources=[Resource("host", "esx01", capacity)],
        jobs=jobs,
    )


def _vms(inst: Instance, jobs: list[int]) -> set[str]:
    return {inst.jobs[j].vm for j in jobs}


N0, N1 = [0], [1]


def test_cpsat_drops_the_fewest_vms_before_the_fewest_jobs() -> None:
    """C (important) has a 6-slot job on each of nights 0 and 1; A and B (less important)
    each have a 6-slot job on one night and a 1-slot job on the other. 6 + 6 > 10, so either
    C goes (2 jobs, 1 VM) or one 6-slot job of each of A and B goes (2 jobs, but 2 VMs, as a
    VM runs whole). By jobs the two tie and importance would keep C, leaving A and B out;
    by VMs, leaving C out is the one best plan."""
    inst = _inst(
        [
            _job("c", 6, N0, 0, priority=1),
            _job("c", 6, N1, 0, priority=1),
            _job("a", 6, N0, 1, priority=5),
            _job("a", 1, N1, 1, priority=5),
            _job("b", 6, N1, 2, priority=5),
            _job("b", 1, N0, 2, priority=5),
        ]
    )
    res = solve_cpsat(inst, None, time_limit_s=10, seed=1, workers=1)
    assert res.status == "OPTIMAL"
    assert _vms(inst, res.solution.dropped) == {"c"}
    assert sorted(res.solution.dropped) == [0, 1]  # whole: both of C's jobs
    assert _vms(inst, list(res.solution.starts)) == {"a", "b"}


def test_the_less_important_vm_is_dropped_whole_and_the_plan_is_optimal() -> None:
    """Two VMs of two 8-slot jobs on distinct nights (nights 0-1): one VM fills both nights,
    so one VM must go: the less important one, with both its jobs; the whole-instance model
    proves it, so the plan may say OPTIMAL."""
    both = [0, 1]
    inst = _inst(
        [
            _job("lo", 8, both, 0, priority=5),
            _job("lo", 8, both, 0, priority=5),
            _job("hi", 8, both, 1, priority=1),
            _job("hi", 8, both, 1, priority=1),
        ]
    )
    bound = lower_bound(inst)
    out = solve_instance(inst, bound, PlanOptions(time_limit_s=10, seed=1, workers=1))
    assert sorted(out.solution.dropped) == [0, 1]
    assert sorted(out.solution.starts) == [2, 3]
    assert out.proven_dropped and out.info.status == "OPTIMAL"


def test_greedy_releases_a_vm_it_cannot_finish() -> None:
    """Longest first: a1 (9 slots, night 0) at 0, b1 (8, night 1) at 20; a2 (7, night 1)
    no longer fits, so VM a is dropped and a1's slots are released; c1 (6, night 0) then
    fits at 0. Without the release c1 finds night 0 full and a second VM is lost. (No
    groups: a VM of fixed nights, e.g. `full: {on: ...}`, has several jobs and none.)"""
    inst = _inst(
        [
            _job("a", 9, N0, None),
            _job("b", 8, N1, None),
            _job("a", 7, N1, None),
            _job("c", 6, N0, None),
        ]
    )
    sol = solve_greedy(inst)
    assert sorted(sol.dropped) == [0, 2]
    assert sol.starts == {1: 20, 3: 0}


def _offsets(inst: Instance, sol: Solution, vm: str) -> list[int]:
    return [
        s - inst.nights[inst.night_of(s)].start
        for j, s in sorted(sol.starts.items())
        if inst.jobs[j].vm == vm
    ]


def test_two_vms_incrementals_move_to_one_clock_time() -> None:
    """Two task slots. v runs at offsets 0 and 6, w at 4 and 0. v's most common offset is a
    tie, so the earliest (0): its night-1 job moves to 20, beside w. Then w's night-0 job
    moves to 0, beside v. Both at one clock time; no night longer (night 0: 8 -> 4, night 1:
    10 -> 4)."""
    both = {0: (0, 6), 1: (20, 26)}
    inst = _inst([_job("v", 4, both, 0), _job("v", 4, both, 0)], capacity=2)
    inst.jobs += [_job("w", 4, both, 1), _job("w", 4, both, 1)]
    sol = Solution({0: 0, 1: 26, 2: 4, 3: 20})
    out, count = same_clock_incrementals(inst, sol)
    assert _offsets(inst, out, "v") == [0, 0]
    assert _offsets(inst, out, "w") == [0, 0]
    assert (count.vms, count.aligned, count.aligned_before) == (2, 2, 0)
    assert night_spans(inst, out.starts) == [4, 4, 0]


def test_a_vm_whose_move_would_lengthen_a_night_keeps_its_times() -> None:
    """x runs at offset 6 on night 0 (after y, 0-6, one task slot) and at offset 0 on night
    1, alone (span 4). Offset 0 on night 0 is taken by y; the first night's offset, 6, would
    end x's night-1 job at 10 and lengthen night 1 from 4 to 10: x keeps its two times."""
    both = {0: (0, 6), 1: (20, 26)}
    inst = _inst(
        [
            _job("x", 4, both, 0),
            _job("x", 4, both, 0),
            _job("y", 6, {0: (0, 4)}, None, level=None),
        ]
    )
    sol = Solution({0: 6, 1: 20, 2: 0})
    out, count = same_clock_incrementals(inst, sol)
    assert out.starts == sol.starts
    assert (count.vms, count.aligned) == (1, 0)
    assert night_spans(inst, out.starts) == night_spans(inst, sol.starts) == [10, 4, 0]


def test_the_single_regime_is_left_alone() -> None:
    inst = _inst([_job("s", 4, N0, None, level=None), _job("t", 4, N1, None, level=None)])
    sol = Solution({0: 3, 1: 25})
    out, count = same_clock_incrementals(inst, sol)
    assert out is sol and count.vms == 0


def test_cpsat_counts_a_vm_of_several_jobs_once() -> None:
    """C has a 6-slot job on each of nights 0-2; A and B one 6-slot job each, on nights 0
    and 1. 6 + 6 > 10: either C goes (3 jobs, 1 VM) or A and B go (2 jobs, 2 VMs). Counting
    jobs would drop A and B; the fewest VMs drops C alone."""
    inst = _inst(
        [
            _job("c", 6, [0], 0),
            _job("c", 6, [1], 0),
            _job("c", 6, [2], 0),
            _job("a", 6, [0], None),
            _job("b", 6, [1], None),
        ]
    )
    res = solve_cpsat(inst, None, time_limit_s=10, seed=1, workers=1)
    assert res.status == "OPTIMAL"
    assert sorted(res.solution.dropped) == [0, 1, 2]
    assert sorted(res.solution.starts) == [3, 4]


def test_a_vm_takes_a_new_clock_time_when_neither_of_its_own_fits() -> None:
    """One task slot. z (2 slots) runs at offset 0 on night 0 and 6 on night 1. Offset 6 on
    night 0 is p's (6-10), offset 0 on night 1 is r's (0-3): the offsets that fit both
    nights are 3 and 4 (night 1 must still end by its span, 8), so z moves to 3, the
    earliest; night 1 ends at 5 instead of 8."""
    both = {0: (0, 8), 1: (20, 28)}
    inst = _inst(
        [
            _job("z", 2, both, 0),
            _job("z", 2, both, 0),
            _job("p", 4, {0: (6, 6)}, None, level=None),
            _job("r", 3, {1: (20, 20)}, None, level=None),
        ]
    )
    sol = Solution({0: 0, 1: 26, 2: 6, 3: 20})
    out, count = same_clock_incrementals(inst, sol)
    assert _offsets(inst, out, "z") == [3, 3]
    assert (count.vms, count.aligned) == (1, 1)
    assert night_spans(inst, out.starts) == [10, 5, 0]
