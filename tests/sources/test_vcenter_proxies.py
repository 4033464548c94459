"""Proxy VMs read from vCenter into an infrastructure file (stagger.sources.vcenter_proxies),
on estates built in code: reach, task slots, rates, merging, refusals and hostile names.
The same path against the simulator is in tests/cli/test_inventory_proxies_cli.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.errors import InputError
from stagger.infrastructure import check_infrastructure
from stagger.model.infrastructure import Infrastructure, Proxy, ProxyReach, Transport
from stagger.model.policy import MAX_GLOB_CHARS
from stagger.model.topology import Topology
from stagger.sources.vcenter_proxies import (
    DerivedInfrastructure,
    ProxySelection,
    derive_infrastructure,
    parse_selection,
    parse_transport,
    render_infrastructure,
    transport_for,
)
from stagger.sources.yamlfile import load_infrastructure
from tests.hostile import VM_NAMES

RATES = Transport.model_validate({"hotadd": {"mb_per_s": 400}, "nbd": {"mb_per_s": 120}})


def _vm(name: str, host: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "host": host, "disks": [{"datastore": "DS-01", "size_gib": 10}], **extra}


def estate(*extra_vms: dict[str, Any]) -> Topology:
    """Two clusters and a standalone host; a proxy VM in C1 and on the standalone host."""
    return Topology.model_validate(
        {
            "clusters": [{"name": "C1"}, {"name": "C2"}],
            "hosts": [
                {"name": "esx01", "cluster": "C1"},
                {"name": "esx02", "cluster": "C2"},
                {"name": "esx-solo"},
            ],
            "datastores": [{"name": "DS-01"}],
            "vms": [
                _vm("prx-c1", "esx01", tags=["Role:veeam-proxy", "veeam-proxy"]),
                _vm("prx-solo", "esx-solo"),
                _vm("app01", "esx01"),
                _vm("app02", "esx02"),
                _vm("app03", "esx-solo"),
                *extra_vms,
            ],
        }
    )


VCPUS = {
    "prx-c1": 4,
    "prx-solo": 2,
    "prx-c2": 6,
    "proxy (dc2/vm)": 3,
    "app01": 2,
    "app02": 2,
    "app03": 1,
}


def derive(topo: Topology, *globs: str, tags: tuple[str, ...] = (), **kw: Any) -> Any:
    return derive_infrastructure(topo, VCPUS, ProxySelection(globs, tags), RATES, **kw)


def test_reach_is_the_cluster_or_the_standalone_host_and_tasks_the_vcpus() -> None:
    got = derive(estate(), "prx-*")
    proxies = {p.name: p for p in got.infrastructure.proxies}
    assert proxies["prx-c1"] == Proxy(
        name="prx-c1", max_tasks=4, modes=["hotadd", "nbd"], reaches=ProxyReach(cluster="C1")
    )
    assert proxies["prx-solo"] == Proxy(
        name="prx-solo", max_tasks=2, modes=["hotadd", "nbd"], reaches=ProxyReach(host="esx-solo")
    )
    assert got.infrastructure.repositories == []
    # app02 runs in C2, where no proxy VM is: it is named in one warning, with its cluster.
    assert got.report.unreached.keys() == {"app02"}
    (warning,) = [w for w in got.warnings if "reached by no proxy" in w]
    assert "1 VMs" in warning and "'app02'" in warning and "cluster 'C2'" in warning
    assert set(got.report.reached["prx-c1"]) == {"prx-c1", "app01"}


def test_every_vm_reached_when_each_cluster_has_a_proxy() -> None:
    got = derive(estate(_vm("prx-c2", "esx02")), "prx-*")
    assert not got.report.unreached and not got.report.errors
    assert not [w for w in got.warnings if "reached by no proxy" in w]
    assert [p.max_tasks for p in got.infrastructure.proxies] == [4, 2, 6]  # topology order


def test_tag_picks_proxies_by_vsphere_tag_or_its_category_form() -> None:
    for tag in ("veeam-proxy", "Role:veeam-proxy"):
        got = derive(estate(), tags=(tag,))
        assert [p.name for p in got.infrastructure.proxies] == ["prx-c1"]


def test_glob_matches_the_vcenter_name_of_a_disambiguated_vm_with_a_warning() -> None:
    topo = estate(_vm("proxy (dc2/vm)", "esx02", display_name="veeam-prx"))
    got = derive(topo, "veeam-*")
    (p,) = got.infrastructure.proxies
    assert p.name == "proxy (dc2/vm)" and p.reaches == ProxyReach(cluster="C2")
    assert got.proxy_vms == {"proxy (dc2/vm)": "proxy (dc2/vm)"}
    assert any("share their vCenter name" in w for w in got.warnings)


def test_glob_is_case_sensitive_and_a_selector_that_picks_nothing_is_named() -> None:
    got = derive(estate(), "prx-*", "PRX-*")
    assert len(got.infrastructure.proxies) == 2
    assert "--proxy-name 'PRX-*' matches no VM" in got.warnings


def test_no_match_is_one_line_naming_the_option() -> None:
    with pytest.raises(InputError) as exc:
        derive(estate(), "bkp-*", tags=("Role:none",))
    line = str(exc.value)
    assert "\n" not in line and line.startswith("field '--proxy-name'")
    assert "no VM matches --proxy-name 'bkp-*', --proxy-tag 'Role:none' among the 5 VMs" in line


def test_no_match_says_when_vsphere_tags_were_not_read() -> None:
    with pytest.raises(InputError, match="vSphere tags were not read"):
        derive(estate(), tags=("Role:veeam-proxy-x",), tags_read=False)
    got = derive(estate(), "prx-*", tags=("Role:x",), tags_read=False)
    assert any("custom attributes (Name=value) only" in w for w in got.warnings)


def test_powered_off_proxies_are_left_out_and_all_off_is_an_error() -> None:
    topo = estate(_vm("prx-c2", "esx02", power_state="off"))
    got = derive(topo, "prx-*")
    assert "prx-c2" not in {p.name for p in got.infrastructure.proxies}
    assert any(w.startswith("1 proxy VMs not powered on left out ('prx-c2')") for w in got.warnings)
    with pytest.raises(InputError, match="1 VMs match --proxy-name 'prx-c2' but none can be"):
        derive(topo, "prx-c2")


def test_a_vm_without_a_vcpu_count_is_left_out() -> None:
    topo = estate(_vm("prx-new", "esx02"))
    got = derive(topo, "prx-*")
    assert "prx-new" not in {p.name for p in got.infrastructure.proxies}
    assert any("no usable vCPU count" in w and "'prx-new'" in w for w in got.warnings)


def test_merge_keeps_repositories_and_other_proxies_and_replaces_by_name(tmp_path: Path) -> None:
    base = Infrastructure.model_validate(
        {
            "proxies": [
                {
                    "name": "prx-san",
                    "max_tasks": 8,
                    "modes": ["san"],
                    "reaches": {"datastore": "DS*"},
                },
                {"name": "prx-c1", "max_tasks": 2, "modes": ["hotadd"]},
            ],
            "transport": {"san": {"mb_per_s": 600}, "hotadd": {"mb_per_s": 350}},
            "repositories": [{"name": "repo-1", "max_tasks": 12, "ingest_mb_per_s": 1500}],
        }
    )
    choice = transport_for(parse_transport(["nbd=100"]), base, "base.yaml")
    assert choice.given == ("nbd",)
    got = derive_infrastructure(
        estate(),
        VCPUS,
        ProxySelection(("prx-*",)),
        choice.transport,
        base=base,
        base_file="base.yaml",
    )
    infra = got.infrastructure
    assert [p.name for p in infra.proxies] == ["prx-san", "prx-c1", "prx-solo"]
    assert infra.proxies[0] == base.proxies[0]
    assert infra.proxies[1].max_tasks == 4 and infra.proxies[1].reaches == ProxyReach(cluster="C1")
    assert got.kept == ["prx-san"] and got.replaced == ["prx-c1"]
    assert infra.repositories == base.repositories
    assert infra.transport.model_dump(exclude_none=True) == {
        "hotadd": {"mb_per_s": 350.0},
        "san": {"mb_per_s": 600.0},
        "nbd": {"mb_per_s": 100.0},
    }
    (change,) = [w for w in got.warnings if "replaced by the VM" in w]
    assert "proxy 'prx-c1' of 'base.yaml'" in change
    assert "max_tasks 2 -> 4" in change and "reaches every VM -> cluster 'C1'" in change
    assert "modes ['hotadd'] -> ['hotadd', 'nbd']" in change
    text = render_infrastructure(got, vcenter="vc01", transport=choice, base_file="base.yaml")
    path = tmp_path / "infra.yaml"
    path.write_text(text)
    assert load_infrastructure(path) == infra
    assert "1 of its proxies kept, 1 replaced" in text


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["hotadd"], "not MODE=MB_PER_S"),
        (["hot=1"], "not MODE=MB_PER_S"),
        (["nbd=fast"], "above 0"),
        (["nbd=0"], "above 0"),
        (["nbd=-5"], "above 0"),
        (["nbd=nan"], "above 0"),
        (["nbd=inf"], "above 0"),
        (["nbd=2000000"], "at most 1,000,000"),
        (["nbd=1", "nbd=2"], "mode nbd given twice"),
        (["nbd\n=1"], "not MODE=MB_PER_S"),
    ],
)
def test_bad_transport_values_are_one_line(values: list[str], expected: str) -> None:
    with pytest.raises(InputError, match=expected) as exc:
        parse_transport(values)
    assert "\n" not in str(exc.value) and exc.value.field == "--transport"


def test_rates_are_required_never_guessed() -> None:
    with pytest.raises(InputError) as exc:
        transport_for(parse_transport(["hotadd=400"]), None)
    assert "no rate for mode nbd" in str(exc.value)
    assert "--transport nbd=MB_PER_S" in str(exc.value)
    choice = transport_for(parse_transport(["hotadd=400", "nbd=120.5"]), None)
    assert choice.transport.model_dump(exclude_none=True) == {
        "hotadd": {"mb_per_s": 400.0},
        "nbd": {"mb_per_s": 120.5},
    }


@pytest.mark.parametrize(
    ("names", "tags", "expected", "option"),
    [
        ([""], [], "empty name pattern", "--proxy-name"),
        (["  "], [], "empty name pattern", "--proxy-name"),
        (["prx\n*"], [], "U+000A", "--proxy-name"),
        (["x" * (MAX_GLOB_CHARS + 1)], [], "longer than 256", "--proxy-name"),
        ([], ["Role:\x1b[31m"], "U+001B", "--proxy-tag"),
        ([], [""], "empty tag", "--proxy-tag"),
    ],
)
def test_bad_selection_is_one_line(
    names: list[str], tags: list[str], expected: str, option: str
) -> None:
    with pytest.raises(InputError, match=expected.replace("+", r"\+")) as exc:
        parse_selection(names, tags)
    assert "\n" not in str(exc.value) and exc.value.field == option


def test_selection_repeats_collapse() -> None:
    sel = parse_selection(["prx-*", "prx-*"], ["a", "a"])
    assert sel == ProxySelection(("prx-*",), ("a",))


def _written(tmp_path: Path, got: DerivedInfrastructure) -> Infrastructure:
    choice = transport_for(parse_transport(["hotadd=400", "nbd=120"]), None)
    path = tmp_path / "infra.yaml"
    path.write_text(render_infrastructure(got, vcenter="vc01.example.org", transport=choice))
    return load_infrastructure(path)


def test_every_hostile_name_round_trips_as_a_proxy(tmp_path: Path) -> None:
    """The hostile VM names as proxy VMs, in clusters and on a host named as hostile: the
    file loads back equal, and passes the check against the same topology."""
    cluster, host = "cl’+$(x)+’ #> [/x]\u2028next", "esx: {a: b}\u0085"[:-1] + "\u2029"
    topo = Topology.model_validate(
        {
            "clusters": [{"name": cluster}],
            "hosts": [{"name": "esx-a", "cluster": cluster}, {"name": host}],
            "datastores": [{"name": "DS-01"}],
            "vms": [_vm(n, "esx-a" if i % 2 else host) for i, n in enumerate(VM_NAMES)],
        }
    )
    vcpus = {n: 1 + i % 8 for i, n in enumerate(VM_NAMES)}
    got = derive_infrastructure(topo, vcpus, ProxySelection(("*",)), RATES)
    back = _written(tmp_path, got)
    assert back == got.infrastructure
    assert [p.name for p in back.proxies] == [vm.name for vm in topo.vms]
    check_infrastructure(back, topo).check()


printable = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(printable, min_size=1, max_size=5, unique=True),
    cluster=printable,
    standalone=st.booleans(),
    vcpus=st.integers(1, 128),
)
def test_any_name_round_trips(
    tmp_path: Path, names: list[str], cluster: str, standalone: bool, vcpus: int
) -> None:
    topo = Topology.model_validate(
        {
            "clusters": [{"name": cluster}],
            "hosts": [{"name": cluster, "cluster": None if standalone else cluster}],
            "datastores": [{"name": "DS-01"}],
            "vms": [_vm(n, cluster) for n in names],
        }
    )
    got = derive_infrastructure(topo, dict.fromkeys(names, vcpus), ProxySelection(("*",)), RATES)
    back = _written(tmp_path, got)
    assert back == got.infrastructure
    assert {p.name for p in back.proxies} == set(names)
    check_infrastructure(back, topo).check()
    # No name reaches a comment: a line separator in one cannot turn comment text into data.
    text = (tmp_path / "infra.yaml").read_text()
    assert set(yaml.safe_load(text)) == {"proxies", "transport", "repositories"}
    comments = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert comments.isascii()
