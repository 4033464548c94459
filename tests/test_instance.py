"""The compiled problem: durations, resources, allowed start ranges."""

from __future__ import annotations

from datetime import datetime, timedelta

from stagger.instance import NightSlots, allowed_starts, compile_instance, free_segments
from stagger.planner import PlanOptions, plan
from tests.factories import GIB_PER_HOUR, make_policy, make_topology

_OFF_GRID = {
    "name": "x",
    "scope": {"host": "esx01"},
    "start": "2026-12-01T21:02",
    "end": "2026-12-01T21:58",
}


def _five_minute_vm(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "host": "esx01",
        "disks": [{"datastore": "DS-01", "size_gib": GIB_PER_HOUR / 12}],
        **extra,
    }


def test_free_segments_and_allowed_starts() -> None:
    night = NightSlots(0, 0, 120)
    assert free_segments(night, [(12, 18), (100, 130)]) == [(0, 12), (18, 100)]
    # A 12-slot job may start at 0 (ends exactly at the blackout) or from 18 to 88.
    assert allowed_starts([night], [(12, 18), (100, 130)], 12) == (((0, 0), (18, 88)),)
    assert allowed_starts([night], [(0, 120)], 1) == ((),)


def test_job_resources_and_duration_rounded_up_to_slots() -> None:
    topo = make_topology(
        raid_groups=[{"name": "RG", "datastores": ["DS-01"]}],
        vms=[
            {
                "name": "v",
                "host": "esx01",
                "disks": [
                    {"datastore": "DS-01", "size_gib": GIB_PER_HOUR},
                    {"datastore": "DS-02", "size_gib": 1},
                ],
            }
        ],
    )
    inst = compile_instance(topo, make_policy(limits={"concurrent_jobs": 3}))
    job = inst.jobs[0]
    # 60 min + 1 GiB at 100 MB/s (0.17 min) -> 13 five-minute slots.
    assert job.duration == 13
    labels = sorted(inst.resources[r].label for r in job.resources)
    assert labels == [
        "backup proxy task slots",
        "datastore DS-01",
        "datastore DS-02",
        "host esx01",
        "raid group RG",
    ]
    assert {r.capacity for r in inst.resources} == {1, 3}


def test_per_object_max_jobs_overrides_limits() -> None:
    topo = make_topology(
        hosts=[{"name": "esx01", "max_jobs": 3}],
        datastores=[{"name": "DS-01"}],
        vms=[{"name": "v", "host": "esx01", "disks": [{"datastore": "DS-01", "size_gib": 5}]}],
    )
    inst = compile_instance(topo, make_policy(limits={"per_host": 2, "per_datastore": 4}))
    caps = {r.label: r.capacity for r in inst.resources}
    assert caps == {"host esx01": 3, "datastore DS-01": 4}


def test_blackout_removes_start_slots_only_for_affected_jobs() -> None:
    topo = make_topology(
        vms=[
            {
                "name": "a",
                "host": "esx01",
                "disks": [{"datastore": "DS-01", "size_gib": GIB_PER_HOUR}],
            },
            {
                "name": "b",
                "host": "esx02",
                "disks": [{"datastore": "DS-02", "size_gib": GIB_PER_HOUR}],
            },
        ]
    )
    policy = make_policy(
        blackouts=[
            {
                "name": "x",
                "scope": {"host": "esx01"},
                "start": "2026-12-01T21:00",
                "end": "2026-12-01T22:00",
            }
        ]
    )
    inst = compile_instance(topo, policy)
    a, b = inst.jobs
    assert a.blackouts == ("x",) and b.blackouts == ()
    # Window is 120 slots; a 12-slot job on esx01 may start 0 (ends 21:00) or 24..108.
    assert a.allowed == (((0, 0), (24, 108)),)
    assert b.allowed == (((0, 108),),)
    host = next(i for i, r in enumerate(inst.resources) if r.label == "host esx01")
    assert inst.resource_blocked[host] == [(12, 24)]


