"""Names read from vCenter: control characters refused with one line, everything else kept.

The objects are what the bulk retrieval returns (moref, type, property dict) built from real
pyVmomi data objects; no server is needed to check how build_topology treats their text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyVmomi import vim

from stagger.errors import InputError
from stagger.sources.vcenter import _Obj, build_topology, parse_server

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _ref(kind: Any, moid: str) -> Any:
    return kind(moid)


def estate(
    *,
    vm: str = "web01",
    host: str = "esx1",
    cluster: str = "CL1",
    datastore: str = "DS1",
    folder: str = "prod",
    datacenter: str = "DC1",
    field_name: str = "Owner",
    field_value: str = "ops",
    snapshot: str = "before-patch",
) -> list[_Obj]:
    """A one-VM estate as retrieve() returns it."""
    dc, vmf, hostf, fold = "datacenter-1", "group-v1", "group-h1", "group-v2"
    disk = vim.vm.device.VirtualDisk(
        key=2000,
        capacityInBytes=10 << 30,
        deviceInfo=vim.Description(label="Hard disk 1", summary=""),
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=f"[{datastore}] web01/web01.vmdk", diskMode="persistent"
        ),
    )
    snap = vim.vm.SnapshotInfo(
        rootSnapshotList=[
            vim.vm.SnapshotTree(
                name=snapshot,
                snapshot=_ref(vim.vm.Snapshot, "snapshot-1"),
                vm=_ref(vim.VirtualMachine, "vm-1"),
                id=1,
                createTime=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                state="poweredOff",
                quiesced=False,
                childSnapshotList=[],
            )
        ]
    )
    return [
        _Obj(dc, "Datacenter", {"name": datacenter, "parent": None}),
        _Obj(vmf, "Folder", {"name": "vm", "parent": _ref(vim.Datacenter, dc)}),
        _Obj(fold, "Folder", {"name": folder, "parent": _ref(vim.Folder, vmf)}),
        _Obj(hostf, "Folder", {"name": "host", "parent": _ref(vim.Datacenter, dc)}),
        _Obj("group-s1", "Folder", {"name": "datastore", "parent": _ref(vim.Datacenter, dc)}),
        _Obj(
            "domain-c1",
            "ClusterComputeResource",
            {"name": cluster, "parent": _ref(vim.Folder, hostf)},
        ),
        _Obj(
            "host-1",
            "HostSystem",
            {"name": host, "parent": _ref(vim.ClusterComputeResource, "domain-c1")},
        ),
        _Obj(
            "datastore-1",
            "Datastore",
            {"name": datastore, "parent": _ref(vim.Folder, "group-s1"), "summary.capacity": 1},
        ),
        _Obj(
            "CustomFieldsManager",
            "CustomFieldsManager",
            {"field": [vim.CustomFieldsManager.FieldDef(key=101, name=field_name)]},
        ),
        _Obj(
            "vm-1",
            "VirtualMachine",
            {
                "name": vm,
                "parent": _ref(vim.Folder, fold),
                "config.template": False,
                "config.instanceUuid": "5012-aaaa",
                "config.hardware.device": [disk],
                "runtime.host": _ref(vim.HostSystem, "host-1"),
                "customValue": [vim.CustomFieldsManager.StringValue(key=101, value=field_value)],
                "snapshot": snap,
            },
        ),
    ]


KINDS = [
    ("vm", "VirtualMachine vm-1", "name"),
    ("host", "HostSystem host-1", "name"),
    ("cluster", "ClusterComputeResource domain-c1", "name"),
    ("datastore", "Datastore datastore-1", "name"),
    ("folder", "Folder group-v2", "name"),
    ("datacenter", "Datacenter datacenter-1", "name"),
    ("field_name", "CustomFieldsManager", "field[101].name"),
    ("field_value", "VirtualMachine vm-1", "customValue[101].value"),
    ("snapshot", "VirtualMachine vm-1", "snapshot.name"),
]


def test_plain_estate_builds_with_identity() -> None:
    topo = build_topology(estate(), "vc.example").topology
    (vm,) = topo.vms
    assert (vm.name, vm.moref, vm.instance_uuid, vm.vcenter) == (
        "web01",
        "vm-1",
        "5012-aaaa",
        "vc.example",
    )
    assert vm.display_name is None and vm.tags == ["Owner=ops"]
    assert vm.datacenter == "DC1" and vm.disks[0].datastore == "DS1"
    assert vm.snapshots[0].name == "before-patch"


@pytest.mark.parametrize(("kind", "obj", "field"), KINDS)
def test_every_kind_of_name_is_checked(kind: str, obj: str, field: str) -> None:
    bad = "a\n* * * * * id>/tmp/p;#"
    with pytest.raises(InputError) as e:
        build_topology(estate(**{kind: bad}), "vc.example")
    line = str(e.value)
    assert "\n" not in line and line.startswith("vCenter vc.example: ")
    assert obj in line and f"field '{field}'" in line and repr(bad) in line
    assert e.value.exit_code == 1


names = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from([k for k, _, _ in KINDS]), name=names)
def test_any_name_is_kept_or_refused_in_one_line(kind: str, name: str) -> None:
    if kind == "datastore" and ("]" in name or name != name.lstrip()):
        name = name.replace("]", ")").lstrip() or "x"  # "[DS] path" cannot hold a "]"
    objs = estate(**{kind: name})
    if CONTROL.search(name):
        with pytest.raises(InputError) as e:
            build_topology(objs, "vc.example")
        assert "\n" not in str(e.value) and "\r" not in str(e.value)
        return
    vm = build_topology(objs, "vc.example").topology.vms[0]
    seen = {
        "vm": vm.name,
        "host": vm.host,
        "datastore": vm.disks[0].datastore,
        "datacenter": vm.datacenter,
        # A tag is "Name=value"; compare whole tags (a name may itself hold "=").
        "field_name": name if vm.tags == [f"{name}=ops"] else vm.tags,
        "field_value": name if vm.tags == [f"Owner={name}"] else vm.tags,
        "snapshot": vm.snapshots[0].name,
    }
    if kind in seen:
        assert seen[kind] == name  # every other character kept as it is


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("vc.example.com", "vc.example.com", None),
        ("VC.Example.COM.", "vc.example.com", None),
        ("https://p-vc-01.usfq.edu.ec", "p-vc-01.usfq.edu.ec", None),
        ("https://p-vc-01.usfq.edu.ec/", "p-vc-01.usfq.edu.ec", None),
        ("https://vc:8443/sdk", "vc", 8443),
        ("10.0.0.5:444", "10.0.0.5", 444),
    ],
)
def test_server_names_are_normalised(text: str, host: str, port: int | None) -> None:
    assert parse_server(text) == (host, port)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_server_text_parses_or_is_refused_in_one_line(text: str) -> None:
    try:
        host, port = parse_server(text)
    except InputError as e:
        assert "\n" not in str(e) and e.exit_code == 1
        return
    assert host and host == host.lower() and not CONTROL.search(host)
    assert port is None or 0 <= port <= 65535


@pytest.mark.parametrize(
    "text", ["", " ", "http://vc", "admin@vc", "vc%41", "a b", "v\nc", "vc\x1b[2J", "https://"]
)
def test_server_texts_refused(text: str) -> None:
    with pytest.raises(InputError, match="--vcenter"):
        parse_server(text)
