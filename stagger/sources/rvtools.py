"""Read an RVTools export (``.xlsx`` or a folder of its CSV tabs) into a Topology.

Tabs used: vInfo (required), vDisk, vDatastore, vMultiPath, vHost, vSnapshot, vTools. Both
RVTools 4.x (``Provisioned MiB``, ``Capacity MiB``) and 3.x (``Provisioned MB``, ``Capacity MB``)
headers are read. Missing tabs or empty columns degrade with one warning each.

Joining tabs: RVTools spells the ``VI SDK Server`` differently per tab (``https://vc`` in vInfo,
``vc`` in vDisk, empty in vDatastore), so the server is normalised (:func:`normalise_server`)
and an empty one means the only server when there is exactly one. A row of another tab is
joined to its vInfo VM by ``VM UUID`` (the instance UUID), else ``VM ID`` (MoRef) on that server,
else the VM name on that server when it is unique; every tab reports how many of its rows
matched no VM. VMs are never merged; duplicate display names are made unique with
:func:`stagger.sources.naming.unique_names` and the real name is kept in ``display_name``.

Errors: a missing or unreadable path is a :class:`~stagger.errors.SourceError` (exit 3); a file
whose content cannot be used (encoding, corrupt xlsx, over a size limit, control characters in
a name, missing vInfo columns) is an :class:`~stagger.errors.InputError` (exit 1), one line
naming file, tab, row and column.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from dateutil import parser as dateparser
from pydantic import ValidationError

from stagger.errors import InputError, SourceError
from stagger.model.text import no_control_chars
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
# Columns whose text becomes a name, path or id in the topology: refused with tab, row and
# column when they hold a control character (other columns, e.g. Annotation, may hold newlines).
NAME_COLUMNS = (
    "VM",
    "Host",
    "Cluster",
    "Datacenter",
    "Folder",
    "Path",
    "Disk Path",
    "Disk",
    "Canonical Name",
    "Name",
    "Datastore",
    "Snapshot",
    "VM ID",
    "VM UUID",
    "UUID",
    "VI SDK Server",
)
# Columns read as numbers: the decimal separator of a CSV tab is detected from these.
NUMBER_COLUMNS = (
    "Provisioned MiB",
    "In Use MiB",
    "Capacity MiB",
    "Provisioned MB",
    "In Use MB",
    "Capacity MB",
    "Size MiB (total)",
    "Size MiB (vmsn)",
    "Size MiB",
    "Size MB",
)


class Row(dict[str, str]):
    """One data row of a tab: column -> cell text, plus where it came from."""

    def __init__(
        self, cells: dict[str, str], tab: str, line: int, decimal: Literal[".", ","] = "."
    ) -> None:
        super().__init__(cells)
        self.tab = tab
        self.line = line  # row number in the sheet / record number in the CSV (header = 1)
        self.decimal = decimal


# --- limits -----------------------------------------------------------------------------------

MAX_MIB_ENV = "STAGGER_RVTOOLS_MAX_MIB"
MAX_CELL_ENV = "STAGGER_RVTOOLS_MAX_CELL_CHARS"
MAX_ROWS = 1_048_576  # Excel's own row limit: no real export has more rows in a tab


@dataclass(frozen=True)
class RVToolsLimits:
    """Bounds on what is read, checked before anything is parsed (zip directory, file size).

    ``max_mib``: a CSV file, or one unpacked part of the xlsx (a sheet, the shared strings).
    A 10,000-VM vInfo sheet (90 columns) unpacks to about 45 MiB. ``max_cell_chars``: Excel
    itself stores at most 32,767 characters in a cell."""

    max_mib: float = 256.0
    max_cell_chars: int = 32_767

    @classmethod
    def from_env(cls) -> RVToolsLimits:
        """Defaults, overridden by ``$STAGGER_RVTOOLS_MAX_MIB``, ``$..._MAX_CELL_CHARS``."""
        kw: dict[str, Any] = {}
        for env, key, kind in (
            (MAX_MIB_ENV, "max_mib", float),
            (MAX_CELL_ENV, "max_cell_chars", int),
        ):
            raw = os.environ.get(env)
            if raw is None or not raw.strip():
                continue
            try:
                value = kind(raw)
            except ValueError:
                value = -1
            if not (0 < value < math.inf):
                raise InputError(f"${env} must be a positive number, got {raw!a}")
            kw[key] = value
        return cls(**kw)

    @property
    def max_bytes(self) -> int:
        return int(self.max_mib * 1024 * 1024)


@dataclass(frozen=True)
class TabJoin:
    """How many rows of a tab were joined to a VM of vInfo."""

    tab: str
    rows: int
    matched: int
    ambiguous: int = 0
    missing: bool = False  # the export has no such tab: nothing is known, not "nothing found"

    @property
    def unmatched(self) -> int:
        return self.rows - self.matched


@dataclass
class RVToolsInventory:
    topology: Topology
    warnings: list[str] = field(default_factory=list)
    templates_skipped: int = 0
    vms_without_datastore: list[str] = field(default_factory=list)
    orphaned_skipped: list[str] = field(default_factory=list)
    """VMs with an empty Host (orphaned / inaccessible): not backed up, not planned."""
    joins: dict[str, TabJoin] = field(default_factory=dict)
    """Per joined tab (vDisk, vSnapshot, vTools): rows and how many matched a VM."""


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


def _check_names(row: Row, source: str) -> None:
    for col in NAME_COLUMNS:
        v = row.get(col)
        if v:
            try:
                no_control_chars(v)
            except ValueError as exc:
                raise InputError(
                    f"{exc} ({ascii(v)[:200]})",
                    file=source,
                    obj=f"{row.tab} row {row.line}",
                    field=col,
                ) from None


def _rows_from_table(
    table: Iterable[Iterable[Any]],
    tab: str,
    source: str,
    limits: RVToolsLimits,
    decimal: Literal[".", ","] = ".",
) -> list[Row]:
    it = iter(table)
    try:
        head = [_norm(h) for h in next(it)]
    except StopIteration:
        return []
    rows: list[Row] = []
    for line, raw in enumerate(it, start=2):
        if line > MAX_ROWS:
            raise InputError(f"more than {MAX_ROWS:,} rows", file=source, obj=tab)
        vals = [_cell(v) for v in raw]
        if not any(vals):
            continue
        for i, v in enumerate(vals):
            if len(v) > limits.max_cell_chars:
                col = head[i] if i < len(head) and head[i] else f"#{i + 1}"
                raise InputError(
                    f"cell of {len(v):,} characters, over the limit of {limits.max_cell_chars:,}"
                    f" (${MAX_CELL_ENV})",
                    file=source,
                    obj=f"{tab} row {line}",
                    field=col,
                )
        row = Row(
            {h: (vals[i] if i < len(vals) else "") for i, h in enumerate(head) if h},
            tab,
            line,
            decimal,
        )
        _check_names(row, source)
        rows.append(row)
    return rows


def _tab_of(filename: str) -> str | None:
    m = re.match(r"^(?:.*tab)?(v[A-Za-z]+)\.csv$", filename, re.IGNORECASE)
    if not m:
        return None
    return next((t for t in TABS if t.lower() == m.group(1).lower()), None)


def read_tabs(path: str | Path, limits: RVToolsLimits | None = None) -> dict[str, list[Row]]:
    """The RVTools tabs found at ``path`` (xlsx or folder of CSVs), by tab name."""
    lim = limits or RVToolsLimits.from_env()
    p = Path(path)
    if not p.exists():
        raise SourceError("RVTools export not found", file=str(p))
    tabs: dict[str, list[Row]] = {}
    if p.is_dir():
        try:
            entries = sorted(p.iterdir())
        except OSError as exc:
            raise SourceError(f"cannot list the folder: {exc.strerror}", file=str(p)) from None
        for f in entries:
            tab = _tab_of(f.name)
            if tab is None or tab in tabs:
                continue
            tabs[tab] = _read_csv(f, tab, lim)
        if not tabs:
            raise SourceError(
                "no RVTools CSV tabs (vInfo.csv, RVTools_tabvInfo.csv...)", file=str(p)
            )
        return tabs
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(p, lim)
    if p.suffix.lower() == ".csv":
        tab = _tab_of(p.name) or "vInfo"
        return {tab: _read_csv(p, tab, lim)}
    raise SourceError("expected an RVTools .xlsx file or a folder of its CSV exports", file=str(p))


def _check_xlsx_sizes(p: Path, lim: RVToolsLimits) -> None:
    """Refuse an xlsx whose parts unpack past the limit, from the zip directory alone.

    zipfile never reads past a member's declared size (a lying size fails the CRC check), so
    this bounds the memory openpyxl can use, e.g. a 1 MB file holding one 1 GiB cell."""
    try:
        with zipfile.ZipFile(p) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        # NotImplementedError: a zip feature (version, compression) zipfile cannot read.
        raise InputError(f"not a readable xlsx (zip) file: {exc}", file=str(p)) from None
    for info in members:
        if info.file_size > lim.max_bytes:
            raise InputError(
                f"xlsx part {info.filename!a} unpacks to {info.file_size / 2**20:,.0f} MiB,"
                f" over the limit of {lim.max_mib:,.0f} MiB (${MAX_MIB_ENV})",
                file=str(p),
            )


def sheet_rows(ws: Any) -> Iterator[tuple[Any, ...]]:
    """The cell values of a read-only worksheet, row by row, as wide as its cells.

    The declared ``<dimension>`` is not trusted: openpyxl pads every row (and every missing
    row between two present ones) to it, so "A1:XFD1048576" turns each row into 16,384 cells."""
    ws.reset_dimensions()
    return iter(ws.iter_rows(values_only=True))


def _read_xlsx(p: Path, lim: RVToolsLimits) -> dict[str, list[Row]]:
    _check_xlsx_sizes(p, lim)
    tabs: dict[str, list[Row]] = {}
    try:
        import openpyxl

        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (zip, XML, KeyError) for a broken file
        raise InputError(
            f"cannot read xlsx: {type(exc).__name__}: {str(exc)[:200]}", file=str(p)
        ) from None
    try:
        for ws in wb.worksheets:
            tab = next((t for t in TABS if t.lower() == ws.title.strip().lower()), None)
            if tab is None or tab in tabs:
                continue
            try:
                tabs[tab] = _rows_from_table(sheet_rows(ws), tab, str(p), lim, decimal=".")
            except InputError:
                raise
            except Exception as exc:  # a corrupt sheet fails inside openpyxl's XML parser
                raise InputError(
                    f"sheet is corrupt: {type(exc).__name__}: {str(exc)[:200]}",
                    file=str(p),
                    obj=tab,
                ) from None
    finally:
        wb.close()
    return tabs


def _decode(data: bytes, f: Path) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)  # Excel's "Unicode text" export
    else:
        encodings = ("utf-8-sig", "cp1252")
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError as exc:
            err = exc
    raise InputError(
        f"neither UTF-8 nor Windows-1252 text (byte 0x{data[err.start]:02x} at offset"
        f" {err.start}): save the export as UTF-8 CSV",
        file=str(f),
    )


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


_DEC_COMMA = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+,\d+$|^[+-]?\d+,(\d{1,2}|\d{4,})$")
_DEC_POINT = re.compile(r"^[+-]?\d{1,3}(,\d{3})+\.\d+$|^[+-]?\d+\.(\d{1,2}|\d{4,})$")


def detect_decimal(rows: list[Row], delimiter: str) -> Literal[".", ","]:
    """The decimal separator of a CSV tab, from the cells of its number columns.

    A cell like ``1.234,5`` or ``12,5`` decides for a comma, ``1,234.5`` or ``12.5`` for a
    point. Only ambiguous cells (``1,234``) left: a ``;``-separated file comes from a locale
    with a decimal comma (that is why Excel chose ``;``), a ``,``-separated one has points."""
    votes: Counter[str] = Counter()
    for row in rows:
        for col in NUMBER_COLUMNS:
            v = row.get(col, "").replace("\u00a0", "").replace(" ", "")
            if _DEC_COMMA.match(v):
                votes[","] += 1
            elif _DEC_POINT.match(v):
                votes["."] += 1
    if votes:
        return "," if votes[","] > votes["."] else "."
    return "," if delimiter == ";" else "."


def _read_csv(f: Path, tab: str, lim: RVToolsLimits) -> list[Row]:
    try:
        size = f.stat().st_size
        if size > lim.max_bytes:
            raise InputError(
                f"{size / 2**20:,.0f} MiB, over the limit of {lim.max_mib:,.0f} MiB"
                f" (${MAX_MIB_ENV})",
                file=str(f),
            )
        data = f.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}", file=str(f)) from None
    text = _decode(data, f)
    delim = _delimiter(text.split("\n", 1)[0])
    try:
        rows = _rows_from_table(csv.reader(io.StringIO(text), delimiter=delim), tab, str(f), lim)
    except csv.Error as exc:
        raise InputError(f"not a readable CSV: {exc}", file=str(f)) from None
    decimal = detect_decimal(rows, delim)
    for r in rows:
        r.decimal = decimal
    return rows


# --- helpers ----------------------------------------------------------------------------------


def _get(row: Row, *names: str) -> str:
    for n in names:
        v = row.get(n)
        if v:
            return v
    return ""


def _has(rows: list[Row], *names: str) -> bool:
    return any(_get(r, *names) for r in rows)


def parse_number(s: str, decimal: Literal[".", ","] = ".") -> float | None:
    """A finite number written with ``decimal`` as separator and any thousands grouping."""
    s = s.replace("\u00a0", "").replace(" ", "").replace("'", "")
    if not s:
        return None
    s = s.replace(".", "").replace(",", ".") if decimal == "," else s.replace(",", "")
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _num(row: Row, *names: str) -> float | None:
    return parse_number(_get(row, *names), row.decimal)


def _truthy(s: str) -> bool | None:
    if not s:
        return None
    return s.strip().lower() in ("true", "yes", "1", "wahr", "vrai", "verdadero")


def _mib(row: Row, base: str) -> float | None:
    """``<base> MiB`` (4.x) or ``<base> MB`` (3.x), in MiB."""
    return _num(row, f"{base} MiB", f"{base} MB")


def _gib(mib: float | None) -> float | None:
    """MiB -> GiB for facts (capacity, snapshot size); a negative size is unknown."""
    return round(mib / 1024, 3) if mib is not None and mib >= 0 else None


def _disk_gib(mib: float) -> float:
    """A positive size in GiB: a disk of a few KiB must not round to zero (and be refused)."""
    return max(round(mib / 1024, 3), 0.001)


def _date(s: str) -> datetime | None:
    if not s:
        return None
    try:
        d = dateparser.parse(s)
        if d.tzinfo is None:
            d = d.astimezone()  # RVTools writes the exporting machine's local time
        return d.astimezone(UTC)
    except (ValueError, OverflowError, OSError):  # unparsable, or a year past the clock's range
        return None


def normalise_server(raw: str) -> str:
    """``https://VC.example.com:443/sdk/`` -> ``vc.example.com``: the host name, lower case.

    vCenters are told apart by host name: scheme, user, port, path and a trailing dot go."""
    s = raw.strip().lower()
    if "://" in s:
        s = s.split("://", 1)[1]
    s = s.split("/", 1)[0].rsplit("@", 1)[-1]
    if s.startswith("["):  # [ipv6]:port
        s = s[1:].split("]", 1)[0]
    elif s.count(":") == 1:
        s = s.split(":", 1)[0]
    return s.rstrip(".")


def _qualifiers(
    vcenter: str | None, dc: str | None, folder: str | None, key: str
) -> tuple[str | None, ...]:
    """datacenter, datacenter/folder, vcenter/datacenter/folder, key (see naming.py)."""
    dc_folder = "/".join(x for x in (dc, folder) if x) or None
    full = "/".join(x for x in (vcenter, dc, folder) if x) or None
    return (dc, dc_folder, full, key)


# --- joining ----------------------------------------------------------------------------------


class _Servers:
    """The normalised server of a row; empty means the only server when there is one."""

    def __init__(self, info: list[Row]) -> None:
        self.known = sorted({normalise_server(_get(r, "VI SDK Server")) for r in info} - {""})

    def of(self, row: Row) -> str:
        s = normalise_server(_get(row, "VI SDK Server"))
        if not s and len(self.known) == 1:
            return self.known[0]
        return s


class _VMIndex:
    """vInfo VMs (templates and skipped ones included, so their rows count as matched)."""

    def __init__(self, servers: _Servers) -> None:
        self.servers = servers
        self.by_uuid: dict[str, list[str]] = defaultdict(list)
        # (server, MoRef or name) -> keys; server "" holds every server (a row without one).
        self.by_moref: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.by_name: dict[tuple[str, str], list[str]] = defaultdict(list)

    def add(self, key: str, row: Row) -> None:
        server = self.servers.of(row)
        uuid = _get(row, "VM UUID").lower()
        if uuid:
            self.by_uuid[uuid].append(key)
        vid = _get(row, "VM ID")
        for table, value in ((self.by_moref, vid), (self.by_name, _get(row, "VM"))):
            if value:
                table[(server, value)].append(key)
                if server:
                    table[("", value)].append(key)

    @staticmethod
    def _pick(table: dict[tuple[str, str], list[str]], server: str, value: str) -> list[str]:
        return table.get((server, value), [])

    def find(self, row: Row) -> tuple[str | None, bool]:
        """(key, ambiguous): by instance UUID, else MoRef on the server, else unique name."""
        uuid = _get(row, "VM UUID").lower()
        if uuid and len(self.by_uuid.get(uuid, [])) == 1:
            return self.by_uuid[uuid][0], False
        server = self.servers.of(row)
        vid = _get(row, "VM ID")
        if vid:
            ks = self._pick(self.by_moref, server, vid)
            if len(ks) == 1:
                return ks[0], False
        ks = self._pick(self.by_name, server, _get(row, "VM"))
        if len(ks) == 1:
            return ks[0], False
        return None, len(ks) > 1


def _join(
    tab: str, rows: list[Row], index: _VMIndex, warnings: list[str]
) -> tuple[dict[str, list[Row]], TabJoin]:
    out: dict[str, list[Row]] = defaultdict(list)
    matched = ambiguous = 0
    missed: list[Row] = []
    for row in rows:
        key, amb = index.find(row)
        if key is not None:
            out[key].append(row)
            matched += 1
        else:
            ambiguous += amb
            missed.append(row)
    join = TabJoin(tab, len(rows), matched, ambiguous)
    if missed:
        eg = missed[0]
        why = (
            f"; {ambiguous} name a VM that is not unique and carry no matching VM UUID / VM ID"
            if ambiguous
            else ""
        )
        warnings.append(
            f"{tab}: {len(rows)} rows, {matched} matched a VM{why}; unmatched rows ignored"
            f" (e.g. row {eg.line}: VM {_get(eg, 'VM')!a},"
            f" server {_get(eg, 'VI SDK Server')!a})"
        )
    return out, join


# --- building ---------------------------------------------------------------------------------


def load_rvtools(
    path: str | Path, *, strict: bool = False, limits: RVToolsLimits | None = None
) -> RVToolsInventory:
    """Topology from an RVTools export. ``strict``: fail if a VM's datastore is unknown."""
    tabs = read_tabs(path, limits)
    try:
        return build_topology(tabs, str(path), strict=strict)
    except ValidationError as exc:
        # A value past the models' limits (a 4 EiB disk, a NaN size): the models refuse it;
        # say so in one line naming the file instead of a pydantic traceback.
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        value = repr(err.get("input"))[:60]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(
            f"{exc.title} field '{where}': {err['msg']} (value {value}){more}", file=str(path)
        ) from None


