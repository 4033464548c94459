"""The lower bound's rules on hand-computed cases: per-resource load, night bin-packing,
stretches cut by blackouts, effective capacity; the bound as a CP-SAT constraint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ortools.sat.python import cp_model
from typer.testing import CliRunner

from stagger import planner
from stagger.cli import app
from stagger.instance import compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.solve import bound_packing
from stagger.solve.bound_capacity import effective_capacity
from stagger.solve.bounds import lower_bound, min_dropped
from stagger.solve.cpsat import add_span_floor, build_model
from stagger.solve.greedy import solve_greedy
from tests.factories import EXAMPLES, GIB_PER_HOUR, make_policy, make_topology
from tests.solve.test_claims import _issue_case_2


def test_load_bound_of_a_resource_is_its_load_over_its_capacity() -> None:
    """Three 1 h jobs on a datastore that takes one job at a time need 3 h; on one that takes
    two, 1.5 h (the load bound splits the load evenly over the capacity, a relaxation). The
    bound names the load that sets it. Hall's check in the same function reaches the same
    makespan by itself, so only the per-resource bounds and the reason show a load counted
    against the wrong capacity."""
    topo = make_topology(
        hosts=[{"name": f"esx0{i}", "cluster": "C1"} for i in (1, 2, 3)],
        datastores=[{"name": "DS-01"}, {"name": "DS-02", "max_jobs": 2}],
        vms=[
            {
                "name": f"{ds}-{i}",
                "host": f"esx0{i}",
                "disks": [{"datastore": ds, "size_gib": GIB_PER_HOUR}],
            }
            for ds in ("DS-01", "DS-02")
            for i in (1, 2, 3)
        ],
    )
    inst = compile_instance(topo, make_policy(limits={"per_host": 2}))
    b = lower_bound(inst)
    per_hour = 60 // inst.slot_minutes
    by_name = {inst.resources[load.resource].name: load for load in b.loads}
    assert by_name["DS-01"].bound == 3 * per_hour
    assert by_name["DS-02"].bound == 3 * per_hour // 2
    assert b.makespan == 3 * per_hour
    assert b.reason == "load on datastore DS-01"


def _six_hour_jobs_per_host(hosts: int) -> tuple[Topology, Policy]:
    """The issue's estate in small: 4 x 6 h jobs per host (one at a time), 3 nights of 14 h."""
    topo = make_topology(
        hosts=[{"name": f"esx{h:02d}", "cluster": "C1"} for h in range(hosts)],
        datastores=[{"name": f"DS-{h:02d}-{i}"} for h in range(hosts) for i in range(4)],
        vms=[
            {
                "name": f"vm{h:02d}-{i}",
                "host": f"esx{h:02d}",
                "disks": [{"datastore": f"DS-{h:02d}-{i}", "size_gib": 6 * GIB_PER_HOUR}],
            }
            for h in range(hosts)
            for i in range(4)
        ],
    )
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 3},
        window={"start": "18:00", "end": "08:00"},
        limits={"per_host": 1},
    )
    return topo, policy


def test_jobs_are_not_split_between_nights() -> None:
    """4 x 6 h on a host over 3 nights of 14 h: the load (24 h over 3 nights) says 8 h, but a
    night holds two 6 h jobs only from 12 h on (at 11 h 55 one: 3 < 4 places). 12 h is the
    optimum (two nights of two jobs)."""
    topo, policy = _six_hour_jobs_per_host(2)
    inst = compile_instance(topo, policy)
    b = lower_bound(inst)
    assert b.makespan * inst.slot_minutes == 12 * 60
    assert b.reason == ("jobs on host esx00 cannot be split between nights or across its blackouts")
    # The load bound alone is the 8 h of the issue.
    assert max(load.bound for load in b.loads) * inst.slot_minutes == 8 * 60
    s = plan(topo, policy, PlanOptions(time_limit_s=30)).schedule
    assert s.makespan_min == s.lower_bound_min == 12 * 60 and s.solver.status == "OPTIMAL"


def _one_host_jobs(hours: tuple[float, ...]) -> Topology:
    """One host esx01; a VM per entry of ``hours``, each on a datastore of its own, whose job
    lasts that many hours."""
    return make_topology(
        hosts=[{"name": "esx01", "cluster": "C1"}],
        datastores=[{"name": f"DS-0{i}"} for i in range(len(hours))],
        vms=[
            {
                "name": f"vm{i}",
                "host": "esx01",
                "disks": [{"datastore": f"DS-0{i}", "size_gib": h * GIB_PER_HOUR}],
            }
            for i, h in enumerate(hours)
        ],
    )


