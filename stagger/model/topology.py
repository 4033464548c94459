"""The estate: clusters, ESXi hosts, VMFS datastores, RAID groups and VMs.

What the admin wrote or what an inventory source read. Field errors are caught by pydantic;
cross-references (unknown host, datastore in two RAID groups, duplicate names) by
``Topology._check_references`` which raises :class:`ReferenceProblem` naming object and field.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stagger.errors import shown
from stagger.model.policy import EARLIEST, LATEST, BackupWindow, TransportMode
from stagger.model.text import Text

Name = Text


class ReferenceProblem(ValueError):
    """A cross-reference error that knows which object and field it is about."""

    def __init__(self, obj: str, field: str, message: str) -> None:
        super().__init__(f"{obj}: field '{field}': {message}")
        self.obj = obj
        self.field = field
        self.message = message
        self.others: list[ReferenceProblem] = []
        """Further problems of the same topology, so that all are reported at once."""


class _Strict(BaseModel):
    # No inf/nan: `size_gib: .inf` would overflow every duration computed from it.
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


MAX_JOBS_LIMIT = 100_000
"""Largest per-object job limit (far above any real proxy; keeps solver integers small)."""
MAX_SIZE_GIB = 1024.0**3
"""Largest size in GiB a disk or datastore may claim (1 EiB)."""


class Cluster(_Strict):
    name: Name = Field(min_length=1)
    datacenter: Text | None = None


class Host(_Strict):
    name: Name = Field(min_length=1)
    cluster: Name | None = None
    max_jobs: int | None = Field(
        default=None,
        ge=1,
        le=MAX_JOBS_LIMIT,
        description="Overrides limits.per_host for this ESXi host.",
    )


class Datastore(_Strict):
    name: Name = Field(min_length=1)
    naa: Text | None = Field(default=None, description="LUN canonical name of the VMFS extent.")
    extents: list[Text] = Field(default_factory=list, description="All extents' naa ids.")
    capacity_gib: float | None = Field(default=None, ge=0, le=MAX_SIZE_GIB)
    max_jobs: int | None = Field(
        default=None,
        ge=1,
        le=MAX_JOBS_LIMIT,
        description="Overrides limits.per_datastore for this datastore.",
    )


class RaidGroup(_Strict):
    name: Name = Field(min_length=1)
    datastores: list[Name] = Field(default_factory=list)
    max_jobs: int | None = Field(
        default=None,
        ge=1,
        le=MAX_JOBS_LIMIT,
        description="Overrides limits.per_raid_group for this RAID group.",
    )


class Disk(_Strict):
    datastore: Name | None = Field(
        default=None, description="Datastore holding the VMDK; unknown means 'plan by host only'."
    )
    size_gib: float = Field(gt=0, le=MAX_SIZE_GIB)
    label: Text | None = None
    file: Text | None = Field(default=None, description='Backing file, e.g. "[DS-01] vm/vm.vmdk".')


class Snapshot(_Strict):
    name: Text
    created: datetime | None = None
    size_gib: float | None = Field(default=None, ge=0, le=MAX_SIZE_GIB)


ToolsStatus = Literal[
    "ok", "old", "not_running", "not_installed", "unmanaged", "unknown", "blacklisted", "too_new"
]


class VM(_Strict):
    name: Name = Field(min_length=1)
    host: Name
    disks: list[Disk] = Field(min_length=1)
    tags: list[Text] = Field(default_factory=list)
    exclude: bool = Field(default=False, description="Give this VM no backup job.")
    template: bool = Field(default=False, description="Templates are never backed up.")
    power_state: Literal["on", "off", "suspended"] | None = None
    change_rate: float | None = Field(
        default=None, gt=0, le=1, description="Overrides throughput.change_rate for this VM."
    )
    pin: Text | None = Field(
        default=None,
        description='Fixed start: local "HH:MM" (single regime: the first night it fits; a'
        " VM of a tier or with its own window: every job, each on its night) or an ISO local"
        " date-time (that night's job; in an `every` block, the block's full).",
    )
    pinned: bool = Field(
        default=False,
        description="Keep this VM's start from the baseline (with tiers: each of its jobs at"
        " the start of the baseline job it continues).",
    )
    priority: int = Field(
        default=100,
        ge=0,
        le=1_000_000,
        description="Lower = more important: when not every VM fits, the most VMs are planned"
        " and, among plans with as many, the higher-numbered (less important) ones are dropped.",
    )
    window: BackupWindow | None = Field(
        default=None,
        description="This VM's own nightly window, inside the policy window (wins over its"
        " tier's); the maintenance window of a power-off tier.",
    )
    folder: Text | None = Field(
        default=None,
        description='Inventory folder path, e.g. "dc1/vm/prod/sql" (tier `match.folder`).',
    )
    # Pins of the backup infrastructure (--infra), winning over its tier's; checked against
    # the infrastructure file by stagger.infrastructure; planned with `plan --infra`.
    proxy: Text | None = Field(default=None, description="Backup proxy its jobs use.")
    mode: TransportMode | None = Field(
        default=None, description="Transport mode its jobs use: hotadd, san or nbd."
    )
    repository: Text | None = Field(default=None, description="Repository its jobs write to.")
    # Identity in vCenter: what backup software resolves. `name` may be disambiguated for
    # people ("web01 (dc1/folder)"); exporters address the VM by these instead.
    display_name: Text | None = Field(
        default=None,
        description="The VM's name in vCenter when `name` was disambiguated (default: name).",
    )
    moref: Text | None = Field(default=None, description='Managed object id, e.g. "vm-12158".')
    instance_uuid: Text | None = Field(default=None, description="vCenter instance UUID.")
    # Facts from inventory sources, used by `stagger audit`; the planner ignores them.
    id: Text | None = Field(default=None, description="Source key, e.g. vCenter/VM moref or UUID.")
    datacenter: Text | None = None
    vcenter: Text | None = Field(default=None, description="vCenter server (normalised host name).")
    committed_gib: float | None = Field(default=None, ge=0, le=MAX_SIZE_GIB)
    tools: ToolsStatus | None = None
    consolidation_needed: bool | None = None
    snapshots: list[Snapshot] = Field(default_factory=list)

    @field_validator("pin")
    @classmethod
    def _pin(cls, v: str | None) -> str | None:
        # Checked here so that a pin the planner cannot use is a field error at load, not an
        # OverflowError/ValueError traceback when the instance is built.
        if v is None:
            return v
        clock = re.fullmatch(r"(\d{1,2}):(\d{2})", v.strip())
        if clock:
            if int(clock.group(1)) > 23 or int(clock.group(2)) > 59:
                raise ValueError(f"{shown(v)} is not a clock time HH:MM")
            return v
        try:
            when = datetime.fromisoformat(v.strip())
        except ValueError:
            raise ValueError(f"{shown(v)} is neither HH:MM nor an ISO date-time") from None
        if not (EARLIEST <= when.date() <= LATEST):
            raise ValueError(f"pin date must be between {EARLIEST} and {LATEST}")
        return v

    @property
    def size_gib(self) -> float:
        return sum(d.size_gib for d in self.disks)

    @property
    def vcenter_name(self) -> str:
        """The name vCenter (and so the backup software) knows this VM by."""
        return self.display_name or self.name

    @property
    def datastores(self) -> list[Name]:
        """Datastores the VM's disks are on, in first-seen order, without repeats."""
        return list(dict.fromkeys(d.datastore for d in self.disks if d.datastore))

    @property
    def needs_backup(self) -> bool:
        return not (self.exclude or self.template)


