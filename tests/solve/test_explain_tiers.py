"""Explanations on tiered estates name the group rule when it is part of the conflict."""

from __future__ import annotations

from stagger.planner import PlanOptions, plan
from stagger.solve.explain import GROUP_RULE, explain_unscheduled
from tests.factories import GIB_PER_HOUR, make_policy, make_topology

TIER = {
    "name": "gold",
    "match": {"tag": "sql"},
    "incremental": "nightly",
    "full": {"every": 7},
    "window": {"start": "22:00", "end": "04:00"},
    "consistency": "crash",
}


def _two_on_one_host(change_rate: float):  # type: ignore[no-untyped-def]
    """Two gold VMs on one host that runs one job at a time, 6 h a night: each full lasts
    300 min, each incremental 5 h * change_rate (rounded up to 5 min). The night of a VM's
    full also holds the other VM's incremental (one job of each VM every night)."""
    topo = make_topology(
        vms=[
            {
                "name": n,
                "host": "esx01",
                "tags": ["sql"],
                "disks": [{"datastore": f"DS-0{i + 1}", "size_gib": GIB_PER_HOUR * 5}],
            }
            for i, n in enumerate(("sql1", "sql2"))
        ]
    )
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 7},
        limits={"per_host": 1},
        tiers=[{**TIER, "change_rate": change_rate}],
    )
    return topo, policy


def test_the_group_rule_is_named_when_a_full_night_cannot_take_the_other_incremental() -> None:
    # 300 + 65 min > 360: with one job of each VM a night, no night can carry a full.
    topo, policy = _two_on_one_host(0.21)
    sched = plan(topo, policy, PlanOptions(time_limit_s=5, workers=2)).schedule
    assert [u.vm for u in sched.unscheduled]
    why = explain_unscheduled(topo, policy, [u.vm for u in sched.unscheduled])
    assert why is not None
    kinds = {r.kind for r in why.rules}
    assert kinds == {"window", "capacity", "group"}
    assert any(r.name == GROUP_RULE for r in why.rules)
    assert "host esx01" in why.summary and "per night" in why.summary


def test_no_explanation_when_everything_fits() -> None:
    topo, policy = _two_on_one_host(0.2)  # 300 + 60 = 360: fits exactly
    sched = plan(topo, policy, PlanOptions(time_limit_s=5, workers=2)).schedule
    assert not sched.unscheduled
    assert explain_unscheduled(topo, policy, ["sql1"]) is None
