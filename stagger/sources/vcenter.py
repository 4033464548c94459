"""Read the estate from a live vCenter or ESXi host through pyvmomi.

One bulk retrieval: a ContainerView over the root folder and one PropertyCollector
``RetrievePropertiesEx`` call (then ``ContinueRetrievePropertiesEx`` while the server hands
back a paging token) for every VM, host, cluster, datastore, folder and datacenter, and the
custom-attribute definitions. No call per VM, and no lazy property access on managed objects.
Then the VMs' vSphere tags through the vSphere Automation REST API
(:mod:`stagger.sources.vsphere_tags`, skipped with ``read_tags=False``): when that endpoint
fails (none on ESXi, no permission, not JSON) the load warns and goes on without them.

Bounded: every TLS socket of one load (the API-version probe, the login, the retrieval, the
logout, the tag read's HTTPS connection) reads through :class:`_Budget`, so the whole load ends
by ``timeout_s`` seconds after it started (a server that drips one byte at a time is cut off) and
never reads more than ``max_response_mib`` from the server (an endless answer does not grow
memory without bound).

Every failure becomes a one-line :class:`~stagger.errors.SourceError` subclass (exit code 3)
chosen in one table, :data:`_ERROR_TABLE`. A name holding a control character is refused with
one :class:`~stagger.errors.InputError` line naming the object (exit code 1). The password is
only passed to the login call; it is never logged or stored.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import re
import socket
import ssl
import time
import xml.etree.ElementTree
import xml.parsers.expat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from stagger.errors import (
    InputError,
    SourceAuthError,
    SourceError,
    SourceProtocolError,
    SourceRefusedError,
    SourceTimeoutError,
    SourceTLSError,
)
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

GIB = float(1 << 30)
MIB = 1 << 20
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_RESPONSE_MIB = 1024
# A DNS name (IDN letters too), IPv4 or IPv6 address: what may reach the connection and files.
_HOST = re.compile(r"[\w.:-]+")
_DS_PATH = re.compile(r"^\s*\[([^\]]+)\]")

# guest.toolsVersionStatus2 -> ToolsStatus (when the tools are running)
_TOOLS_VERSION: dict[str, ToolsStatus] = {
    "guestToolsCurrent": "ok",
    "guestToolsSupportedNew": "ok",
    "guestToolsNeedUpgrade": "old",
    "guestToolsSupportedOld": "old",
    "guestToolsTooOld": "old",
    "guestToolsTooNew": "too_new",
    "guestToolsBlacklisted": "blacklisted",
    "guestToolsUnmanaged": "unmanaged",
    "guestToolsNotInstalled": "not_installed",
}
_POWER = {"poweredOn": "on", "poweredOff": "off", "suspended": "suspended"}

_PROPS: dict[str, list[str]] = {
    "VirtualMachine": [
        "name",
        "parent",
        "config.template",
        "config.instanceUuid",
        "config.hardware.device",
        "config.hardware.numCPU",
        "runtime.host",
        "runtime.powerState",
        "runtime.consolidationNeeded",
        "summary.storage.committed",
        "guest.toolsRunningStatus",
        "guest.toolsVersionStatus2",
        "snapshot",
        "layoutEx",
        "customValue",
    ],
    "HostSystem": ["name", "parent"],
    "ComputeResource": ["name", "parent"],
    "ClusterComputeResource": ["name", "parent"],
    "Datastore": ["name", "parent", "summary.capacity", "summary.type", "info"],
    "Folder": ["name", "parent"],
    "Datacenter": ["name", "parent"],
}


@dataclass
class VCenterOptions:
    server: str
    """Host name or address, as :func:`parse_server` normalised it (no scheme, no port)."""
    user: str
    password: str = field(repr=False)
    port: int = 443
    insecure: bool = False
    ca_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Seconds for the whole load: login, retrieval and logout together, not per read."""
    max_response_mib: int = DEFAULT_MAX_RESPONSE_MIB
    """The most the server may send in one load (every answer together)."""
    page_size: int = 1000
    read_tags: bool = True
    """Read vSphere tags through the vSphere Automation REST API (``--no-tags``: False)."""


@dataclass
class RetrievalStats:
    retrieve_calls: int = 0
    continue_calls: int = 0
    objects: int = 0
    seconds: float = 0.0
    bytes_read: int = 0
    tag_requests: int = 0
    """REST calls of the tag read (0 when tags were not read)."""
    tags: int | None = None
    """vSphere tags applied to VMs; None when they were not read (skipped or unavailable)."""
    tagged_vms: int = 0

    @property
    def round_trips(self) -> int:
        return self.retrieve_calls + self.continue_calls


@dataclass
class VCenterInventory:
    topology: Topology
    warnings: list[str]
    stats: RetrievalStats
    templates_skipped: int = 0
    vcpus: dict[str, int] = field(default_factory=dict)
    """VM name (the topology's ``name``) -> its vCPU count (``config.hardware.numCPU``), for
    the VMs that have one: the task slots of a proxy VM (:mod:`stagger.sources.vcenter_proxies`)."""


