"""The night-aware bound of tiered cycles (stagger.solve.bound_nights) on hand-computed cases
where it is strictly stronger than the single-regime bound and equals the optimum; and the
property that it never exceeds a plan the planner returns."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stagger.cli import app
from stagger.fmt import hm
from stagger.instance import compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.solve.bound_nights import describe_nights, spread_bound
from stagger.solve.bounds import lower_bound
from stagger.sources.yamlfile import load_policy, load_topology
from tests.factories import EXAMPLES, make_policy, make_topology
from tests.tiered import small_tiered_estate

FULL_GIB = 175.78125  # 30 min at 100 MB/s: 6 slots of 5 min
ONE_SIXTH = 1 / 6  # an incremental of a 6-slot full: 1 slot

BLOCK = {
    "name": "block",
    "match": {"tag": "block"},
    "incremental": "nightly",
    "full": {"every": 3},
    "change_rate": ONE_SIXTH,
}


def _estate(
    vms: list[tuple[str, str]], tiers: list[dict[str, Any]], nights: int
) -> tuple[Topology, Policy]:
    """VMs (name, tag) of one full of 6 slots each, all on one host that runs one job at a
    time, each on its own datastore."""
    topo = make_topology(
        hosts=[{"name": "esx01", "cluster": "C1"}],
        datastores=[{"name": f"DS-{name}"} for name, _ in vms],
        vms=[
            {
                "name": name,
                "host": "esx01",
                "tags": [tag],
                "disks": [{"datastore": f"DS-{name}", "size_gib": FULL_GIB}],
            }
            for name, tag in vms
        ],
    )
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": nights},
        limits={"per_host": 1},
        tiers=tiers,
    )
    return topo, policy


def _bounds(topo: Topology, policy: Policy) -> tuple[int, int, tuple[int, ...], str]:
    """(new bound, single-regime bound, per-night bounds, reason), in slots."""
    inst = compile_instance(topo, policy)
    new = lower_bound(inst)
    old = lower_bound(inst, nights_aware=False)
    return new.makespan, old.makespan, new.nights, new.reason


def _optimum(topo: Topology, policy: Policy) -> int:
    """The planner's worst night in slots, asserting it proved it optimal."""
    res = plan(topo, policy, PlanOptions(time_limit_s=20, seed=1))
    assert res.schedule.solver.status == "OPTIMAL"
    assert not res.schedule.unscheduled
    return res.schedule.makespan_min // policy.slot_minutes


def test_three_vms_every_three_nights_is_the_load_bound() -> None:
    """The brief's case: 3 VMs, a full of 6 slots and incrementals of 1, `every: 3` over 3
    nights, one job at a time: each night carries one full at best, 6 + 1 + 1 = 8. The
    single-regime load bound already says 24 / 3 = 8; the new bound keeps it."""
    topo, policy = _estate([(f"vm{i}", "block") for i in range(3)], [BLOCK], 3)
    new, old, per_night, _ = _bounds(topo, policy)
    assert (new, old) == (8, 8)
    assert per_night == (3, 3, 3)  # each night: the three VMs' shortest jobs
    assert _optimum(topo, policy) == 8


def test_two_fulls_over_three_nights_cannot_spread_below_seven() -> None:
    """2 VMs, `every: 3` over 3 nights: 16 slots over 3 nights is 6 (and the 6-slot full
    alone), but every night carries one job of each VM, so the night of a full carries the
    other VM's job too: 6 + 1 = 7 (the fulls spread over nights, rule 3)."""
    topo, policy = _estate([("a", "block"), ("b", "block")], [BLOCK], 3)
    new, old, _, reason = _bounds(topo, policy)
    assert old == 6
    assert new == 7
    assert reason.startswith("fulls must land: host esx01 runs one job of each of its VMs")
    assert _optimum(topo, policy) == 7


