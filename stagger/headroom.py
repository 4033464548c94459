"""Headroom: how much more backup each host, datastore and RAID group can take.

For every resource: window minutes left after the blackouts that apply to all of its jobs
(times its capacity), minutes already booked by its jobs, and how many more VMs of a given size
would fit by load: ``(free - busy) // job length``, also limited by the free stretches long
enough for one such job. It is an estimate per resource (a new VM also needs its host, its
datastores and its RAID group at the same time); ``whatif --add`` gives the exact answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from stagger.instance import Instance, compile_instance, free_segments
from stagger.jobs import job_slots
from stagger.model.policy import Policy
from stagger.model.topology import VM, Disk, Topology
from stagger.rules import ResourceRef, capacity, estate_resources
from stagger.solve.bounds import lower_bound


@dataclass(frozen=True)
class Headroom:
    kind: str  # host / datastore / raid_group
    name: str
    capacity: int
    jobs: int
    free_min: int  # window minutes after blackouts, times capacity
    busy_min: int
    more_vms: int  # how many more VMs of the given size fit (estimate)

    @property
    def spare_min(self) -> int:
        return max(0, self.free_min - self.busy_min)

    @property
    def utilisation_pct(self) -> float:
        return round(100 * self.busy_min / self.free_min, 1) if self.free_min else 100.0


def _stretch_fit(inst: Instance, blocked: list[tuple[int, int]], duration: int) -> int:
    return sum(
        (b - a) // duration for n in inst.nights for a, b in free_segments(n, blocked) if b > a
    )


def headroom(topology: Topology, policy: Policy, size_gib: float = 500.0) -> list[Headroom]:
    """One row per host, datastore and RAID group, least headroom first."""
    inst = compile_instance(topology, policy)
    bound = lower_bound(inst)
    probe = VM(name="probe", host="probe", disks=[Disk(size_gib=size_gib)])
    duration = job_slots(probe, policy)
    slot = inst.slot_minutes
    by_res = inst.jobs_by_resource()
    loads = {ld.resource: ld for ld in bound.loads}
    night_total = sum(n.end - n.start for n in inst.nights)
    seen: set[ResourceRef] = set()
    rows: list[Headroom] = []
    for r, res in enumerate(inst.resources):
        if res.kind == "concurrent":
            continue
        seen.add(ResourceRef(res.kind, res.name))
        load = loads.get(r)
        busy = load.load if load else 0
        free = (load.free if load else night_total) * res.capacity
        blocked = inst.resource_blocked.get(r, [])
        by_load = max(0, free - busy) // duration
        by_stretch = _stretch_fit(inst, blocked, duration) * res.capacity
        rows.append(
            Headroom(
                res.kind,
                res.name,
                res.capacity,
                len(by_res.get(r, [])),
                free * slot,
                busy * slot,
                min(by_load, by_stretch),
            )
        )
    # Resources no job uses yet: the whole window is free.
    idx = topology.index()
    for ref in estate_resources(topology):
        if ref in seen:
            continue
        cap = capacity(ref, idx, policy)
        fit = _stretch_fit(inst, [], duration) * cap
        rows.append(Headroom(ref.kind, ref.name, cap, 0, night_total * cap * slot, 0, fit))
    rows.sort(key=lambda h: (h.more_vms, -h.utilisation_pct, h.kind, h.name))
    return rows


def first_saturated(topology: Topology, policy: Policy) -> tuple[str, float]:
    """The resource with the highest booked share of its free window, and that share in %."""
    inst = compile_instance(topology, policy)
    bound = lower_bound(inst)
    best = ("-", 0.0)
    for ld in bound.loads:
        res = inst.resources[ld.resource]
        cap = res.capacity or len(inst.jobs)
        pct = 100.0 * ld.load / (ld.free * cap) if ld.free else float("inf")
        if pct > best[1]:
            best = (res.label, round(pct, 1))
    return best