def _check_vinfo(tabs: dict[str, list[Row]], source: str, warnings: list[str]) -> list[Row]:
    info = tabs.get("vInfo")
    if not info:
        raise InputError("vInfo tab missing or empty: cannot list VMs", file=source)
    if not _has(info, "VM"):
        raise InputError("vInfo has no 'VM' column", file=source, obj="vInfo")
    if not _has(info, "Host"):
        raise InputError(
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
    return info


_DsKey = tuple[str, str]
"""(server, datastore name as vCenter shows it)."""
_Built = tuple[str, VM, list[tuple[_DsKey | None, Disk]]]
"""A VM's key, the VM, and the datastore key of each of its disks (named at the end)."""


def build_topology(
    tabs: dict[str, list[Row]], source: str, *, strict: bool = False
) -> RVToolsInventory:
    """The topology from RVTools' tabs, step by step: VM rows, the tabs joined to them,
    hosts and clusters, datastores, VMs with disks/snapshots/tools, unique names."""
    warnings: list[str] = []
    info = _check_vinfo(tabs, source, warnings)
    servers = _Servers(info)
    index = _VMIndex(servers)
    vm_rows, templates, orphaned = _vm_rows(info, servers, index, warnings)
    grouped, joins = _join_tabs(tabs, index, warnings)
    host_name, cluster_name, cl_dc, hkeys, ckeys, host_rows = _hosts(tabs, vm_rows, servers)
    ds_rows, luns = _datastores(tabs, servers, vm_rows, warnings)
    refs = _DatastoreRefs(set(ds_rows))
    built, no_ds = _vms(
        vm_rows, grouped, servers, host_name, refs, bool(tabs.get("vDisk")), source, warnings
    )
    _check_datastores_known(no_ds, strict, source, warnings)
    datastores = _name_datastores(refs.used, ds_rows, luns, built)
    _rename_vms(built, {k: r for k, r in vm_rows}, warnings)
    try:
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
    except ValidationError as exc:  # names are checked per cell above; this is a last line
        err = exc.errors()[0]
        raise InputError(
            f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}", file=source
        ) from None
    return RVToolsInventory(
        topology=topo,
        warnings=warnings,
        templates_skipped=templates,
        vms_without_datastore=no_ds,
        orphaned_skipped=orphaned,
        joins=joins,
    )