@dataclass
class _Obj:
    ref: str
    type: str
    props: dict[str, Any]


def parse_server(text: str) -> tuple[str, int | None]:
    """``vc.example.com``, ``VC.example.com.``, ``https://vc:8443/sdk`` -> (host, port or None).

    The host is the server's normalised name: lower case, no scheme, path or trailing dot. It is
    also what a VM's ``vcenter`` field holds, so that every source names a server the same way.
    """
    raw = text.strip()
    shown = repr(text)
    if not raw or any(c.isspace() for c in raw) or _has_control(raw):
        raise InputError(f"not a server name: {shown}", field="--vcenter")
    try:
        parts = urlsplit(raw if "://" in raw else f"//{raw}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InputError(f"not a server name: {shown} ({exc})", field="--vcenter") from None
    host = (host or "").lower().rstrip(".")
    if parts.scheme not in ("", "https") or "@" in raw or not _HOST.fullmatch(host):
        raise InputError(
            f"not a server name: {shown} (use HOST or https://HOST)", field="--vcenter"
        )
    return host, port


def _has_control(text: str) -> bool:
    try:
        no_control_chars(text)
    except ValueError:
        return True
    return False


# --- bounded reading ----------------------------------------------------------------------------


class _DeadlinePassed(TimeoutError):
    """The load's overall deadline passed (a TimeoutError, so every timeout path sees it)."""


class _AnswerTooLarge(Exception):
    """The server sent more than the load may read (``inflated``: once decompressed)."""

    def __init__(self, message: str, inflated: bool = False) -> None:
        super().__init__(message)
        self.inflated = inflated


_LOAD_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "stagger_vcenter_budget", default=None
)
"""The budget of the load running in this context (set by `translate_errors`)."""


class _Budget:
    """One load's deadline and byte allowance, shared by every socket the load opens.

    Both are sticky: once spent, every later read fails too, so a caller inside pyvmomi that
    swallows one error (the version probe does) cannot go on reading.
    """

    def __init__(self, timeout_s: float, max_bytes: int) -> None:
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.max_bytes = max_bytes
        self.bytes_read = 0
        self.bytes_inflated = 0
        self.exceeded: _AnswerTooLarge | None = None
        """Set when the cap is hit: pyvmomi may wrap the error in a fault of its own."""

    def seconds_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed("deadline passed")
        return left

    def count(self, n: int) -> None:
        self.bytes_read += n
        if self.bytes_read > self.max_bytes:
            self.exceeded = _AnswerTooLarge(f"more than {self.max_bytes} bytes")
            raise self.exceeded

    def count_inflated(self, n: int) -> None:
        self.bytes_inflated += n
        if self.bytes_inflated > self.max_bytes:
            self.exceeded = _AnswerTooLarge(
                f"more than {self.max_bytes} bytes inflated", inflated=True
            )
            raise self.exceeded


def _bound_inflation() -> None:
    """Count what pyvmomi decompresses against the load's budget too.

    pyvmomi asks for gzip/deflate answers (and inflates one it did not ask for) after the
    socket counted the compressed bytes, so without this a 1 MiB answer could inflate to
    ~1 GiB of XML. Its `GzipReader` is looked up by name at each call: the subclass counts
    every inflated byte it hands the XML parser (each read inflates at most one 512-byte
    chunk ahead). Outside a stagger load (no budget in the context) it behaves as pyvmomi's.
    """
    from pyVmomi import SoapAdapter

    if getattr(SoapAdapter.GzipReader, "stagger_bounded", False):
        return

    class _BoundedGzipReader(SoapAdapter.GzipReader):
        stagger_bounded = True

        def read(self, *args: Any, **kwargs: Any) -> bytes:
            data: bytes = super().read(*args, **kwargs)
            budget = _LOAD_BUDGET.get()
            if budget is not None:
                budget.count_inflated(len(data))
            return data

    SoapAdapter.GzipReader = _BoundedGzipReader  # type: ignore[misc]


def _bounded_socket_class(budget: _Budget) -> type[ssl.SSLSocket]:
    """An SSLSocket whose every blocking step waits at most until the budget's deadline.

    A per-socket timeout alone restarts with every byte received, so a server sending one byte
    a second would be waited on for ever; here each step's timeout is what is left of the whole
    load, and every byte received is counted against the cap as it is read.
    """

    class _BoundedSSLSocket(ssl.SSLSocket):
        def _bound(self) -> None:
            self.settimeout(budget.seconds_left())

        def do_handshake(self, block: bool = False) -> None:
            self._bound()
            super().do_handshake(block)

        def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
            if budget.bytes_read > budget.max_bytes:
                raise _AnswerTooLarge(f"more than {budget.max_bytes} bytes")
            self._bound()
            data = super().recv(buflen, flags)
            budget.count(len(data))
            return data

        def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
            if budget.bytes_read > budget.max_bytes:
                raise _AnswerTooLarge(f"more than {budget.max_bytes} bytes")
            self._bound()
            n = super().recv_into(buffer, nbytes, flags)
            budget.count(n)
            return n

        def sendall(self, data: Any, flags: int = 0) -> None:
            self._bound()
            super().sendall(data, flags)

        def send(self, data: Any, flags: int = 0) -> int:
            self._bound()
            return super().send(data, flags)

    return _BoundedSSLSocket


