"""The pre-backup checklist: what breaks or slows image-level backups, found in an inventory.

Checks (ids used by ``--fail-on``):

- ``snapshot_old``: a snapshot older than N days (default 3): left behind by a failed job.
- ``snapshot_large``: a snapshot larger than X GiB (default 50): slow to consolidate.
- ``consolidation``: vSphere says the VM's disks need consolidation.
- ``tools_not_running`` / ``tools_not_installed`` / ``tools_old``: VMware Tools cannot (or may
  not) quiesce: the backup is crash-consistent only.
- ``multi_datastore``: a VM whose disks span several datastores: its job occupies all of them.
- ``no_datastore``: a VM whose datastore is unknown: planned by host only.
- ``no_raid_group``: a datastore no RAID group covers: only datastore and host limits apply.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from stagger.model.topology import Topology

CheckId = Literal[
    "snapshot_old",
    "snapshot_large",
    "consolidation",
    "tools_not_running",
    "tools_not_installed",
    "tools_old",
    "multi_datastore",
    "no_datastore",
    "no_raid_group",
]
CHECKS: tuple[str, ...] = CheckId.__args__  # type: ignore[attr-defined]

_SEVERITY: dict[str, Literal["error", "warning", "info"]] = {
    "snapshot_old": "error",
    "snapshot_large": "error",
    "consolidation": "error",
    "tools_not_running": "warning",
    "tools_not_installed": "warning",
    "tools_old": "warning",
    "multi_datastore": "info",
    "no_datastore": "warning",
    "no_raid_group": "info",
}


class Finding(BaseModel):
    check: CheckId
    severity: Literal["error", "warning", "info"]
    object: str = Field(description="vm 'name' or datastore 'name'")
    detail: str


class AuditSettings(BaseModel):
    snapshot_age_days: float = Field(default=3, ge=0)
    snapshot_size_gib: float = Field(default=50, ge=0)
    check_raid_groups: bool = Field(
        default=True, description="Report datastores without a RAID group (off when no map given)."
    )


class AuditReport(BaseModel):
    generated: datetime
    source: str
    settings: AuditSettings
    vms: int
    datastores: int
    counts: dict[str, int]
    findings: list[Finding]

    def failing(self, fail_on: list[str]) -> list[Finding]:
        wanted = set(CHECKS) if "any" in fail_on else set(fail_on)
        return [f for f in self.findings if f.check in wanted]


def audit(
    topology: Topology,
    *,
    source: str = "",
    settings: AuditSettings | None = None,
    now: datetime | None = None,
) -> AuditReport:
    s = settings or AuditSettings()
    now = now or datetime.now(UTC)
    findings: list[Finding] = []

    def add(check: CheckId, obj: str, detail: str) -> None:
        findings.append(Finding(check=check, severity=_SEVERITY[check], object=obj, detail=detail))

    for vm in topology.vms:
        if not vm.needs_backup:
            continue
        obj = f"vm '{vm.name}'"
        for snap in vm.snapshots:
            if snap.created is not None:
                created = snap.created if snap.created.tzinfo else snap.created.replace(tzinfo=UTC)
                age = (now - created).total_seconds() / 86400
                if age > s.snapshot_age_days:
                    add("snapshot_old", obj, f"snapshot '{snap.name}' is {age:.0f} days old")
            if snap.size_gib is not None and snap.size_gib > s.snapshot_size_gib:
                add("snapshot_large", obj, f"snapshot '{snap.name}' is {snap.size_gib:.1f} GiB")
        if vm.consolidation_needed:
            add("consolidation", obj, "disks need consolidation")
        if vm.tools == "not_running" and vm.power_state in (None, "on"):
            add("tools_not_running", obj, "VMware Tools not running: crash-consistent backup only")
        elif vm.tools == "not_installed":
            add(
                "tools_not_installed",
                obj,
                "VMware Tools not installed: crash-consistent backup only",
            )
        elif vm.tools in ("old", "blacklisted"):
            add("tools_old", obj, f"VMware Tools {vm.tools}: quiescing may fail")
        if len(vm.datastores) > 1:
            add(
                "multi_datastore",
                obj,
                f"disks on {len(vm.datastores)} datastores: {', '.join(vm.datastores)}",
            )
        if any(d.datastore is None for d in vm.disks):
            add("no_datastore", obj, "datastore unknown for a disk: planned by host only")
    if s.check_raid_groups:
        idx = topology.index()
        for ds in topology.datastores:
            if ds.name not in idx.raid_group_of:
                add(
                    "no_raid_group",
                    f"datastore '{ds.name}'",
                    "no RAID group: only datastore and host limits apply",
                )
    counts = {c: 0 for c in CHECKS}
    for f in findings:
        counts[f.check] += 1
    return AuditReport(
        generated=now,
        source=source,
        settings=s,
        vms=sum(1 for v in topology.vms if v.needs_backup),
        datastores=len(topology.datastores),
        counts=counts,
        findings=findings,
    )