def test_a_fixed_full_night_carries_the_block_jobs_too() -> None:
    """A full fixed on night 0 (6 slots) and a VM whose block covers nights 0-2 (full 6,
    incrementals 1): night 0 carries the fixed full and one job of the block, 7; the
    single-regime bound (packing: the fixed full alone on night 0) says 6."""
    fixed = {
        "name": "fixed",
        "match": {"tag": "fixed"},
        "incremental": "none",
        "full": {"on": "FREQ=DAILY;COUNT=1"},
    }
    topo, policy = _estate([("f", "fixed"), ("x", "block")], [fixed, BLOCK], 3)
    new, old, per_night, reason = _bounds(topo, policy)
    assert old == 6
    assert new == 7
    assert per_night == (7, 1, 1)
    assert reason == "jobs that must run on night 0: load on host esx01"
    assert _optimum(topo, policy) == 7


def test_a_block_shorter_than_the_cycle() -> None:
    """Incrementals Tuesday to Thursday (nights 0-2) of a 4-night cycle, one full in the
    block: both VMs' jobs are on nights 0-2, night 3 is idle. The single-regime bound sees
    16 slots on 3 nights (6); the fulls cannot share the block's nights evenly: 2 + 5 = 7."""
    short = {
        "name": "short",
        "match": {"tag": "block"},
        "incremental": "FREQ=WEEKLY;BYDAY=TU,WE,TH",
        "full": {"every": 4},
        "change_rate": ONE_SIXTH,
    }
    topo, policy = _estate([("a", "block"), ("b", "block")], [short], 4)
    new, old, per_night, _ = _bounds(topo, policy)
    assert old == 6
    assert new == 7
    assert per_night == (2, 2, 2, 0)
    assert _optimum(topo, policy) == 7


def test_spread_bound_is_the_classic_p_cmax_bound() -> None:
    """Largest item; two of the bins + 1 largest share a bin; the average."""
    assert spread_bound(np.array([], dtype=np.int64), 3) == 0
    assert spread_bound(np.array([9, 1]), 3) == 9
    assert spread_bound(np.array([5, 5, 5, 4]), 3) == 9  # 5 + 4 on one of 3 nights
    assert spread_bound(np.array([5, 5, 5, 5, 5, 5, 5]), 3) == 15  # three of 7 in a bin
    assert spread_bound(np.array([1] * 10), 3) == 4  # the average, rounded up


def test_describe_nights() -> None:
    assert describe_nights((3,)) == "night 3"
    assert describe_nights((0, 1, 2, 3, 4, 5, 6)) == "nights 0-6"
    assert describe_nights((0, 2, 5)) == "nights 0, 2, 5"


def test_single_regime_bound_is_unchanged_on_the_examples() -> None:
    """The night-aware rules apply to tiered cycles only: the examples' bounds (and their
    reasons) are the single-regime ones, with no per-night bounds."""
    for name in ("minimal", "estate"):
        topo = load_topology(EXAMPLES / name / "topology.yaml")
        policy = load_policy(EXAMPLES / name / "policy.yaml")
        inst = compile_instance(topo, policy)
        new, old = lower_bound(inst), lower_bound(inst, nights_aware=False)
        assert (new.makespan, new.reason, new.nights) == (old.makespan, old.reason, ())


@st.composite
def tiered_estates(draw: st.DrawFn) -> tuple[Topology, Policy]:
    nights = draw(st.integers(2, 4))
    every = draw(st.integers(1, nights))
    n_vms = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 12), min_size=n_vms, max_size=n_vms))
    tags = draw(
        st.lists(st.sampled_from(["block", "fixed", "none"]), min_size=n_vms, max_size=n_vms)
    )
    hosts = draw(st.integers(1, 2))
    tiers = [
        {**BLOCK, "full": {"every": every}, "change_rate": draw(st.sampled_from([0.1, 0.3]))},
        {
            "name": "fixed",
            "match": {"tag": "fixed"},
            "incremental": "nightly",
            "full": {"on": f"FREQ=DAILY;INTERVAL={draw(st.integers(1, nights))}"},
            "change_rate": 0.2,
        },
    ]
    return small_tiered_estate(
        sizes,
        tags,
        hosts=hosts,
        nights=nights,
        tiers=tiers,
        window_end="02:00",
        per_datastore=draw(st.integers(1, 2)),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiered_estates())
