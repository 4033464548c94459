"""The planner against an independent exact model (tests/solve/exact.py) on small random
estates of every feature: the claims it prints must be facts."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from stagger import planner
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.validate import find_violations
from tests.solve.crosscheck import estates, exact_settings
from tests.solve.exact import solve_exact

# CI profile: a modest count; benchmarks/crosscheck.py runs the same generator for longer.
EXAMPLES = int(os.environ.get("STAGGER_CROSSCHECK_EXAMPLES", "25"))


def check_against_exact(
    topo: Topology, policy: Policy, *, decompose: bool = False
) -> dict[str, bool]:
    """Plan, solve exactly, assert every claim; returns what was checked. ``decompose``: take
    the decomposition path even on these small estates (it is the one for large ones)."""
    saved = planner.WHOLE_MODEL_MAX_JOBS
    planner.WHOLE_MODEL_MAX_JOBS = 0 if decompose else saved
    try:
        s = plan(topo, policy, PlanOptions(time_limit_s=120, processes=1)).schedule
    finally:
        planner.WHOLE_MODEL_MAX_JOBS = saved
    assert not find_violations(s, topo, policy)
    exact = solve_exact(topo, policy)
    assert exact.proven
    scheduled = len(s.jobs)
    assert scheduled == exact.max_scheduled, (scheduled, exact)
    assert s.unscheduled_min <= exact.jobs - exact.max_scheduled
    all_in = exact.max_scheduled == exact.jobs
    if all_in and exact.min_makespan is not None:
        assert s.lower_bound_min <= exact.min_makespan, (s.lower_bound_min, exact)
        assert s.makespan_min >= exact.min_makespan
    same_priority = len({vm.priority for vm in topo.vms}) == 1
    if (
        s.solver.status == "OPTIMAL"
        and exact.min_makespan is not None
        and (all_in or same_priority)
    ):
        assert s.makespan_min == exact.min_makespan, (s.makespan_min, exact)
    if not s.complete:  # never a bare "gap x %" with VMs left out
        assert s.gap_pct is None or "cannot run at all" in s.gap_text()
    return {"optimal": s.solver.status == "OPTIMAL", "complete": s.complete}


@exact_settings(EXAMPLES)
@given(estates(), st.booleans())
def test_planner_claims_match_the_exact_optimum(
    case: tuple[Topology, Policy], decompose: bool
) -> None:
    check_against_exact(*case, decompose=decompose)
