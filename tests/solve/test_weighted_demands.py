"""Weighted demands (``Job.demands``: a repository's ingest in MB/s once an option is folded
into a job) in every sub-model that places jobs, and options in the component machinery:
neighbourhood re-solves (fixed steps and free jobs), component slices, components joined by a
shared proxy, the concurrency profile of a component with options. Plans are checked by the
independent checker of tests/solve/options_check.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ortools.sat.python import cp_model

from stagger.instance import Instance, Job, NightSlots
from stagger.solve.blocks import add_resource_limit
from stagger.solve.component import ComponentTask, solve_component
from stagger.solve.components import components, natural_parallelism, sub_instance
from stagger.solve.decompose import solve_decomposed
from stagger.solve.makespan_lns import MakespanLns
from stagger.solve.neighbourhood import fixed_usage, limited_jobs_by_resource
from stagger.solve.solution import Solution
from tests.solve.options_check import instance, job, option, resources, spans, violations

NIGHT = [NightSlots(0, 0, 12)]


def _folded() -> Instance:
    """Three folded jobs (each holds its host, its proxy's task and repo r's ingest at 400
    MB/s of 600): no two may overlap on the ingest. Host h0 holds jobs 0 and 1."""
    res = resources(("host", "h0", 1), ("host", "h1", 1), ("proxy", "p", 4), ("ingest", "r", 600))
    jobs = [
        Job(vm, 3, (host, 2, 3), (((0, 9),),), 100.0, 90.0, demands=(1, 1, 400))
        for vm, host in (("a", 0), ("b", 0), ("c", 1))
    ]
    return instance(NIGHT, res, jobs)


def test_fixed_usage_counts_each_jobs_units() -> None:
    inst = _folded()
    cur = Solution({0: 0, 1: 3, 2: 6})
    usage = fixed_usage(inst, limited_jobs_by_resource(inst), cur, {2})
    assert list(usage(3)[:7]) == [400] * 6 + [0]  # jobs 0 and 1 stay, 400 MB/s each
    assert list(usage(2)[:7]) == [1] * 6 + [0]


@pytest.mark.parametrize("free", [[2], [1, 2], [0, 1, 2]])
def test_a_neighbourhood_re_solve_keeps_the_ingest(free: list[int]) -> None:
    # The plan 0-3, 3-6, 6-9 is the only shape the ingest allows (three 3-slot jobs, one at a
    # time): a re-solve that counted one unit per job (or clipped the fixed steps as if the free
    # jobs took one unit each) would run job 2 beside the others and end the night at 6.
    inst = _folded()
    cur = Solution({0: 0, 1: 3, 2: 6})
    search = MakespanLns(inst, seed=1)
    sol, status, _ = search.solve(cur, free, None, 5.0, 1, banded=False)
    assert sol is not None, status
    assert not violations(inst, sol), violations(inst, sol)
    assert spans(inst, sol) == [9]


def test_makespan_lns_run_stays_within_the_ingest() -> None:
    inst = _folded()
    best, _ = MakespanLns(inst, seed=3, sizes=(2, 1, 3)).run(Solution({0: 0, 1: 3, 2: 6}), 3.0)
    assert not violations(inst, best) and spans(inst, best) == [9]


def test_sub_instance_keeps_demands_and_renumbers_option_resources() -> None:
    res = resources(
        ("concurrent", "*", 2), ("host", "h0", 1), ("host", "h1", 1),
        ("proxy", "p", 1), ("repository", "r", 3), ("ingest", "r", 600),
    )  # fmt: skip
    opt = option(res, NIGHT, proxy="p", duration=3, repository="r", ingest=400)
    a = Job("a", 3, (0, 1), (((0, 9),),), 1.0, 90.0, demands=(1, 1))
    b = job("b", [0, 2], [opt])
    b.demands = (1, 1)
    sub = sub_instance(instance(NIGHT, res, [a, b]), [1])
    (sb,) = sub.jobs
    assert [sub.resources[r].label for r in sb.resources] == [res[2].label]
    assert sb.demands == (1,)
    (so,) = sb.options
    assert [(sub.resources[r].kind, sub.resources[r].name) for r in so.resources] == [
        ("proxy", "p"),
        ("repository", "r"),
        ("ingest", "r"),
    ]
    assert so.demands == (1, 1, 400)


def test_a_shared_proxy_joins_jobs_into_one_component() -> None:
    # a and b share no host or datastore, only proxy p through their options: they compete
    # for its one task slot, so they are one component.
    res = resources(("host", "h0", 1), ("host", "h1", 1), ("proxy", "p", 1), ("proxy", "q", 1))
    a = job("a", [0], [option(res, NIGHT, proxy="p", duration=3)])
    b = job("b", [1], [option(res, NIGHT, proxy="q", duration=3),
                       option(res, NIGHT, proxy="p", duration=2)])  # fmt: skip
    c = job("c", [1], [option(res, NIGHT, proxy="q", duration=3)])
    inst = instance(NIGHT, res, [a, b, c])
    assert components(inst) == [[0, 1, 2]]
    alone = instance(NIGHT, res, [a, c])
    assert components(alone) == [[0], [1]]
    # Every job needs a task of a proxy: at most 1 + 1 run at once (hosts alone would say 2).
    three = instance(NIGHT, res, [a, b, job("d", [], [option(res, NIGHT, proxy="q", duration=1)])])
    assert natural_parallelism(three) == 2


def test_a_components_task_slot_profile_holds_the_chosen_options_length() -> None:
    # x: option A (2 slots) writes 700 MB/s to an ingest of 600, so it cannot run: x runs in
    # B (6 slots). z is pinned at 3-5. The component's share of the global task slots is 1:
    # x must start after z, at 5, and end at 11. A profile that held x's task for its
    # shortest option (2 slots) would let x start at 0 and end the night at 6.
    res = resources(
        ("host", "hx", 1), ("host", "hz", 1), ("proxy", "p1", 2), ("proxy", "p2", 2),
        ("repository", "r", 4), ("ingest", "r", 600),
    )  # fmt: skip
    x = job(
        "x",
        [0],
        [
            option(res, NIGHT, proxy="p1", duration=2, repository="r", ingest=700),
            option(res, NIGHT, proxy="p2", mode="nbd", duration=6),
        ],
    )
    z_opt = replace(option(res, NIGHT, proxy="p2", duration=2), allowed=(((3, 3),),))
    z = job("z", [1], [z_opt])  # pinned at slot 3
    inst = instance(NIGHT, res, [x, z])
    task = ComponentTask(
        key=0,
        inst=inst,
        hint={},
        hint_dropped=(0, 1),
        concurrency=((0, 13, 1),),
        time_limit_s=5,
        seed=0,
        workers=1,
    )
    res_c = solve_component(task)
    sol = Solution(res_c.starts, res_c.dropped, {0: 1, 1: 0})
    assert res_c.status == "OPTIMAL" and not res_c.dropped
    assert not violations(inst, sol)
    assert res_c.starts[0] == 5 and spans(inst, sol) == [11]


def test_searches_that_keep_options_refuse_an_instance_with_options() -> None:
    res = resources(("host", "h0", 1), ("proxy", "p", 1))
    inst = instance(NIGHT, res, [job("a", [0], [option(res, NIGHT, proxy="p", duration=3)])])
    with pytest.raises(ValueError, match="fix_options"):
        MakespanLns(inst)
    with pytest.raises(ValueError, match="fix_options"):
        solve_decomposed(inst, Solution({0: 0}, [], {0: 0}), time_limit_s=1)


def test_a_demand_above_a_capacity_of_one_keeps_the_interval_out() -> None:
    # NoOverlap ignores demands: with a capacity of 1 it may only stand for unit demands.
    m = cp_model.CpModel()
    iv = m.new_fixed_size_interval_var(0, 2, "i")
    other = m.new_fixed_size_interval_var(5, 2, "j")
    assert add_resource_limit(m, [iv, other], 1, demands=[2, 1])
    assert cp_model.CpSolver().solve(m) == cp_model.INFEASIBLE
