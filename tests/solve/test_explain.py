"""Infeasibility explanation names the conflicting rules, minimal, in admin words."""

from __future__ import annotations

from stagger.planner import PlanOptions, plan
from stagger.solve.explain import deletion_filter, explain_unscheduled
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


def test_blackout_on_some_hosts_of_a_raid_group_is_not_subtracted_from_its_window() -> None:
    """Hand-computed: RAID group RG holds a (2 h, esx0), b (4.5 h) and c (3.5 h, esx1): 10 h in a
    10 h window, one job at a time. Blackout av covers esx0 only, 21:00-00:00 and 02:00-05:00
    (6 h), so a must run 00:00-02:00 and leaves two 4 h stretches: b (4.5 h) fits in neither.
    av takes 6 h of a's window, not of the group's: "window 10 h minus av 6 h" (4 h for 10 h of
    backups) would not add up."""
    topo = make_topology(
        hosts=[{"name": "esx0", "cluster": "C1"}, {"name": "esx1", "cluster": "C1"}],
        datastores=[{"name": "DS-A"}, {"name": "DS-B"}],
        raid_groups=[{"name": "RG", "datastores": ["DS-A", "DS-B"]}],
        vms=[
            {"name": n, "host": h, "disks": [{"datastore": d, "size_gib": GIB_PER_HOUR * hours}]}
            for n, h, d, hours in (
                ("a", "esx0", "DS-A", 2),
                ("b", "esx1", "DS-B", 4.5),
                ("c", "esx1", "DS-B", 3.5),
            )
        ],
    )
    av = {
        "name": "av",
        "scope": {"host": "esx0"},
        "rrule": "FREQ=DAILY;BYHOUR=21,2;BYMINUTE=0",
        "duration": "180m",
    }
    pol = make_policy(limits={"per_host": 2, "per_datastore": 2}, blackouts=[av])
    why = explain_unscheduled(topo, pol, ["b"])
    assert why is not None
    assert why.summary == (
        "raid group RG needs 10 h for 3 jobs; window 10 h; av blocks 6 h for 1 of 3 jobs (a)"
    )
    assert "blackout 'av' takes 6 h of the window of 1 of 3 jobs: a" in [r.text for r in why.rules]
    # The same blackout on every host does shorten the group's window.
    everywhere = make_policy(
        limits={"per_host": 2, "per_datastore": 2}, blackouts=[{**av, "scope": "global"}]
    )
    why_all = explain_unscheduled(topo, everywhere, ["b"])
    assert why_all is not None and why_all.summary.endswith("window 10 h minus av 6 h")


def test_overlapping_blackouts_are_not_counted_twice() -> None:
    """Hand-computed: DS-7 holds 0.5 h + 4.5 h + 4 h = 9 h of jobs, each on its own host.
    b1 20:00-21:00 alone leaves 21:00-06:00 (9 h: fits); b2 20:30-21:30 alone leaves
    20:00-20:30 (the 0.5 h job) and 21:30-06:00 (8.5 h: the others); both leave 8.5 h < 9 h.
    "minus b1 1 h, b2 1 h" reads as 8 h left: the union, 1.5 h, is said too."""
    topo = make_topology(
        hosts=[{"name": f"esx{i}"} for i in range(3)],
        datastores=[{"name": "DS-7"}],
        vms=[
            {
                "name": f"vm{i}",
                "host": f"esx{i}",
                "disks": [{"datastore": "DS-7", "size_gib": GIB_PER_HOUR * h}],
            }
            for i, h in enumerate((0.5, 4.5, 4))
        ],
    )
    b1 = {"name": "b1", "rrule": "FREQ=DAILY;BYHOUR=20;BYMINUTE=0", "duration": "60m"}
    b2 = {"name": "b2", "rrule": "FREQ=DAILY;BYHOUR=20;BYMINUTE=30", "duration": "60m"}
    why = explain_unscheduled(topo, make_policy(blackouts=[b1, b2]), ["vm1"])
    assert why is not None
    assert why.summary == (
        "datastore DS-7 needs 9 h for 3 jobs; window 10 h minus b1 1 h, b2 1 h, 1.5 h in all"
    )


def test_capacity_above_one_is_said() -> None:
    """Three 6 h jobs, two at a time on DS-7, in a 10 h window: 18 h of backups need two
    lanes, and the third job cannot start before 02:00."""
    topo = _estate([6, 6, 6])
    pol = make_policy(limits={"per_datastore": 2})
    why = explain_unscheduled(topo, pol, ["vm2"])
    assert why is not None
    assert why.summary == "datastore DS-7 needs 18 h for 3 jobs, 2 at a time; window 10 h"
    assert "datastore DS-7 runs at most 2 jobs at a time" in [r.text for r in why.rules]


def test_deletion_filter_shrinks_a_first_conflict_that_is_not_minimal() -> None:
    # Rules conflict when they hold {window, capacity DS-7} or {blackout av}: the first core
    # (all four rules, as CP-SAT may return) is not minimal; the filter must end at a minimal
    # one, and never at a set that does not conflict.
    conflicts = [{"window", "capacity DS-7"}, {"blackout av"}]

    def infeasible(rules: set[str]) -> tuple[bool, set[str]]:
        hit = [c for c in conflicts if c <= rules]
        return bool(hit), set()  # no smaller core offered: the filter alone must shrink

    first = {"window", "capacity DS-7", "blackout av", "pin vm3"}
    core = deletion_filter(first, infeasible)
    assert infeasible(core)[0]
    assert all(not infeasible(core - {r})[0] for r in core)  # minimal
    # In name order: "blackout av" goes first (window + capacity still conflict), then
    # "pin vm3"; window and capacity are each needed.
    assert core == {"capacity DS-7", "window"}


def test_deletion_filter_uses_the_smaller_core_it_is_given() -> None:
    calls: list[set[str]] = []

    def infeasible(rules: set[str]) -> tuple[bool, set[str]]:
        calls.append(set(rules))
        return ("window" in rules and "capacity host esx1" in rules), {"window"} & rules | (
            {"capacity host esx1"} & rules
        )

    core = deletion_filter({"a", "b", "capacity host esx1", "window"}, infeasible)
    assert core == {"capacity host esx1", "window"}
    assert len(calls) == 4  # one trial per rule of the first core