def _ssl_context(opts: VCenterOptions, budget: _Budget) -> ssl.SSLContext:
    if opts.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        try:
            ctx = ssl.create_default_context(cafile=opts.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"cannot read CA file: {exc}", file=opts.ca_file) from None
    # Every connection made with this context (pyvmomi's version probe and its SOAP stub both
    # take it) reads through the budget.
    ctx.sslsocket_class = _bounded_socket_class(budget)
    return ctx


# --- one table: low-level error -> SourceError subclass and its line ---------------------------


@dataclass
class _Failure:
    opts: VCenterOptions
    budget: _Budget
    during: str

    @property
    def where(self) -> str:
        return f"{self.opts.server}:{self.opts.port}"


def _text(exc: BaseException) -> str:
    """An exception's message as one escaped line (servers choose what it holds)."""
    msg = getattr(exc, "msg", None) or getattr(exc, "strerror", None) or str(exc)
    shown = repr(str(msg))[1:-1]
    return shown[:300] + ("..." if len(shown) > 300 else "")


def _too_large(exc: BaseException, f: _Failure) -> str:
    inflated = " (once decompressed)" if getattr(exc, "inflated", False) else ""
    return (
        f"{f.where}: the server sent more than {f.opts.max_response_mib} MiB{inflated} {f.during}"
        " (raise --max-response-mib if this vCenter is that large)"
    )


def _untrusted(exc: BaseException, f: _Failure) -> str:
    reason = getattr(exc, "verify_message", None) or _text(exc)
    return (
        f"{f.where}: TLS certificate not trusted ({reason}); pass --ca-file with the "
        "vCenter CA certificate, or --insecure to skip verification"
    )


def _timeout(exc: BaseException, f: _Failure) -> str:
    # One figure bounds both a silent server and a dripping one: --timeout is the deadline of
    # the whole load, and no single read may wait past it.
    return (
        f"{f.where}: not finished within {f.opts.timeout_s:g} s {f.during} "
        "(timeout for the whole retrieval: raise --timeout for a slow vCenter)"
    )


def _not_vsphere(exc: BaseException, f: _Failure) -> str:
    return (
        f"{f.where}: does not answer as a vSphere API (vCenter/ESXi) {f.during}: "
        f"{type(exc).__name__}: {_text(exc)}"
    )


_Rule = tuple[
    tuple[type[BaseException], ...], type[SourceError], Callable[[BaseException, _Failure], str]
]

# First match wins: specific before general (SSLCertVerificationError is an SSLError is an
# OSError; ConnectionRefusedError is an OSError). pyvmomi's faults are added by _rules().
_ERROR_TABLE: list[_Rule] = [
    ((_AnswerTooLarge,), SourceProtocolError, _too_large),
    ((ssl.SSLCertVerificationError,), SourceTLSError, _untrusted),
    (
        (ConnectionRefusedError,),
        SourceRefusedError,
        lambda e, f: f"{f.where}: connection refused (is this a vCenter/ESXi address and port?)",
    ),
    (
        (socket.gaierror,),
        SourceRefusedError,
        lambda e, f: f"{f.where}: cannot resolve host name ({_text(e)})",
    ),
    ((TimeoutError,), SourceTimeoutError, _timeout),
    (
        (
            http.client.RemoteDisconnected,
            http.client.IncompleteRead,
            ConnectionResetError,
            BrokenPipeError,
            ssl.SSLEOFError,
        ),
        SourceProtocolError,
        lambda e, f: f"{f.where}: server closed the connection {f.during}; nothing was written",
    ),
    ((ssl.SSLError,), SourceTLSError, lambda e, f: f"{f.where}: TLS error {f.during}: {_text(e)}"),
    (
        (http.client.HTTPException,),
        SourceProtocolError,
        lambda e, f: f"{f.where}: bad HTTP answer {f.during}: {type(e).__name__}: {_text(e)}",
    ),
    (
        (OSError,),
        SourceRefusedError,
        lambda e, f: f"{f.where}: cannot reach the server {f.during}: {_text(e)}",
    ),
    (
        (xml.parsers.expat.ExpatError, xml.etree.ElementTree.ParseError),
        SourceProtocolError,
        _not_vsphere,
    ),
]


