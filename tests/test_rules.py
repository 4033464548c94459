"""The rules' meaning (stagger.rules), and that the compiler and validator follow it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stagger.instance import compile_instance
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, plan
from stagger.rules import (
    ResourceRef,
    blackout_members,
    blackouts_by_vm,
    capacity,
    estate_resources,
    needs_job,
    vm_resources,
)
from stagger.validate import find_violations
from tests.factories import GIB_PER_HOUR, make_policy, make_topology


def _topology() -> Topology:
    return make_topology(
        hosts=[{"name": "esx01", "cluster": "C1", "max_jobs": 3}, {"name": "esx02"}],
        datastores=[{"name": "DS-01"}, {"name": "DS-02", "max_jobs": 2}, {"name": "DS-03"}],
        raid_groups=[
            {"name": "RG", "datastores": ["DS-01", "DS-02"], "max_jobs": 4},
            {"name": "RG-3", "datastores": ["DS-03"]},
        ],
        vms=[
            {
                "name": "a",
                "host": "esx01",
                "tags": ["payroll"],
                "disks": [
                    {"datastore": "DS-02", "size_gib": GIB_PER_HOUR},
                    {"datastore": "DS-01", "size_gib": 1},
                    {"datastore": "DS-02", "size_gib": 1},
                ],
            },
            {"name": "b", "host": "esx01", "disks": [{"datastore": "DS-03", "size_gib": 9}]},
            {"name": "c", "host": "esx02", "disks": [{"size_gib": 9}]},
            {"name": "t", "host": "esx02", "template": True, "disks": [{"size_gib": 9}]},
            {"name": "x", "host": "esx02", "exclude": True, "disks": [{"size_gib": 9}]},
        ],
    )


def test_resources_of_a_vm_in_a_fixed_order() -> None:
    topo = _topology()
    idx = topo.index()
    a = idx.vms["a"]
    assert vm_resources(a, idx, make_policy()) == [
        ResourceRef("host", "esx01"),
        ResourceRef("datastore", "DS-02"),  # first-seen disk order, once each
        ResourceRef("datastore", "DS-01"),
        ResourceRef("raid_group", "RG"),  # once, though both datastores are in it
    ]
    # The task slots only when the policy limits them.
    limited = make_policy(limits={"concurrent_jobs": 5})
    assert vm_resources(idx.vms["c"], idx, limited) == [
        ResourceRef("host", "esx02"),
        ResourceRef("concurrent", "*"),
    ]


def test_capacity_is_the_objects_max_jobs_else_the_kinds_limit() -> None:
    topo = _topology()
    idx = topo.index()
    pol = make_policy(limits={"per_host": 2, "per_datastore": 7, "per_raid_group": 6})
    caps = {r.label: capacity(r, idx, pol) for r in estate_resources(topo)}
    assert caps == {
        "host esx01": 3,
        "host esx02": 2,
        "datastore DS-01": 7,
        "datastore DS-02": 2,
        "datastore DS-03": 7,
        "raid group RG": 4,
        "raid group RG-3": 6,
    }
    slots = ResourceRef("concurrent", "*")
    assert capacity(slots, idx, pol) == 0
    assert capacity(slots, idx, make_policy(limits={"concurrent_jobs": 5})) == 5
    assert slots.label == "backup proxy task slots"


def test_excluded_vms_and_templates_need_no_job() -> None:
    idx = _topology().index()
    assert [n for n, vm in idx.vms.items() if needs_job(vm)] == ["a", "b", "c"]


def test_blackouts_apply_by_scope_and_expand() -> None:
    topo = _topology()
    idx = topo.index()
    pol = make_policy(
        blackouts=[
            {"name": "g", "start": "2026-12-01T21:00", "end": "2026-12-01T22:00"},
            {
                "name": "pay",
                "scope": {"tag": "payroll", "expand": "hosts"},
                "start": "2026-12-01T21:00",
                "end": "2026-12-01T22:00",
            },
            {
                "name": "rg",
                "scope": {"raid_group": "RG"},
                "start": "2026-12-01T21:00",
                "end": "2026-12-01T22:00",
            },
        ]
    )
    assert blackout_members(pol, idx) == [{"a", "b", "c", "t", "x"}, {"a", "b"}, {"a"}]
    assert blackouts_by_vm(pol, idx) == {
        "a": (0, 1, 2),
        "b": (0, 1),
        "c": (0,),
        "t": (0,),
        "x": (0,),
    }


def _on(name: str, host: str, *stores: str, **extra: object) -> dict[str, object]:
    disks = [{"datastore": d, "size_gib": 1} for d in stores] or [{"size_gib": 1}]
    return {"name": name, "host": host, "disks": disks, **extra}


@pytest.mark.parametrize(
    ("scope", "members"),
    [
        ({"cluster": "C1"}, {"a", "b"}),  # esx02 is in no cluster
        ({"host": "esx02"}, {"c", "t", "x"}),
        ({"datastore": "DS-01"}, {"a"}),
        ({"raid_group": "RG"}, {"a", "c", "t"}),
        ({"vm": "b"}, {"b"}),
        ({"tag": "payroll"}, {"a"}),
        ({"vm": "b", "expand": "hosts"}, {"a", "b"}),
        # DS-03 holds b and c; c is also on DS-02, which t uses: one step, not transitive.
        ({"datastore": "DS-03", "expand": "datastores"}, {"b", "c", "t"}),
        ({"datastore": "DS-01", "expand": "raid_groups"}, {"a", "c", "t"}),
        ({"tag": "nobody", "expand": "hosts"}, set()),
    ],
)
def test_each_scope_kind(scope: dict[str, str], members: set[str]) -> None:
    topo = make_topology(
        hosts=[{"name": "esx01", "cluster": "C1"}, {"name": "esx02"}],
        datastores=[{"name": "DS-01"}, {"name": "DS-02"}, {"name": "DS-03"}],
        raid_groups=[{"name": "RG", "datastores": ["DS-01", "DS-02"]}],
        vms=[
            _on("a", "esx01", "DS-01", tags=["payroll"]),
            _on("b", "esx01", "DS-03"),
            _on("c", "esx02", "DS-02", "DS-03"),
            _on("t", "esx02", "DS-02"),
            _on("x", "esx02"),
        ],
    )
    window = {"start": "2026-12-01T21:00", "end": "2026-12-01T22:00"}
    pol = make_policy(blackouts=[{"name": "s", "scope": scope, **window}])
    assert blackout_members(pol, topo.index()) == [members]


@pytest.mark.parametrize("concurrent", [None, 2])
def test_compiler_uses_the_rules(concurrent: int | None) -> None:
    topo = _topology()
    idx = topo.index()
    pol = make_policy(limits={"per_host": 2, "concurrent_jobs": concurrent})
    inst = compile_instance(topo, pol)
    assert [j.vm for j in inst.jobs] == ["a", "b", "c"]
    for job in inst.jobs:
        refs = [ResourceRef(inst.resources[r].kind, inst.resources[r].name) for r in job.resources]
        assert refs == vm_resources(idx.vms[job.vm], idx, pol)
        for r in job.resources:
            res = inst.resources[r]
            assert res.capacity == capacity(ResourceRef(res.kind, res.name), idx, pol)


def test_validator_counts_a_shared_datastore_by_the_rules() -> None:
    # DS-02 takes 2 jobs at once: two overlapping jobs there are fine, three are not.
    topo = make_topology(
        hosts=[{"name": f"esx0{i}"} for i in (1, 2, 3)],
        datastores=[{"name": "DS-02", "max_jobs": 2}],
        vms=[
            {
                "name": f"v{i}",
                "host": f"esx0{i}",
                "disks": [{"datastore": "DS-02", "size_gib": GIB_PER_HOUR}],
            }
            for i in (1, 2, 3)
        ],
    )
    pol = make_policy()
    s = plan(topo, pol, PlanOptions(solver="greedy")).schedule
    assert find_violations(s, topo, pol) == []
    starts = sorted(j.start for j in s.jobs)
    assert starts[0] == starts[1] and starts[2] == starts[0] + timedelta(hours=1)
    bad = s.model_copy(deep=True)
    last = max(bad.jobs, key=lambda j: j.start)
    last.start -= timedelta(hours=1)
    last.end -= timedelta(hours=1)
    v = find_violations(bad, topo, pol)
    assert any(x.startswith("datastore DS-02: 3 jobs at") and x.endswith("limit 2") for x in v), v