class Topology(_Strict):
    clusters: list[Cluster] = Field(default_factory=list)
    hosts: list[Host] = Field(default_factory=list)
    datastores: list[Datastore] = Field(default_factory=list)
    raid_groups: list[RaidGroup] = Field(default_factory=list)
    vms: list[VM] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> Topology:
        problems: list[ReferenceProblem] = []

        def problem(obj: str, field: str, message: str) -> None:
            problems.append(ReferenceProblem(obj, field, message))

        for kind, items in (
            ("cluster", self.clusters),
            ("host", self.hosts),
            ("datastore", self.datastores),
            ("raid_group", self.raid_groups),
            ("vm", self.vms),
        ):
            counts = Counter(i.name for i in items)
            for name, n in counts.items():
                if n > 1:
                    problem(
                        f"{kind} {shown(name)}", "name", f"duplicate name ({n} {kind}s share it)"
                    )
        clusters = {c.name for c in self.clusters}
        hosts = {h.name for h in self.hosts}
        datastores = {d.name for d in self.datastores}
        for h in self.hosts:
            if h.cluster is not None and h.cluster not in clusters:
                problem(f"host {shown(h.name)}", "cluster", f"unknown cluster {shown(h.cluster)}")
        owner: dict[str, str] = {}
        for rg in self.raid_groups:
            for ds in rg.datastores:
                if ds not in datastores:
                    problem(
                        f"raid_group {shown(rg.name)}",
                        "datastores",
                        f"unknown datastore {shown(ds)}",
                    )
                if ds in owner and owner[ds] != rg.name:
                    problem(
                        f"raid_group {shown(rg.name)}",
                        "datastores",
                        f"datastore {shown(ds)} is already in raid_group {shown(owner[ds])}",
                    )
                owner[ds] = rg.name
        for vm in self.vms:
            if vm.host not in hosts:
                problem(f"vm {shown(vm.name)}", "host", f"unknown host {shown(vm.host)}")
            for i, d in enumerate(vm.disks):
                if d.datastore is not None and d.datastore not in datastores:
                    problem(
                        f"vm {shown(vm.name)}",
                        f"disks[{i}].datastore",
                        f"unknown datastore {shown(d.datastore)}",
                    )
        if problems:
            first = problems[0]
            first.others = problems[1:]
            raise first
        return self

    # Lookups used by every stage. Cheap enough to rebuild; callers keep the result.
    def index(self) -> TopologyIndex:
        return TopologyIndex(self)