def _rules() -> list[_Rule]:
    from pyVmomi import vim, vmodl

    auth: list[_Rule] = [
        (
            (vim.fault.InvalidLogin,),
            SourceAuthError,
            lambda e, f: (
                f"{f.where}: login refused for user {f.opts.user!r}: wrong user name or password"
            ),
        ),
        (
            (vim.fault.NoPermission,),
            SourceAuthError,
            lambda e, f: f"{f.where}: user {f.opts.user!r} lacks permission: {_text(e)}",
        ),
        (
            (vmodl.MethodFault,),
            SourceProtocolError,
            lambda e, f: f"{f.where}: vSphere fault {f.during}: {_text(e)}",
        ),
    ]
    # Anything else pyvmomi raises (its probe says "... is not a VIM server" with a bare
    # Exception; a non-SOAP answer fails deep in its deserialiser): the server is not vSphere.
    return [*auth, *_ERROR_TABLE, ((Exception,), SourceProtocolError, _not_vsphere)]


def source_error(exc: BaseException, f: _Failure) -> SourceError:
    """The SourceError subclass and one-line message for a low-level error (the table)."""
    for types, kind, message in _rules():
        if isinstance(exc, types):
            return kind(message(exc, f))
    return SourceProtocolError(_not_vsphere(exc, f))


@contextmanager
def translate_errors(opts: VCenterOptions, budget: _Budget, during: str) -> Iterator[None]:
    """Any low-level failure inside becomes the :class:`SourceError` subclass that
    :func:`_rules` maps it to (one table); the inventory and the performance reader share it.
    Inside, pyvmomi's decompression counts against ``budget`` too."""
    _bound_inflation()
    token = _LOAD_BUDGET.set(budget)
    try:
        yield
    except (SourceError, InputError):
        raise
    except Exception as exc:
        cause = budget.exceeded or exc  # the cap, whatever pyvmomi turned it into
        raise source_error(cause, _Failure(opts, budget, during)) from None
    finally:
        _LOAD_BUDGET.reset(token)


# --- connecting and retrieving -----------------------------------------------------------------


@dataclass
class _Session:
    si: Any
    opts: VCenterOptions
    budget: _Budget


def connect(opts: VCenterOptions, budget: _Budget | None = None) -> _Session:
    """Log in. Raises a SourceError subclass (or InputError for an unreadable CA file)."""
    budget = budget or _Budget(opts.timeout_s, opts.max_response_mib * MIB)
    ctx = _ssl_context(opts, budget)
    # SmartConnect's API-version probe opens its own connection without a timeout: bound its
    # TCP connect with the default socket timeout for the duration of the login (the reads
    # after it are bounded by the budget's socket class).
    previous = socket.getdefaulttimeout()
    with translate_errors(opts, budget, "while connecting"):
        socket.setdefaulttimeout(min(opts.timeout_s, budget.seconds_left()))
        try:
            return _Session(_smart_connect(opts, ctx), opts, budget)
        finally:
            socket.setdefaulttimeout(previous)


def _smart_connect(opts: VCenterOptions, ctx: ssl.SSLContext) -> Any:
    from pyVim.connect import SmartConnect

    return SmartConnect(
        host=opts.server,
        port=opts.port,
        user=opts.user,
        pwd=opts.password,
        sslContext=ctx,
        httpConnectionTimeout=opts.timeout_s,
        connectionPoolTimeout=-1,
    )


def disconnect(session: _Session) -> None:
    from pyVim.connect import Disconnect

    with contextlib.suppress(Exception):  # logging out is best effort
        Disconnect(session.si)


def retrieve(
    session: _Session,
    stats: RetrievalStats,
    on_page: Callable[[int], None] | None = None,
) -> list[_Obj]:
    """All inventory objects with the properties in _PROPS, in one paged bulk retrieval."""
    from pyVmomi import vim, vmodl

    si, opts = session.si, session.opts
    pcq = vmodl.query.PropertyCollector
    out: list[_Obj] = []
    start = time.monotonic()
    with translate_errors(opts, session.budget, "during retrieval"):
        content = si.RetrieveContent()
        types = [getattr(vim, t) for t in _PROPS]
        view = content.viewManager.CreateContainerView(content.rootFolder, types, True)
        try:
            spec = pcq.FilterSpec(
                objectSet=[
                    pcq.ObjectSpec(
                        obj=view,
                        skip=True,
                        selectSet=[
                            pcq.TraversalSpec(
                                name="view", path="view", skip=False, type=vim.view.ContainerView
                            )
                        ],
                    ),
                ],
                propSet=[
                    pcq.PropertySpec(type=getattr(vim, t), pathSet=p) for t, p in _PROPS.items()
                ],
                reportMissingObjectsInResults=False,
            )
            if content.customFieldsManager is not None:
                spec.objectSet.append(pcq.ObjectSpec(obj=content.customFieldsManager, skip=False))
                spec.propSet.append(
                    pcq.PropertySpec(type=vim.CustomFieldsManager, pathSet=["field"])
                )
            pc = content.propertyCollector
            result = pc.RetrievePropertiesEx([spec], pcq.RetrieveOptions(maxObjects=opts.page_size))
            stats.retrieve_calls += 1
            while result is not None:
                for oc in result.objects:
                    props = {p.name: p.val for p in oc.propSet}
                    out.append(_Obj(oc.obj._moId, type(oc.obj).__name__.split(".")[-1], props))
                stats.objects = len(out)
                if on_page is not None:
                    on_page(len(out))
                if not result.token:
                    break
                result = pc.ContinueRetrievePropertiesEx(result.token)
                stats.continue_calls += 1
        finally:
            with contextlib.suppress(Exception):  # a dead server is reported by the caller
                view.Destroy()
    stats.seconds = time.monotonic() - start
    stats.bytes_read = session.budget.bytes_read
    return out


