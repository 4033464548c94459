"""Headroom per resource: free window after blackouts, busy minutes, VMs that still fit."""

from __future__ import annotations

from stagger.headroom import first_saturated, headroom
from tests.factories import GIB_PER_HOUR, make_policy, make_topology


def test_headroom_counts_free_minutes_and_fitting_vms() -> None:
    topo = make_topology(
        vms=[
            {
                "name": "a",
                "host": "esx01",
                "disks": [{"datastore": "DS-01", "size_gib": GIB_PER_HOUR * 4}],
            }
        ]
    )
    pol = make_policy(
        blackouts=[
            {
                "name": "av",
                "scope": {"host": "esx01"},
                "rrule": "FREQ=DAILY;BYHOUR=1;BYMINUTE=0",
                "duration": "60m",
            }
        ]
    )
    rows = {(h.kind, h.name): h for h in headroom(topo, pol, size_gib=GIB_PER_HOUR * 2)}
    ds = rows[("datastore", "DS-01")]
    assert (ds.free_min, ds.busy_min, ds.jobs) == (540, 240, 1)  # 10 h - 1 h av scan
    assert ds.more_vms == 2  # 5 h spare; stretches 20:00-01:00 (2 jobs) and 02:00-06:00 (2)
    empty = rows[("datastore", "DS-02")]
    assert (empty.free_min, empty.busy_min, empty.more_vms) == (600, 0, 5)
    assert first_saturated(topo, pol) == ("datastore DS-01", 44.4)


def test_blackout_on_one_host_of_a_raid_group_leaves_the_group_its_whole_window() -> None:
    """Hand-computed: RG holds a (esx01, DS-01, 2 h) and b (esx02, DS-02, 3 h). av blocks
    esx01 01:00-02:00: DS-01 (only a) has 10 h - 1 h = 540 min; RG and DS-02 keep 600 min,
    since b may run during av. Busy: RG 300 min."""
    topo = make_topology(
        raid_groups=[{"name": "RG", "datastores": ["DS-01", "DS-02"]}],
        vms=[
            {
                "name": n,
                "host": h,
                "disks": [{"datastore": d, "size_gib": GIB_PER_HOUR * hours}],
            }
            for n, h, d, hours in (("a", "esx01", "DS-01", 2), ("b", "esx02", "DS-02", 3))
        ],
    )
    pol = make_policy(
        blackouts=[
            {
                "name": "av",
                "scope": {"host": "esx01"},
                "rrule": "FREQ=DAILY;BYHOUR=1;BYMINUTE=0",
                "duration": "60m",
            }
        ]
    )
    rows = {(h.kind, h.name): h for h in headroom(topo, pol, size_gib=GIB_PER_HOUR)}
    assert (rows[("datastore", "DS-01")].free_min, rows[("datastore", "DS-01")].busy_min) == (
        540,
        120,
    )
    assert (rows[("raid_group", "RG")].free_min, rows[("raid_group", "RG")].busy_min) == (600, 300)
    assert rows[("raid_group", "RG")].more_vms == 5  # 300 min spare, one 1 h VM at a time
    assert rows[("host", "esx01")].free_min == 540 and rows[("host", "esx02")].free_min == 600


def test_idle_resource_counts_its_capacity() -> None:
    # DS-02 carries no job and takes 2 at once: 2 x 10 h of window, 2 x 5 two-hour VMs.
    topo = make_topology(
        datastores=[{"name": "DS-01"}, {"name": "DS-02", "max_jobs": 2}],
        vms=[
            {
                "name": "a",
                "host": "esx01",
                "disks": [{"datastore": "DS-01", "size_gib": GIB_PER_HOUR}],
            }
        ],
    )
    rows = {(h.kind, h.name): h for h in headroom(topo, make_policy(), size_gib=GIB_PER_HOUR * 2)}
    idle = rows[("datastore", "DS-02")]
    assert (idle.capacity, idle.jobs, idle.free_min, idle.busy_min) == (2, 0, 1200, 0)
    assert idle.more_vms == 10


def test_tiered_headroom_names_each_resources_worst_night() -> None:
    """web1's full is fixed on Saturday (night 4: 300 min); sql1's block spreads its full and
    six incrementals (300 + 6 * 30 min) evenly over the 7 nights (68.6 min a night); both on
    esx01, one job at a time, 10 h a night."""
    tiers = [
        {
            "name": "gold",
            "match": {"tag": "sql"},
            "full": {"every": 7},
            "change_rate": 0.1,
            "consistency": "crash",
        },
        {
            "name": "web",
            "match": {"name": "web*"},
            "full": {"on": "FREQ=WEEKLY;BYDAY=SA"},
            "change_rate": 0.1,
            "consistency": "crash",
        },
    ]
    topo = make_topology(
        vms=[
            {
                "name": n,
                "host": "esx01",
                "tags": tags,
                "disks": [{"datastore": ds, "size_gib": GIB_PER_HOUR * 5}],
            }
            for n, tags, ds in (("sql1", ["sql"], "DS-01"), ("web1", [], "DS-02"))
        ]
    )
    pol = make_policy(
        cycle={"start": "2026-12-01", "nights": 7}, limits={"per_host": 1}, tiers=tiers
    )
    rows = {(h.kind, h.name): h for h in headroom(topo, pol)}
    host = rows[("host", "esx01")]
    assert host.jobs == 14
    assert (host.worst_night, host.worst_night_busy_min, host.worst_night_free_min) == (
        4,
        369,  # 300 + 480 / 7, rounded
        600,
    )
    gold_ds = rows[("datastore", "DS-01")]
    assert (gold_ds.worst_night, gold_ds.worst_night_busy_min) == (0, 69)  # an even share
    assert rows[("datastore", "DS-02")].worst_night == 4
