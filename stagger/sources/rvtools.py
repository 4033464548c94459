"""Read an RVTools export (``.xlsx`` or a folder of its CSV tabs) into a Topology.

Tabs used: vInfo (required), vDisk, vDatastore, vMultiPath, vHost, vSnapshot, vTools. Both
RVTools 4.x (``Provisioned MiB``, ``Capacity MiB``) and 3.x (``Provisioned MB``, ``Capacity MB``)
headers are read. Missing tabs or empty columns degrade with one warning each. VMs are keyed by
``VI SDK Server`` + ``VM ID`` (else ``VM UUID``, else the row), never merged; duplicate display
names are made unique with :func:`stagger.sources.naming.unique_names`. Templates are skipped,
powered-off VMs kept. Every failure to read is a :class:`~stagger.errors.SourceError` (exit 3).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from dateutil import parser as dateparser

from stagger.errors import SourceError
from stagger.model.topology import (
    VM,
    Cluster,
    Datastore,
    Disk,
    Host,
    Snapshot,
    ToolsStatus,
    Topology,
)
from stagger.sources.naming import Named, unique_names

TABS = ("vInfo", "vDisk", "vDatastore", "vMultiPath", "vHost", "vSnapshot", "vTools")
_DS_PATH = re.compile(r"^\s*\[([^\]]+)\]")
_LUN = re.compile(r"^(naa|eui|t10)\.[0-9a-zA-Z]+", re.IGNORECASE)
_TOOLS: dict[str, ToolsStatus] = {
    "toolsok": "ok",
    "toolsold": "old",
    "toolsnotrunning": "not_running",
    "toolsnotinstalled": "not_installed",
    "guesttoolsunmanaged": "unmanaged",
    "toolsunmanaged": "unmanaged",
}
_POWER: dict[str, Literal["on", "off", "suspended"]] = {
    "poweredon": "on",
    "poweredoff": "off",
    "suspended": "suspended",
}

Row = dict[str, str]


@dataclass
class RVToolsInventory:
    topology: Topology
    warnings: list[str] = field(default_factory=list)
    templates_skipped: int = 0
    vms_without_datastore: list[str] = field(default_factory=list)


# --- reading tabs -----------------------------------------------------------------------------


def _norm(h: Any) -> str:
    return str(h).strip() if h is not None else ""


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, bool):
        return "True" if v else "False"
    return str(v).strip()


def _rows_from_table(table: Iterable[Iterable[Any]]) -> list[Row]:
    it = iter(table)
    try:
        head = [_norm(h) for h in next(it)]
    except StopIteration:
        return []
    rows: list[Row] = []
    for raw in it:
        vals = [_cell(v) for v in raw]
        if not any(vals):
            continue
        rows.append({h: (vals[i] if i < len(vals) else "") for i, h in enumerate(head) if h})
    return rows


def read_tabs(path: str | Path) -> dict[str, list[Row]]:
    """The RVTools tabs found at ``path`` (xlsx or folder of CSVs), by tab name."""
    p = Path(path)
    if not p.exists():
        raise SourceError("RVTools export not found", file=str(p))
    tabs: dict[str, list[Row]] = {}
    if p.is_dir():
        for f in sorted(p.iterdir()):
            m = re.match(r"^(?:.*tab)?(v[A-Za-z]+)\.csv$", f.name, re.IGNORECASE)
            if not m:
                continue
            tab = next((t for t in TABS if t.lower() == m.group(1).lower()), None)
            if tab is None or tab in tabs:
                continue
            tabs[tab] = _read_csv(f)
        if not tabs:
            raise SourceError(
                "no RVTools CSV tabs (vInfo.csv, RVTools_tabvInfo.csv...)", file=str(p)
            )
        return tabs
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            import openpyxl

            wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise SourceError(
                f"cannot read xlsx: {type(exc).__name__}: {exc}", file=str(p)
            ) from None
        try:
            for ws in wb.worksheets:
                tab = next((t for t in TABS if t.lower() == ws.title.strip().lower()), None)
                if tab is not None:
                    tabs[tab] = _rows_from_table(ws.iter_rows(values_only=True))
        finally:
            wb.close()
        return tabs
    if p.suffix.lower() == ".csv":
        m = re.match(r"^(?:.*tab)?(v[A-Za-z]+)\.csv$", p.name, re.IGNORECASE)
        tab = next((t for t in TABS if m and t.lower() == m.group(1).lower()), "vInfo")
        return {tab: _read_csv(p)}
    raise SourceError("expected an RVTools .xlsx file or a folder of its CSV exports", file=str(p))


def _read_csv(f: Path) -> list[Row]:
    data = f.read_bytes()
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    first = text.split("\n", 1)[0]
    delim = ";" if first.count(";") > first.count(",") else ","
    try:
        return _rows_from_table(csv.reader(io.StringIO(text), delimiter=delim))
    except csv.Error as exc:
        raise SourceError(f"not a readable CSV: {exc}", file=str(f)) from None


# --- helpers ----------------------------------------------------------------------------------


def _get(row: Row, *names: str) -> str:
    for n in names:
        v = row.get(n)
        if v:
            return v
    return ""


def _has(rows: list[Row], *names: str) -> bool:
    return any(_get(r, *names) for r in rows)


def _num(s: str) -> float | None:
    s = s.replace("\u00a0", "").replace(" ", "")
    if not s:
        return None
    if "," in s and "." in s:
        s = s.replace(",", "")
    elif "," in s:
        s = s.replace(",", "." if s.count(",") == 1 and len(s.split(",")[1]) != 3 else "")
    try:
        return float(s)
    except ValueError:
        return None


def _truthy(s: str) -> bool | None:
    if not s:
        return None
    return s.strip().lower() in ("true", "yes", "1")


def _mib(row: Row, base: str) -> float | None:
    """``<base> MiB`` (4.x) or ``<base> MB`` (3.x), in MiB."""
    return _num(_get(row, f"{base} MiB", f"{base} MB"))


def _date(s: str) -> datetime | None:
    if not s:
        return None
    try:
        d = dateparser.parse(s)
    except (ValueError, OverflowError):
        return None
    if d.tzinfo is None:
        d = d.astimezone()  # RVTools writes the exporting machine's local time
    return d.astimezone(UTC)


def _server(row: Row) -> str:
    return _get(row, "VI SDK Server", "VI SDK UUID")


def _vm_key(row: Row, n: int) -> str:
    vid = _get(row, "VM ID")
    if vid:
        return f"{_server(row)}/{vid}"
    uuid = _get(row, "VM UUID", "UUID")
    if uuid:
        return f"{_server(row)}/uuid:{uuid}"
    return f"{_server(row)}/row:{n}"


def _qualifiers(
    vcenter: str | None, dc: str | None, folder: str | None, key: str
) -> tuple[str | None, ...]:
    """datacenter, datacenter/folder, vcenter/datacenter/folder, key (see naming.py)."""
    dc_folder = "/".join(x for x in (dc, folder) if x) or None
    full = "/".join(x for x in (vcenter, dc, folder) if x) or None
    return (dc, dc_folder, full, key)


# --- building ---------------------------------------------------------------------------------


def load_rvtools(path: str | Path, *, strict: bool = False) -> RVToolsInventory:
    """Topology from an RVTools export. ``strict``: fail if a VM's datastore is unknown."""
    tabs = read_tabs(path)
    return build_topology(tabs, str(path), strict=strict)


