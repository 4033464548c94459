"""RVTools import from real files written here (xlsx via openpyxl, and CSV folders)."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.errors import InputError, SourceError
from stagger.sources.rvtools import load_rvtools
from stagger.sources.yamlfile import dump_yaml, load_topology

INFO4 = [
    "VM",
    "Powerstate",
    "Template",
    "Host",
    "Cluster",
    "Datacenter",
    "Provisioned MiB",
    "In Use MiB",
    "Path",
    "VM ID",
    "VI SDK Server",
    "Folder",
    "Consolidation Needed",
]
DISK4 = ["VM", "Disk", "Capacity MiB", "Path", "VM ID", "VI SDK Server"]


def _estate() -> dict[str, list[list[object]]]:
    return {
        "vInfo": [
            INFO4,
            [
                "web01",
                "poweredOn",
                False,
                "esx1",
                "C1",
                "DC1",
                61440,
                30000,
                "[DS1] web01/web01.vmx",
                "vm-1",
                "vc1",
                "prod",
                False,
            ],
            [
                "web01",
                "poweredOff",
                False,
                "esx2",
                "C1",
                "DC1",
                10240,
                5120,
                "[DS2] web01_1/web01.vmx",
                "vm-2",
                "vc1",
                "test",
                True,
            ],
            [
                "web01",
                "poweredOn",
                False,
                "esx9",
                "C9",
                "DC9",
                2048,
                1024,
                "[DS1] web01/web01.vmx",
                "vm-1",
                "vc2",
                "prod",
                False,
            ],
            [
                "tpl",
                "poweredOff",
                True,
                "esx1",
                "C1",
                "DC1",
                1024,
                1024,
                "[DS1] tpl/tpl.vmx",
                "vm-3",
                "vc1",
                "",
                False,
            ],
        ],
        "vDisk": [
            DISK4,
            ["web01", "Hard disk 1", 40960, "[DS1] web01/web01.vmdk", "vm-1", "vc1"],
            ["web01", "Hard disk 2", 20480, "[DS3] web01/web01_1.vmdk", "vm-1", "vc1"],
            ["web01", "Hard disk 1", 10240, "[DS2] web01_1/web01.vmdk", "vm-2", "vc1"],
        ],
        "vDatastore": [
            ["Name", "Capacity MiB", "Address", "VI SDK Server"],
            ["DS1", 1048576, "naa.600a0b80005ad10000000000000000a1", "vc1"],
            ["DS2", 2097152, "naa.600a0b80005ad10000000000000000a2", "vc1"],
        ],
        "vSnapshot": [
            ["VM", "Name", "Date / time", "Size MiB (total)", "VM ID", "VI SDK Server"],
            ["web01", "before-patch", "2026/09/01 10:00:00", 81920, "vm-1", "vc1"],
        ],
        "vTools": [["VM", "Tools", "VM ID", "VI SDK Server"], ["web01", "toolsOld", "vm-2", "vc1"]],
    }


def _write_xlsx(path: Path, tabs: dict[str, list[list[object]]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in tabs.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def _write_csvs(
    folder: Path, tabs: dict[str, list[list[object]]], prefix: str = "RVTools_tab"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tabs.items():
        with open(folder / f"{prefix}{name}.csv", "w", newline="", encoding="utf-8-sig") as fh:
            csv.writer(fh).writerows(rows)
    return folder


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_full_export(tmp_path: Path, kind: str) -> None:
    tabs = _estate()
    path = (
        _write_xlsx(tmp_path / "rv.xlsx", tabs)
        if kind == "xlsx"
        else _write_csvs(tmp_path / "rv", tabs)
    )
    inv = load_rvtools(path)
    topo = inv.topology
    assert inv.templates_skipped == 1
    names = sorted(v.name for v in topo.vms)
    # Three VMs share 'web01' (two folders of vc1, and another vCenter): none merged.
    assert names == ["web01 (DC1/prod)", "web01 (DC1/test)", "web01 (DC9/prod)"]
    assert len(topo.vms) == 3
    vm1 = next(v for v in topo.vms if v.id == "vm-1" and v.vcenter == "vc1")
    assert [(d.datastore, d.size_gib) for d in vm1.disks] == [("DS1 (vc1)", 40.0), ("DS3", 20.0)]
    assert vm1.snapshots[0].size_gib == 80.0 and vm1.snapshots[0].created is not None
    vm2 = next(v for v in topo.vms if v.id == "vm-2")
    assert vm2.tools == "old" and vm2.consolidation_needed is True and vm2.power_state == "off"
    ds = {d.name: d for d in topo.datastores}
    assert "DS1 (vc2)" in ds  # same datastore name in another vCenter: kept apart
    assert ds["DS1 (vc1)"].naa == "naa.600a0b80005ad10000000000000000a1"
    assert ds["DS1 (vc1)"].capacity_gib == 1024.0
    # vc2's VM has no vDisk rows: one disk from vInfo 'In Use MiB' on its vInfo path datastore.
    other = next(v for v in topo.vms if v.vcenter == "vc2")
    assert other.disks[0].size_gib == 1.0
    assert other.disks[0].datastore == "DS1 (vc2)"
    out = tmp_path / "topo.yaml"
    out.write_text(dump_yaml(topo))
    assert len(load_topology(out).vms) == 3


def test_rvtools_3x_headers_and_plain_tab_names(tmp_path: Path) -> None:
    tabs = {
        "vInfo": [
            ["VM", "Powerstate", "Template", "Host", "Provisioned MB", "In Use MB", "Path"],
            ["db", "poweredOn", "False", "esx1", 4096, 2048, "[SAN1] db/db.vmx"],
        ],
        "vDisk": [
            ["VM", "Disk", "Capacity MB", "Path"],
            ["db", "Hard disk 1", 3072, "[SAN1] db/db.vmdk"],
        ],
    }
    inv = load_rvtools(_write_csvs(tmp_path / "rv3", tabs, prefix=""))
    (vm,) = inv.topology.vms
    assert vm.disks[0].size_gib == 3.0 and vm.disks[0].datastore == "SAN1"
    assert any(w.startswith("vSnapshot missing") for w in inv.warnings)


def test_trimmed_export_degrades_with_one_warning_each(tmp_path: Path) -> None:
    tabs = {"vInfo": [["VM", "Host", "In Use MiB"], ["a", "esx1", 1024], ["b", "esx1", 2048]]}
    inv = load_rvtools(_write_csvs(tmp_path / "t", tabs))
    assert sum(w.startswith("vDisk missing") for w in inv.warnings) == 1
    assert any("2 VMs have no known datastore" in w for w in inv.warnings)
    assert all(d.datastore is None for v in inv.topology.vms for d in v.disks)
    with pytest.raises(SourceError, match="no known datastore"):
        load_rvtools(tmp_path / "t", strict=True)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        load_rvtools(tmp_path / "nope.xlsx")
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable xlsx"):
        load_rvtools(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no RVTools CSV tabs"):
        load_rvtools(tmp_path / "empty")
    _write_csvs(tmp_path / "nohost", {"vInfo": [["VM", "Powerstate"], ["a", "poweredOn"]]})
    with pytest.raises(InputError, match="no 'Host' column"):
        load_rvtools(tmp_path / "nohost")


names_st = st.lists(st.sampled_from(["web", "db", "app", "web (DC1)"]), min_size=1, max_size=12)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=names_st, data=st.data())
def test_every_row_becomes_one_uniquely_named_vm(
    tmp_path: Path, names: list[str], data: st.DataObject
) -> None:
    rows: list[list[object]] = [
        ["VM", "Host", "Datacenter", "Folder", "In Use MiB", "Path", "VM ID", "VI SDK Server"]
    ]
    for i, n in enumerate(names):
        dc = data.draw(st.sampled_from(["DC1", "DC2"]))
        folder = data.draw(st.sampled_from(["", "f1", "f2"]))
        server = data.draw(st.sampled_from(["vc1", "vc2"]))
        rows.append(
            [n, "esx1", dc, folder, 1024 * (i + 1), f"[DS{i % 3}] {n}/{n}.vmx", f"vm-{i}", server]
        )
    folder_path = _write_csvs(tmp_path / f"h{len(list(tmp_path.iterdir()))}", {"vInfo": rows})
    topo = load_rvtools(folder_path).topology
    assert len(topo.vms) == len(names)  # never merged
    assert len({v.name for v in topo.vms}) == len(names)
    # Sizes survive the renaming, one per source row.
    assert sorted(v.disks[0].size_gib for v in topo.vms) == [
        float(i + 1) for i in range(len(names))
    ]
    # Deterministic: reversing the rows gives the same names for the same ids.
    rev = _write_csvs(
        tmp_path / f"r{len(list(tmp_path.iterdir()))}", {"vInfo": [rows[0], *rows[:0:-1]]}
    )
    again = load_rvtools(rev).topology
    assert {(v.vcenter, v.id, v.name) for v in topo.vms} == {
        (v.vcenter, v.id, v.name) for v in again.vms
    }
