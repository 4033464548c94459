"""RVTools import from real files written here (xlsx via openpyxl, and CSV folders)."""

from __future__ import annotations

import re
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stagger.audit import audit
from stagger.cli import app
from stagger.errors import InputError, SourceError, StaggerError
from stagger.instance import compile_instance
from stagger.planner import PlanOptions, plan
from stagger.sources.raidmap import apply_raid_map_file
from stagger.sources.rvtools import (
    Row,
    RVToolsLimits,
    detect_decimal,
    load_rvtools,
    normalise_server,
    parse_number,
    sheet_rows,
)
from stagger.sources.yamlfile import dump_yaml, load_topology
from stagger.validate import find_violations
from tests.factories import make_policy
from tests.sources.rvtools_fixture import (
    Shape,
    usfq_export,
    write_csvs,
    write_xlsx,
    xlsx_with_huge_cell,
)

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


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_full_export(tmp_path: Path, kind: str) -> None:
    tabs = _estate()
    path = (
        write_xlsx(tmp_path / "rv.xlsx", tabs)
        if kind == "xlsx"
        else write_csvs(tmp_path / "rv", tabs)
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
    inv = load_rvtools(write_csvs(tmp_path / "rv3", tabs, prefix=""))
    (vm,) = inv.topology.vms
    assert vm.disks[0].size_gib == 3.0 and vm.disks[0].datastore == "SAN1"
    assert any(w.startswith("vSnapshot missing") for w in inv.warnings)


def test_trimmed_export_degrades_with_one_warning_each(tmp_path: Path) -> None:
    tabs = {"vInfo": [["VM", "Host", "In Use MiB"], ["a", "esx1", 1024], ["b", "esx1", 2048]]}
    inv = load_rvtools(write_csvs(tmp_path / "t", tabs))
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
    write_csvs(tmp_path / "nohost", {"vInfo": [["VM", "Powerstate"], ["a", "poweredOn"]]})
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
    folder_path = write_csvs(tmp_path / f"h{len(list(tmp_path.iterdir()))}", {"vInfo": rows})
    topo = load_rvtools(folder_path).topology
    assert len(topo.vms) == len(names)  # never merged
    assert len({v.name for v in topo.vms}) == len(names)
    # Sizes survive the renaming, one per source row.
    assert sorted(v.disks[0].size_gib for v in topo.vms) == [
        float(i + 1) for i in range(len(names))
    ]
    # Deterministic: reversing the rows gives the same names for the same ids.
    rev = write_csvs(
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
    inv = load_rvtools(write_csvs(tmp_path / "rv", tabs))
    assert inv.joins["vTools"].matched == 0 and inv.joins["vTools"].ambiguous == 1
    assert all(v.tools is None for v in inv.topology.vms)


# --- robustness: encodings, dialects, orphans, corrupt and oversized files, control characters ---

INFO_MIN = ["VM", "Host", "In Use MiB", "Path"]


def _one_line_cli(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(app, args)
    return res.exit_code, res.output


def test_csv_in_neither_utf8_nor_cp1252_is_one_line_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "rv"
    folder.mkdir()
    # 0x81 is undefined in cp1252 and starts no UTF-8 sequence.
    (folder / "vInfo.csv").write_bytes(b"VM,Host,In Use MiB\nweb\x81,esx1,1024\n")
    with pytest.raises(InputError, match=r"neither UTF-8 nor Windows-1252.*0x81 at offset 22"):
        load_rvtools(folder)
    out = tmp_path / "t.yaml"
    code, text = _one_line_cli(["inventory", "rvtools", str(folder), "-o", str(out)])
    assert code == 1 and len(text.strip().splitlines()) == 1 and "Traceback" not in text
    assert not out.exists()


def test_utf16_csv_with_bom_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "rv"
    folder.mkdir()
    text = "VM\tHost\tIn Use MiB\tPath\nwéb\tesx1\t2048\t[DS1] w/w.vmx\n"
    (folder / "vInfo.csv").write_bytes(text.encode("utf-16"))
    (vm,) = load_rvtools(folder).topology.vms
    assert vm.name == "wéb" and vm.size_gib == 2.0


def test_semicolon_decimal_comma_cp1252_export(tmp_path: Path) -> None:
    """What Excel / RVTools write on a German or Spanish Windows: ';', '1.234,5', cp1252."""
    tabs: dict[str, list[list[object]]] = {
        "vInfo": [
            [*INFO_MIN, "VM ID", "VI SDK Server"],
            ["Café-01", "esx1", "2.048,0", "[Almacén] c/c.vmx", "vm-1", "vc"],
            ["Niño", "esx1", "1.024", "[Almacén] n/n.vmx", "vm-2", "vc"],
        ],
        "vDisk": [
            ["VM", "Disk", "Capacity MiB", "Path", "VM ID", "VI SDK Server"],
            ["Café-01", "Disco 1", "1.234,5", "[Almacén] c/c.vmdk", "vm-1", "vc"],
            ["Café-01", "Disco 2", "10.240", "[Otro] c/c_1.vmdk", "vm-1", "vc"],
        ],
        "vSnapshot": [
            ["VM", "Name", "Date / time", "Size MiB (total)", "VM ID", "VI SDK Server"],
            ["Café-01", "antes", "2024/03/01 10:00:00", "2.560,25", "vm-1", "vc"],
        ],
    }
    folder = write_csvs(tmp_path / "rv", tabs, delimiter=";", encoding="cp1252")
    assert b"Caf\xe9-01" in (folder / "RVTools_tabvInfo.csv").read_bytes()  # é in cp1252
    topo = load_rvtools(folder).topology
    vms = {v.name: v for v in topo.vms}
    cafe = vms["Café-01"]
    assert [d.size_gib for d in cafe.disks] == [round(1234.5 / 1024, 3), 10.0]
    assert cafe.datastores == ["Almacén", "Otro"]
    assert cafe.snapshots[0].size_gib == round(2560.25 / 1024, 3)
    # "1.024" in a ';' file: thousands point (the file's other numbers have decimal commas).
    assert vms["Niño"].size_gib == 1.0


# Each dialect on its own, so that each part of the handling is seen failing by itself.
_ONE_VM = {
    "vInfo": [
        [*INFO_MIN, "VM ID", "VI SDK Server"],
        ["app01", "esx1", "1536", "[DS1] a/a.vmx", "vm-1", "vc"],
    ],
    "vDisk": [
        ["VM", "Disk", "Capacity MiB", "Path", "VM ID", "VI SDK Server"],
        ["app01", "Hard disk 1", "2560", "[DS1] a/a.vmdk", "vm-1", "vc"],
        ["app01", "Hard disk 2", "512", "[DS2] a/a_1.vmdk", "vm-1", "vc"],
    ],
}


def test_semicolon_separated_utf8_export(tmp_path: Path) -> None:
    folder = write_csvs(tmp_path / "rv", _ONE_VM, delimiter=";")
    (vm,) = load_rvtools(folder).topology.vms
    assert vm.name == "app01" and vm.host == "esx1"
    assert [(d.datastore, d.size_gib) for d in vm.disks] == [("DS1", 2.5), ("DS2", 0.5)]


def test_decimal_comma_in_a_semicolon_export(tmp_path: Path) -> None:
    tabs = {tab: [list(r) for r in rows] for tab, rows in _ONE_VM.items()}
    tabs["vDisk"][1][2] = "2560,5"  # MiB with a decimal comma
    tabs["vDisk"][2][2] = "1.536,25"  # and a thousands point
    folder = write_csvs(tmp_path / "rv", tabs, delimiter=";")
    (vm,) = load_rvtools(folder).topology.vms
    assert [d.size_gib for d in vm.disks] == [round(2560.5 / 1024, 3), round(1536.25 / 1024, 3)]


def test_cp1252_comma_export(tmp_path: Path) -> None:
    tabs = {tab: [list(r) for r in rows] for tab, rows in _ONE_VM.items()}
    for rows in tabs.values():
        rows[1][0] = "Café-Büro"  # é and ü are single bytes in cp1252, invalid as UTF-8
    tabs["vDisk"][2][0] = "Café-Büro"
    folder = write_csvs(tmp_path / "rv", tabs, encoding="cp1252")
    assert b"Caf\xe9-B\xfcro" in (folder / "RVTools_tabvInfo.csv").read_bytes()
    (vm,) = load_rvtools(folder).topology.vms
    assert vm.name == "Café-Büro" and len(vm.disks) == 2


@pytest.mark.parametrize(
    ("cells", "delimiter", "decimal"),
    [
        (["1.234,5"], ",", ","),
        (["12,5"], ",", ","),
        (["1,234.5"], ";", "."),
        (["12.5"], ";", "."),
        (["1,234"], ";", ","),  # ambiguous alone: the ';' locale decides
        (["1,234"], ",", "."),
        (["1.234", "7,25"], ";", ","),
    ],
)
def test_detect_decimal(cells: list[str], delimiter: str, decimal: str) -> None:
    rows = [Row({"Capacity MiB": c}, "vDisk", i + 2) for i, c in enumerate(cells)]
    assert detect_decimal(rows, delimiter) == decimal


@pytest.mark.parametrize(
    ("text", "decimal", "value"),
    [
        ("1.234,5", ",", 1234.5),
        ("1 234,5", ",", 1234.5),
        ("1\u00a0234,5", ",", 1234.5),
        ("1,234.5", ".", 1234.5),
        ("1'234.5", ".", 1234.5),
        ("61440.0", ".", 61440.0),
        ("1e309", ".", None),
        ("nan", ".", None),
        ("", ".", None),
        ("abc", ",", None),
    ],
)
def test_parse_number(text: str, decimal: Literal[".", ","], value: float | None) -> None:
    assert parse_number(text, decimal) == value


def test_orphaned_vms_without_host_are_reported_and_skipped(tmp_path: Path) -> None:
    tabs = {
        "vInfo": [
            INFO_MIN,
            ["ok", "esx1", 1024, "[DS1] ok/ok.vmx"],
            ["orphan1", "", 1024, "[DS1] o1/o1.vmx"],
            ["orphan2", "", 1024, "[DS1] o2/o2.vmx"],
        ]
    }
    inv = load_rvtools(write_csvs(tmp_path / "rv", tabs))
    assert [v.name for v in inv.topology.vms] == ["ok"]
    assert inv.orphaned_skipped == ["orphan1", "orphan2"]
    assert any(w.startswith("2 VMs have no Host (orphaned") for w in inv.warnings)
    assert [h.name for h in inv.topology.hosts] == ["esx1"]


def test_corrupt_xlsx_sheet_is_one_line(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", _estate())
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet2.xml":  # vDisk
                data = data[: len(data) // 2] + b"<c r='A9'><v>1</c></row>"
            dst.writestr(info, data)
    with pytest.raises(InputError, match=r"vDisk: sheet is corrupt: ParseError"):
        load_rvtools(bad)
    code, text = _one_line_cli(["inventory", "rvtools", str(bad), "-o", str(tmp_path / "o")])
    assert code == 1 and len(text.strip().splitlines()) == 1


def test_xlsx_zip_feature_zipfile_cannot_read_is_one_line(tmp_path: Path) -> None:
    # Found by benchmarks/fuzz.py (run 5): a central directory asking for zip version 19.6
    # made zipfile raise NotImplementedError, which no handler expected.
    raw = bytearray(write_xlsx(tmp_path / "good.xlsx", _estate()).read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[central + 6 : central + 8] = (196).to_bytes(2, "little")  # version needed to extract
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(bytes(raw))
    with pytest.raises(
        InputError, match=r"not a readable xlsx \(zip\) file: zip file version 19.6"
    ):
        load_rvtools(bad)
    code, text = _one_line_cli(["inventory", "rvtools", str(bad), "-o", str(tmp_path / "o")])
    assert code == 1 and len(text.strip().splitlines()) == 1


def test_one_gib_cell_in_a_1_mb_xlsx_is_refused_before_parsing(tmp_path: Path) -> None:
    bomb = xlsx_with_huge_cell(tmp_path / "bomb.xlsx", mib=1024)
    assert bomb.stat().st_size < 2 * 2**20
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"unpacks to 1,024 MiB, over the limit of 256 MiB"):
            load_rvtools(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # the zip directory only: nothing was unpacked


def test_size_limits_are_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = xlsx_with_huge_cell(tmp_path / "big.xlsx", mib=2)
    with pytest.raises(InputError, match="over the limit of 1 MiB"):
        load_rvtools(big, limits=RVToolsLimits(max_mib=1))
    with pytest.raises(InputError, match=r"vInfo row 2: field 'VM': cell of 2,097,152 characters"):
        load_rvtools(big)  # under the part limit: Excel's own cell limit refuses it
    monkeypatch.setenv("STAGGER_RVTOOLS_MAX_CELL_CHARS", "3000000")
    assert load_rvtools(big).topology.vms[0].name == "A" * 2**21
    monkeypatch.setenv("STAGGER_RVTOOLS_MAX_MIB", "0.5")
    with pytest.raises(InputError, match="over the limit"):
        load_rvtools(big)
    monkeypatch.setenv("STAGGER_RVTOOLS_MAX_MIB", "lots")
    with pytest.raises(InputError, match=r"\$STAGGER_RVTOOLS_MAX_MIB must be a positive number"):
        load_rvtools(big)
    monkeypatch.delenv("STAGGER_RVTOOLS_MAX_MIB")
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "vInfo.csv").write_text("VM,Host\n" + "a,esx1\n" * 100_000)
    with pytest.raises(InputError, match="over the limit of 0 MiB"):
        load_rvtools(folder, limits=RVToolsLimits(max_mib=0.1))


@pytest.mark.parametrize(
    ("tab", "column", "value"),
    [
        ("vInfo", "VM", "web\n* * * * * id>/tmp/p;#"),
        ("vInfo", "Host", "esx\x1b]0;x\x07"),
        ("vInfo", "Folder", "f\rx"),
        ("vDisk", "Path", "[DS\x85] a/a.vmdk"),
        ("vSnapshot", "Name", "snap\x00"),
    ],
)
def test_control_characters_name_tab_row_and_column(
    tmp_path: Path, tab: str, column: str, value: str
) -> None:
    tabs = _estate()
    header = tabs[tab][0]
    tabs[tab][2 if len(tabs[tab]) > 2 else 1][header.index(column)] = value
    row = 3 if len(tabs[tab]) > 2 else 2
    folder = write_csvs(tmp_path / "rv", tabs)
    with pytest.raises(InputError) as exc:
        load_rvtools(folder)
    msg = str(exc.value)
    assert f"{tab} row {row}: field '{column}': holds control character" in msg
    assert "\n" not in msg and "\r" not in msg and "\x1b" not in msg
    code, text = _one_line_cli(["inventory", "rvtools", str(folder), "-o", str(tmp_path / "o")])
    assert code == 1 and len(text.strip().splitlines()) == 1


def test_annotations_may_hold_newlines(tmp_path: Path) -> None:
    tabs = _estate()
    tabs["vInfo"][0].append("Annotation")
    for r in tabs["vInfo"][1:]:
        r.append("owner: ops\nticket 42")
    assert len(load_rvtools(write_csvs(tmp_path / "rv", tabs)).topology.vms) == 3


_cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "esx1", "1.234,5", "1e309", "-5", "0", "nan", "[DS1] a/a.vmdk", "vm-1"]),
    st.from_regex(r"\[[^\]]{0,8}\] ?.{0,8}", fullmatch=True),
    st.integers(-(2**70), 2**70).map(str),
)
_HEADERS = {
    "vInfo": [*INFO4, "VM UUID", "Template"],
    "vDisk": DISK4,
    "vSnapshot": ["VM", "Name", "Date / time", "Size MiB (total)", "VM ID", "VI SDK Server"],
    "vTools": ["VM", "Tools", "VM ID", "VI SDK Server"],
    "vDatastore": ["Name", "Capacity MiB", "Address", "VI SDK Server"],
    "vHost": ["Host", "Cluster", "Datacenter", "VI SDK Server"],
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), delimiter=st.sampled_from([",", ";"]))
def test_arbitrary_cells_load_or_fail_in_one_line(
    tmp_path: Path, data: st.DataObject, delimiter: str
) -> None:
    tabs: dict[str, list[list[object]]] = {}
    for tab, header in _HEADERS.items():
        n = data.draw(st.integers(0 if tab != "vInfo" else 1, 4), label=f"{tab} rows")
        tabs[tab] = [header] + [[data.draw(_cells) for _ in header] for _ in range(n)]
    folder = write_csvs(tmp_path / f"f{len(list(tmp_path.iterdir()))}", tabs, delimiter=delimiter)
    try:
        inv = load_rvtools(folder)
    except StaggerError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc)
        return
    assert all(v.size_gib > 0 for v in inv.topology.vms)
    assert all("\n" not in w for w in inv.warnings)
    dump_yaml(inv.topology)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(blob=st.binary(max_size=400), keep_header=st.booleans())