def _tools_status(running: str | None, version: str | None) -> ToolsStatus | None:
    if running is None and version is None:
        return None
    status = _TOOLS_VERSION.get(version or "", "unknown")
    if status == "not_installed":
        return status
    if running is not None and running != "guestToolsRunning":
        return "not_running"
    return status


def _snapshots(vm: dict[str, Any]) -> list[Snapshot]:
    info = vm.get("snapshot")
    if info is None:
        return []
    layout = vm.get("layoutEx")
    files = {f.key: f for f in (layout.file if layout else [])}
    slayouts = {s.key._moId: s for s in (layout.snapshot if layout else [])}
    current_chain = _chain_keys(layout.disk if layout else [])

    def size_of(tree: Any) -> float | None:
        sl = slayouts.get(tree.snapshot._moId)
        if sl is None:
            return None
        total = 0
        for key in (sl.dataKey, sl.memoryKey):
            if key is not None and key >= 0 and key in files:
                total += files[key].size or 0
        # Delta disks written since this snapshot: in the child's (or the VM's) chain, not in ours.
        ours = _chain_keys(sl.disk or [])
        child = tree.childSnapshotList[0] if len(tree.childSnapshotList or []) == 1 else None
        child_l = slayouts.get(child.snapshot._moId) if child is not None else None
        after = _chain_keys(child_l.disk or []) if child_l is not None else current_chain
        total += sum(files[k].size or 0 for k in after - ours if k in files)
        return total / GIB

    out: list[Snapshot] = []
    stack = list(reversed(info.rootSnapshotList or []))
    while stack:
        tree = stack.pop()
        created: datetime | None = tree.createTime.astimezone(UTC) if tree.createTime else None
        out.append(Snapshot(name=tree.name, created=created, size_gib=size_of(tree)))
        stack.extend(reversed(tree.childSnapshotList or []))
    return out


def _chain_keys(disks: Any) -> set[int]:
    keys: set[int] = set()
    for d in disks or []:
        for unit in d.chain or []:
            keys.update(unit.fileKey or [])
    return keys


# Folder nesting deeper than this is taken as a parent cycle (a server bug or a hostile one).
_MAX_DEPTH = 64


def _texts_of(o: _Obj) -> Iterator[tuple[str, Any]]:
    """(field, value) for every text of an object that reaches the topology."""
    p = o.props
    yield "name", p.get("name")
    if o.type == "CustomFieldsManager":
        for f in p.get("field") or []:
            yield f"field[{f.key}].name", f.name
    if o.type == "Datastore":
        vmfs = getattr(p.get("info"), "vmfs", None)
        for i, e in enumerate(getattr(vmfs, "extent", None) or []):
            yield f"info.vmfs.extent[{i}].diskName", e.diskName
    if o.type != "VirtualMachine":
        return
    p_uuid = p.get("config.instanceUuid")
    yield "config.instanceUuid", p_uuid
    for cv in p.get("customValue") or []:
        yield f"customValue[{cv.key}].value", getattr(cv, "value", None)
    for i, dev in enumerate(p.get("config.hardware.device") or []):
        info = getattr(dev, "deviceInfo", None)
        yield f"config.hardware.device[{i}].deviceInfo.label", getattr(info, "label", None)
        backing = getattr(dev, "backing", None)
        yield f"config.hardware.device[{i}].backing.fileName", getattr(backing, "fileName", None)
    snap = p.get("snapshot")
    stack = list(getattr(snap, "rootSnapshotList", None) or [])
    while stack:
        tree = stack.pop()
        yield "snapshot.name", tree.name
        stack.extend(tree.childSnapshotList or [])


def refuse_control_chars(objs: list[_Obj], vcenter: str) -> None:
    """One InputError line for the first name or tag holding a control character.

    Names come from whoever can create a VM; a newline in one would become a new line in a
    crontab or a Bacula config. The offending name is shown escaped so the line stays one line.
    """
    for o in objs:
        name = o.props.get("name")
        for fld, value in _texts_of(o):
            if not isinstance(value, str):
                continue
            try:
                no_control_chars(value)
            except ValueError as exc:
                what = f"{o.type} {o.ref}" + (f" {name!r}" if isinstance(name, str) else "")
                shown = "" if fld == "name" else f" {value!r}"
                raise InputError(
                    f"{exc}{shown}: rename it in vCenter; nothing was written",
                    file=f"vCenter {vcenter}",
                    obj=what,
                    field=fld,
                ) from None


