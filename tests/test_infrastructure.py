"""The reach rule and the checks of an infrastructure file against an estate
(stagger.infrastructure)."""

from __future__ import annotations

from typing import Any

import pytest

from stagger.errors import InputError
from stagger.infrastructure import check_infrastructure, options, pins_of, reaches
from stagger.model.infrastructure import Infrastructure
from stagger.model.topology import Topology
from tests.factories import make_policy


def _vm(name: str, host: str, *stores: str, **extra: Any) -> dict[str, Any]:
    disks = [{"datastore": s, "size_gib": 10} for s in stores]
    return {"name": name, "host": host, "disks": disks, **extra}


def _estate(*vms: dict[str, Any]) -> Topology:
    return Topology.model_validate(
        {
            "clusters": [{"name": "PROD-A"}, {"name": "PROD-B"}],
            "hosts": [
                {"name": "esx01", "cluster": "PROD-A"},
                {"name": "esx02", "cluster": "PROD-B"},
            ],
            "datastores": [{"name": n} for n in ("DS-10", "DS-11", "DS-20")],
            "vms": list(vms),
        }
    )


def _infra(*proxies: dict[str, Any], **extra: Any) -> Infrastructure:
    data: dict[str, Any] = {
        "proxies": list(proxies),
        "transport": {
            "hotadd": {"mb_per_s": 400},
            "san": {"mb_per_s": 600},
            "nbd": {"mb_per_s": 120},
        },
        "repositories": [{"name": "repo-1", "max_tasks": 4, "ingest_mb_per_s": 1000}],
    }
    data.update(extra)
    return Infrastructure.model_validate(data)


def _proxy(name: str, modes: list[str], reach: dict[str, str] | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "max_tasks": 2, "modes": modes}
    if reach is not None:
        p["reaches"] = reach
    return p


ESTATE = _estate(
    _vm("a-san", "esx01", "DS-10", "DS-11"),
    _vm("a-mixed", "esx01", "DS-10", "DS-20"),
    _vm("b-tagged", "esx02", "DS-20", tags=["gold"]),
)


@pytest.mark.parametrize(
    ("reach", "expected"),
    [
        (None, {"a-san", "a-mixed", "b-tagged"}),
        ({"cluster": "PROD-A"}, {"a-san", "a-mixed"}),
        ({"host": "esx02"}, {"b-tagged"}),
        ({"tag": "gold"}, {"b-tagged"}),
        # EVERY datastore the VM reads must match the glob: a-mixed also reads DS-20.
        ({"datastore": "DS-1*"}, {"a-san"}),
        ({"datastore": "DS-1*", "cluster": "PROD-B"}, set()),
        ({"datastore": "DS-[12]*", "host": "esx01"}, {"a-san", "a-mixed"}),
    ],
)
def test_reach_rule(reach: dict[str, str] | None, expected: set[str]) -> None:
    infra = _infra(_proxy("p", ["nbd"], reach))
    idx = ESTATE.index()
    assert {vm.name for vm in ESTATE.vms if reaches(infra.proxies[0], vm, idx)} == expected


def test_options_follow_reach_modes_and_pins() -> None:
    infra = _infra(
        _proxy("prx-a", ["hotadd", "nbd"], {"cluster": "PROD-A"}),
        _proxy("prx-san", ["san"], {"datastore": "DS-1*"}),
    )
    idx = ESTATE.index()
    vm = idx.vms["a-san"]
    assert options(vm, pins_of(vm, None), infra, idx) == [
        ("prx-a", "hotadd"),
        ("prx-a", "nbd"),
        ("prx-san", "san"),
    ]
    pinned = vm.model_copy(update={"mode": "nbd"})
    assert options(pinned, pins_of(pinned, None), infra, idx) == [("prx-a", "nbd")]
    assert options(idx.vms["b-tagged"], pins_of(idx.vms["b-tagged"], None), infra, idx) == []


def test_checked_estate_reports_reach_and_refuses_a_proxy_that_reaches_nothing() -> None:
    infra = _infra(_proxy("prx-any", ["nbd"]), _proxy("prx-c", ["nbd"], {"cluster": "NOPE"}))
    report = check_infrastructure(infra, ESTATE, infra_file="i.yaml")
    assert report.reached == {"prx-any": ["a-san", "a-mixed", "b-tagged"], "prx-c": []}
    assert report.idle_proxies == ["prx-c"] and report.warnings == []
    with pytest.raises(InputError) as err:
        report.check()
    assert str(err.value) == (
        "i.yaml: proxy 'prx-c': field 'reaches': reaches none of the 3 VMs that need a backup"
        " (check its selector, or remove the proxy)"
    )


