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
    scope = blackout.scope
    if scope == "global":
        return set(idx.vms)
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
    matched = {target} if kind == "vm" else set(idx.vms_on(kind, target))
    if scope.expand is None or not matched:
        return matched
    if scope.expand == "hosts":
        on: set[str] = {idx.vms[m].host for m in matched}
        kind_on = "host"
    elif scope.expand == "datastores":
        on = {d for m in matched for d in idx.vms[m].datastores}
        kind_on = "datastore"
    else:
        on = {g for m in matched for g in idx.raid_groups_of(idx.vms[m])}
        kind_on = "raid_group"
    return {v for name in on for v in idx.vms_on(kind_on, name)}


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