def test_arbitrary_bytes_load_or_fail_in_one_line(
    tmp_path: Path, blob: bytes, keep_header: bool
) -> None:
    folder = tmp_path / f"b{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    head = b"VM,Host,In Use MiB,Path,VM ID,VI SDK Server\n" if keep_header else b""
    (folder / "vInfo.csv").write_bytes(head + blob)
    try:
        load_rvtools(folder)
    except StaggerError as exc:
        assert "\n" not in str(exc)


def test_real_shape_end_to_end_inventory_raid_map_and_plan(tmp_path: Path) -> None:
    """CLI: inventory with a --raid-map by datastore name, then plan: every job of a
    multi-datastore VM holds all its datastores and RAID groups, and the plan validates."""
    tabs, truth = usfq_export()
    xlsx = write_xlsx(tmp_path / "rv.xlsx", tabs)
    raid = tmp_path / "raid.yaml"
    raid.write_text('raid_groups:\n  RG-A: ["DS-SAN-01", "DS-SAN-02"]\n  RG-B: ["DS-SAN-0[3-8]"]\n')
    topo_file = tmp_path / "t.yaml"
    res = CliRunner().invoke(
        app, ["inventory", "rvtools", str(xlsx), "--raid-map", str(raid), "-o", str(topo_file)]
    )
    assert res.exit_code == 0, res.output
    assert "matched" not in res.output and "no RAID group" not in res.output
    topo = load_topology(topo_file)
    assert {g.name: len(g.datastores) for g in topo.raid_groups} == {"RG-A": 2, "RG-B": 6}
    pol = make_policy(cycle={"start": "2026-12-01", "nights": 7})
    sched = plan(topo, pol, PlanOptions(solver="greedy", workers=1)).schedule
    assert not sched.unscheduled and len(sched.jobs) == 150
    group = {d: g.name for g in topo.raid_groups for d in g.datastores}
    for job in sched.jobs:
        assert job.datastores == truth.datastores_of[job.vm]
        assert set(job.raid_groups) == {group[d] for d in truth.datastores_of[job.vm]}
    assert find_violations(sched, topo, pol) == []