def _vm_rows(
    info: list[Row], servers: _Servers, index: _VMIndex, warnings: list[str]
) -> tuple[list[tuple[str, Row]], int, list[str]]:
    """vInfo's VM rows by key (server + MoRef, else instance UUID, else the row), every row
    indexed for the joins (templates too); templates counted, VMs without a host skipped."""
    vm_rows: list[tuple[str, Row]] = []
    templates = 0
    orphaned: list[str] = []
    seen: set[str] = set()
    for row in info:
        if not _get(row, "VM"):
            continue
        server = servers.of(row)
        vid, uuid = _get(row, "VM ID"), _get(row, "VM UUID").lower()
        key = f"{server}/{vid}" if vid else f"{server}/uuid:{uuid}" if uuid else f"row:{row.line}"
        if key in seen:  # the same VM listed twice: keep both rows apart, never merge
            key = f"row:{row.line}"
        seen.add(key)
        index.add(key, row)
        if _truthy(_get(row, "Template")):
            templates += 1
        elif not _get(row, "Host"):
            orphaned.append(_get(row, "VM"))
        else:
            vm_rows.append((key, row))
    if orphaned:
        warnings.append(
            f"{len(orphaned)} VMs have no Host (orphaned or inaccessible; a backup cannot"
            f" snapshot them): skipped, not planned (e.g. {orphaned[0]!a})"
        )
    return vm_rows, templates, orphaned


