"""The rule "the jobs of one group take distinct nights" (a VM's full and incrementals of one
``every`` block) in every solver and in the sub-models of the neighbourhood searches.

The estate: three gold VMs (a full every 7 nights, incrementals on the other six) on one
host that runs one job at a time. Without the rule every solver puts a VM's seven jobs on
its best night (night 0, or all at the window start when nothing limits them)."""

from __future__ import annotations

from datetime import UTC, datetime

from ortools.sat.python import cp_model

from stagger.instance import Instance, Job, NightSlots, compile_instance
from stagger.solve.baseline import BaselineMap
from stagger.solve.component import ComponentTask, _repaired_hint
from stagger.solve.components import components, sub_instance
from stagger.solve.cpsat import solve_cpsat
from stagger.solve.decompose import solve_decomposed
from stagger.solve.greedy import candidates, solve_greedy
from stagger.solve.makespan_lns import MakespanLns
from stagger.solve.neighbourhood import add_free_jobs
from stagger.solve.parallel_sgs import parallel_schedule
from stagger.solve.repair import repair_greedy
from stagger.solve.solution import Solution, group_clashes
from tests.factories import make_policy, make_topology
from tests.tiered import GOLD


def _gold_estate(per_host: int = 1) -> Instance:
    topo = make_topology(
        vms=[
            {
                "name": f"sql{i}",
                "host": "esx01",
                "tags": ["sql"],
                "disks": [{"datastore": f"DS-0{1 + i % 2}", "size_gib": 100 + 40 * i}],
            }
            for i in range(3)
        ]
    )
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 7},
        throughput={"mb_per_s": 100, "overhead_minutes": 5},
        limits={"per_host": per_host, "per_datastore": 9, "per_raid_group": 9},
        tiers=[GOLD],
    )
    return compile_instance(topo, policy)


def _valid(inst: Instance, sol: Solution) -> None:
    assert not sol.dropped
    assert len(sol.starts) == len(inst.jobs) == 21
    assert group_clashes(inst, sol.starts) == []


def test_the_estate_has_three_groups_of_seven() -> None:
    inst = _gold_estate()
    assert sorted(len(m) for m in inst.groups().values()) == [7, 7, 7]


def test_the_serial_list_schedule_keeps_groups_on_distinct_nights() -> None:
    inst = _gold_estate()
    _valid(inst, solve_greedy(inst))


def test_every_greedy_candidate_keeps_groups_on_distinct_nights() -> None:
    inst = _gold_estate()
    _, runs = candidates(inst)
    assert len(runs) > 3  # the time-stepping plans are among them
    for run in runs:
        assert group_clashes(inst, run.starts) == []


def test_the_time_stepping_schedule_keeps_groups_on_distinct_nights() -> None:
    inst = _gold_estate(per_host=9)
    for rule in ("chain", "urgency"):
        _valid(inst, parallel_schedule(inst, rule))  # type: ignore[arg-type]


def test_cpsat_keeps_groups_on_distinct_nights() -> None:
    """Unlimited host: without the rule a VM's seven jobs all run at night 0's window start
    (the worst night no longer, the sum of nights smaller)."""
    inst = _gold_estate(per_host=9)
    for hint in (solve_greedy(inst), None):
        res = solve_cpsat(inst, hint, time_limit_s=5, seed=0, workers=1)
        assert res.status in ("OPTIMAL", "FEASIBLE")
        _valid(inst, res.solution)


def test_a_freed_job_cannot_take_the_night_of_a_sibling_that_stays() -> None:
    """A sub-model that frees one job of a group: the nights its siblings hold are not in its
    domain, whatever the goal prefers (here the earliest start: night 0)."""
    inst = _gold_estate(per_host=9)
    cur = solve_greedy(inst)
    group = inst.groups()[min(inst.groups())]
    free = [j for j in group if inst.night_of(cur.starts[j]) != 0][:1]
    m = cp_model.CpModel()
    jobs = add_free_jobs(m, inst, free, span_cap=10**6, hint=cur, on_night=lambda *a: None)
    assert jobs is not None
    m.minimize(jobs.starts[free[0]])
    solver = cp_model.CpSolver()
    assert solver.solve(m) == cp_model.OPTIMAL
    new = {**cur.starts, free[0]: solver.value(jobs.starts[free[0]])}
    assert group_clashes(inst, new) == []


def test_free_jobs_of_one_group_take_distinct_nights() -> None:
    inst = _gold_estate(per_host=9)
    cur = solve_greedy(inst)
    free = inst.groups()[min(inst.groups())]
    m = cp_model.CpModel()
    jobs = add_free_jobs(m, inst, free, span_cap=10**6, hint=cur, on_night=lambda *a: None)
    assert jobs is not None
    m.minimize(sum(jobs.starts.values()))
    solver = cp_model.CpSolver()
    assert solver.solve(m) == cp_model.OPTIMAL
    new = {**cur.starts, **{j: solver.value(v) for j, v in jobs.starts.items()}}
    assert group_clashes(inst, new) == []


def test_a_group_is_one_component_even_without_shared_resources() -> None:
    night = [NightSlots(0, 0, 10), NightSlots(1, 11, 21)]
    allowed = (((0, 9),), ((11, 20),))
    jobs = [Job(f"vm{j // 2}", 1, (), allowed, 1.0, 1.0, group=j // 2) for j in range(4)]
    inst = Instance(5, datetime(2026, 12, 1, 20, tzinfo=UTC), night, [], jobs)
    assert components(inst) == [[0, 1], [2, 3]]
    sub = sub_instance(inst, [2, 3])
    assert [j.group for j in sub.jobs] == [1, 1]


def test_the_stability_repair_moves_a_clashing_baseline_job() -> None:
    """A baseline with a group's jobs all on night 0 (an old plan): the repair keeps one there
    and moves the others."""
    inst = _gold_estate(per_host=9)
    group = inst.groups()[min(inst.groups())]
    base = BaselineMap({j: inst.jobs[j].allowed[0][0][0] for j in group}, [0] * 7, {})
    _valid(inst, repair_greedy(inst, base))


def test_the_component_hint_repair_moves_a_clashing_hint_job() -> None:
    inst = _gold_estate(per_host=9)
    hint = {j: job.allowed[0][0][0] for j, job in enumerate(inst.jobs)}
    task = ComponentTask(0, inst, hint, (), None, 1.0, 0, 1, span_cap=inst.horizon)
    _valid(inst, _repaired_hint(task))


def test_the_makespan_search_and_decompose_keep_groups_on_distinct_nights() -> None:
    inst = _gold_estate()
    warm = solve_greedy(inst)
    best, _ = MakespanLns(inst, seed=0, workers=1).run(warm, 2.0)
    _valid(inst, best)
    sol, _ = solve_decomposed(inst, warm, time_limit_s=2, seed=0, workers=1, processes=1)
    _valid(inst, sol)
