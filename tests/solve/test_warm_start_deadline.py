"""The warm start (``solve_greedy_best``) under a wall-time deadline: at 70,000 jobs its
candidates took minutes, so a further candidate is tried only while there is time for it,
and the longest-first plan the planner already has is not computed again."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.generate import EstateSpec, generate_week
from stagger.instance import compile_instance
from stagger.solve import greedy
from stagger.solve.bounds import lower_bound
from stagger.solve.components import components


def _week() -> Any:
    return compile_instance(*generate_week(EstateSpec(40, "balanced", "full", 0)))


def _counting(monkeypatch: Any) -> dict[str, int]:
    calls = {"serial": 0, "stepped": 0}
    serial, stepped = greedy.solve_greedy, greedy.sgs_candidates

    def count_serial(*a: Any, **k: Any) -> Any:
        calls["serial"] += 1
        return serial(*a, **k)

    def count_stepped(*a: Any, **k: Any) -> Any:
        calls["stepped"] += 1
        return stepped(*a, **k)

    monkeypatch.setattr(greedy, "solve_greedy", count_serial)
    monkeypatch.setattr(greedy, "sgs_candidates", count_stepped)
    return calls


def test_a_passed_deadline_keeps_the_plan_the_caller_has(monkeypatch: Any) -> None:
    inst = _week()
    first = greedy.solve_greedy(inst)
    calls = _counting(monkeypatch)
    groups = components(inst)
    warm = greedy.solve_greedy_best(
        inst, groups, 0, first=first, first_s=1.0, deadline=time.time() - 1
    )
    assert warm is first
    assert calls == {"serial": 0, "stepped": 0}


def test_without_a_deadline_every_candidate_is_tried_and_the_plan_is_the_same(
    monkeypatch: Any,
) -> None:
    inst = _week()
    bound = lower_bound(inst).makespan
    groups = components(inst)
    first = greedy.solve_greedy(inst)
    calls = _counting(monkeypatch)
    before = greedy.solve_greedy_best(inst, groups, bound)
    without_first = dict(calls)
    calls.update(serial=0, stepped=0)
    after = greedy.solve_greedy_best(inst, groups, bound, first=first, first_s=1e-9)
    assert after.starts == before.starts and after.dropped == before.dropped
    # The same candidates, but the longest-first plan is not computed again.
    assert calls["serial"] == without_first["serial"] - 1
    assert calls["stepped"] == without_first["stepped"]


def test_no_search_is_built_once_the_wall_limit_is_spent(monkeypatch: Any) -> None:
    """Past the deadline the warm start is the plan (FEASIBLE, wall limit hit): no CP-SAT
    model, LNS or decomposition is built only to be given no time (at 70,000 jobs building
    the model alone took minutes)."""
    from dataclasses import replace

    from stagger import planner

    def never(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a search was started after the deadline")

    for name in ("solve_cpsat", "solve_decomposed", "MakespanLns"):
        monkeypatch.setattr(planner, name, never)
    inst = _week()
    bound = replace(lower_bound(inst), makespan=0)  # the warm start cannot meet it
    # The original instance (fulls' nights chosen by the warm start) ...
    direct = planner.PlanOptions(seed=1, night_split=False)
    out = planner.solve_instance(inst, bound, direct, deadline=time.time() - 1)
    warm = greedy.solve_greedy_best(inst, components(inst), 0)
    assert out.info.status == "FEASIBLE" and out.info.wall_limit_hit
    assert out.solution.starts == warm.starts and out.solution.dropped == warm.dropped
    # ... and the night-split path (fulls' nights chosen first): no search either.
    split = planner.PlanOptions(seed=1, night_split=True)
    out = planner.solve_instance(inst, bound, split, deadline=time.time() - 1)
    assert out.info.status == "FEASIBLE" and out.info.wall_limit_hit