def _join_tabs(
    tabs: dict[str, list[Row]], index: _VMIndex, warnings: list[str]
) -> tuple[dict[str, dict[str, list[Row]]], dict[str, TabJoin]]:
    """vDisk, vSnapshot and vTools rows grouped by VM key, and how well each tab joined."""
    joins: dict[str, TabJoin] = {}
    grouped: dict[str, dict[str, list[Row]]] = {}
    for tab in ("vDisk", "vSnapshot", "vTools"):
        grouped[tab], joins[tab] = _join(tab, tabs.get(tab) or [], index, warnings)
        if tab not in tabs:
            joins[tab] = TabJoin(tab, 0, 0, missing=True)
    return grouped, joins


class _DatastoreRefs:
    """The datastores a disk path names ("[DS] dir/x.vmdk"), collected as they are seen."""

    def __init__(self, known: set[_DsKey]) -> None:
        self.used: set[_DsKey] = known

    def of(self, server: str, path: str) -> _DsKey | None:
        m = _DS_PATH.match(path)
        if not m:
            return None
        k = (server, m.group(1).strip())
        self.used.add(k)
        return k


def _vm_disks(
    key: str,
    row: Row,
    disk_rows: list[Row],
    server: str,
    refs: _DatastoreRefs,
    vdisk_present: bool,
    warnings: list[str],
) -> list[tuple[_DsKey | None, Disk]] | None:
    """A VM's disks from vDisk, else one disk from vInfo's size; None: no size known."""
    name = _get(row, "VM")
    disks: list[tuple[_DsKey | None, Disk]] = []
    for d in disk_rows:
        mib = _mib(d, "Capacity")
        if not mib or mib <= 0:
            continue
        path = _get(d, "Path", "Disk Path")
        disks.append(
            (
                refs.of(server, path),
                Disk(size_gib=_disk_gib(mib), label=_get(d, "Disk") or None, file=path or None),
            )
        )
    if not disks:
        mib = _mib(row, "In Use") or _mib(row, "Provisioned")
        if mib is None or mib <= 0:
            warnings.append(f"vm {name!a} ({key}): no disk size in vDisk or vInfo: skipped")
            return None
        if vdisk_present:
            warnings.append(f"vm {name!a} ({key}): no vDisk rows: one disk from vInfo")
        disks.append((refs.of(server, _get(row, "Path")), Disk(size_gib=_disk_gib(mib))))
    return disks