def _vm_qualifiers(
    vcenter: str, dc: str | None, folder: str | None, key: str
) -> tuple[str | None, ...]:
    """datacenter, datacenter/folder, vcenter/datacenter/folder, key (see naming.py)."""
    dc_folder = "/".join(x for x in (dc, folder) if x) or None
    full = "/".join(x for x in (vcenter, dc, folder) if x) or None
    return (dc, dc_folder, full, key)


class InventoryTree:
    """The inventory tree by MoRef id: which datacenter and VM folder an object is in."""

    def __init__(self, objs: list[_Obj]) -> None:
        self.kinds: dict[str, _Obj] = {o.ref: o for o in objs}
        self.parent_of: dict[str, str | None] = {}
        for o in objs:
            p = o.props.get("parent")
            self.parent_of[o.ref] = p._moId if p is not None else None

    def datacenter_of(self, ref: str) -> str | None:
        cur: str | None = ref
        for _ in range(_MAX_DEPTH):
            o = self.kinds.get(cur) if cur is not None else None
            if o is None:
                return None
            if o.type == "Datacenter":
                return str(o.props.get("name"))
            cur = self.parent_of.get(o.ref)
        return None

    def folder_path(self, ref: str) -> str:
        names: list[str] = []
        cur = self.parent_of.get(ref)
        while cur is not None and len(names) < _MAX_DEPTH:
            o = self.kinds.get(cur)
            if o is None or o.type != "Folder":
                break
            names.append(str(o.props.get("name")))
            cur = self.parent_of.get(cur)
        # The datacenter's top VM folder ("vm") is not a user folder.
        return "/".join(reversed(names[:-1])) if names else ""

    def unique(self, objs: list[_Obj], vcenter: str) -> list[str]:
        """Unique names for hosts, clusters or datastores (qualified by datacenter, server)."""
        return unique_names(
            [
                Named(
                    str(o.props["name"]), f"{vcenter}/{o.ref}", (self.datacenter_of(o.ref), vcenter)
                )
                for o in objs
            ]
        )


@dataclass
class Compute:
    clusters: list[Cluster]
    hosts: list[Host]
    host_of_ref: dict[str, str]


def read_compute(objs: list[_Obj], tree: InventoryTree, vcenter: str) -> Compute:
    """Clusters and hosts with unique names (also read by the performance reader)."""
    clusters = [o for o in objs if o.type == "ClusterComputeResource"]
    cluster_names = tree.unique(clusters, vcenter)
    cluster_of_ref = {c.ref: n for c, n in zip(clusters, cluster_names, strict=True)}
    hosts = [o for o in objs if o.type == "HostSystem"]
    host_names = tree.unique(hosts, vcenter)
    return Compute(
        clusters=[
            Cluster(name=n, datacenter=tree.datacenter_of(c.ref))
            for c, n in zip(clusters, cluster_names, strict=True)
        ],
        hosts=[
            Host(name=n, cluster=cluster_of_ref.get(tree.parent_of.get(h.ref) or ""))
            for h, n in zip(hosts, host_names, strict=True)
        ],
        host_of_ref={h.ref: n for h, n in zip(hosts, host_names, strict=True)},
    )


@dataclass
class Storage:
    datastores: list[Datastore]
    by_dc_name: dict[tuple[str | None, str], str]
    """(datacenter, vCenter name) -> unique name: how a disk's "[DS] path" finds its datastore."""
    by_ref: dict[str, str]
    """MoRef id -> unique name: a disk backing's datastore; the performance reader's list."""


def read_storage(objs: list[_Obj], tree: InventoryTree, vcenter: str) -> Storage:
    """Datastores with unique names and extents (also read by the performance reader)."""
    from pyVmomi import vim

    dss = [o for o in objs if o.type == "Datastore"]
    out = Storage([], {}, {})
    for d, n in zip(dss, tree.unique(dss, vcenter), strict=True):
        out.by_dc_name[(tree.datacenter_of(d.ref), str(d.props["name"]))] = n
        out.by_ref[d.ref] = n
        extents: list[str] = []
        info = d.props.get("info")
        if isinstance(info, vim.host.VmfsDatastoreInfo) and info.vmfs is not None:
            extents = [e.diskName for e in info.vmfs.extent or [] if e.diskName]
        cap = d.props.get("summary.capacity")
        out.datastores.append(
            Datastore(
                name=n,
                naa=extents[0] if extents else None,
                extents=extents,
                capacity_gib=round(cap / GIB, 3) if cap else None,
            )
        )
    return out


