"""Which VMs a blackout's scope covers (stagger.scope): the indexed lookup against a scan.

``affected_vms`` looks VMs up in ``TopologyIndex.vms_on`` (built once per index). The oracle
here is the scan it replaced, kept verbatim: every VM tested against the scope, per blackout.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagger.errors import InputError
from stagger.model.policy import Blackout
from stagger.model.topology import Topology, TopologyIndex
from stagger.scope import affected_vms, check_scopes
from tests.factories import make_policy


def scanned_vms(blackout: Blackout, idx: TopologyIndex) -> set[str]:
    """The scan ``affected_vms`` did before the index (commit 7f2ffcb): the oracle."""
    vms = idx.topology.vms
    scope = blackout.scope
    if scope == "global":
        return {v.name for v in vms}
    kind, target = scope.kind, scope.target
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


ONE_HOUR = {"start": "2026-12-01T21:00", "end": "2026-12-01T22:00"}
TAGS = ["payroll", "sql", "web", "Payroll", "ü-tag"]


@st.composite
def estates(draw: st.DrawFn) -> Topology:
    """Small estates with every sharing the scopes care about: hosts with and without a
    cluster, datastores in a RAID group or in none, VMs on several datastores (repeats
    included), disks without a datastore, repeated tags, VMs that get no job."""
    n_clusters = draw(st.integers(0, 3))
    clusters = [f"C{i}" for i in range(n_clusters)]
    hosts = [
        {"name": f"esx{i}", "cluster": draw(st.sampled_from([None, *clusters]))}
        for i in range(draw(st.integers(1, 5)))
    ]
    stores = [f"DS{i}" for i in range(draw(st.integers(1, 6)))]
    groups: list[dict[str, Any]] = []
    for ds in stores:
        g = draw(st.integers(-1, 2))  # -1: in no RAID group
        if g < 0:
            continue
        while len(groups) <= g:
            groups.append({"name": f"RG{len(groups)}", "datastores": []})
        groups[g]["datastores"].append(ds)
    vms = []
    for i in range(draw(st.integers(0, 12))):
        disks = [
            {"datastore": draw(st.sampled_from([None, *stores])), "size_gib": 10}
            for _ in range(draw(st.integers(1, 4)))
        ]
        vms.append(
            {
                "name": f"vm{i}",
                "host": draw(st.sampled_from([h["name"] for h in hosts])),
                "disks": disks,
                "tags": draw(st.lists(st.sampled_from(TAGS), max_size=3)),
                "template": draw(st.booleans()),
            }
        )
    return Topology.model_validate(
        {
            "clusters": [{"name": c} for c in clusters],
            "hosts": hosts,
            "datastores": [{"name": d} for d in stores],
            "raid_groups": groups,
            "vms": vms,
        }
    )


@st.composite
def estate_and_blackouts(draw: st.DrawFn) -> tuple[Topology, list[Blackout]]:
    topo = draw(estates())
    names = {
        "cluster": [c.name for c in topo.clusters],
        "host": [h.name for h in topo.hosts],
        "datastore": [d.name for d in topo.datastores],
        "raid_group": [g.name for g in topo.raid_groups],
        "vm": [v.name for v in topo.vms],
        "tag": [*TAGS, "nobody-has-it"],
    }
    blackouts = []
    for i in range(draw(st.integers(1, 6))):
        kinds = [k for k, known in names.items() if known]
        kind = draw(st.sampled_from(["global", *kinds]))
        scope: Any = "global"
        if kind != "global":
            scope = {
                kind: draw(st.sampled_from(names[kind])),
                "expand": draw(st.sampled_from([None, "hosts", "datastores", "raid_groups"])),
            }
        blackouts.append(Blackout.model_validate({"name": f"b{i}", "scope": scope, **ONE_HOUR}))
    return topo, blackouts


@given(estate_and_blackouts())
@settings(max_examples=300)
def test_indexed_lookup_equals_the_scan(case: tuple[Topology, list[Blackout]]) -> None:
    topo, blackouts = case
    idx = topo.index()
    for b in blackouts:
        assert affected_vms(b, idx) == scanned_vms(b, idx), b.scope


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("cluster", "scope.cluster"),
        ("host", "scope.host"),
        ("datastore", "scope.datastore"),
        ("raid_group", "scope.raid_group"),
        ("vm", "scope.vm"),
    ],
)
def test_unknown_object_is_one_clear_error(kind: str, field: str) -> None:
    topo = Topology.model_validate(
        {
            "hosts": [{"name": "esx1"}],
            "vms": [{"name": "a", "host": "esx1", "disks": [{"size_gib": 1}]}],
        }
    )
    pol = make_policy(blackouts=[{"name": "b", "scope": {kind: "no'pe"}, **ONE_HOUR}])
    with pytest.raises(InputError) as err:
        check_scopes(pol, topo)
    text = str(err.value)
    assert f"unknown {kind.replace('_', ' ')} 'no\\'pe'" in text
    assert field in text
    assert "\n" not in text


def test_an_unknown_tag_matches_nothing() -> None:
    topo = Topology.model_validate(
        {
            "hosts": [{"name": "esx1"}],
            "vms": [{"name": "a", "host": "esx1", "disks": [{"size_gib": 1}], "tags": ["x"]}],
        }
    )
    b = Blackout.model_validate({"name": "t", "scope": {"tag": "y", "expand": "hosts"}, **ONE_HOUR})
    assert affected_vms(b, topo.index()) == set()
