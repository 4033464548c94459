"""Which tier takes each VM (stagger.tiers): selectors, first match wins, checks, warnings."""

from __future__ import annotations

import re
from fnmatch import translate
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagger.errors import InputError
from stagger.model.policy import Policy, TierMatch
from stagger.model.topology import Topology, TopologyIndex
from stagger.tiers import assign_tiers, check_tiers, tier_warnings
from tests.factories import make_policy, make_topology

# Any text a name may hold (no controls, no lone surrogates), glob metacharacters included.
NAME = st.text(
    alphabet=st.one_of(
        st.sampled_from("*?[]!/-_ .'\"$\\"),
        st.characters(blacklist_categories=("Cc", "Cs")),
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def estates(draw: st.DrawFn) -> Topology:
    names = draw(st.lists(NAME, min_size=9, max_size=20, unique=True))
    clusters, hosts, stores, tags = names[:2], names[2:4], names[4:6], names[6:9]
    vm_names = draw(st.lists(NAME, min_size=1, max_size=8, unique=True))
    folders = [None, "dc/vm", "dc/vm/prod", "dc/vm/prod/sql", "dc/vmx"]
    vms = []
    for name in vm_names:
        disks = draw(st.lists(st.sampled_from(stores), min_size=1, max_size=2))
        vms.append(
            {
                "name": name,
                "host": draw(st.sampled_from(hosts)),
                "disks": [{"datastore": d, "size_gib": 10} for d in disks],
                "tags": draw(st.lists(st.sampled_from(tags), max_size=2)),
                "folder": draw(st.sampled_from(folders)),
                "exclude": draw(st.booleans()) and draw(st.booleans()),
                "display_name": draw(st.none() | NAME),
            }
        )
    return Topology.model_validate(
        {
            "clusters": [{"name": c} for c in clusters],
            "hosts": [{"name": h, "cluster": draw(st.sampled_from(clusters))} for h in hosts],
            "datastores": [{"name": d} for d in stores],
            "vms": vms,
        }
    )


@st.composite
def matches(draw: st.DrawFn, topo: Topology) -> dict[str, Any]:
    """A tier's `match`: default, or one to three selectors drawn from the estate (or not)."""
    if draw(st.integers(0, 9)) == 0:
        return {"default": True}
    idx = topo.index()
    pools: dict[str, list[str]] = {
        "tag": sorted({t for v in topo.vms for t in v.tags}) or ["none"],
        "cluster": list(idx.clusters),
        "host": list(idx.hosts),
        "datastore": list(idx.datastores),
        "folder": ["dc/vm", "dc/vm/prod", "dc/vm/prod/", "dc/vm/prod/sql", "dc", "dc/v"],
    }
    kinds = draw(
        st.lists(st.sampled_from([*pools, "name", "vms"]), min_size=1, max_size=3, unique=True)
    )
    out: dict[str, Any] = {}
    for kind in kinds:
        if kind == "vms":
            out[kind] = draw(
                st.lists(st.sampled_from([v.name for v in topo.vms]) | NAME, min_size=1)
            )
        elif kind == "name":
            vm_name = draw(
                st.sampled_from([v.vcenter_name for v in topo.vms] + [v.name for v in topo.vms])
            )
            out[kind] = draw(st.sampled_from([vm_name, "*", vm_name[:1] + "*", "?" * len(vm_name)]))
        else:
            out[kind] = draw(st.sampled_from(pools[kind]) | NAME)
    return out


def oracle(match: TierMatch, vm_name: str, idx: TopologyIndex) -> bool:
    """Each selector written out by the index's lookups and a regex, not stagger.tiers."""
    vm = idx.vms[vm_name]
    if match.default:
        return True
    checks = []
    for kind in ("tag", "cluster", "host", "datastore"):
        wanted = getattr(match, kind)
        if wanted is not None:
            checks.append(vm_name in idx.vms_on(kind, wanted))
    if match.folder is not None:
        parts = match.folder.rstrip("/").split("/")
        checks.append(vm.folder is not None and vm.folder.split("/")[: len(parts)] == parts)
    if match.name is not None:
        rx = re.compile(translate(match.name), re.DOTALL)
        names = {vm.name, vm.display_name or vm.name}
        checks.append(any(rx.fullmatch(n) for n in names))
    if match.vms is not None:
        checks.append(vm_name in set(match.vms))
    return all(checks)


@settings(max_examples=300)
@given(st.data())
def test_first_matching_tier_takes_each_vm(data: st.DataObject) -> None:
    topo = data.draw(estates())
    specs = data.draw(st.lists(matches(topo), min_size=1, max_size=4))
    names = data.draw(st.lists(NAME, min_size=len(specs), max_size=len(specs), unique=True))
    pol = make_policy(
        throughput={"mb_per_s": 100, "change_rate": 0.1},
        tiers=[
            {"name": n, "match": m, "full": {"every": 1}} for n, m in zip(names, specs, strict=True)
        ],
    )
    got = assign_tiers(topo, pol)
    # Every VM that needs a backup, and only those, in topology order: exactly one entry each.
    assert list(got) == [v.name for v in topo.vms if v.needs_backup]
    idx = topo.index()
    for vm_name, tier in got.items():
        hits = [t for t in pol.tiers if oracle(t.match, vm_name, idx)]
        assert tier == (hits[0] if hits else None)


def _topo(*vms: dict[str, Any]) -> Topology:
    return make_topology(
        vms=[
            {"name": "a", "host": "esx01", "disks": [{"datastore": "DS-01", "size_gib": 1}]} | vm
            for vm in vms
        ]
    )


def _policy(*tiers: dict[str, Any], **extra: Any) -> Policy:
    full = {"every": 1}
    return make_policy(
        throughput={"mb_per_s": 100, "change_rate": 0.1},
        tiers=[{"full": full} | t for t in tiers],
        **extra,
    )


def test_selectors_combine_with_and_and_the_folder_is_a_prefix_of_path_parts() -> None:
    topo = _topo(
        {"name": "sql1", "tags": ["sql"], "folder": "dc/vm/prod/sql"},
        {"name": "sql2", "tags": ["sql"], "host": "esx02", "folder": "dc/vm/prodx"},
        {"name": "web1", "folder": "dc/vm/prod"},
    )
    pol = _policy(
        {"name": "sql-on-1", "match": {"tag": "sql", "host": "esx01"}},
        {"name": "prod", "match": {"folder": "dc/vm/prod"}},
        {"name": "rest", "match": {"default": True}},
    )
    got = {vm: t.name if t else None for vm, t in assign_tiers(topo, pol).items()}
    assert got == {"sql1": "sql-on-1", "sql2": "rest", "web1": "prod"}


def test_name_glob_matches_the_vcenter_name_too() -> None:
    topo = _topo({"name": "web01 (dc1/x)", "display_name": "web01"}, {"name": "db"})
    pol = _policy({"name": "w", "match": {"name": "web0?"}})
    got = {vm: t.name if t else None for vm, t in assign_tiers(topo, pol).items()}
    assert got == {"web01 (dc1/x)": "w", "db": None}


def test_warnings_are_counted() -> None:
    topo = _topo(
        {"name": "sql1", "tags": ["sql"], "tools": "old"},
        {"name": "sql2", "tags": ["sql"], "tools": "ok"},
        {"name": "other"},
    )
    pol = _policy(
        {"name": "sql", "match": {"tag": "sql"}, "consistency": "application"},
        {"name": "shadowed", "match": {"tag": "sql"}},
        {"name": "ghost", "match": {"vms": ["nope", "sql1"]}},
        {"name": "monthly", "match": {"tag": "x"}, "full": {"on": "FREQ=MONTHLY;BYMONTHDAY=15"}},
    )
    warnings = tier_warnings(pol, topo)
    assert any("tier 'shadowed' takes no VM" in w and "first match wins" in w for w in warnings)
    assert any(
        "tier 'ghost': match.vms names 1 VM(s) the estate lacks: 'nope'" in w for w in warnings
    )
    assert any(
        "tier 'sql' asks for application-consistent" in w and "1 of its VMs" in w and "'sql1'" in w
        for w in warnings
    )
    assert any("full.on 'FREQ=MONTHLY;BYMONTHDAY=15' names no night" in w for w in warnings)
    assert any(w.startswith("1 VM(s) match no tier") and "'other'" in w for w in warnings)
    assert tier_warnings(make_policy(), topo) == []


def test_power_off_needs_a_window_on_the_tier_or_every_vm() -> None:
    topo = _topo({"name": "cold1", "tags": ["cold"]}, {"name": "cold2", "tags": ["cold"]})
    tier = {"name": "cold", "match": {"tag": "cold"}, "consistency": "power-off"}
    with pytest.raises(InputError, match=r"power-off tier needs a maintenance window") as err:
        check_tiers(_policy(tier), topo)
    assert err.value.obj == "tier 'cold'" and err.value.field == "window"
    assert "2 of its VMs have none: 'cold1', 'cold2'" in str(err.value)
    check_tiers(_policy(tier | {"window": {"start": "01:00", "end": "05:00"}}), topo)
    win = {"start": "01:00", "end": "05:00"}
    check_tiers(
        _policy(tier),
        _topo({"name": "c1", "tags": ["cold"], "window": win}, {"name": "x"}),
    )


def test_vm_window_outside_the_policy_window() -> None:
    topo = _topo({"name": "a", "window": {"start": "19:00", "end": "21:00"}})
    with pytest.raises(InputError, match="19:00-21:00 is not inside the policy window 20:00-06:00"):
        check_tiers(make_policy(), topo)
