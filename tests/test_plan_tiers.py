"""Planning a tiered cycle end to end: plan, the independent validator, every export;
a VM planned whole or not at all; same seed, same plan; hypothesis over small estates."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.cycle import cycle_jobs
from stagger.exporters.jsoncsv import schedule_json
from stagger.exporters.registry import formats, render
from stagger.instance import compile_instance
from stagger.model.policy import Policy
from stagger.model.schedule import SolverInfo
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, build_schedule, plan
from stagger.solve.bounds import lower_bound
from stagger.solve.greedy import solve_greedy
from stagger.solve.solution import Solution
from stagger.validate import find_violations
from tests.factories import make_policy, make_topology
from tests.tiered import COLD, GOLD, WEB


def _estate(roles: list[str], per_host: int, hosts: int) -> tuple[Topology, Policy]:
    """VMs of the given roles (sql: gold, web: web, cold: cold, misc: no tier) spread over
    ``hosts`` hosts that run ``per_host`` jobs at once."""
    names = [f"{role}{i}" for i, role in enumerate(roles)]
    topo = make_topology(
        hosts=[{"name": f"esx{h}", "cluster": "C1"} for h in range(hosts)],
        datastores=[{"name": "DS0"}, {"name": "DS1"}],
        vms=[
            {
                "name": name,
                "host": f"esx{i % hosts}",
                "tags": ["sql"] if name.startswith("sql") else [],
                "disks": [{"datastore": f"DS{i % 2}", "size_gib": 60 + 45 * i}],
            }
            for i, name in enumerate(names)
        ],
    )
    cold = {**COLD, "match": {"name": "cold*"}}
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 7},
        throughput={"mb_per_s": 100, "overhead_minutes": 5},
        limits={"per_host": per_host, "per_datastore": 9, "per_raid_group": 9},
        tiers=[GOLD, WEB, cold],
    )
    return topo, policy


def _plan(topo: Topology, policy: Policy, solver: Any, seed: int = 1) -> Any:
    return plan(topo, policy, PlanOptions(solver=solver, time_limit_s=5, seed=seed, workers=1))


def test_a_tiered_week_plans_validates_and_exports() -> None:
    topo, policy = _estate(["sql", "sql", "web", "web", "cold", "misc"], per_host=1, hosts=2)
    for solver in ("greedy", "cpsat"):
        schedule = _plan(topo, policy, solver).schedule
        assert find_violations(schedule, topo, policy) == []
        assert not schedule.unscheduled
        assert len(schedule.jobs) == len(cycle_jobs(topo, policy)) == 28
        sql0 = sorted((j.night, j.level) for j in schedule.jobs if j.vm == "sql0")
        assert [n for n, _ in sql0] == list(range(7))
        assert [lv for _, lv in sql0].count("full") == 1
        assert {j.tier for j in schedule.jobs if j.vm == "web2"} == {"web"}
        for name in formats():
            assert render(schedule, name)


def test_a_vm_with_a_dropped_job_is_unscheduled_whole() -> None:
    topo, policy = _estate(["sql", "misc"], per_host=1, hosts=2)
    inst = compile_instance(topo, policy)
    full = solve_greedy(inst)
    sql = [j for j, job in enumerate(inst.jobs) if job.vm == "sql0"]
    lost = sql[3]
    sol = Solution({j: s for j, s in full.starts.items() if j != lost}, [lost])
    info = SolverInfo(name="greedy", status="GREEDY")
    schedule = build_schedule(topo, policy, inst, sol, lower_bound(inst), info)
    assert [u.vm for u in schedule.unscheduled] == ["sql0"]
    assert {j.vm for j in schedule.jobs} == {"misc1"}
    assert sum(n.jobs for n in schedule.nights) == 1
    assert find_violations(schedule, topo, policy) == []


def test_a_plan_that_leaves_a_tiered_vm_out_claims_no_optimum() -> None:
    """An OPTIMAL that is not the whole-instance model's proof about VMs (vm_drops_proven
    false) says nothing about a VM of several jobs left out: the schedule says FEASIBLE. A
    single-regime plan that leaves a VM out keeps its OPTIMAL (one job per VM: jobs are
    VMs)."""
    topo, policy = _estate(["sql", "misc"], per_host=1, hosts=2)
    inst = compile_instance(topo, policy)
    full = solve_greedy(inst)
    lost = next(j for j, job in enumerate(inst.jobs) if job.vm == "sql0")
    sol = Solution({j: s for j, s in full.starts.items() if j != lost}, [lost])
    info = SolverInfo(name="cpsat", status="OPTIMAL")
    schedule = build_schedule(topo, policy, inst, sol, lower_bound(inst), info)
    assert [u.vm for u in schedule.unscheduled] == ["sql0"]
    assert schedule.solver.status == "FEASIBLE"
    whole = build_schedule(topo, policy, inst, full, lower_bound(inst), info)
    assert whole.solver.status == "OPTIMAL"  # nothing left out: the solver's claim stands
    single = make_policy(cycle={"start": "2026-12-01", "nights": 1})
    one = compile_instance(topo, single)
    g = solve_greedy(one)
    drop = Solution({j: s for j, s in g.starts.items() if j != 0}, [0])
    kept = build_schedule(topo, single, one, drop, lower_bound(one), info)
    assert kept.solver.status == "OPTIMAL" and len(kept.unscheduled) == 1


def test_same_seed_same_tiered_plan() -> None:
    topo, policy = _estate(["sql", "sql", "sql", "web", "cold"], per_host=1, hosts=1)
    a = _plan(topo, policy, "cpsat", seed=3).schedule
    b = _plan(topo, policy, "cpsat", seed=3).schedule
    assert [(j.vm, j.start, j.level) for j in a.jobs] == [(j.vm, j.start, j.level) for j in b.jobs]
    assert schedule_json(a) == schedule_json(b)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    roles=st.lists(st.sampled_from(["sql", "web", "cold", "misc"]), min_size=1, max_size=5),
    per_host=st.integers(1, 2),
    hosts=st.integers(1, 3),
    solver=st.sampled_from(["greedy", "cpsat"]),
)
def test_every_tiered_plan_passes_the_validator(
    roles: list[str], per_host: int, hosts: int, solver: str
) -> None:
    topo, policy = _estate(roles, per_host, hosts)
    schedule = _plan(topo, policy, solver).schedule
    assert find_violations(schedule, topo, policy) == []
    planned = {j.vm for j in schedule.jobs}
    for vm in planned:  # whole: every job of the cycle of a planned VM is in the plan
        want = [c.level for c in cycle_jobs(topo, policy) if c.vm == vm]
        got = [j.level for j in schedule.jobs if j.vm == vm]
        assert sorted(got, key=str) == sorted(want, key=str)
    assert planned | {u.vm for u in schedule.unscheduled} == {vm.name for vm in topo.vms}


def test_a_tiered_vm_left_out_by_a_proof_is_optimal() -> None:
    """Two VMs on one host that runs one job at a time, each a full (5 h 45) and six
    incrementals (48 min) in a 6 h window: the night of either full has no room for the
    other VM's job, so one VM must go, the less important (tier 'silver'). The whole-instance
    CP-SAT model drops VMs (one presence per VM) and proves it: OPTIMAL, 1 VM the minimum."""
    topo = make_topology(
        hosts=[{"name": "esx0", "cluster": "C1"}],
        datastores=[{"name": "DS0"}],
        vms=[
            {"name": name, "host": "esx0", "disks": [{"datastore": "DS0", "size_gib": 1933}]}
            for name in ("a1", "b1")
        ],
    )
    gold = {**GOLD, "match": {"name": "a*"}, "priority": 1}
    silver = {**GOLD, "name": "silver", "match": {"name": "b*"}, "priority": 5}
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 7},
        throughput={"mb_per_s": 100, "overhead_minutes": 5},
        limits={"per_host": 1, "per_datastore": 9, "per_raid_group": 9},
        tiers=[gold, silver],
    )
    schedule = _plan(topo, policy, "cpsat").schedule
    assert [u.vm for u in schedule.unscheduled] == ["b1"]
    assert {j.vm for j in schedule.jobs} == {"a1"} and len(schedule.jobs) == 7
    assert schedule.solver.status == "OPTIMAL"
    assert schedule.unscheduled_min == 1
    assert find_violations(schedule, topo, policy) == []
