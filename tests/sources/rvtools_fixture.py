"""Generate RVTools exports with the shape of a real one (vCenter ``p-vc-01.usfq.edu.ec``).

The real export spells the "VI SDK Server" differently per tab: ``https://p-vc-01.usfq.edu.ec``
in vInfo and vHost, ``p-vc-01.usfq.edu.ec`` in vDisk and vSnapshot, and empty in vDatastore and
vTools. Every VM tab carries "VM ID" (MoRef) and "VM UUID" (instance UUID), as RVTools 4.x
writes them. The default estate: 150 VMs with 242 vDisk rows (46 VMs spread over two or three
datastores) and 198 vSnapshot rows on 84 VMs, all taken in 2024. Deterministic per seed.
"""

from __future__ import annotations

import csv
import random
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl

SERVER = "p-vc-01.usfq.edu.ec"
INFO_SERVER = f"https://{SERVER}"  # vInfo, vHost
DISK_SERVER = SERVER  # vDisk, vSnapshot (the plain host name, as the real export)
EMPTY_SERVER = ""  # vDatastore, vTools

INFO = [
    "VM",
    "Powerstate",
    "Template",
    "Host",
    "Cluster",
    "Datacenter",
    "Folder",
    "Provisioned MiB",
    "In Use MiB",
    "Path",
    "Annotation",
    "Consolidation Needed",
    "VM ID",
    "VM UUID",
    "VI SDK Server",
]
DISK = ["VM", "Powerstate", "Template", "Disk", "Capacity MiB", "Path", "VM ID", "VM UUID"]
SNAP = ["VM", "Powerstate", "Name", "Date / time", "Size MiB (vmsn)", "Size MiB (total)"]
SNAP_ID = ["VM ID", "VM UUID", "VI SDK Server"]
HOST = ["Host", "Datacenter", "Cluster", "ESX Version", "VI SDK Server"]
DSTORE = ["Name", "Capacity MiB", "Address", "Hosts", "VI SDK Server"]
TOOLS = ["VM", "Powerstate", "Template", "Tools", "VM ID", "VM UUID", "VI SDK Server"]


@dataclass
class Shape:
    vms: int = 150
    disk_rows: int = 242
    snapshot_vms: int = 84
    snapshot_rows: int = 198
    datastores: int = 8
    hosts: int = 6
    seed: int = 7


@dataclass
class Truth:
    """What the generated export holds, to check a loader against."""

    datastores_of: dict[str, list[str]] = field(default_factory=dict)  # VM -> datastores
    snapshot_vms: set[str] = field(default_factory=set)
    datastore_names: list[str] = field(default_factory=list)
    moref_of: dict[str, str] = field(default_factory=dict)
    uuid_of: dict[str, str] = field(default_factory=dict)


def usfq_export(shape: Shape | None = None) -> tuple[dict[str, list[list[object]]], Truth]:
    """The tabs (header row first) and the truth behind them."""
    s = shape or Shape()
    rnd = random.Random(s.seed)
    truth = Truth()
    ds_names = [f"DS-SAN-{i:02d}" for i in range(1, s.datastores + 1)]
    truth.datastore_names = ds_names
    hosts = [f"esx{i:02d}.usfq.edu.ec" for i in range(1, s.hosts + 1)]
    cluster_of = {h: ("CL-PROD" if i % 2 == 0 else "CL-DEV") for i, h in enumerate(hosts)}
    tabs: dict[str, list[list[object]]] = {
        "vInfo": [INFO],
        "vDisk": [[*DISK, "VI SDK Server"]],
        "vSnapshot": [[*SNAP, *SNAP_ID]],
        "vHost": [HOST],
        "vDatastore": [DSTORE],
        "vTools": [TOOLS],
    }
    extra = s.disk_rows - s.vms  # disks beyond the first, spread over some VMs
    disks_per_vm = [1] * s.vms
    for i in range(extra):
        disks_per_vm[(i * 3) % s.vms] += 1
    snaps_per_vm = [0] * s.vms
    snap_vms = sorted(rnd.sample(range(s.vms), s.snapshot_vms))
    for v in snap_vms:
        snaps_per_vm[v] = 1
    for i in range(s.snapshot_rows - s.snapshot_vms):
        snaps_per_vm[snap_vms[i % len(snap_vms)]] += 1
    for v in range(s.vms):
        name = f"S2-SRV-{3000 + v}"
        moref = f"vm-{12000 + v}"
        vuuid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        truth.moref_of[name], truth.uuid_of[name] = moref, vuuid
        host = hosts[v % len(hosts)]
        home = ds_names[v % len(ds_names)]
        used = [home]
        sizes = []
        for d in range(disks_per_vm[v]):
            ds = home if d == 0 else ds_names[(v + d * 3) % len(ds_names)]
            if ds not in used:
                used.append(ds)
            mib = 10240 * (1 + (v + d) % 5)
            sizes.append(mib)
            path = f"[{ds}] {name}/{name}{'' if d == 0 else f'_{d}'}.vmdk"
            tabs["vDisk"].append(
                [
                    name,
                    "poweredOn",
                    "False",
                    f"Hard disk {d + 1}",
                    mib,
                    path,
                    moref,
                    vuuid,
                    DISK_SERVER,
                ]
            )
        truth.datastores_of[name] = used
        tabs["vInfo"].append(
            [
                name,
                "poweredOn",
                "False",
                host,
                cluster_of[host],
                "USFQ",
                "Servidores/Produccion",
                sum(sizes),
                sum(sizes) // 2,
                f"[{home}] {name}/{name}.vmx",
                "line one\nline two",  # annotations hold newlines: not a name, kept out
                "False",
                moref,
                vuuid,
                INFO_SERVER,
            ]
        )
        tabs["vTools"].append([name, "poweredOn", "False", "toolsOk", moref, vuuid, EMPTY_SERVER])
        for k in range(snaps_per_vm[v]):
            truth.snapshot_vms.add(name)
            when = datetime(2024, 1, 1) + timedelta(days=rnd.randrange(360), hours=k)
            tabs["vSnapshot"].append(
                [
                    name,
                    "poweredOn",
                    f"antes-de-parche-{k}",
                    when.strftime("%Y/%m/%d %H:%M:%S"),
                    0,
                    2048 + 100 * k,
                    moref,
                    vuuid,
                    DISK_SERVER,
                ]
            )
    for h in hosts:
        tabs["vHost"].append([h, "USFQ", cluster_of[h], "VMware ESXi 7.0.3", INFO_SERVER])
    for i, ds in enumerate(ds_names):
        naa = f"naa.600a0b80005ad1{i:018d}"
        tabs["vDatastore"].append([ds, 4194304, naa, ", ".join(hosts), EMPTY_SERVER])
    return tabs, truth


