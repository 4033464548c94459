"""RVTools import from real files written here (xlsx via openpyxl, and CSV folders)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.audit import audit
from stagger.errors import InputError, SourceError
from stagger.instance import compile_instance
from stagger.sources.raidmap import apply_raid_map_file
from stagger.sources.rvtools import load_rvtools, normalise_server
from stagger.sources.yamlfile import dump_yaml, load_topology
from tests.factories import make_policy
from tests.sources.rvtools_fixture import Shape, usfq_export, write_csvs, write_xlsx

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


# --- the real export's shape: server spelled three ways -----------------------------------------


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_real_shape_joins_every_tab(tmp_path: Path, kind: str) -> None:
    tabs, truth = usfq_export()
    assert len(tabs["vDisk"]) - 1 == 242 and len(tabs["vSnapshot"]) - 1 == 198
    path = (
        write_xlsx(tmp_path / "rv.xlsx", tabs)
        if kind == "xlsx"
        else write_csvs(tmp_path / "rv", tabs)
    )
    inv = load_rvtools(path)
    topo = inv.topology
    assert {t: (j.rows, j.matched) for t, j in inv.joins.items()} == {
        "vDisk": (242, 242),
        "vSnapshot": (198, 198),
        "vTools": (150, 150),
    }
    assert not [w for w in inv.warnings if "matched" in w], inv.warnings
    # One datastore per real datastore: no "DS (https://...)" twin from another spelling.
    assert sorted(d.name for d in topo.datastores) == truth.datastore_names
    assert all(d.capacity_gib == 4096.0 and d.naa for d in topo.datastores)
    by_name = {v.name: v for v in topo.vms}
    assert len(by_name) == 150
    for name, stores in truth.datastores_of.items():
        assert by_name[name].datastores == stores
    assert sum(len(s) > 1 for s in truth.datastores_of.values()) >= 40
    assert {v.name for v in topo.vms if v.snapshots} == truth.snapshot_vms
    assert sum(len(v.snapshots) for v in topo.vms) == 198
    assert all(v.tools == "ok" for v in topo.vms)
    vm = by_name["S2-SRV-3001"]
    assert (vm.moref, vm.instance_uuid, vm.vcenter) == (
        "vm-12001",
        truth.uuid_of["S2-SRV-3001"],
        "p-vc-01.usfq.edu.ec",
    )
    assert vm.display_name is None  # not renamed: the name is the vCenter name
    assert len(topo.hosts) == 6 and {c.name for c in topo.clusters} == {"CL-PROD", "CL-DEV"}


def test_real_shape_plans_every_datastore_and_raid_map_applies(tmp_path: Path) -> None:
    tabs, truth = usfq_export()
    topo = load_rvtools(write_csvs(tmp_path / "rv", tabs)).topology
    raid = tmp_path / "raid.yaml"
    raid.write_text('raid_groups:\n  RG-A: ["DS-SAN-01", "DS-SAN-02"]\n  RG-B: ["DS-SAN-0[3-8]"]\n')
    res = apply_raid_map_file(topo, raid)
    assert not res.unmapped and not res.unused_members
    assert res.mapped["DS-SAN-01"] == "RG-A" and res.mapped["DS-SAN-08"] == "RG-B"
    inst = compile_instance(res.topology, make_policy(cycle={"start": "2026-12-01", "nights": 7}))
    for job in inst.jobs:
        used = {
            inst.resources[r].name for r in job.resources if inst.resources[r].kind == "datastore"
        }
        assert used == set(truth.datastores_of[job.vm]), job.vm
    spread = next(v for v, s in truth.datastores_of.items() if len(s) > 1)
    groups = {res.mapped[d] for d in truth.datastores_of[spread]}
    job = next(j for j in inst.jobs if j.vm == spread)
    assert groups <= {
        inst.resources[r].name for r in job.resources if inst.resources[r].kind == "raid_group"
    }


def test_real_shape_audit_sees_2024_snapshots(tmp_path: Path) -> None:
    tabs, truth = usfq_export()
    inv = load_rvtools(write_csvs(tmp_path / "rv", tabs))
    report = audit(inv.topology, now=datetime(2026, 11, 25, tzinfo=UTC), joins=inv.joins)
    old = {f.object for f in report.findings if f.check == "snapshot_old"}
    assert len(old) == 84 == len(truth.snapshot_vms)
    assert report.counts["source_incomplete"] == 0


def test_unjoinable_rows_warn_with_counts_and_audit_is_incomplete(tmp_path: Path) -> None:
    tabs, _ = usfq_export(Shape(vms=20, disk_rows=30, snapshot_vms=5, snapshot_rows=9))
    # Snapshot rows from another vCenter's VMs: nothing to join them to.
    for row in tabs["vSnapshot"][1:]:
        row[0], row[-3], row[-2], row[-1] = "gone", "vm-1", "", "other-vc"
    inv = load_rvtools(write_csvs(tmp_path / "rv", tabs))
    assert inv.joins["vSnapshot"].rows == 9 and inv.joins["vSnapshot"].matched == 0
    assert any(w.startswith("vSnapshot: 9 rows, 0 matched a VM") for w in inv.warnings)
    report = audit(inv.topology, now=datetime(2026, 11, 25, tzinfo=UTC), joins=inv.joins)
    (gap,) = [f for f in report.findings if f.check == "source_incomplete"]
    assert gap.severity == "error" and "snapshot" in gap.detail and "9 rows" in gap.detail
    assert report.failing_at("warning")


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("https://P-VC-01.usfq.edu.ec/", "p-vc-01.usfq.edu.ec"),
        ("p-vc-01.usfq.edu.ec:443", "p-vc-01.usfq.edu.ec"),
        ("https://root@p-vc-01.usfq.edu.ec:443/sdk", "p-vc-01.usfq.edu.ec"),
        (" p-vc-01.usfq.edu.ec. ", "p-vc-01.usfq.edu.ec"),
        ("https://[fe80::1]:443/", "fe80::1"),
        ("", ""),
    ],
)
def test_normalise_server(raw: str, norm: str) -> None:
    assert normalise_server(raw) == norm


def test_empty_server_is_ambiguous_with_two_vcenters(tmp_path: Path) -> None:
    tabs = _estate()
    # vTools rows with no server: vc1 and vc2 both have a 'web01' with VM ID vm-1.
    tabs["vTools"] = [["VM", "Tools", "VM ID", "VI SDK Server"], ["web01", "toolsOld", "vm-1", ""]]
    inv = load_rvtools(_write_csvs(tmp_path / "rv", tabs))
    assert inv.joins["vTools"].matched == 0 and inv.joins["vTools"].ambiguous == 1
    assert all(v.tools is None for v in inv.topology.vms)
