"""The CP-SAT building blocks on their own: derived lexicographic weights, resource limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from ortools.sat.python import cp_model

from stagger.solve.blocks import Lexicographic, add_resource_limit


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=6))
def test_one_unit_of_a_goal_outweighs_every_goal_below_at_its_largest(largest: list[int]) -> None:
    goals = Lexicographic()
    for i, top in enumerate(largest):
        goals.add(f"g{i}", 0, top)
    w = goals.weights()
    for i in range(len(largest)):
        below = sum(w[f"g{k}"] * largest[k] for k in range(i + 1, len(largest)))
        assert w[f"g{i}"] > below
    assert goals.largest() == sum(w[f"g{i}"] * top for i, top in enumerate(largest))


def test_weights_are_as_small_as_exactness_allows() -> None:
    goals = Lexicographic()
    goals.add("dropped", 0, 3)
    goals.add("makespan", 0, 10)
    goals.add("spans", 0, 20)
    assert goals.weights() == {"spans": 1, "makespan": 21, "dropped": 21 * 11}


def _min_end(capacity: int | None, occupied: list[tuple[int, int, int]], n: int = 3) -> int:
    """Smallest latest end of ``n`` 2-slot jobs under the limit."""
    m = cp_model.CpModel()
    starts = [m.new_int_var(0, 20, f"s{i}") for i in range(n)]
    ivs = [m.new_fixed_size_interval_var(s, 2, f"i{i}") for i, s in enumerate(starts)]
    add_resource_limit(m, ivs, capacity, occupied=occupied)
    end = m.new_int_var(0, 22, "end")
    for s in starts:
        m.add(end >= s + 2)
    m.minimize(end)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(m) == cp_model.OPTIMAL
    return int(solver.value(end))


def test_resource_limit_capacity_and_occupied_steps() -> None:
    assert _min_end(None, []) == 2  # no limit
    assert _min_end(1, []) == 6  # one at a time
    assert _min_end(2, []) == 4  # two at a time
    assert _min_end(1, [(0, 3, 1)]) == 9  # slots 0-2 taken: forbidden at capacity 1
    assert _min_end(2, [(0, 4, 1)]) == 6  # one unit of two taken for slots 0-3


def test_a_limit_that_cannot_bind_adds_nothing() -> None:
    m = cp_model.CpModel()
    ivs = [m.new_fixed_size_interval_var(m.new_int_var(0, 5, ""), 2, "") for _ in range(2)]
    before = len(m.proto.constraints)  # the two intervals
    assert not add_resource_limit(m, ivs, 2)
    assert not add_resource_limit(m, ivs, None)
    assert len(m.proto.constraints) == before
    assert add_resource_limit(m, ivs, 2, occupied=[(0, 1, 1)])
    assert len(m.proto.constraints) == before + 2  # the fixed interval and the cumulative