def build_topology(
    tabs: dict[str, list[Row]], source: str, *, strict: bool = False
) -> RVToolsInventory:
    warnings: list[str] = []
    info = tabs.get("vInfo")
    if not info:
        raise SourceError("vInfo tab missing or empty: cannot list VMs", file=source)
    if not _has(info, "VM"):
        raise SourceError("vInfo has no 'VM' column", file=source, obj="vInfo")
    if not _has(info, "Host"):
        raise SourceError(
            "vInfo has no 'Host' column: VMs cannot be placed", file=source, obj="vInfo"
        )
    for tab, what in (
        ("vDisk", "one disk per VM from vInfo 'In Use MiB' on the datastore of vInfo 'Path'"),
        ("vSnapshot", "no snapshots known"),
        ("vTools", "VMware Tools state unknown"),
        ("vHost", "hosts and clusters from vInfo"),
        ("vDatastore", "datastores from disk paths, without capacity"),
    ):
        if not tabs.get(tab):
            warnings.append(f"{tab} missing: {what}")

    # VMs by key; index for joining the other tabs.
    vm_rows: list[tuple[str, Row]] = []
    templates = 0
    for n, row in enumerate(info, start=2):
        if not _get(row, "VM"):
            continue
        if _truthy(_get(row, "Template")):
            templates += 1
            continue
        vm_rows.append((_vm_key(row, n), row))
    by_key = {k: r for k, r in vm_rows}
    names: dict[tuple[str, str], list[str]] = defaultdict(list)
    for k, r in vm_rows:
        names[(_server(r), _get(r, "VM"))].append(k)

    def key_of(row: Row) -> str | None:
        vid = _get(row, "VM ID")
        if vid:
            k = f"{_server(row)}/{vid}"
            return k if k in by_key else None
        uuid = _get(row, "VM UUID", "UUID")
        if uuid and f"{_server(row)}/uuid:{uuid}" in by_key:
            return f"{_server(row)}/uuid:{uuid}"
        ks = names.get((_server(row), _get(row, "VM")), [])
        return ks[0] if len(ks) == 1 else None

    ambiguous: set[str] = set()

    def group(tab: str) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = defaultdict(list)
        for row in tabs.get(tab) or []:
            k = key_of(row)
            if k is not None:
                out[k].append(row)
            elif len(names.get((_server(row), _get(row, "VM")), [])) > 1:
                ambiguous.add(f"{tab}: '{_get(row, 'VM')}'")
        return out

    disks_of, snaps_of, tools_of = group("vDisk"), group("vSnapshot"), group("vTools")
    if ambiguous:
        warnings.append(
            f"{len(ambiguous)} rows name a VM that is not unique and carry no 'VM ID': ignored"
            f" (e.g. {sorted(ambiguous)[0]})"
        )

    # Hosts and clusters.
    host_rows: dict[tuple[str, str], Row] = {}
    for row in tabs.get("vHost") or []:
        if _get(row, "Host"):
            host_rows[(_server(row), _get(row, "Host"))] = row
    for _, row in vm_rows:
        host_rows.setdefault((_server(row), _get(row, "Host")), row)
    hkeys = sorted(host_rows)
    hnames = unique_names(
        [Named(h, f"{s}/{h}", (_get(host_rows[(s, h)], "Datacenter"), s)) for s, h in hkeys]
    )
    host_name = dict(zip(hkeys, hnames, strict=True))
    ckeys = sorted(
        {(s, _get(r, "Cluster")) for (s, _), r in host_rows.items() if _get(r, "Cluster")}
    )
    cl_dc = {
        (s, _get(r, "Cluster")): _get(r, "Datacenter") or None
        for (s, _), r in host_rows.items()
        if _get(r, "Cluster")
    }
    cnames = unique_names([Named(c, f"{s}/{c}", (cl_dc[(s, c)], s)) for s, c in ckeys])
    cluster_name = dict(zip(ckeys, cnames, strict=True))

    # Datastores.
    ds_rows: dict[tuple[str, str], Row] = {}
    for row in tabs.get("vDatastore") or []:
        if _get(row, "Name", "Datastore"):
            ds_rows[(_server(row), _get(row, "Name", "Datastore"))] = row
    luns: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in tabs.get("vMultiPath") or []:
        ds, disk = _get(row, "Datastore"), _get(row, "Disk", "Canonical Name")
        if ds and _LUN.match(disk) and disk not in luns[(_server(row), ds)]:
            luns[(_server(row), ds)].append(disk)
    for (s, name), row in ds_rows.items():
        for v in row.values():
            for part in re.split(r"[\s,;]+", v):
                if _LUN.match(part) and part not in luns[(s, name)]:
                    luns[(s, name)].append(part)
    used: set[tuple[str, str]] = set(ds_rows)

    def disk_ds(server: str, path: str) -> tuple[str, str] | None:
        m = _DS_PATH.match(path)
        if not m:
            return None
        k = (server, m.group(1).strip())
        used.add(k)
        return k

    # VMs.
    built: list[tuple[str, VM, list[tuple[tuple[str, str] | None, Disk]]]] = []
    no_ds: list[str] = []
    vdisk_present = bool(tabs.get("vDisk"))
    for k, row in vm_rows:
        name = _get(row, "VM")
        server = _server(row)
        disks: list[tuple[tuple[str, str] | None, Disk]] = []
        for d in disks_of.get(k, []):
            mib = _mib(d, "Capacity")
            if not mib or mib <= 0:
                continue
            path = _get(d, "Path", "Disk Path")
            disks.append(
                (
                    disk_ds(server, path),
                    Disk(
                        size_gib=round(mib / 1024, 3),
                        label=_get(d, "Disk") or None,
                        file=path or None,
                    ),
                )
            )
        if not disks:
            mib = _mib(row, "In Use") or _mib(row, "Provisioned")
            if mib is None or mib <= 0:
                warnings.append(f"vm '{name}' ({k}): no disk size in vDisk or vInfo: skipped")
                continue
            path = _get(row, "Path")
            if vdisk_present:
                warnings.append(f"vm '{name}' ({k}): no vDisk rows: one disk from vInfo")
            disks.append((disk_ds(server, path), Disk(size_gib=round(mib / 1024, 3))))
        if all(ds is None for ds, _ in disks):
            no_ds.append(name)
        tools: ToolsStatus | None = None
        trow = tools_of.get(k)
        if trow:
            tools = _TOOLS.get(_get(trow[0], "Tools").replace(" ", "").lower(), "unknown")
        snaps = [
            Snapshot(
                name=_get(s, "Name", "Snapshot") or "snapshot",
                created=_date(_get(s, "Date / time", "Date / Time", "Date")),
                size_gib=(lambda v: round(v / 1024, 3) if v is not None else None)(
                    _num(_get(s, "Size MiB (total)", "Size MiB (vmsn)", "Size MB", "Size MiB"))
                ),
            )
            for s in snaps_of.get(k, [])
        ]
        vm = VM(
            name=name,
            host=host_name[(server, _get(row, "Host"))],
            disks=[d for _, d in disks],
            power_state=_POWER.get(_get(row, "Powerstate", "Power State").lower()),
            id=_get(row, "VM ID", "VM UUID") or None,
            datacenter=_get(row, "Datacenter") or None,
            vcenter=server or None,
            committed_gib=(lambda v: round(v / 1024, 3) if v is not None else None)(
                _mib(row, "In Use")
            ),
            tools=tools,
            consolidation_needed=_truthy(_get(row, "Consolidation Needed")),
            snapshots=snaps,
        )
        built.append((k, vm, disks))
    if no_ds:
        if strict:
            raise SourceError(
                f"{len(no_ds)} VMs have no known datastore (e.g. '{no_ds[0]}'); "
                "drop --strict to plan them by host only",
                file=source,
            )
        warnings.append(
            f"{len(no_ds)} VMs have no known datastore (e.g. '{no_ds[0]}'): planned by host only"
        )

    dkeys = sorted(used)
    dnames = unique_names([Named(n, f"{s}/{n}", (s,)) for s, n in dkeys])
    ds_name = dict(zip(dkeys, dnames, strict=True))
    datastores = []
    for dk in dkeys:
        row = ds_rows.get(dk, {})
        cap = _mib(row, "Capacity") if row else None
        ext = luns.get(dk, [])
        datastores.append(
            Datastore(
                name=ds_name[dk],
                naa=ext[0] if ext else None,
                extents=ext,
                capacity_gib=round(cap / 1024, 3) if cap else None,
            )
        )
    for _, vm, vdisks in built:
        for i, (where, _) in enumerate(vdisks):
            vm.disks[i].datastore = ds_name[where] if where is not None else None

    vm_names = unique_names(
        [
            Named(vm.name, k, _qualifiers(vm.vcenter, vm.datacenter, _get(by_key[k], "Folder"), k))
            for k, vm, _d in built
        ]
    )
    renamed = 0
    for (_k, vm, _d), new_name in zip(built, vm_names, strict=True):
        if new_name != vm.name:
            renamed += 1
            vm.name = new_name
    if renamed:
        warnings.append(
            f"{renamed} VMs share a display name with another VM: renamed 'name (qualifier)'"
        )
    topo = Topology(
        clusters=[Cluster(name=cluster_name[ck], datacenter=cl_dc[ck]) for ck in ckeys],
        hosts=[
            Host(
                name=host_name[hk],
                cluster=cluster_name.get((hk[0], _get(host_rows[hk], "Cluster"))),
            )
            for hk in hkeys
        ],
        datastores=datastores,
        vms=sorted((vm for _, vm, _ in built), key=lambda v: v.name),
    )
    return RVToolsInventory(
        topology=topo, warnings=warnings, templates_skipped=templates, vms_without_datastore=no_ds
    )