def test_bound_never_exceeds_a_plan(case: tuple[Topology, Policy]) -> None:
    """Every plan with every VM has its worst night at or above the bound and each night at
    or above its own bound (the planner also refuses to report a plan below its bound)."""
    topo, policy = case
    res = plan(topo, policy, PlanOptions(time_limit_s=5, seed=1))
    s = res.schedule
    if s.unscheduled:
        return
    slot = policy.slot_minutes
    assert res.bound.makespan * slot <= s.makespan_min
    assert len(res.bound.nights) in (0, len(s.nights))  # () for the single regime
    for night, b in zip(s.nights, res.bound.nights or (0,) * len(s.nights), strict=True):
        assert b * slot <= night.makespan_min


def test_per_night_bound_takes_the_earliest_end_of_a_job_fixed_on_it() -> None:
    """One host and one datastore taking two jobs at once: night 0's 7 slots of load need
    only 4, but the full fixed on night 0 alone ends at 6 at the earliest; nights 1 and 2
    carry one of the block VM's jobs, 1 slot at least."""
    fixed = {
        "name": "fixed",
        "match": {"tag": "fixed"},
        "incremental": "none",
        "full": {"on": "FREQ=DAILY;COUNT=1"},
    }
    topo = make_topology(
        hosts=[{"name": "esx01", "cluster": "C1"}],
        datastores=[{"name": "DS-01"}],
        vms=[
            {
                "name": name,
                "host": "esx01",
                "tags": [name],
                "disks": [{"datastore": "DS-01", "size_gib": FULL_GIB}],
            }
            for name in ("fixed", "block")
        ],
    )
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 3},
        limits={"per_host": 2, "per_datastore": 2},
        tiers=[fixed, BLOCK],
    )
    new, _, per_night, _ = _bounds(topo, policy)
    assert per_night == (6, 1, 1)
    assert new == 6
    res = plan(topo, policy, PlanOptions(time_limit_s=20, seed=1))
    spans = [n.makespan_min // policy.slot_minutes for n in res.schedule.nights]
    assert all(b <= s for b, s in zip(per_night, spans, strict=True))


def test_plan_summary_shows_each_nights_bound(tmp_path: Path) -> None:
    """`stagger plan` on a tiered week adds a bound column to its nights table; the single
    regime's table keeps its columns."""
    topo = EXAMPLES / "minimal" / "topology.yaml"
    plain = EXAMPLES / "minimal" / "policy.yaml"
    tiered = tmp_path / "tiered.yaml"
    tier = "  - {name: gold, match: {tag: payroll}, full: {every: 3}, change_rate: 0.1}\n"
    tiered.write_text(plain.read_text().replace("nights: 1", "nights: 3") + "tiers:\n" + tier)
    res = CliRunner().invoke(
        app,
        ["plan", str(topo), "-p", str(tiered), "-o", str(tmp_path / "t.json"), "--time-limit", "5"],
    )
    assert res.exit_code == 0, res.output
    # The first line of the nights table's header (a tiered table is wider than the 80
    # columns CliRunner renders, so long headers wrap onto further lines).
    header = next(line for line in res.output.splitlines() if line.startswith("┃ night"))
    assert header.split("┃")[-2].strip() == "bound"
    inst = compile_instance(load_topology(topo), load_policy(tiered))
    bound = lower_bound(inst)
    rows = [line for line in res.output.splitlines() if re.match(r"[│|] [0-2] ", line)]
    assert [r.split("│")[-2].strip() for r in rows] == [
        hm(b * inst.slot_minutes) for b in bound.nights
    ]
