"""The lower bounds against the exact model (tests/solve/exact.py) on small estates shaped for
the night bin-packing: several nights, jobs long against the window, blackouts that cut
nights into stretches, capacities above one, RAID groups over several datastores."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stagger.instance import compile_instance
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.solve.bounds import lower_bound, min_dropped
from tests.solve.crosscheck import exact_settings
from tests.solve.exact import solve_exact

EXAMPLES = int(os.environ.get("STAGGER_BOUNDS_EXAMPLES", "40"))
GIB_PER_HOUR = 351.5625  # at 100 MB/s


@st.composite
def packing_estates(draw: st.DrawFn) -> tuple[Topology, Policy]:
    n_hosts = draw(st.integers(1, 3))
    n_ds = draw(st.integers(1, 3))
    hosts: list[dict[str, Any]] = [
        {"name": f"h{i}", "cluster": "C0", "max_jobs": draw(st.integers(1, 2))}
        for i in range(n_hosts)
    ]
    stores: list[dict[str, Any]] = [
        {"name": f"d{i}", "max_jobs": draw(st.integers(1, 2))} for i in range(n_ds)
    ]
    groups = []
    if n_ds > 1 and draw(st.booleans()):
        groups.append(
            {
                "name": "rg0",
                "datastores": [f"d{i}" for i in range(n_ds)],
                "max_jobs": draw(st.integers(1, 3)),
            }
        )
    window_h = draw(st.integers(3, 6))
    slot = draw(st.sampled_from([30, 60]))
    vms = []
    nights = draw(st.integers(1, 3))
    for v in range(draw(st.integers(2, 2 + 2 * nights))):
        # Mostly long jobs (40-90 % of the window): two rarely share a night.
        long_job = draw(st.integers(0, 3)) > 0
        lo, hi = (max(1, (4 * window_h) // 5), (9 * window_h) // 5) if long_job else (1, window_h)
        halves = draw(st.integers(lo, max(lo, hi)))
        ds = draw(st.lists(st.integers(0, n_ds - 1), min_size=1, max_size=2, unique=True))
        vms.append(
            {
                "name": f"v{v}",
                "host": f"h{draw(st.integers(0, n_hosts - 1))}",
                "disks": [
                    {"datastore": f"d{i}", "size_gib": halves * GIB_PER_HOUR / 2 / len(ds)}
                    for i in ds
                ],
            }
        )
    topo = Topology.model_validate(
        {"clusters": [{"name": "C0"}], "hosts": hosts, "datastores": stores,
         "raid_groups": groups, "vms": vms}
    )  # fmt: skip
    blackouts = []
    for b in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["global", "host", "datastore", "vm"]))
        scope: Any = "global"
        if kind == "host":
            scope = {"host": f"h{draw(st.integers(0, n_hosts - 1))}"}
        elif kind == "datastore":
            scope = {"datastore": f"d{draw(st.integers(0, n_ds - 1))}"}
        elif kind == "vm":
            scope = {"vm": f"v{draw(st.integers(0, len(vms) - 1))}"}
        start_h = 20 + draw(st.integers(1, window_h - 1))
        blackouts.append(
            {
                "name": f"b{b}",
                "scope": scope,
                "duration": f"{draw(st.sampled_from([30, 60, 90]))}m",
                "rrule": f"FREQ=DAILY;BYHOUR={start_h % 24};BYMINUTE=0",
            }
        )
    policy = Policy.model_validate(
        {
            "timezone": "UTC",
            "cycle": {"start": "2026-12-01", "nights": nights},
            "window": {"start": "20:00", "end": f"{(20 + window_h) % 24:02d}:00"},
            "slot_minutes": slot,
            "throughput": {"mb_per_s": 100, "overhead_minutes": 0},
            "limits": {"per_host": 1, "per_datastore": 1, "per_raid_group": 1},
            "blackouts": blackouts,
        }
    )
    return topo, policy


@exact_settings(EXAMPLES)
@given(packing_estates())
def test_bounds_never_exceed_the_exact_optimum(case: tuple[Topology, Policy]) -> None:
    topo, policy = case
    inst = compile_instance(topo, policy)
    exact = solve_exact(topo, policy)
    assert exact.proven
    must_drop, why = min_dropped(inst)
    assert len(inst.unschedulable) + must_drop <= exact.jobs - exact.max_scheduled, why
    # The planner passes the bound so that its effective capacities are not computed again:
    # the same count, the same reason.
    assert min_dropped(inst, lower_bound(inst)) == (must_drop, why)
    if exact.max_scheduled == exact.jobs and exact.min_makespan is not None:
        b = lower_bound(inst)
        assert b.makespan * inst.slot_minutes <= exact.min_makespan, (b.reason, exact)