class TopologyIndex:
    """Name lookups over a validated topology."""

    def __init__(self, topo: Topology) -> None:
        self.topology = topo
        self.clusters = {c.name: c for c in topo.clusters}
        self.hosts = {h.name: h for h in topo.hosts}
        self.datastores = {d.name: d for d in topo.datastores}
        self.raid_groups = {r.name: r for r in topo.raid_groups}
        self.vms = {v.name: v for v in topo.vms}
        self.raid_group_of: dict[str, str] = {}
        for rg in topo.raid_groups:
            for ds in rg.datastores:
                self.raid_group_of[ds] = rg.name

    def cluster_of(self, vm: VM) -> str | None:
        return self.hosts[vm.host].cluster

    def raid_groups_of(self, vm: VM) -> list[str]:
        return list(
            dict.fromkeys(self.raid_group_of[d] for d in vm.datastores if d in self.raid_group_of)
        )

    @cached_property
    def _vms_by_scope(self) -> dict[str, dict[str, list[str]]]:
        """Scope kind -> object name -> names of the VMs on it (topology order), built on
        first use in one pass over the VMs: blackout scopes are then looked up, not scanned
        for (a scan per blackout made compile and validate quadratic in the estate)."""
        out: dict[str, dict[str, list[str]]] = {
            kind: {} for kind in ("cluster", "host", "datastore", "raid_group", "tag")
        }
        for vm in self.topology.vms:
            host = self.hosts.get(vm.host)
            on = {
                "host": [vm.host],
                "cluster": [host.cluster] if host is not None and host.cluster else [],
                "datastore": vm.datastores,
                "raid_group": self.raid_groups_of(vm),
                "tag": list(dict.fromkeys(vm.tags)),
            }
            for kind, names in on.items():
                for name in names:
                    out[kind].setdefault(name, []).append(vm.name)
        return out

    def vms_on(self, kind: str, name: str) -> list[str]:
        """Names of the VMs on the cluster, host, datastore or RAID group ``name``, or
        carrying the tag ``name`` (``kind`` says which), in topology order; [] for none."""
        return self._vms_by_scope[kind].get(name, [])