def write_xlsx(path: Path, tabs: dict[str, list[list[object]]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in tabs.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def write_csvs(
    folder: Path,
    tabs: dict[str, list[list[object]]],
    *,
    prefix: str = "RVTools_tab",
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tabs.items():
        with open(folder / f"{prefix}{name}.csv", "w", newline="", encoding=encoding) as fh:
            csv.writer(fh, delimiter=delimiter).writerows(rows)
    return folder


def _zip_member(name: str, raw: bytes, crc: int, size: int, offset: int) -> tuple[bytes, bytes]:
    """(local header + data, central directory entry) of one deflated member."""
    fname = name.encode()
    common = struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0x21, crc, len(raw), size, len(fname), 0)
    local = b"PK\x03\x04" + common + fname + raw
    central = (
        b"PK\x01\x02"
        + struct.pack("<H", 20)
        + common
        + struct.pack("<HHHII", 0, 0, 0, 0, offset)
        + fname
    )
    return local, central


def xlsx_with_huge_cell(path: Path, mib: int = 1024) -> Path:
    """A real xlsx whose vInfo sheet holds one cell of ``mib`` MiB of 'A' (inline string).

    The deflate stream is built from one compressed 1 MiB block repeated (full flushes make
    the blocks identical), so a 1 GiB cell costs about a second and a 1 MB file."""
    tmp = path.with_suffix(".base.xlsx")
    write_xlsx(tmp, {"vInfo": [["VM", "Host", "In Use MiB"], ["a", "esx1", 1024]]})
    with zipfile.ZipFile(tmp) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    tmp.unlink()
    sheet = next(n for n in parts if n.startswith("xl/worksheets/"))
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats'
        b'.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'
        b'VM</t></is></c><c r="B1" t="inlineStr"><is><t>Host</t></is></c><c r="C1" t="inlineStr">'
        b'<is><t>In Use MiB</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>'
    )
    tail = (
        b'</t></is></c><c r="B2" t="inlineStr"><is><t>esx1</t></is></c><c r="C2"><v>1024</v>'
        b"</c></row></sheetData></worksheet>"
    )
    chunk = b"A" * (1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(head + chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    assert block == again  # identical after a full flush: safe to repeat
    end = comp.compress(tail) + comp.flush()
    crc = zlib.crc32(head)
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    members: dict[str, tuple[bytes, int, int]] = {}
    for name, data in parts.items():
        if name == sheet:
            raw = first + block * (mib - 1) + end
            members[name] = (raw, crc, len(head) + mib * len(chunk) + len(tail))
        else:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            members[name] = (c.compress(data) + c.flush(), zlib.crc32(data), len(data))
    out, central, offset = bytearray(), bytearray(), 0
    for name, (raw, c32, size) in members.items():
        local, entry = _zip_member(name, raw, c32, size, offset)
        out += local
        central += entry
        offset += len(local)
    out += central
    out += b"PK\x05\x06" + struct.pack(
        "<HHHHIIH", 0, 0, len(members), len(members), len(central), offset, 0
    )
    path.write_bytes(bytes(out))
    return path