def _disks(o: _Obj, dc: str | None, storage: Storage, warnings: list[str]) -> list[Disk]:
    from pyVmomi import vim

    name = str(o.props.get("name"))
    disks: list[Disk] = []
    for dev in o.props.get("config.hardware.device") or []:
        if not isinstance(dev, vim.vm.device.VirtualDisk):
            continue
        size = dev.capacityInBytes or (dev.capacityInKB or 0) * 1024
        backing = dev.backing
        fname = getattr(backing, "fileName", None)
        ds: str | None = None
        m = _DS_PATH.match(fname or "")
        if m:
            ds = storage.by_dc_name.get((dc, m.group(1)))
        backing_ds = getattr(backing, "datastore", None)
        if ds is None and backing_ds is not None:
            ds = storage.by_ref.get(backing_ds._moId)
        label = dev.deviceInfo.label if dev.deviceInfo is not None else None
        if size <= 0:
            warnings.append(f"vm {name!r} ({o.ref}): disk {label!r} has no capacity: skipped")
            continue
        if ds is None:
            warnings.append(
                f"vm {name!r} ({o.ref}): disk {label!r}: datastore unknown, planned by host only"
            )
        disks.append(Disk(datastore=ds, size_gib=round(size / GIB, 3), label=label, file=fname))
    return disks


def _vm(
    o: _Obj,
    host: str,
    disks: list[Disk],
    dc: str | None,
    fields: dict[int, str],
    vcenter: str,
    vsphere_tags: Sequence[str] = (),
) -> VM:
    p = o.props
    attributes = [
        f"{fields.get(cv.key, str(cv.key))}={cv.value}"
        for cv in p.get("customValue") or []
        if getattr(cv, "value", None)
    ]
    # Custom attributes (Name=value) and vSphere tags (category:tag, tag) side by side.
    tags = sorted(dict.fromkeys([*attributes, *vsphere_tags]))
    committed = p.get("summary.storage.committed")
    return VM(
        name=str(p.get("name")),
        host=host,
        disks=disks,
        tags=tags,
        power_state=_POWER.get(p.get("runtime.powerState") or ""),
        id=p.get("config.instanceUuid") or o.ref,
        moref=o.ref,
        instance_uuid=p.get("config.instanceUuid"),
        datacenter=dc,
        vcenter=vcenter,
        committed_gib=round(committed / GIB, 3) if committed else None,
        tools=_tools_status(p.get("guest.toolsRunningStatus"), p.get("guest.toolsVersionStatus2")),
        consolidation_needed=p.get("runtime.consolidationNeeded"),
        snapshots=_snapshots(p),
    )


def _disambiguate(vms: list[tuple[_Obj, VM]], tree: InventoryTree, vcenter: str) -> int:
    """Make VM names unique; a renamed VM keeps its vCenter name in display_name. -> renamed."""
    names = unique_names(
        [
            Named(
                vm.name,
                f"{vcenter}/{o.ref}",
                _vm_qualifiers(vcenter, vm.datacenter, tree.folder_path(o.ref), o.ref),
            )
            for o, vm in vms
        ]
    )
    renamed = 0
    for (_, vm), n in zip(vms, names, strict=True):
        if vm.name != n:
            renamed += 1
            vm.display_name = vm.name  # the name vCenter (and backup software) knows
            vm.name = n
    return renamed


def _read_vms(
    objs: list[_Obj],
    tree: InventoryTree,
    compute: Compute,
    storage: Storage,
    fields: dict[int, str],
    vcenter: str,
    vm_tags: Mapping[str, Sequence[str]],
    warnings: list[str],
) -> tuple[list[tuple[_Obj, VM]], int]:
    """The VMs that can be planned (with their objects), and how many templates were skipped.
    A VM without a host or without a disk is skipped with a warning."""
    vms: list[tuple[_Obj, VM]] = []
    templates = 0
    for o in objs:
        if o.type != "VirtualMachine":
            continue
        name = str(o.props.get("name"))
        if o.props.get("config.template"):
            templates += 1
            continue
        host_ref = o.props.get("runtime.host")
        host = compute.host_of_ref.get(host_ref._moId) if host_ref is not None else None
        if host is None:
            warnings.append(
                f"vm {name!r} ({o.ref}): no host known (orphaned or inaccessible): skipped"
            )
            continue
        dc = tree.datacenter_of(o.ref)
        disks = _disks(o, dc, storage, warnings)
        if not disks:
            warnings.append(f"vm {name!r} ({o.ref}): no virtual disks: skipped")
            continue
        vms.append((o, _vm(o, host, disks, dc, fields, vcenter, vm_tags.get(o.ref, ()))))
    return vms, templates


