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