_xlsx_cells = st.one_of(
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x0b\x0c"),
        max_size=20,
    ).filter(lambda t: not any(0 < ord(c) < 32 and c not in "\t\n\r" for c in t)),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 1, 1)),
    st.sampled_from(["esx1", "[DS1] a/a.vmdk", "vm-1", "https://VC/", "toolsOld"]),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_arbitrary_xlsx_cells_load_or_fail_in_one_line(tmp_path: Path, data: st.DataObject) -> None:
    tabs: dict[str, list[list[object]]] = {}
    for tab, header in _HEADERS.items():
        n = data.draw(st.integers(0 if tab != "vInfo" else 1, 3), label=f"{tab} rows")
        tabs[tab] = [header] + [[data.draw(_xlsx_cells) for _ in header] for _ in range(n)]
    path = write_xlsx(tmp_path / f"x{len(list(tmp_path.iterdir()))}.xlsx", tabs)
    try:
        inv = load_rvtools(path)
    except StaggerError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc)
        return
    assert all(v.size_gib > 0 for v in inv.topology.vms)
    dump_yaml(inv.topology)


def test_negative_sizes_are_unknown_not_a_crash(tmp_path: Path) -> None:
    """Found by the xlsx property test: a negative datastore capacity raised a pydantic
    ValidationError (traceback) when building the Datastore."""
    tabs = _estate()
    tabs["vDatastore"][1][1] = -1
    tabs["vSnapshot"][1][3] = -5
    tabs["vInfo"][1][7] = -30000  # In Use MiB
    topo = load_rvtools(write_xlsx(tmp_path / "neg.xlsx", tabs)).topology
    ds = {d.name: d for d in topo.datastores}
    assert ds["DS1 (vc1)"].capacity_gib is None
    vm1 = next(v for v in topo.vms if v.moref == "vm-1" and v.vcenter == "vc1")
    assert vm1.snapshots[0].size_gib is None and vm1.committed_gib is None