def build_topology(
    objs: list[_Obj], vcenter: str, vm_tags: Mapping[str, Sequence[str]] | None = None
) -> VCenterInventory:
    """Turn retrieved objects into a Topology (templates skipped, names made unique).

    ``vcenter`` is the server's normalised host name (:func:`parse_server`); every VM carries
    it with its MoRef id and instance UUID, and its real name in ``display_name`` when ``name``
    had to be disambiguated. ``vm_tags`` (VM MoRef id -> vSphere tag strings) is added to the
    VMs' custom-attribute tags.
    """
    vm_tags = vm_tags or {}
    refuse_control_chars(objs, vcenter)
    tree = InventoryTree(objs)
    fields: dict[int, str] = {
        f.key: f.name
        for o in objs
        if o.type == "CustomFieldsManager"
        for f in o.props.get("field") or []
    }
    compute = read_compute(objs, tree, vcenter)
    storage = read_storage(objs, tree, vcenter)
    warnings: list[str] = []
    vms, templates = _read_vms(objs, tree, compute, storage, fields, vcenter, vm_tags, warnings)
    renamed = _disambiguate(vms, tree, vcenter)
    if renamed:
        warnings.append(
            f"{renamed} VMs share a display name with another VM: renamed 'name (qualifier)'"
        )
    topo = Topology(
        clusters=compute.clusters,
        hosts=compute.hosts,
        datastores=storage.datastores,
        vms=sorted((vm for _, vm in vms), key=lambda v: v.name),
    )
    vcpus = {
        vm.name: n
        for o, vm in vms
        if isinstance(n := o.props.get("config.hardware.numCPU"), int) and not isinstance(n, bool)
    }
    return VCenterInventory(
        topology=topo,
        warnings=warnings,
        stats=RetrievalStats(),
        templates_skipped=templates,
        vcpus=vcpus,
    )


def load_vcenter(
    opts: VCenterOptions, on_page: Callable[[int], None] | None = None
) -> VCenterInventory:
    """Connect, retrieve everything in one bulk call, log out, build the topology.

    Raises a :class:`SourceError` subclass when the server fails (exit 3) and
    :class:`InputError` when what it holds cannot be used (exit 1). Either way nothing is
    returned, so a caller writes nothing.
    """
    host, port = parse_server(opts.server)
    opts = replace(opts, server=host, port=port or opts.port)
    if not opts.timeout_s > 0:
        raise InputError(f"must be more than 0 seconds, not {opts.timeout_s:g}", field="--timeout")
    if opts.max_response_mib < 1:
        raise InputError(
            f"must be at least 1, not {opts.max_response_mib}", field="--max-response-mib"
        )
    stats = RetrievalStats()
    session = connect(opts)
    try:
        objs = retrieve(session, stats, on_page)
    finally:
        disconnect(session)
    vm_tags: dict[str, list[str]] = {}
    tag_warnings: list[str] = []
    if opts.read_tags:
        vm_tags, tag_warnings = read_tags(opts, session.budget, stats)
    try:
        inv = build_topology(objs, opts.server, vm_tags)
    except ValidationError as exc:
        # refuse_control_chars names the usual cases; this keeps anything else to one line.
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise InputError(
            f"{err['msg']} (input {str(err.get('input'))[:200]!r})",
            file=f"vCenter {opts.server}",
            obj=exc.title,
            field=loc,
        ) from None
    inv.stats = stats
    inv.warnings[:0] = tag_warnings
    return inv


def read_tags(
    opts: VCenterOptions, budget: _Budget, stats: RetrievalStats
) -> tuple[dict[str, list[str]], list[str]]:
    """The VMs' vSphere tags (MoRef id -> tag strings) and warnings; all of them or none.

    A tagging endpoint that cannot be used (none on ESXi, 401/403, not JSON, dropped) is a
    warning: the estate read over SOAP stays good and keeps its custom attributes. The load's
    deadline and byte cap still end the load (exit 3), as they do during the SOAP retrieval.
    """
    from stagger.sources.vsphere_tags import TagsUnavailable, read_vm_tags

    ctx = _ssl_context(opts, budget)
    try:
        with translate_errors(opts, budget, "while reading vSphere tags"):
            try:
                read = read_vm_tags(
                    opts.server,
                    opts.port,
                    opts.user,
                    opts.password,
                    ctx,
                    budget.seconds_left,
                    vcenter=opts.server,
                )
            except TagsUnavailable as exc:
                stats.bytes_read = budget.bytes_read
                return {}, [
                    f"vSphere tags not read ({exc}): VM tags hold custom attributes only, "
                    "so blackout scopes on vSphere tags match no VM (--no-tags skips the read)"
                ]
    except SourceError as exc:
        raise type(exc)(f"{exc.message}; --no-tags skips the tag read") from None
    stats.bytes_read = budget.bytes_read
    stats.tag_requests = read.requests
    stats.tags = read.tags
    stats.tagged_vms = len(read.vm_tags)
    warnings: list[str] = []
    if read.other_objects:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(read.other_objects.items()))
        warnings.append(
            f"vSphere tags: {sum(read.other_objects.values())} associations with objects other "
            f"than VMs not used ({kinds}): only a VM's own tags are mapped"
        )
    return read.vm_tags, warnings
