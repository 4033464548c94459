"""Fulls' nights chosen first (stagger.solve.full_nights), components split by night, and the
planner's night-split path: valid plans, and OPTIMAL only against the original bound.

The hand-built instances: nights of 20 slots (slot numbers 100 apart), one host that runs one
job at a time; a "VM" is a group of one full and incrementals over the nights."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import REGIMES, EstateSpec, generate
from stagger.instance import Instance, Job, NightSlots, Resource, compile_instance
from stagger.planner import PlanOptions, plan, solve_instance
from stagger.solve.bounds import Bound, lower_bound
from stagger.solve.components import components
from stagger.solve.full_nights import assign_full_nights, with_nights
from stagger.solve.solution import group_clashes, makespan_slots
from stagger.sources.yamlfile import load_inputs
from stagger.validate import find_violations
from tests.factories import EXAMPLES
from tests.test_plan_tiers import _estate

NIGHT_SLOTS = 20


def _nights(n: int) -> list[NightSlots]:
    return [NightSlots(i, 100 * i, 100 * i + NIGHT_SLOTS) for i in range(n)]


def _job(vm: str, duration: int, nights: list[int], n_nights: int, **kw: object) -> Job:
    return Job(
        vm=vm,
        duration=duration,
        resources=(0,),
        allowed=tuple(
            ((100 * i, 100 * i + NIGHT_SLOTS - duration),) if i in nights else ()
            for i in range(n_nights)
        ),
        size_gib=1.0,
        minutes=float(duration * 10),
        **kw,  # type: ignore[arg-type]
    )


def _block(vm: str, group: int, n_nights: int, full: int = 6, inc: int = 1) -> list[Job]:
    """One full and n-1 incrementals, every night of the block allowed to each."""
    every = list(range(n_nights))
    return [_job(vm, full, every, n_nights, level="full", group=group)] + [
        _job(vm, inc, every, n_nights, level="incremental", group=group)
        for _ in range(n_nights - 1)
    ]


def _instance(jobs: list[Job], n_nights: int) -> Instance:
    inst = Instance(10, datetime(2026, 12, 1, tzinfo=UTC), _nights(n_nights), [], jobs)
    inst.resources = [Resource("host", "esx01", 1)]
    return inst


def _full_nights(inst: Instance, night_of: dict[int, int]) -> dict[str, int]:
    return {inst.jobs[j].vm: n for j, n in night_of.items() if inst.jobs[j].level == "full"}


@pytest.mark.parametrize("passes", [0, 1])  # the first choice alone, and with the swaps
def test_three_fulls_on_one_host_take_one_night_each(passes: int) -> None:
    # Base per night: 3 incrementals (1 slot each); each full adds 5. Longest first, each onto
    # the least loaded night: 0, then 1 (night 0 has 8), then 2. Each group's incrementals
    # take its other two nights.
    jobs = _block("a", 0, 3) + _block("b", 1, 3) + _block("c", 2, 3)
    inst = _instance(jobs, 3)
    night_of = assign_full_nights(inst, improve_passes=passes)
    assert sorted(_full_nights(inst, night_of).values()) == [0, 1, 2]
    assert len(night_of) == 9
    for members in inst.groups().values():
        assert sorted(night_of[j] for j in members) == [0, 1, 2]
    per_night = Counter(night_of.values())
    assert per_night == {0: 3, 1: 3, 2: 3}


@pytest.mark.parametrize("passes", [0, 1])
def test_a_fixed_full_keeps_the_staggered_fulls_off_its_night(passes: int) -> None:
    # "weekly" has its full fixed on night 0 (its "Saturday") and incrementals fixed on the
    # others: no group, one night each. Two staggered VMs must put their fulls on 1 and 2.
    fixed = [
        _job("weekly", 6, [0], 3, level="full"),
        _job("weekly", 1, [1], 3, level="incremental"),
        _job("weekly", 1, [2], 3, level="incremental"),
    ]
    inst = _instance(fixed + _block("a", 0, 3) + _block("b", 1, 3), 3)
    fulls = _full_nights(inst, assign_full_nights(inst, improve_passes=passes))
    assert sorted(fulls.values()) == [1, 2]


def test_a_full_that_can_start_on_some_nights_only_gets_one_of_them() -> None:
    # The full fits only on night 2 (its other nights' windows are too short), the emptiest
    # nights being 0 and 1: it still goes on 2.
    a = _block("a", 0, 3)
    a[0] = _job("a", 6, [2], 3, level="full", group=0)
    inst = _instance(a + _block("b", 1, 3), 3)
    night_of = assign_full_nights(inst)
    assert _full_nights(inst, night_of)["a"] == 2
    assert _full_nights(inst, night_of)["b"] != 2


def test_incrementals_that_can_run_on_some_nights_only_leave_the_full_the_rest() -> None:
    # The incrementals of "a" run only on nights 0 and 1, so its full must take night 2, even
    # though a fixed job makes night 2 the most loaded: the assignment is a matching.
    a = [
        _job("a", 6, [0, 1, 2], 3, level="full", group=0),
        _job("a", 1, [0, 1], 3, level="incremental", group=0),
        _job("a", 1, [0, 1], 3, level="incremental", group=0),
    ]
    inst = _instance([_job("busy", 10, [2], 3), *a], 3)
    night_of = assign_full_nights(inst)
    assert night_of[1] == 2
    assert sorted(night_of[j] for j in (2, 3)) == [0, 1]


def test_with_nights_keeps_only_the_assigned_nights_starts() -> None:
    inst = _instance(_block("a", 0, 3), 3)
    night_of = assign_full_nights(inst)
    narrowed = with_nights(inst, night_of)
    for j, n in night_of.items():
        assert narrowed.jobs[j].nights == [n]
        assert narrowed.jobs[j].allowed[n] == inst.jobs[j].allowed[n]
    assert all(len(job.nights) == 3 for job in inst.jobs)  # the original is untouched


def _resource_components(inst: Instance) -> list[list[int]]:
    """The rule before nights counted: shared limited resource (or group) alone."""
    parent = list(range(len(inst.jobs)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    first: dict[tuple[str, int], int] = {}
    for j, job in enumerate(inst.jobs):
        keys = [("r", r) for r in job.resources if inst.resources[r].kind != "concurrent"]
        keys += [("g", job.group)] if job.group is not None else []
        for key in keys:
            if key in first:
                a, b = find(first[key]), find(j)
                parent[max(a, b)] = min(a, b)
            else:
                first[key] = j
    out: dict[int, list[int]] = {}
    for j in range(len(inst.jobs)):
        out.setdefault(find(j), []).append(j)
    return sorted(out.values(), key=lambda g: g[0])


def test_components_split_by_night_once_each_job_has_its_night() -> None:
    inst = _instance(_block("a", 0, 3) + _block("b", 1, 3) + _block("c", 2, 3), 3)
    assert len(components(inst)) == 1  # groups and the host link every night
    narrowed = with_nights(inst, assign_full_nights(inst))
    split = components(narrowed)
    assert len(split) == 3
    for comp in split:  # one night each, three jobs (one per VM)
        assert len({narrowed.jobs[j].nights[0] for j in comp}) == 1
        assert len(comp) == 3
    # A group's jobs that share no limited resource are one component while they may meet
    # on a night (the distinct-nights rule links them), apart once each has its night.
    free = _instance(_block("a", 0, 2), 2)
    for job in free.jobs:
        job.resources = ()
    assert components(free) == [[0, 1]]
    assert components(with_nights(free, assign_full_nights(free))) == [[0], [1]]
    # Two jobs on one host but no common night do not compete: apart.
    apart = _instance([_job("x", 2, [0], 2), _job("y", 2, [1], 2)], 2)
    assert components(apart) == [[0], [1]]


@pytest.mark.parametrize("example", ["minimal", "estate", "week"])
def test_components_of_the_examples_are_unchanged(example: str) -> None:
    topo, policy = load_inputs(
        EXAMPLES / example / "topology.yaml", EXAMPLES / example / "policy.yaml"
    )
    inst = compile_instance(topo, policy)
    if example != "week":  # single regime: every job may run on every night
        assert all(len(job.nights) == len(inst.nights) for job in inst.jobs)
    assert components(inst) == _resource_components(inst)


@pytest.mark.parametrize("regime", REGIMES)
def test_components_of_the_generated_single_regime_are_unchanged(regime: str) -> None:
    topo, policy = generate(EstateSpec(200, regime, "incremental", 0))  # type: ignore[arg-type]
    inst = compile_instance(topo, policy)
    assert components(inst) == _resource_components(inst)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    roles=st.lists(st.sampled_from(["sql", "web", "cold", "misc"]), min_size=1, max_size=5),
    per_host=st.integers(1, 2),
    hosts=st.integers(1, 3),
)
def test_every_night_split_plan_passes_the_validator(
    roles: list[str], per_host: int, hosts: int
) -> None:
    topo, policy = _estate(roles, per_host, hosts)
    opts = PlanOptions(time_limit_s=5, seed=1, workers=1, night_split=True)
    schedule = plan(topo, policy, opts).schedule  # plan() validates too; said again here
    assert find_violations(schedule, topo, policy) == []
    again = plan(topo, policy, opts).schedule
    assert [(j.vm, j.start, j.level) for j in again.jobs] == [
        (j.vm, j.start, j.level) for j in schedule.jobs
    ]


def test_the_night_split_path_places_each_group_on_distinct_nights() -> None:
    topo, policy = _estate(["sql", "sql", "sql", "web", "misc"], per_host=1, hosts=1)
    inst = compile_instance(topo, policy)
    out = solve_instance(inst, lower_bound(inst), PlanOptions(seed=1, workers=1, night_split=True))
    assert not out.solution.dropped
    assert group_clashes(inst, out.solution.starts) == []


def test_a_proof_on_the_restricted_instance_is_not_claimed() -> None:
    # A weak but valid bound (1 slot): the restricted instance (21 jobs) is one CP-SAT model
    # that proves its own optimum, which is not a proof for the original: FEASIBLE, nothing
    # proven beyond the bound.
    inst = _instance(_block("a", 0, 7) + _block("b", 1, 7) + _block("c", 2, 7), 7)
    weak = Bound(1, "test", [])
    out = solve_instance(inst, weak, PlanOptions(seed=1, workers=1, night_split=True))
    assert not out.solution.dropped
    assert makespan_slots(inst, out.solution.starts) > 1
    assert out.info.status == "FEASIBLE"
    assert out.proven_makespan == 0 and not out.proven_dropped
    assert not out.whole_model_optimal


def test_a_night_split_plan_that_meets_the_original_bound_is_optimal() -> None:
    # Every night holds one job of each VM on the one host and some night holds a full:
    # 6 + 1 + 1 = 8 slots is a valid bound (stronger than lower_bound's 6), and it is met.
    inst = _instance(_block("a", 0, 7) + _block("b", 1, 7) + _block("c", 2, 7), 7)
    bound = Bound(8, "a full and two incrementals share every full's night", [])
    out = solve_instance(inst, bound, PlanOptions(seed=1, workers=1, night_split=True))
    assert makespan_slots(inst, out.solution.starts) == 8
    assert out.info.status == "OPTIMAL"
