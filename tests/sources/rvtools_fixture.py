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
import uuid
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
