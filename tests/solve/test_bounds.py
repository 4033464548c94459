"""The lower bound's per-resource load bound, on a hand-computed case."""

from __future__ import annotations

from stagger.instance import compile_instance
from stagger.solve.bounds import lower_bound
from tests.factories import GIB_PER_HOUR, make_policy, make_topology


def test_load_bound_of_a_resource_is_its_load_over_its_capacity() -> None:
    """Three 1 h jobs on a datastore that takes one job at a time need 3 h; on one that takes
    two, 1.5 h (the load bound splits the load evenly over the capacity, a relaxation). The
    bound names the load that sets it. Hall's check in the same function reaches the same
    makespan by itself, so only the per-resource bounds and the reason show a load counted
    against the wrong capacity."""
    topo = make_topology(
        hosts=[{"name": f"esx0{i}", "cluster": "C1"} for i in (1, 2, 3)],
        datastores=[{"name": "DS-01"}, {"name": "DS-02", "max_jobs": 2}],
        vms=[
            {
                "name": f"{ds}-{i}",
                "host": f"esx0{i}",
                "disks": [{"datastore": ds, "size_gib": GIB_PER_HOUR}],
            }
            for ds in ("DS-01", "DS-02")
            for i in (1, 2, 3)
        ],
    )
    inst = compile_instance(topo, make_policy(limits={"per_host": 2}))
    b = lower_bound(inst)
    per_hour = 60 // inst.slot_minutes
    by_name = {inst.resources[load.resource].name: load for load in b.loads}
    assert by_name["DS-01"].bound == 3 * per_hour
    assert by_name["DS-02"].bound == 3 * per_hour // 2
    assert b.makespan == 3 * per_hour
    assert b.reason == "load on datastore DS-01"
