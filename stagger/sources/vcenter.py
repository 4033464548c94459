"""Read the estate from a live vCenter or ESXi host through pyvmomi.

One bulk retrieval: a ContainerView over the root folder and one PropertyCollector
``RetrievePropertiesEx`` call (then ``ContinueRetrievePropertiesEx`` while the server hands
back a paging token) for every VM, host, cluster, datastore, folder and datacenter, and the
custom-attribute definitions. No call per VM, and no lazy property access on managed objects.

Every failure becomes a one-line :class:`~stagger.errors.SourceError` (exit code 3): connection
refused, timeout, untrusted certificate, wrong credentials, a server that drops during the
retrieval. The password is only passed to the login call; it is never logged or stored.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
from stagger.sources.rvtools import _qualifiers

GIB = float(1 << 30)
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
    user: str
    password: str = field(repr=False)
    port: int = 443
    insecure: bool = False
    ca_file: str | None = None
    timeout: float = 60.0
    page_size: int = 1000


@dataclass
class RetrievalStats:
    retrieve_calls: int = 0
    continue_calls: int = 0
    objects: int = 0
    seconds: float = 0.0

    @property
    def round_trips(self) -> int:
        return self.retrieve_calls + self.continue_calls


@dataclass
class VCenterInventory:
    topology: Topology
    warnings: list[str]
    stats: RetrievalStats
    templates_skipped: int = 0


@dataclass
class _Obj:
    ref: str
    type: str
    props: dict[str, Any]


def _where(opts: VCenterOptions) -> str:
    return f"{opts.server}:{opts.port}"


def _ssl_context(opts: VCenterOptions) -> ssl.SSLContext:
    if opts.insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=opts.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"cannot read CA file: {exc}", file=opts.ca_file) from None


def _network_error(exc: BaseException, opts: VCenterOptions, during: str) -> SourceError:
    where = _where(opts)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        return SourceError(
            f"{where}: TLS certificate not trusted ({reason}); pass --ca-file with the "
            "vCenter CA certificate, or --insecure to skip verification"
        )
    if isinstance(exc, ConnectionRefusedError):
        return SourceError(
            f"{where}: connection refused (is this a vCenter/ESXi address and port?)"
        )
    if isinstance(exc, socket.gaierror):
        return SourceError(f"{where}: cannot resolve host name ({exc.strerror})")
    if isinstance(exc, TimeoutError | socket.timeout):
        return SourceError(f"{where}: no answer within {opts.timeout:g} s {during} (timeout)")
    if isinstance(exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError):
        return SourceError(f"{where}: server closed the connection {during}; nothing was written")
    if isinstance(exc, ssl.SSLError):
        return SourceError(f"{where}: TLS error {during}: {exc.reason or exc}")
    if isinstance(exc, http.client.HTTPException):
        return SourceError(f"{where}: bad HTTP answer {during}: {type(exc).__name__}")
    return SourceError(f"{where}: {getattr(exc, 'strerror', None) or exc} {during}".strip())


@contextmanager
def _translate(opts: VCenterOptions, during: str) -> Iterator[None]:
    from pyVmomi import vim, vmodl

    try:
        yield
    except SourceError:
        raise
    except vim.fault.InvalidLogin:
        raise SourceError(
            f"{_where(opts)}: login refused for user '{opts.user}': wrong user name or password"
        ) from None
    except vim.fault.NoPermission as exc:
        raise SourceError(
            f"{_where(opts)}: user '{opts.user}' lacks permission: {getattr(exc, 'msg', '')}"
        ) from None
    except vmodl.MethodFault as exc:
        msg = getattr(exc, "msg", "") or type(exc).__name__
        raise SourceError(f"{_where(opts)}: vSphere fault {during}: {msg}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _network_error(exc, opts, during) from None


def connect(opts: VCenterOptions) -> Any:
    """Log in; return the pyvmomi ServiceInstance. Raises SourceError."""
    ctx = _ssl_context(opts)
    # SmartConnect's API-version probe opens its own connection without a timeout: bound it
    # with the default socket timeout for the duration of the login.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(opts.timeout)
    try:
        with _translate(opts, "while connecting"):
            return _smart_connect(opts, ctx)
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
        httpConnectionTimeout=opts.timeout,
        connectionPoolTimeout=-1,
    )


def disconnect(si: Any) -> None:
    from pyVim.connect import Disconnect

    with contextlib.suppress(Exception):  # logging out is best effort
        Disconnect(si)


def retrieve(
    si: Any,
    opts: VCenterOptions,
    stats: RetrievalStats,
    on_page: Callable[[int], None] | None = None,
) -> list[_Obj]:
    """All inventory objects with the properties in _PROPS, in one paged bulk retrieval."""
    from pyVmomi import vim, vmodl

    pcq = vmodl.query.PropertyCollector
    out: list[_Obj] = []
    start = time.monotonic()
    with _translate(opts, "during retrieval"):
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


def build_topology(objs: list[_Obj], vcenter: str) -> VCenterInventory:
    """Turn retrieved objects into a Topology (templates skipped, names made unique)."""
    from pyVmomi import vim

    by_ref = {(o.type, o.ref): o for o in objs}
    parent_of: dict[str, Any] = {}
    kinds: dict[str, _Obj] = {}
    for o in objs:
        kinds[o.ref] = o
        p = o.props.get("parent")
        parent_of[o.ref] = p._moId if p is not None else None
    del by_ref

    def datacenter_of(ref: str) -> str | None:
        seen = 0
        cur: str | None = ref
        while cur is not None and seen < 64:
            o = kinds.get(cur)
            if o is None:
                return None
            if o.type == "Datacenter":
                return str(o.props.get("name"))
            cur = parent_of.get(cur)
            seen += 1
        return None

    def folder_path(ref: str) -> str:
        names: list[str] = []
        cur = parent_of.get(ref)
        while cur is not None:
            o = kinds.get(cur)
            if o is None or o.type != "Folder":
                break
            names.append(str(o.props.get("name")))
            cur = parent_of.get(cur)
        # The datacenter's top VM folder ("vm") is not a user folder.
        return "/".join(reversed(names[:-1])) if names else ""

    warnings: list[str] = []
    fields: dict[int, str] = {}
    for o in objs:
        if o.type == "CustomFieldsManager":
            for f in o.props.get("field") or []:
                fields[f.key] = f.name

    # Clusters and hosts.
    clusters = [o for o in objs if o.type == "ClusterComputeResource"]
    cluster_names = unique_names(
        [
            Named(str(c.props["name"]), f"{vcenter}/{c.ref}", (datacenter_of(c.ref), vcenter))
            for c in clusters
        ]
    )
    cluster_of_ref = {c.ref: n for c, n in zip(clusters, cluster_names, strict=True)}
    hosts = [o for o in objs if o.type == "HostSystem"]
    host_names = unique_names(
        [
            Named(str(h.props["name"]), f"{vcenter}/{h.ref}", (datacenter_of(h.ref), vcenter))
            for h in hosts
        ]
    )
    host_of_ref = {h.ref: n for h, n in zip(hosts, host_names, strict=True)}
    topo_clusters = [
        Cluster(name=n, datacenter=datacenter_of(c.ref))
        for c, n in zip(clusters, cluster_names, strict=True)
    ]
    topo_hosts = [
        Host(name=n, cluster=cluster_of_ref.get(parent_of.get(h.ref) or ""))
        for h, n in zip(hosts, host_names, strict=True)
    ]

    # Datastores, named uniquely; VMs refer to them by (datacenter, display name).
    dss = [o for o in objs if o.type == "Datastore"]
    ds_names = unique_names(
        [
            Named(str(d.props["name"]), f"{vcenter}/{d.ref}", (datacenter_of(d.ref), vcenter))
            for d in dss
        ]
    )
    ds_by_dc_name: dict[tuple[str | None, str], str] = {}
    ds_by_ref: dict[str, str] = {}
    topo_ds: list[Datastore] = []
    for d, n in zip(dss, ds_names, strict=True):
        ds_by_dc_name[(datacenter_of(d.ref), str(d.props["name"]))] = n
        ds_by_ref[d.ref] = n
        extents: list[str] = []
        info = d.props.get("info")
        if isinstance(info, vim.host.VmfsDatastoreInfo) and info.vmfs is not None:
            extents = [e.diskName for e in info.vmfs.extent or [] if e.diskName]
        cap = d.props.get("summary.capacity")
        topo_ds.append(
            Datastore(
                name=n,
                naa=extents[0] if extents else None,
                extents=extents,
                capacity_gib=round(cap / GIB, 3) if cap else None,
            )
        )

    # VMs.
    vms: list[tuple[_Obj, VM]] = []
    templates = 0
    for o in objs:
        if o.type != "VirtualMachine":
            continue
        p = o.props
        name = str(p.get("name"))
        if p.get("config.template"):
            templates += 1
            continue
        host_ref = p.get("runtime.host")
        host = host_of_ref.get(host_ref._moId) if host_ref is not None else None
        if host is None:
            warnings.append(
                f"vm '{name}' ({o.ref}): no host known (orphaned or inaccessible): skipped"
            )
            continue
        dc = datacenter_of(o.ref)
        disks: list[Disk] = []
        for dev in p.get("config.hardware.device") or []:
            if not isinstance(dev, vim.vm.device.VirtualDisk):
                continue
            size = dev.capacityInBytes or (dev.capacityInKB or 0) * 1024
            backing = dev.backing
            fname = getattr(backing, "fileName", None)
            ds: str | None = None
            m = _DS_PATH.match(fname or "")
            if m:
                ds = ds_by_dc_name.get((dc, m.group(1)))
            backing_ds = getattr(backing, "datastore", None)
            if ds is None and backing_ds is not None:
                ds = ds_by_ref.get(backing_ds._moId)
            label = dev.deviceInfo.label if dev.deviceInfo is not None else None
            if size <= 0:
                warnings.append(f"vm '{name}' ({o.ref}): disk '{label}' has no capacity: skipped")
                continue
            if ds is None:
                warnings.append(
                    f"vm '{name}' ({o.ref}): disk '{label}': datastore unknown,"
                    " planned by host only"
                )
            disks.append(Disk(datastore=ds, size_gib=round(size / GIB, 3), label=label, file=fname))
        if not disks:
            warnings.append(f"vm '{name}' ({o.ref}): no virtual disks: skipped")
            continue
        tags = sorted(
            f"{fields.get(cv.key, str(cv.key))}={cv.value}"
            for cv in p.get("customValue") or []
            if getattr(cv, "value", None)
        )
        committed = p.get("summary.storage.committed")
        vm = VM(
            name=name,
            host=host,
            disks=disks,
            tags=tags,
            power_state=_POWER.get(p.get("runtime.powerState") or ""),
            id=p.get("config.instanceUuid") or o.ref,
            datacenter=dc,
            vcenter=vcenter,
            committed_gib=round(committed / GIB, 3) if committed else None,
            tools=_tools_status(
                p.get("guest.toolsRunningStatus"), p.get("guest.toolsVersionStatus2")
            ),
            consolidation_needed=p.get("runtime.consolidationNeeded"),
            snapshots=_snapshots(p),
        )
        vms.append((o, vm))
    names = unique_names(
        [
            Named(
                vm.name,
                f"{vcenter}/{o.ref}",
                _qualifiers(vcenter, vm.datacenter, folder_path(o.ref), o.ref),
            )
            for o, vm in vms
        ]
    )
    renamed = 0
    for (_, vm), n in zip(vms, names, strict=True):
        if vm.name != n:
            renamed += 1
            vm.name = n
    if renamed:
        warnings.append(
            f"{renamed} VMs share a display name with another VM: renamed 'name (qualifier)'"
        )
    topo = Topology(
        clusters=topo_clusters,
        hosts=topo_hosts,
        datastores=topo_ds,
        vms=sorted((vm for _, vm in vms), key=lambda v: v.name),
    )
    return VCenterInventory(
        topology=topo, warnings=warnings, stats=RetrievalStats(), templates_skipped=templates
    )


def load_vcenter(
    opts: VCenterOptions, on_page: Callable[[int], None] | None = None
) -> VCenterInventory:
    """Connect, retrieve everything in one bulk call, log out, build the topology."""
    stats = RetrievalStats()
    si = connect(opts)
    try:
        objs = retrieve(si, opts, stats, on_page)
    finally:
        disconnect(si)
    inv = build_topology(objs, opts.server)
    inv.stats = stats
    return inv