def test_vm_no_proxy_reaches_is_an_error_naming_file_vm_and_where_it_runs() -> None:
    infra = _infra(_proxy("prx-a", ["nbd"], {"cluster": "PROD-A"}))
    report = check_infrastructure(infra, ESTATE, topology_file="t.yaml")
    assert list(report.unreached) == ["b-tagged"]
    with pytest.raises(InputError) as err:
        report.check()
    assert err.value.lines() == [
        "t.yaml: vm 'b-tagged': no proxy reaches it (host 'esx02', cluster 'PROD-B',"
        " datastores 'DS-20')"
    ]


def test_excluded_vm_needs_no_proxy() -> None:
    estate = _estate(_vm("a", "esx01", "DS-10"), _vm("off", "esx02", "DS-20", exclude=True))
    infra = _infra(_proxy("prx-a", ["nbd"], {"cluster": "PROD-A"}))
    check_infrastructure(infra, estate).check()


def test_vm_pins_name_existing_objects_and_modes() -> None:
    estate = _estate(
        _vm("ghost-proxy", "esx01", "DS-10", proxy="prx-x"),
        _vm("wrong-mode", "esx01", "DS-10", proxy="prx-a", mode="san"),
        _vm("ghost-repo", "esx01", "DS-10", repository="repo-9"),
        _vm("not-reached", "esx02", "DS-20", proxy="prx-a"),
    )
    infra = _infra(
        _proxy("prx-a", ["hotadd", "nbd"], {"cluster": "PROD-A"}),
        _proxy("prx-b", ["nbd"], {"cluster": "PROD-B"}),
    )
    report = check_infrastructure(infra, estate, infra_file="i.yaml", topology_file="t.yaml")
    with pytest.raises(InputError) as err:
        report.check()
    lines = err.value.lines()
    assert (
        "t.yaml: vm 'ghost-proxy': field 'proxy': proxy 'prx-x' is not in the infrastructure file"
        in lines
    )
    assert (
        "t.yaml: vm 'wrong-mode': field 'mode': proxy 'prx-a' has no mode 'san'"
        " (its modes: hotadd, nbd)" in lines
    )
    assert (
        "t.yaml: vm 'ghost-repo': field 'repository': repository 'repo-9' is not in the"
        " infrastructure file" in lines
    )
    assert (
        "t.yaml: vm 'not-reached': no proxy that reaches it matches its pins (proxy 'prx-a')"
        in lines
    )
    assert set(report.unreached) == {"ghost-proxy", "wrong-mode", "not-reached"}


def test_tier_pins_are_checked_against_the_policy_file_and_a_vm_pin_wins() -> None:
    policy = make_policy(
        throughput={"mb_per_s": 100, "overhead_minutes": 0, "change_rate": 0.1},
        tiers=[
            {"name": "gold", "match": {"tag": "gold"}, "full": "none", "proxy": "prx-a"},
            {"name": "rest", "match": {"default": True}, "full": "none", "repository": "repo-9"},
        ],
    )
    infra = _infra(_proxy("prx-a", ["nbd"], {"cluster": "PROD-A"}), _proxy("prx-b", ["nbd"]))
    report = check_infrastructure(
        infra, ESTATE, policy, policy_file="p.yaml", topology_file="t.yaml"
    )
    lines = [str(e) for e in report.errors]
    assert (
        "p.yaml: tier 'rest': field 'repository': repository 'repo-9' is not in the"
        " infrastructure file" in lines
    )
    # b-tagged is in tier gold (proxy prx-a, which reaches PROD-A only).
    assert list(report.unreached) == ["b-tagged"]
    own = ESTATE.model_copy(
        update={
            "vms": [
                v.model_copy(update={"proxy": "prx-b"}) if v.name == "b-tagged" else v
                for v in ESTATE.vms
            ]
        }
    )
    assert check_infrastructure(infra, own, policy).unreached == {}


def test_repository_no_vm_can_use_is_a_warning() -> None:
    estate = _estate(_vm("a", "esx01", "DS-10", repository="repo-1"))
    infra = _infra(
        _proxy("prx", ["nbd"]),
        repositories=[
            {"name": "repo-1", "max_tasks": 4, "ingest_mb_per_s": 1000},
            {"name": "repo-2", "max_tasks": 4, "ingest_mb_per_s": 1000},
        ],
    )
    report = check_infrastructure(infra, estate)
    assert report.warnings == [
        "repository 'repo-2' takes no VM: every VM (or its tier) pins another repository"
    ]
    # With one VM free to write anywhere, every repository can be used.
    free = _estate(_vm("a", "esx01", "DS-10", repository="repo-1"), _vm("b", "esx01", "DS-10"))
    assert check_infrastructure(infra, free).warnings == []
