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
- ``source_incomplete``: rows of an inventory tab (RVTools vSnapshot, vDisk, vTools) that
  matched no VM: the checks fed by that tab are incomplete, so the report is no all-clear. Its
  severity is that of the worst check the tab feeds, and at least ``warning``.

Severities, worst first: ``error``, ``warning``, ``info``. ``info`` findings are facts about the
layout (a VM on several datastores), not problems: they fail ``--fail-on info`` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal, Protocol

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
    "source_incomplete",
]
CHECKS: tuple[str, ...] = CheckId.__args__  # type: ignore[attr-defined]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")  # least to most severe
_RANK = {s: i for i, s in enumerate(SEVERITIES)}

_SEVERITY: dict[str, Severity] = {
    "snapshot_old": "error",
    "snapshot_large": "error",
    "consolidation": "error",
    "tools_not_running": "warning",
    "tools_not_installed": "warning",
    "tools_old": "warning",
    "multi_datastore": "info",
    "no_datastore": "warning",
    "no_raid_group": "info",
    "source_incomplete": "warning",  # raised per tab, see _TAB_FEEDS
}

# Which checks each joined inventory tab feeds: rows it could not join leave them incomplete.
_TAB_FEEDS: dict[str, tuple[tuple[CheckId, ...], str]] = {
    "vSnapshot": (("snapshot_old", "snapshot_large"), "snapshot checks"),
    "vDisk": (("multi_datastore", "no_datastore"), "datastores of VMs (and the plan's)"),
    "vTools": (("tools_not_running", "tools_not_installed", "tools_old"), "VMware Tools checks"),
}


class TabCoverage(Protocol):
    """Rows of an inventory tab and how many joined a VM (e.g. ``rvtools.TabJoin``)."""

    @property
    def rows(self) -> int: ...
    @property
    def matched(self) -> int: ...
    @property
    def missing(self) -> bool: ...


class Finding(BaseModel):
    check: CheckId
    severity: Severity
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
        """Findings that ``--fail-on`` items select (see :func:`parse_fail_on`)."""
        threshold, checks = parse_fail_on(fail_on)
        return [
            f
            for f in self.findings
            if f.check in checks or (threshold is not None and _RANK[f.severity] >= threshold)
        ]

    def to_json(self) -> str:
        """The report as ``stagger audit --json`` prints it (and the mail attaches it)."""
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    def failing_at(self, severity: Severity) -> list[Finding]:
        """Findings of ``severity`` or worse."""
        return [f for f in self.findings if _RANK[f.severity] >= _RANK[severity]]


FAIL_ON_ANY = "any"
"""``--fail-on any``: any problem, i.e. ``warning`` or worse (``info`` findings are facts)."""


def parse_fail_on(items: list[str]) -> tuple[int | None, set[str]]:
    """``--fail-on`` items -> (lowest failing severity rank or None, check ids).

    Each item is a severity (``info``, ``warning``, ``error``: that severity or worse),
    ``any`` (= ``warning``) or a check id. Raises ``ValueError`` naming an unknown item."""
    threshold: int | None = None
    checks: set[str] = set()
    for item in items:
        key = "warning" if item == FAIL_ON_ANY else item
        if key in _RANK:
            rank = _RANK[key]
            threshold = rank if threshold is None else min(threshold, rank)
        elif key in CHECKS:
            checks.add(key)
        else:
            raise ValueError(
                f"unknown check or severity {item!a} (severities: error, warning, info, any;"
                f" checks: {', '.join(CHECKS)})"
            )
    return threshold, checks


def audit(
    topology: Topology,
    *,
    source: str = "",
    settings: AuditSettings | None = None,
    now: datetime | None = None,
    joins: Mapping[str, TabCoverage] | None = None,
) -> AuditReport:
    """``joins``: per inventory tab, rows read and rows joined to a VM; unjoined rows give a
    ``source_incomplete`` finding, so a report never reads as clean over rows it could not use."""
    s = settings or AuditSettings()
    now = now or datetime.now(UTC)
    findings: list[Finding] = []

    def add(check: CheckId, obj: str, detail: str, severity: Severity | None = None) -> None:
        findings.append(
            Finding(check=check, severity=severity or _SEVERITY[check], object=obj, detail=detail)
        )

    for tab, cov in sorted((joins or {}).items()):
        if cov.matched >= cov.rows and not cov.missing:
            continue
        fed, what = _TAB_FEEDS.get(tab, ((), "checks fed by this tab"))
        worst: Severity = "warning"
        for c in fed:
            if _RANK[_SEVERITY[c]] > _RANK[worst]:
                worst = _SEVERITY[c]
        add(
            "source_incomplete",
            f"tab '{tab}'",
            f"tab missing from the export: {what} not done"
            if cov.missing
            else f"{cov.rows - cov.matched} of {cov.rows} rows matched no VM: {what} incomplete",
            worst,
        )

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
