"""Headroom: how much more backup each host, datastore and RAID group can take.

For every resource: window minutes left after the blackouts that apply to all of its jobs
(times its capacity), minutes already booked by its jobs, and how many more VMs of a given size
would fit by load: ``(free - busy) // job length``, also limited by the free stretches long
enough for one such job. It is an estimate per resource (a new VM also needs its host, its
datastores and its RAID group at the same time); ``whatif --add`` gives the exact answer.

Tiered estates (several jobs per VM over the cycle's nights) also get each resource's worst
night: per night, the work that must land on it (jobs that run on that night only, e.g. a fixed
full or a fixed-night incremental) plus each block's jobs (a planner-chosen full and the
incrementals of its block) spread evenly over the block's nights, the least a night can carry
when the fulls are staggered; compared with that night's window (times capacity). The probe
VM of ``size_gib`` stays a single-regime job (one per cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

from stagger.instance import Instance, compile_instance, free_segments
from stagger.jobs import job_slots
from stagger.model.policy import Policy
from stagger.model.topology import VM, Disk, Topology
from stagger.rules import ResourceRef, capacity, estate_resources
from stagger.solve.bounds import lower_bound


@dataclass
class Headroom:
    kind: str  # host / datastore / raid_group
    name: str
    capacity: int
    jobs: int
    free_min: int  # window minutes after blackouts, times capacity
    busy_min: int
    more_vms: int  # how many more VMs of the given size fit (estimate)
    # Tiered estates: the night with the most work (module doc), its work and its window
    # minutes (times capacity). None: one job per VM, no night carries more than another.
    worst_night: int | None = None
    worst_night_busy_min: int = 0
    worst_night_free_min: int = 0

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


def night_loads(inst: Instance, members: list[int]) -> list[float]:
    """Per night, slots of work the jobs ``members`` put on it (module doc: each block's jobs
    spread evenly over its nights, a job alone on its nights likewise)."""
    loads = [0.0] * len(inst.nights)
    grouped = inst.groups()
    seen: set[int] = set()
    for j in members:
        job = inst.jobs[j]
        if job.group is None:
            nights = job.nights
            share = job.duration / len(nights) if nights else 0.0
            for n in nights:
                loads[n] += share
            continue
        if job.group in seen:
            continue
        seen.add(job.group)
        block = sorted({n for k in grouped[job.group] for n in inst.jobs[k].nights})
        work = sum(inst.jobs[k].duration for k in grouped[job.group] if k in set(members))
        for n in block:
            loads[n] += work / len(block)
    return loads


def _tiered(inst: Instance) -> bool:
    return any(job.level is not None for job in inst.jobs)


def headroom(topology: Topology, policy: Policy, size_gib: float = 500.0) -> list[Headroom]:
    """One row per host, datastore and RAID group, least headroom first."""
    inst = compile_instance(topology, policy)
    tiered = _tiered(inst)
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
        row = Headroom(
            res.kind,
            res.name,
            res.capacity,
            len(by_res.get(r, [])),
            free * slot,
            busy * slot,
            min(by_load, by_stretch),
        )
        if tiered:
            per_night = night_loads(inst, by_res.get(r, []))
            room = [
                sum(b - a for a, b in free_segments(n, blocked)) * res.capacity for n in inst.nights
            ]
            worst = max(
                range(len(inst.nights)),
                key=lambda n: (per_night[n] / room[n] if room[n] else float("inf"), -n),
            )
            row.worst_night = worst
            row.worst_night_busy_min = round(per_night[worst] * slot)
            row.worst_night_free_min = room[worst] * slot
        rows.append(row)
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
