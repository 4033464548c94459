"""The one gap formula that the planner writes and the validator re-checks."""

from hypothesis import given
from hypothesis import strategies as st

from stagger.model.schedule import gap_pct


def test_gap_is_percent_of_the_bound_two_decimals() -> None:
    assert gap_pct(645, 560) == 15.18  # 10h45 against a bound of 9h20 (issue 13's row 2)
    assert gap_pct(163, 151) == 7.95  # unscheduled VMs against the proven minimum


def test_a_zero_bound_counts_as_one() -> None:
    # "3 unscheduled, at least 0 must be": 300 %, not a division by zero.
    assert gap_pct(3, 0) == 300.0


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_gap_is_zero_at_the_bound_and_grows_above_it(bound: int, extra: int) -> None:
    assert gap_pct(bound, bound) == 0
    assert gap_pct(bound + extra, bound) >= 0
    if extra * 100 >= max(bound, 1):  # one per cent or more above the bound
        assert gap_pct(bound + extra, bound) >= 1
