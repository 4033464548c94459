"""Which VMs a blackout's scope covers. Domain semantics shared by the compiler and validator."""

from __future__ import annotations

from collections.abc import Collection

from stagger.errors import InputError, shown
from stagger.model.policy import Blackout, Policy
from stagger.model.topology import Topology, TopologyIndex


def affected_vms(blackout: Blackout, idx: TopologyIndex) -> set[str]:
    """Names of the VMs whose backup job may not overlap ``blackout``.

    ``expand`` widens the match to every VM sharing a host (or datastore, or RAID group) with a
    matching VM: payroll VMs keep their hosts busy, so nothing on those hosts is backed up then.
    """
    vms = idx.topology.vms
    scope = blackout.scope
    if scope == "global":
        return {v.name for v in vms}
    kind, target = scope.kind, scope.target
    known: dict[str, Collection[str]] = {
        "cluster": idx.clusters,
        "host": idx.hosts,
        "datastore": idx.datastores,
        "raid_group": idx.raid_groups,
        "vm": idx.vms,
    }
    if kind in known and target not in known[kind]:
        raise InputError(
            f"unknown {kind.replace('_', ' ')} {shown(target)}",
            obj=f"blackout {shown(blackout.name)}",
            field=f"scope.{kind}",
        )
    if kind == "cluster":
        matched = {v.name for v in vms if idx.hosts[v.host].cluster == target}
    elif kind == "host":
        matched = {v.name for v in vms if v.host == target}
    elif kind == "datastore":
        matched = {v.name for v in vms if target in v.datastores}
    elif kind == "raid_group":
        matched = {v.name for v in vms if target in idx.raid_groups_of(v)}
    elif kind == "vm":
        matched = {target}
    else:
        matched = {v.name for v in vms if target in v.tags}
    if scope.expand is None or not matched:
        return matched
    if scope.expand == "hosts":
        hosts = {idx.vms[m].host for m in matched}
        return {v.name for v in vms if v.host in hosts}
    if scope.expand == "datastores":
        stores = {d for m in matched for d in idx.vms[m].datastores}
        return {v.name for v in vms if stores.intersection(v.datastores)}
    groups = {g for m in matched for g in idx.raid_groups_of(idx.vms[m])}
    return {v.name for v in vms if groups.intersection(idx.raid_groups_of(v))}


def check_scopes(policy: Policy, topology: Topology) -> None:
    """Raise InputError for every blackout whose scope names an object the estate lacks."""
    idx = topology.index()
    problems: list[InputError] = []
    for b in policy.blackouts:
        try:
            affected_vms(b, idx)
        except InputError as exc:
            problems.append(exc)
    if problems:
        problems[0].more = problems[1:]
        raise problems[0]
