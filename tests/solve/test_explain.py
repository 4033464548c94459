"""Infeasibility explanation names the conflicting rules, minimal, in admin words."""

from __future__ import annotations

from stagger.planner import PlanOptions, plan
from stagger.solve.explain import explain_unscheduled
from tests.factories import GIB_PER_HOUR, make_policy, make_topology


def _estate(hours_on_ds7: list[float]):  # type: ignore[no-untyped-def]
    n = len(hours_on_ds7)
    return make_topology(
        hosts=[{"name": f"esx{i}", "cluster": "C1"} for i in range(n + 1)],
        datastores=[{"name": "DS-1"}, {"name": "DS-7"}],
        vms=[
            {
                "name": f"vm{i}",
                "host": f"esx{i}",
                "disks": [{"datastore": "DS-7", "size_gib": GIB_PER_HOUR * h}],
            }
            for i, h in enumerate(hours_on_ds7)
        ]
        + [
            {
                "name": "other",
                "host": f"esx{n}",
                "disks": [{"datastore": "DS-1", "size_gib": GIB_PER_HOUR}],
            }
        ],
    )


AV = {"name": "av-scan", "rrule": "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", "duration": "60m"}


def test_overloaded_datastore_is_named_without_the_blackout() -> None:
    topo, pol = _estate([3, 3, 3, 2.5]), make_policy(blackouts=[AV])
    sched = plan(topo, pol, PlanOptions(time_limit_s=5, workers=2)).schedule
    assert sched.unscheduled
    why = explain_unscheduled(topo, pol, [u.vm for u in sched.unscheduled])
    assert why is not None
    assert why.summary == "datastore DS-7 needs 11.5 h for 4 jobs; window 10 h"
    assert {r.kind for r in why.rules} == {"window", "capacity"}


def test_blackout_is_part_of_the_conflict_when_needed() -> None:
    topo, pol = _estate([3, 3, 3.5]), make_policy(blackouts=[AV])  # 9.5 h: fits 10 h, not 9 h
    sched = plan(topo, pol, PlanOptions(time_limit_s=5, workers=2)).schedule
    why = explain_unscheduled(topo, pol, [u.vm for u in sched.unscheduled])
    assert why is not None
    assert why.summary == "datastore DS-7 needs 9.5 h for 3 jobs; window 10 h minus av-scan 1 h"
    assert "DS-1" not in why.summary and "host" not in why.summary


def test_feasible_set_has_no_explanation() -> None:
    topo, pol = _estate([3, 3]), make_policy(blackouts=[AV])
    assert explain_unscheduled(topo, pol, ["vm0"]) is None