def test_a_blackout_cuts_a_night_into_stretches_too_short_for_a_job() -> None:
    """A host blackout 22:30-23:00 leaves 2 h 30 and 7 h: the two 3 h jobs must share the
    second stretch (23:00-05:00), so 9 h; the load (8 h in 2 h 30 + M - 3 h) says 8 h 30. The
    2 h job goes before the blackout."""
    topo = _one_host_jobs((3, 3, 2))
    policy = make_policy(
        blackouts=[
            {
                "name": "av-scan",
                "scope": {"host": "esx01"},
                "start": "2026-12-01T22:30",
                "end": "2026-12-01T23:00",
            }
        ]
    )
    inst = compile_instance(topo, policy)
    b = lower_bound(inst)
    assert max(load.bound for load in b.loads) * inst.slot_minutes == 8 * 60 + 30
    assert b.makespan * inst.slot_minutes == 9 * 60
    assert "cannot be split between nights or across its blackouts" in b.reason
    s = plan(topo, policy, PlanOptions(time_limit_s=30)).schedule
    assert s.makespan_min == 9 * 60 and s.solver.status == "OPTIMAL"


def test_effective_capacity_of_a_raid_group_over_two_single_job_datastores() -> None:
    """RAID group RG1 takes 3 jobs at once but its two datastores one each: at most 2 of its
    jobs run at once, so its six 1 h jobs need 3 h, not 2 h. (The datastores' own bounds say
    3 h too: a minimum cut splits the jobs among the resources it crosses, so the effective
    capacity sharpens the RAID group's own figure, not the makespan on this estate.)"""
    topo = make_topology(
        hosts=[{"name": f"esx0{i}", "cluster": "C1"} for i in range(6)],
        datastores=[{"name": "DS-01"}, {"name": "DS-02"}],
        raid_groups=[{"name": "RG1", "datastores": ["DS-01", "DS-02"], "max_jobs": 3}],
        vms=[
            {
                "name": f"vm{i}",
                "host": f"esx0{i}",
                "disks": [{"datastore": f"DS-0{i % 2 + 1}", "size_gib": GIB_PER_HOUR}],
            }
            for i in range(6)
        ],
    )
    inst = compile_instance(topo, make_policy())
    b = lower_bound(inst)
    rg = next(ld for ld in b.loads if inst.resources[ld.resource].name == "RG1")
    assert rg.effective_capacity == 2
    assert rg.bound * inst.slot_minutes == 3 * 60
    assert b.makespan * inst.slot_minutes == 3 * 60


def test_effective_capacity_follows_hosts_datastores_and_groups() -> None:
    """The flow sees every layer: RG1 (capacity 4) over DS-01 (capacity 3, four jobs on two
    hosts) and DS-02 (capacity 2, two jobs on a third host). Hosts taking 2 each:
    min(3, 2 + 2) + 2 = 5, capped by the group's 4; hosts taking 1 each: (1 + 1) + 1 = 3."""
    hosts = [{"name": f"esx0{i}", "cluster": "C1"} for i in range(3)]
    datastores = [{"name": "DS-01", "max_jobs": 3}, {"name": "DS-02", "max_jobs": 2}]
    vms = [
        {
            "name": f"vm{i}",
            "host": f"esx0{i % 2}",
            "disks": [{"datastore": "DS-01", "size_gib": 10}],
        }
        for i in range(4)
    ] + [
        {"name": f"vm{i}", "host": "esx02", "disks": [{"datastore": "DS-02", "size_gib": 10}]}
        for i in (4, 5)
    ]
    groups = [{"name": "RG1", "datastores": ["DS-01", "DS-02"], "max_jobs": 4}]
    for per_host, expected in ((2, 4), (1, 3)):
        topo = make_topology(hosts=hosts, datastores=datastores, raid_groups=groups, vms=vms)
        inst = compile_instance(topo, make_policy(limits={"per_host": per_host}))
        r = next(i for i, res in enumerate(inst.resources) if res.name == "RG1")
        assert effective_capacity(inst, r, inst.jobs_by_resource()[r]) == expected


