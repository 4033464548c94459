"""The VM-level lower bound on the VMs no plan of a tiered cycle can fit
(stagger.solve.bounds.min_dropped_vms): hand-computed cases, its wiring into the schedule's
unscheduled_min, and the property that no plan drops fewer VMs than it says."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.instance import compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.solve.bounds import lower_bound, min_dropped, min_dropped_vms
from tests.factories import GIB_PER_HOUR, make_policy, make_topology
from tests.tiered import small_tiered_estate

# A full of 2 h (24 slots of 5 min), its incrementals a sixth: 20 min, 4 slots.
FULL_GIB = 2 * GIB_PER_HOUR
NIGHTLY = {
    "name": "nightly",
    "match": {"tag": "nightly"},
    "incremental": "nightly",
    "full": {"every": 3},
    "change_rate": 1 / 6,
}


def _estate(
    short_night: int, free_until: str = "20:50", tier: dict[str, Any] = NIGHTLY
) -> tuple[Topology, Policy]:
    """3 VMs on one host running one job at a time, 3 nights of 20:00-06:00; on
    ``short_night`` a global blackout from ``free_until`` (20:50: 10 free slots)."""
    topo = make_topology(
        hosts=[{"name": "esx01", "cluster": "C1"}],
        datastores=[{"name": "DS-01"}],
        vms=[
            {
                "name": f"vm{i}",
                "host": "esx01",
                "tags": ["nightly"],
                "disks": [{"datastore": "DS-01", "size_gib": FULL_GIB}],
            }
            for i in range(3)
        ],
    )
    day = 1 + short_night
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 3},
        limits={"per_host": 1, "per_datastore": 3},
        tiers=[tier],
        blackouts=[
            {
                "name": "freeze",
                "start": f"2026-12-{day:02d}T{free_until}",
                "end": f"2026-12-{day + 1:02d}T06:00",
            }
        ],
    )
    return topo, policy


def test_three_incrementals_of_four_slots_in_ten_free_slots() -> None:
    """Every night carries one job of each VM (a block of 3 nights, one full): on night 0
    each VM needs at least its 4-slot incremental (its 24-slot full can move to night 1 or
    2, so it is not counted), 3 x 4 = 12 > 10: only 2 of the 3 VMs fit, 1 cannot be
    planned. The job-level count sees nothing (each job fits some night)."""
    topo, policy = _estate(short_night=0)
    inst = compile_instance(topo, policy)
    bound = lower_bound(inst)
    assert min_dropped(inst, bound) == (0, "")
    n, why = min_dropped_vms(inst, bound)
    assert n == 1
    assert why == (
        "host esx01, night 0 (Tue 01 Dec): only 2 of the 3 VMs that must run that night"
        " fit in its free time"
    )
    s = plan(topo, policy, PlanOptions(time_limit_s=10, seed=1, workers=1)).schedule
    assert len(s.unscheduled) == 1
    assert s.unscheduled_min == 1 and s.unscheduled_gap_pct == 0.0
    # The greedy plan proves nothing itself: its unscheduled_min is this bound's.
    stages: list[str] = []
    g = plan(topo, policy, PlanOptions(solver="greedy", seed=1), on_stage=stages.append).schedule
    assert any(x.endswith(f"; at least 1 VMs cannot fit: {why}") for x in stages)
    assert len(g.unscheduled) >= 1 and g.unscheduled_min == 1
    assert g.solver.status != "OPTIMAL"


def test_the_short_night_may_be_any_night_of_the_block() -> None:
    """The same with the 10 free slots on night 1 only: still 1."""
    topo, policy = _estate(short_night=1)
    inst = compile_instance(topo, policy)
    n, why = min_dropped_vms(inst, lower_bound(inst))
    assert n == 1
    assert why.startswith("host esx01, night 1 (Wed 02 Dec): only 2 of the 3 VMs")


def test_a_full_that_can_move_to_another_night_is_not_counted() -> None:
    """30 free slots on night 0: a 24-slot full fits there, but each VM's full can move to
    night 1 or 2, so night 0 needs only the incrementals, 3 x 4 = 12: nobody is counted
    (counting the fulls, only 1 of 24 slots would fit: 2 VMs). Every VM is planned."""
    topo, policy = _estate(short_night=0, free_until="22:30")
    inst = compile_instance(topo, policy)
    assert min_dropped_vms(inst, lower_bound(inst)) == (0, "")
    s = plan(topo, policy, PlanOptions(time_limit_s=10, seed=1, workers=1)).schedule
    assert not s.unscheduled and s.unscheduled_min == 0


def test_a_full_alone_in_its_block_need_not_run_that_night() -> None:
    """Fulls every 3 nights and no incrementals: a VM runs one job on one night of the three
    (a job of several allowed nights, no group), so no night must carry it (30 free slots
    on night 0, one full's worth, count nobody); every VM is planned."""
    fulls = {**NIGHTLY, "incremental": "none"}
    topo, policy = _estate(short_night=0, free_until="22:30", tier=fulls)
    inst = compile_instance(topo, policy)
    assert min_dropped_vms(inst, lower_bound(inst)) == (0, "")
    s = plan(topo, policy, PlanOptions(time_limit_s=10, seed=1, workers=1)).schedule
    assert not s.unscheduled


def test_single_regime_counts_nothing_here() -> None:
    """The single regime (one job per VM) is left to min_dropped, exactly as before."""
    topo, policy = _estate(short_night=0)
    inst = compile_instance(topo, policy.model_copy(update={"tiers": []}))
    assert min_dropped_vms(inst) == (0, "")


@st.composite
def tight_estates(draw: st.DrawFn) -> tuple[Topology, Policy]:
    """Small tiered estates on short windows, often short of room for every VM."""
    nights = draw(st.integers(2, 3))
    n_vms = draw(st.integers(2, 5))
    sizes = draw(st.lists(st.integers(1, 8), min_size=n_vms, max_size=n_vms))
    tags = draw(st.lists(st.sampled_from(["nightly", "fixed"]), min_size=n_vms, max_size=n_vms))
    hosts = draw(st.integers(1, 2))
    tiers: list[dict[str, Any]] = [
        {**NIGHTLY, "full": {"every": draw(st.integers(1, nights))}},
        {
            "name": "fixed",
            "match": {"tag": "fixed"},
            "incremental": "nightly",
            "full": {"on": "FREQ=DAILY;COUNT=1"},
            "change_rate": 0.25,
        },
    ]
    return small_tiered_estate(
        sizes,
        tags,
        hosts=hosts,
        nights=nights,
        tiers=tiers,
        window_end=draw(st.sampled_from(["22:40", "23:00", "23:30"])),
        per_datastore=draw(st.integers(1, 2)),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tight_estates())
def test_no_plan_drops_fewer_vms_than_the_bound(case: tuple[Topology, Policy]) -> None:
    """The greedy plan and the CP-SAT plan (whose OPTIMAL on the whole model is the fewest
    VMs any plan drops) leave out at least the bound's count of VMs."""
    topo, policy = case
    inst = compile_instance(topo, policy)
    n, _ = min_dropped_vms(inst, lower_bound(inst))
    for solver in ("greedy", "cpsat"):
        s = plan(
            topo, policy, PlanOptions(solver=solver, time_limit_s=5, seed=1, workers=1)
        ).schedule
        assert len(inst.unschedulable) + n <= len(s.unscheduled)
        assert len(inst.unschedulable) + n <= s.unscheduled_min