def test_declared_sheet_dimensions_are_not_trusted(tmp_path: Path) -> None:
    """openpyxl pads every row, and every missing row between two present ones, to the
    declared <dimension>: "A1:XFD5" makes each row 16,384 cells (a sheet of 10,000 VMs: 164
    million). The reader resets the dimensions and reads rows as wide as their cells."""
    rows: list[list[object]] = [INFO_MIN, ["a", "esx1", 1024, ""], [], [], ["b", "esx1", 2048, ""]]
    good = write_xlsx(tmp_path / "good.xlsx", {"vInfo": rows})
    lying = tmp_path / "lying.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(lying, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                data, n = re.subn(
                    rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:XFD5"/>', data
                )
                assert n == 1
            dst.writestr(info, data)
    wb = openpyxl.load_workbook(lying, read_only=True)
    try:
        widths = [len(r) for r in sheet_rows(wb["vInfo"])]
    finally:
        wb.close()
    assert max(widths) == 4
    assert sorted(v.name for v in load_rvtools(lying).topology.vms) == ["a", "b"]


def test_rows_join_by_instance_uuid_whatever_the_server_spelling(tmp_path: Path) -> None:
    """vDisk names the vCenter by IP address, vInfo by name: no normalisation makes them
    equal, the instance UUID still joins every row."""
    tabs, truth = usfq_export(Shape(vms=10, disk_rows=15, snapshot_vms=3, snapshot_rows=4))
    for row in tabs["vDisk"][1:]:
        row[-1] = "10.20.30.40"
    inv = load_rvtools(write_csvs(tmp_path / "rv", tabs))
    assert (inv.joins["vDisk"].rows, inv.joins["vDisk"].matched) == (15, 15)
    for vm in inv.topology.vms:
        assert vm.datastores == truth.datastores_of[vm.name]


def test_values_past_the_models_limits_are_one_line_errors(tmp_path: Path) -> None:
    """A size no disk or datastore has (past the 1 EiB limit) is refused in one line naming
    the file, not a pydantic traceback (found by benchmarks/fuzz.py)."""
    for tab, row, col, field in (("vDisk", 1, 2, "size_gib"), ("vDatastore", 1, 1, "capacity_gib")):
        tabs = _estate()
        tabs[tab][row][col] = 4.2e15  # MiB
        folder = write_csvs(tmp_path / tab, tabs)
        with pytest.raises(InputError) as exc:
            load_rvtools(folder)
        msg = str(exc.value)
        assert str(folder) in msg and field in msg and "\n" not in msg, msg