def test_min_dropped_counts_whole_jobs_per_stretch() -> None:
    """Two 1 h 30 jobs and a 1 h job on a host whose 4 h night a blackout cuts in two 2 h
    stretches: their 4 h fill the 4 h of window, but no stretch holds two of them, so one
    cannot be placed."""
    topo = _one_host_jobs((1.5, 1.5, 1))
    policy = make_policy(
        window={"start": "20:00", "end": "00:30"},
        slot_minutes=30,
        blackouts=[
            {
                "name": "av-scan",
                "scope": {"host": "esx01"},
                "start": "2026-12-01T22:00",
                "end": "2026-12-01T22:30",
            }
        ],
    )
    inst = compile_instance(topo, policy)
    n, why = min_dropped(inst)
    assert n == 1 and why.startswith("host esx01: only 2 of its 3 jobs fit")
    s = plan(topo, policy, PlanOptions(time_limit_s=30)).schedule
    assert len(s.unscheduled) == 1 == s.unscheduled_min


def test_span_floor_is_a_constraint_only_with_every_job_present() -> None:
    """``add_span_floor`` puts the bound into the model: minimising the worst night with a
    floor above the optimum (144 slots) returns the floor; with optional jobs it adds nothing
    (leaving every job out is then the best plan: 0)."""
    topo, policy = _six_hour_jobs_per_host(1)
    inst = compile_instance(topo, policy)
    greedy = solve_greedy(inst)
    for all_present, expected in ((True, 150), (False, 0)):
        built = build_model(inst, greedy, all_present)
        add_span_floor(built, 150)
        built.model.minimize(built.span_max)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        assert solver.solve(built.model) == cp_model.OPTIMAL
        assert solver.value(built.span_max) == expected


def test_planner_gives_the_bound_to_the_whole_model(monkeypatch: Any) -> None:
    """A small estate whose warm start is above the bound: the whole-instance model gets the
    bound as its floor."""
    seen: list[int] = []
    real = planner.solve_cpsat

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["span_floor"])
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "solve_cpsat", spy)
    topo, policy = _issue_case_2()
    s = plan(topo, policy, PlanOptions(time_limit_s=30)).schedule
    assert seen == [s.lower_bound_min // policy.slot_minutes]


@pytest.mark.parametrize("mask_nights", [62, 0])
def test_jobs_confined_to_some_nights_pack_into_those_nights(
    mask_nights: int, monkeypatch: Any
) -> None:
    """Three 4 h jobs on a host, 3 nights of 10 h, a blackout on those three VMs that covers
    the third night (a fourth, 1 h VM on the host may use it, so the host itself is not
    blacked out): two of them share a night, so 8 h. Over all three nights the packing says
    5 h, Hall's check (their 12 h of load over the two nights they may use) 6 h: only the
    packing per night set sees it. Night sets as int64 masks (vectorised) and, as for a
    cycle of more than 62 nights, as Python ints: the same bound."""
    monkeypatch.setattr(bound_packing, "_MASK_NIGHTS", mask_nights)
    topo = make_topology(
        hosts=[{"name": "esx01", "cluster": "C1"}],
        datastores=[{"name": f"DS-0{i}"} for i in range(4)],
        vms=[
            {
                "name": f"vm{i}",
                "host": "esx01",
                "tags": ["month-end"] if i < 3 else [],
                "disks": [
                    {"datastore": f"DS-0{i}", "size_gib": (4 if i < 3 else 1) * GIB_PER_HOUR}
                ],
            }
            for i in range(4)
        ],
    )
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 3},
        blackouts=[
            {
                "name": "month-end",
                "scope": {"tag": "month-end"},
                "start": "2026-12-03T20:00",
                "end": "2026-12-04T06:00",
            }
        ],
    )
    inst = compile_instance(topo, policy)
    assert [len(inst.jobs[0].allowed[n]) > 0 for n in range(3)] == [True, True, False]
    assert inst.resource_blocked[0] == []  # the host: some of its jobs may run every night
    b = lower_bound(inst)
    assert b.makespan * inst.slot_minutes == 8 * 60
    assert "cannot be split between nights" in b.reason
    s = plan(topo, policy, PlanOptions(time_limit_s=30)).schedule
    assert s.makespan_min == 8 * 60 and s.solver.status == "OPTIMAL"


def test_the_plan_summary_names_the_rule_that_set_the_bound(tmp_path: Path) -> None:
    """examples/minimal: the bound is the load of datastore DS-02 (the task slots, lowered to
    the one host's capacity, tie with it and are not named)."""
    example = EXAMPLES / "minimal"
    res = CliRunner().invoke(
        app,
        [
            "plan",
            str(example / "topology.yaml"),
            "-p",
            str(example / "policy.yaml"),
            "-o",
            str(tmp_path / "s.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "2h15m (load on datastore DS-02)" in res.output
