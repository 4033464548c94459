"""The planning rules' meaning, each written once, as plain functions over the models.

Which VMs get a job, which resources a VM's job occupies and how many jobs each resource
takes at once, and which blackouts a VM's job must keep clear of. No slots, no solver
encoding: the compiler (instance.py) turns these answers into slots, the validator checks
absolute times against them, headroom and explain report on them. A new resource kind is
added here and every one of them sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import ResourceKind
from stagger.model.topology import VM, Topology, TopologyIndex
from stagger.scope import affected_vms

# The one global resource has a single instance under this name.
CONCURRENT = "*"


@dataclass(frozen=True, slots=True, order=True)
class ResourceRef:
    """One resource a job occupies while it runs: a host, a datastore, a RAID group, or the
    backup proxy's task slots shared by every job (``concurrent``)."""

    kind: ResourceKind
    name: str

    @property
    def label(self) -> str:
        return (
            "backup proxy task slots"
            if self.kind == "concurrent"
            else f"{self.kind.replace('_', ' ')} {self.name}"
        )


def needs_job(vm: VM) -> bool:
    """Excluded VMs and templates get no backup job; every other VM gets one."""
    return vm.needs_backup


def vm_resources(vm: VM, idx: TopologyIndex, policy: Policy) -> list[ResourceRef]:
    """Every resource ``vm``'s job occupies for its whole length, in a fixed order: its host,
    each datastore its disks are on, each RAID group behind those, then the global task slots
    when the policy limits them (``limits.concurrent_jobs``)."""
    out = [ResourceRef("host", vm.host)]
    out += [ResourceRef("datastore", d) for d in vm.datastores]
    out += [ResourceRef("raid_group", g) for g in idx.raid_groups_of(vm)]
    if policy.limits.concurrent_jobs:
        out.append(ResourceRef("concurrent", CONCURRENT))
    return out


def capacity(res: ResourceRef, idx: TopologyIndex, policy: Policy) -> int:
    """Jobs ``res`` runs at once: the object's own ``max_jobs``, else the policy's limit for
    its kind. The task slots are unlimited (0) when ``limits.concurrent_jobs`` is unset."""
    if res.kind == "host":
        return idx.hosts[res.name].max_jobs or policy_limit(res.kind, policy)
    if res.kind == "datastore":
        return idx.datastores[res.name].max_jobs or policy_limit(res.kind, policy)
    if res.kind == "raid_group":
        return idx.raid_groups[res.name].max_jobs or policy_limit(res.kind, policy)
    return policy_limit(res.kind, policy)


def infrastructure_capacity(res: ResourceRef, infra: Infrastructure) -> int:
    """Units ``res`` (kind proxy, repository or ingest, named by the proxy or repository)
    holds at once: a proxy's or repository's ``max_tasks`` task slots, a repository's ingest
    in whole MB/s (rounded down: never more than the file allows; at least 1, since a
    capacity of 0 means "no limit" to the solvers)."""
    if res.kind == "proxy":
        proxy = infra.proxy(res.name)
        if proxy is None:
            raise ValueError(f"no proxy {res.name!r} in the infrastructure")
        return proxy.max_tasks
    repo = infra.repository(res.name)
    if repo is None or res.kind not in ("repository", "ingest"):
        raise ValueError(f"no {res.kind} {res.name!r} in the infrastructure")
    if res.kind == "repository":
        return repo.max_tasks
    return max(1, math.floor(repo.ingest_mb_per_s))


def ingest_demand(mb_per_s: float, ingest_capacity: int) -> int:
    """Units of a repository's ingest (whole MB/s, :func:`infrastructure_capacity`) one job
    moving ``mb_per_s`` takes while it runs: its rate rounded up, at most the whole capacity
    (a job's rate is capped by its repository's ingest, which the capacity rounds down)."""
    return min(ingest_capacity, max(1, math.ceil(mb_per_s - 1e-9)))


def policy_limit(kind: ResourceKind, policy: Policy) -> int:
    """The policy's limit for a resource of ``kind`` that sets no ``max_jobs`` of its own (or
    that the topology does not hold: the HTML page of a trusted, hand-edited schedule)."""
    limits = policy.limits
    if kind == "host":
        return limits.per_host
    if kind == "datastore":
        return limits.per_datastore
    if kind == "raid_group":
        return limits.per_raid_group
    return limits.concurrent_jobs or 0


def estate_resources(topology: Topology) -> list[ResourceRef]:
    """Every host, datastore and RAID group of the estate (used by a job or not), in topology
    order: the resources a new VM could land on."""
    out = [ResourceRef("host", h.name) for h in topology.hosts]
    out += [ResourceRef("datastore", d.name) for d in topology.datastores]
    out += [ResourceRef("raid_group", g.name) for g in topology.raid_groups]
    return out


def blackout_members(policy: Policy, idx: TopologyIndex) -> list[set[str]]:
    """Per blackout of ``policy`` (same order): the VMs whose job may not overlap it."""
    return [affected_vms(b, idx) for b in policy.blackouts]


def blackouts_by_vm(policy: Policy, idx: TopologyIndex) -> dict[str, tuple[int, ...]]:
    """VM name -> indices (into ``policy.blackouts``, ascending) of the blackouts that apply
    to its job. VMs without any are absent."""
    out: dict[str, list[int]] = {}
    for b_i, members in enumerate(blackout_members(policy, idx)):
        for name in sorted(members):
            out.setdefault(name, []).append(b_i)
    return {name: tuple(bs) for name, bs in out.items()}