def _vm_snapshots(rows: list[Row]) -> list[Snapshot]:
    return [
        Snapshot(
            name=_get(s, "Name", "Snapshot") or "snapshot",
            created=_date(_get(s, "Date / time", "Date / Time", "Date")),
            size_gib=_gib(_num(s, "Size MiB (total)", "Size MiB (vmsn)", "Size MB", "Size MiB")),
        )
        for s in rows
    ]


def _vms(
    vm_rows: list[tuple[str, Row]],
    grouped: dict[str, dict[str, list[Row]]],
    servers: _Servers,
    host_name: dict[_DsKey, str],
    refs: _DatastoreRefs,
    vdisk_present: bool,
    source: str,
    warnings: list[str],
) -> tuple[list[_Built], list[str]]:
    """Every VM that has a disk size, and the names of those whose datastores are unknown."""
    built: list[_Built] = []
    no_ds: list[str] = []
    for k, row in vm_rows:
        name = _get(row, "VM")
        server = servers.of(row)
        disks = _vm_disks(
            k, row, grouped["vDisk"].get(k, []), server, refs, vdisk_present, warnings
        )
        if disks is None:
            continue
        if all(ds is None for ds, _ in disks):
            no_ds.append(name)
        tools: ToolsStatus | None = None
        trow = grouped["vTools"].get(k)
        if trow:
            tools = _TOOLS.get(_get(trow[0], "Tools").replace(" ", "").lower(), "unknown")
        try:
            snaps = _vm_snapshots(grouped["vSnapshot"].get(k, []))
            vm = VM(
                name=name,
                host=host_name[(server, _get(row, "Host"))],
                disks=[d for _, d in disks],
                power_state=_POWER.get(_get(row, "Powerstate", "Power State").lower()),
                id=_get(row, "VM ID", "VM UUID") or None,
                moref=_get(row, "VM ID") or None,
                instance_uuid=_get(row, "VM UUID") or None,
                datacenter=_get(row, "Datacenter") or None,
                vcenter=server or None,
                committed_gib=_gib(_mib(row, "In Use")),
                tools=tools,
                consolidation_needed=_truthy(_get(row, "Consolidation Needed")),
                snapshots=snaps,
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise InputError(
                f"{err['msg']}",
                file=source,
                obj=f"vInfo row {row.line} (vm {name!a})",
                field=loc,
            ) from None
        built.append((k, vm, disks))
    return built, no_ds


def _check_datastores_known(
    no_ds: list[str], strict: bool, source: str, warnings: list[str]
) -> None:
    if not no_ds:
        return
    if strict:
        raise SourceError(
            f"{len(no_ds)} VMs have no known datastore (e.g. {no_ds[0]!a}); "
            "drop --strict to plan them by host only",
            file=source,
        )
    warnings.append(
        f"{len(no_ds)} VMs have no known datastore (e.g. {no_ds[0]!a}): planned by host only"
    )


def _name_datastores(
    used: set[_DsKey],
    ds_rows: dict[_DsKey, Row],
    luns: dict[_DsKey, list[str]],
    built: list[_Built],
) -> list[Datastore]:
    """Every datastore seen (vDatastore or a disk path) under a unique name, with capacity
    and LUN ids; each VM disk then names its datastore by that name."""
    dkeys = sorted(used)
    dnames = unique_names([Named(n, f"{s}/{n}", (s or None,)) for s, n in dkeys])
    ds_name = dict(zip(dkeys, dnames, strict=True))
    datastores = []
    for dk in dkeys:
        drow = ds_rows.get(dk)
        cap = _mib(drow, "Capacity") if drow is not None else None
        ext = luns.get(dk, [])
        datastores.append(
            Datastore(
                name=ds_name[dk],
                naa=ext[0] if ext else None,
                extents=ext,
                capacity_gib=_gib(cap) or None,
            )
        )
    for _, vm, vdisks in built:
        for i, (where, _) in enumerate(vdisks):
            vm.disks[i].datastore = ds_name[where] if where is not None else None
    return datastores


def _rename_vms(built: list[_Built], by_key: dict[str, Row], warnings: list[str]) -> None:
    """VM names made unique; a renamed VM keeps its vCenter name in display_name."""
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
            vm.display_name = vm.name  # the real vCenter name, for exporters
            vm.name = new_name
    if renamed:
        warnings.append(
            f"{renamed} VMs share a display name with another VM: renamed 'name (qualifier)'"
        )


def _hosts(
    tabs: dict[str, list[Row]], vm_rows: list[tuple[str, Row]], servers: _Servers
) -> tuple[
    dict[tuple[str, str], str],
    dict[tuple[str, str], str],
    dict[tuple[str, str], str | None],
    list[tuple[str, str]],
    list[tuple[str, str]],
    dict[tuple[str, str], Row],
]:
    """Hosts and clusters keyed by (server, name), from vHost and the VMs' rows."""
    host_rows: dict[tuple[str, str], Row] = {}
    for row in tabs.get("vHost") or []:
        if _get(row, "Host"):
            host_rows[(servers.of(row), _get(row, "Host"))] = row
    for _, row in vm_rows:
        host_rows.setdefault((servers.of(row), _get(row, "Host")), row)
    hkeys = sorted(host_rows)
    hnames = unique_names(
        [
            Named(h, f"{s}/{h}", (_get(host_rows[(s, h)], "Datacenter") or None, s or None))
            for s, h in hkeys
        ]
    )
    host_name = dict(zip(hkeys, hnames, strict=True))
    cl_dc: dict[tuple[str, str], str | None] = {}
    for (s, _), r in host_rows.items():
        if _get(r, "Cluster"):
            cl_dc.setdefault((s, _get(r, "Cluster")), _get(r, "Datacenter") or None)
    ckeys = sorted(cl_dc)
    cnames = unique_names([Named(c, f"{s}/{c}", (cl_dc[(s, c)], s or None)) for s, c in ckeys])
    cluster_name = dict(zip(ckeys, cnames, strict=True))
    return host_name, cluster_name, cl_dc, hkeys, ckeys, host_rows


def _datastores(
    tabs: dict[str, list[Row]],
    servers: _Servers,
    vm_rows: list[tuple[str, Row]],
    warnings: list[str],
) -> tuple[dict[tuple[str, str], Row], dict[tuple[str, str], list[str]]]:
    """vDatastore rows and LUN ids keyed by (server, datastore name).

    A row without a server, when there are several servers, belongs to the one server whose
    VMs use that datastore name; if none or several do, it is dropped with a warning."""
    ds_servers: dict[str, set[str]] = defaultdict(set)
    for _, row in vm_rows:
        m = _DS_PATH.match(_get(row, "Path"))
        if m:
            ds_servers[m.group(1).strip()].add(servers.of(row))
    for row in tabs.get("vDisk") or []:
        m = _DS_PATH.match(_get(row, "Path", "Disk Path"))
        s = servers.of(row)
        if m and s:
            ds_servers[m.group(1).strip()].add(s)

    dropped: Counter[str] = Counter()

    def key(row: Row, name: str) -> tuple[str, str] | None:
        s = servers.of(row)
        if s or not servers.known:
            return (s, name)
        owners = ds_servers.get(name, set()) - {""}
        if len(owners) == 1:
            return (next(iter(owners)), name)
        dropped[row.tab] += 1
        return None

    ds_rows: dict[tuple[str, str], Row] = {}
    for row in tabs.get("vDatastore") or []:
        name = _get(row, "Name", "Datastore")
        k = key(row, name) if name else None
        if k is not None:
            ds_rows[k] = row
    luns: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in tabs.get("vMultiPath") or []:
        ds, disk = _get(row, "Datastore"), _get(row, "Disk", "Canonical Name")
        k = key(row, ds) if ds and _LUN.match(disk) else None
        if k is not None and disk not in luns[k]:
            luns[k].append(disk)
    for k, row in ds_rows.items():
        for v in row.values():
            for part in re.split(r"[\s,;]+", v):
                if _LUN.match(part) and part not in luns[k]:
                    luns[k].append(part)
    for tab, n in sorted(dropped.items()):
        warnings.append(
            f"{tab}: {n} rows have no VI SDK Server and a datastore name used on several"
            " (or no) vCenters: ignored"
        )
    return ds_rows, luns
