"""The time-stepping list schedule (issue 13): it removes the tail the longest-first serial
schedule leaves when one shared resource is saturated, every plan it gives passes the
validator, and it is deterministic."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings

from stagger.instance import Instance, Job, NightSlots, Resource, compile_instance
from stagger.model.schedule import SolverInfo
from stagger.planner import build_schedule
from stagger.solve.bounds import lower_bound
from stagger.solve.greedy import candidates, solve_greedy, solve_greedy_best
from stagger.solve.parallel_sgs import (
    backward_order,
    parallel_schedule,
    sgs_candidates,
    start_order,
)
from stagger.solve.solution import Solution, makespan_slots
from stagger.validate import validate
from tests.solve.crosscheck import estates

NIGHT_SLOTS = 20


def _job(vm: str, duration: int, resources: tuple[int, ...], night: int = NIGHT_SLOTS) -> Job:
    return Job(vm, duration, resources, (((0, night - duration),),), 1.0, duration * 60.0)


def _instance(resources: list[Resource], jobs: list[Job], blocked: dict | None = None) -> Instance:
    return Instance(
        slot_minutes=60,
        anchor=datetime(2026, 1, 5, 20, tzinfo=UTC),
        nights=[NightSlots(0, 0, NIGHT_SLOTS)],
        resources=resources,
        jobs=jobs,
        resource_blocked=blocked or {},
    )


def busy_host_estate() -> Instance:
    """A shared resource S of 2 units; host X (1 unit) with four jobs of 2 slots, hosts Y and
    Z (1 unit each) with one job of 4 slots; every job uses S.

    Longest first (and both bottleneck orders: Y and Z weigh 4 x (8 + 4) against X's jobs'
    2 x (8 + 8)): Y and Z at 0 fill S until 4, then X's four jobs one after another from 4:
    makespan 4 + 4 x 2 = 12. X carries 8 slots of work alone, so 8 is a lower bound; starting
    X at once (most work left on its host) and Z when Y ends gives X 0-8, Y 0-4, Z 4-8: 8."""
    resources = [Resource("raid_group", "S", 2)]
    resources += [Resource("host", h, 1) for h in ("X", "Y", "Z")]
    jobs = [_job(f"x{i}", 2, (0, 1)) for i in range(4)]
    jobs += [_job("y", 4, (0, 2)), _job("z", 4, (0, 3))]
    return _instance(resources, jobs)


def test_busy_host_estate_longest_first_leaves_a_tail() -> None:
    inst = busy_host_estate()
    assert makespan_slots(inst, solve_greedy(inst).starts) == 12
    # With a bound the serial plans do not beat, the time-stepping ones are not computed.
    orders, runs = candidates(inst, bound_slots=12)
    assert len(runs) == len(orders) == 3
    assert [makespan_slots(inst, r.starts) for r in runs] == [12, 12, 12]


def test_time_stepping_starts_the_busy_host_at_once() -> None:
    inst = busy_host_estate()
    sol = parallel_schedule(inst, "chain")
    x = [sol.starts[j] for j in range(4)]
    assert sorted(x) == [0, 2, 4, 6]
    assert (sol.starts[4], sol.starts[5]) == (0, 4)
    assert makespan_slots(inst, sol.starts) == 8 and not sol.dropped


def test_warm_start_picks_the_time_stepping_plan() -> None:
    inst = busy_host_estate()
    assert makespan_slots(inst, solve_greedy_best(inst).starts) == 8
    assert makespan_slots(inst, solve_greedy_best(inst, None, bound_slots=8).starts) == 8


def blackout_estate() -> Instance:
    """S of 2 units; host A (1 unit): two jobs of 4 slots; host B: one job of 2 slots, its
    host blocked from slot 4 on (the job must start by 2); hosts C, D: one job of 6 slots.

    The ``chain`` rule goes by work left per host (A 8, C 6, D 6, B 2): A's first job and C at
    0 fill S; B's start range closes while S is full, so B is left out (as in the serial
    schedule: C and D first). The ``urgency`` rule weighs that work against the host's free
    slots (B 2 / 4, A 8 / 20, C and D 6 / 20): B and A's first job at 0, C at 2, D at 4, A's
    second job at 8: every job placed, makespan 12."""
    resources = [Resource("raid_group", "S", 2)]
    resources += [Resource("host", h, 1) for h in ("A", "B", "C", "D")]
    jobs = [_job("a0", 4, (0, 1)), _job("a1", 4, (0, 1))]
    jobs.append(Job("b", 2, (0, 2), (((0, 2),),), 1.0, 120.0))
    jobs += [_job("c", 6, (0, 3)), _job("d", 6, (0, 4))]
    return _instance(resources, jobs, blocked={2: [(4, NIGHT_SLOTS)]})


def test_urgency_places_the_job_whose_window_closes() -> None:
    inst = blackout_estate()
    chain = parallel_schedule(inst, "chain")
    assert chain.dropped == [2]
    urgent = parallel_schedule(inst, "urgency")
    assert not urgent.dropped
    assert urgent.starts == {2: 0, 0: 0, 3: 2, 4: 4, 1: 8}
    assert solve_greedy(inst).dropped == [2]


def test_target_runs_stay_between_bound_and_best() -> None:
    inst = busy_host_estate()
    runs = sgs_candidates(inst, bound_slots=8)
    # The untargeted run reaches the bound: no targeted run.
    assert len(runs) == 1 and makespan_slots(inst, runs[0].starts) == 8


def test_start_and_backward_orders_keep_every_job() -> None:
    inst = blackout_estate()
    sol = parallel_schedule(inst, "chain")
    for order in (start_order(inst, sol), backward_order(inst, sol)):
        assert sorted(order) == list(range(len(inst.jobs)))
    assert start_order(inst, sol)[-1] == 2  # the dropped job last


def _validate(topo, pol, inst: Instance, sol: Solution) -> None:  # type: ignore[no-untyped-def]
    info = SolverInfo(name="greedy", status="GREEDY")
    validate(build_schedule(topo, pol, inst, sol, lower_bound(inst), info), topo, pol)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(estates())
def test_every_time_stepping_plan_passes_the_validator(estate) -> None:  # type: ignore[no-untyped-def]
    topo, pol = estate
    inst = compile_instance(topo, pol)
    if not inst.jobs:
        return
    bound = lower_bound(inst).makespan
    plans = sgs_candidates(inst, bound)
    plans += [parallel_schedule(inst, "urgency", t) for t in (1, bound, bound + 2)]
    plans.append(parallel_schedule(inst, "chain"))
    plans.append(solve_greedy(inst, backward_order(inst, plans[0])))
    plans.append(solve_greedy_best(inst, None, bound))
    for sol in plans:
        assert sorted([*sol.starts, *sol.dropped]) == list(range(len(inst.jobs)))
        _validate(topo, pol, inst, sol)


def test_same_instance_same_plans() -> None:
    from benchmarks.generate import EstateSpec, generate

    topo, pol = generate(EstateSpec(300, "adversarial", "incremental", 0))
    runs = []
    for _ in range(2):
        inst = compile_instance(topo, pol)
        runs.append([(s.starts, s.dropped) for s in sgs_candidates(inst, 0)])
    assert runs[0] == runs[1]