def test_excluded_templates_skipped_and_impossible_jobs_explained() -> None:
    topo = make_topology(
        vms=[
            {"name": "t", "host": "esx01", "template": True, "disks": [{"size_gib": 1}]},
            {
                "name": "big",
                "host": "esx02",
                "disks": [{"datastore": "DS-02", "size_gib": GIB_PER_HOUR * 12}],
            },
        ]
    )
    inst = compile_instance(topo, make_policy())
    assert inst.jobs == []
    assert inst.unschedulable[0][0] == "big"
    assert "longest free stretch in its windows is 10h00m" in inst.unschedulable[0][1]


def test_disk_without_datastore_uses_host_only() -> None:
    topo = make_topology(vms=[{"name": "v", "host": "esx01", "disks": [{"size_gib": 10}]}])
    inst = compile_instance(topo, make_policy())
    assert [inst.resources[r].label for r in inst.jobs[0].resources] == ["host esx01"]


def test_blackout_off_the_slot_grid_is_rounded_outward() -> None:
    # 21:02-21:58 with 5-minute slots touches the slots 21:00-21:05 and 21:55-22:00: both are
    # forbidden, i.e. the whole hour 21:00-22:00 (slots 12..24 from the 20:00 window start).
    topo = make_topology(vms=[_five_minute_vm("a")])
    inst = compile_instance(topo, make_policy(blackouts=[_OFF_GRID]))
    (a,) = inst.jobs
    assert a.duration == 1
    assert a.allowed == (((0, 11), (24, 119)),)
    host = next(i for i, r in enumerate(inst.resources) if r.label == "host esx01")
    assert inst.resource_blocked[host] == [(12, 24)]


def test_plan_keeps_clear_of_an_off_grid_blackout() -> None:
    # Window 20:00-23:00 holds 36 five-minute slots; one host running one job at a time and
    # a blackout 21:02-21:58 leave 12 + 12 slots: 24 of the 36 VMs fit, none inside it.
    # Greedy: the rounding is the compiler's, and CP-SAT would spend a minute proving that
    # 12 VMs must be left out.
    topo = make_topology(vms=[_five_minute_vm(f"v{i:02}") for i in range(36)])
    policy = make_policy(window={"start": "20:00", "end": "23:00"}, blackouts=[_OFF_GRID])
    s = plan(topo, policy, PlanOptions(solver="greedy")).schedule
    assert len(s.jobs) == 24 and len(s.unscheduled) == 12
    lo = datetime(2026, 12, 1, 21, 2, tzinfo=policy.tz)
    hi = datetime(2026, 12, 1, 21, 58, tzinfo=policy.tz)
    assert all(j.end <= lo or j.start >= hi for j in s.jobs)
    assert all(j.end - j.start == timedelta(minutes=5) for j in s.jobs)


def test_pin_into_an_off_grid_blackout_is_refused() -> None:
    topo = make_topology(
        vms=[_five_minute_vm("early", pin="20:55"), _five_minute_vm("late", pin="21:55")]
    )
    s = plan(topo, make_policy(blackouts=[_OFF_GRID])).schedule
    assert [j.vm for j in s.jobs] == ["early"]
    assert s.jobs[0].start == datetime(2026, 12, 1, 20, 55, tzinfo=s.jobs[0].start.tzinfo)
    assert [u.vm for u in s.unscheduled] == ["late"]
    assert "into a blackout (x)" in s.unscheduled[0].reason


def test_pin_off_the_slot_grid_starts_at_the_next_slot() -> None:
    # Not before the pinned time: 20:57 with 5-minute slots starts at 21:00 (slot 12).
    topo = make_topology(vms=[_five_minute_vm("a", pin="20:57")])
    inst = compile_instance(topo, make_policy())
    assert inst.jobs[0].allowed == (((12, 12),),)
