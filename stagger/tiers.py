"""Which tier each VM belongs to, and the tier rules that need the estate to be checked.

A VM belongs to the first tier (in the policy's order) whose ``match`` holds; a VM that no
tier matches keeps the policy's single regime (the implicit tier, ``None`` here). Only VMs
that need a backup (:func:`stagger.rules.needs_job`) are assigned. Shared by the job list
of a cycle (:mod:`stagger.cycle`), the loaders' checks and, later, the planner and validator.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from stagger.calendar import rule_nights
from stagger.errors import InputError, shown
from stagger.model.policy import Full, Policy, Tier, TierMatch
from stagger.model.schedule import Schedule
from stagger.model.topology import VM, Topology, TopologyIndex
from stagger.rules import needs_job

# VMware Tools states in which quiescing (VSS, SYNC driver) fails or is unreliable;
# "unmanaged" (open-vm-tools from the OS) and "too_new" quiesce.
_CANNOT_QUIESCE = frozenset({"old", "not_running", "not_installed", "blacklisted"})
_EXAMPLES = 3
"""VM names quoted in a warning or error about many VMs; the rest are counted."""


def matches(match: TierMatch, vm: VM, idx: TopologyIndex) -> bool:
    """Whether ``vm`` satisfies every selector of ``match`` (``default`` satisfies all)."""
    if match.default:
        return True
    if match.tag is not None and match.tag not in vm.tags:
        return False
    if match.host is not None and vm.host != match.host:
        return False
    if match.cluster is not None:
        host = idx.hosts.get(vm.host)
        if host is None or host.cluster != match.cluster:
            return False
    if match.datastore is not None and match.datastore not in vm.datastores:
        return False
    if match.folder is not None:
        folder = vm.folder
        wanted = match.folder.rstrip("/")
        if folder is None or not (folder == wanted or folder.startswith(wanted + "/")):
            return False
    if match.name is not None and not (
        fnmatchcase(vm.name, match.name) or fnmatchcase(vm.vcenter_name, match.name)
    ):
        return False
    return match.vms is None or vm.name in match.vms


def tier_of(vm: VM, tiers: list[Tier], idx: TopologyIndex) -> Tier | None:
    """The first tier whose match holds for ``vm``; None: the policy's single regime."""
    return next((t for t in tiers if matches(t.match, vm, idx)), None)


def assign_tiers(topology: Topology, policy: Policy) -> dict[str, Tier | None]:
    """VM name -> its tier (None: no tier matched), for every VM that needs a backup, in
    topology order."""
    idx = topology.index()
    return {vm.name: tier_of(vm, policy.tiers, idx) for vm in topology.vms if needs_job(vm)}


def _some(names: list[str]) -> str:
    shown_names = ", ".join(shown(n) for n in names[:_EXAMPLES])
    more = len(names) - _EXAMPLES
    return shown_names + (f" and {more} more" if more > 0 else "")


def _night_rules(policy: Policy) -> list[tuple[Tier, str, str]]:
    """(tier, field, RRULE) of every rule of nights in the policy's tiers."""
    out = []
    for tier in policy.tiers:
        if tier.incremental not in ("nightly", "none"):
            out.append((tier, "incremental", str(tier.incremental)))
        if isinstance(tier.full, Full) and tier.full.on is not None:
            out.append((tier, "full.on", str(tier.full.on)))
    return out


def check_tiers(policy: Policy, topology: Topology) -> None:
    """Raise an InputError (one per problem, all at once) for tier rules that cannot be
    used: a rule of nights that never matches or cannot be expanded, a power-off tier whose
    VMs have no maintenance window (neither the tier's ``window`` nor their own), a VM window
    outside the policy window."""
    problems: list[InputError] = []
    for tier, field, rule in _night_rules(policy):
        try:
            rule_nights(rule, policy, obj=f"tier {shown(tier.name)}", field=field)
        except InputError as exc:
            problems.append(exc)
    for vm in topology.vms:
        if vm.window is not None and not vm.window.inside(policy.window):
            problems.append(
                InputError(
                    f"{vm.window} is not inside the policy window {policy.window}",
                    obj=f"topology: vm {shown(vm.name)}",
                    field="window",
                )
            )
    members: dict[str, list[str]] = {}
    idx = topology.index()
    for name, taken_by in assign_tiers(topology, policy).items():
        if taken_by is not None:
            members.setdefault(taken_by.name, []).append(name)
    for tier in policy.tiers:
        if tier.consistency != "power-off" or tier.window is not None:
            continue
        bare = [n for n in members.get(tier.name, []) if idx.vms[n].window is None]
        if bare:
            problems.append(
                InputError(
                    "a power-off tier needs a maintenance window: set `window` on the tier"
                    f" or on each of its VMs ({len(bare)} of its VMs have none: {_some(bare)})",
                    obj=f"tier {shown(tier.name)}",
                    field="window",
                )
            )
    if problems:
        problems[0].more = problems[1:]
        raise problems[0]


def tier_warnings(policy: Policy, topology: Topology) -> list[str]:
    """What the tiers drop or leave to the single regime, counted: a tier that takes no VM
    (its selectors match none, or earlier tiers took them all: first match wins), names in
    ``match.vms`` the estate lacks, VMs no tier takes, application-consistent tiers whose
    VMs' VMware Tools cannot quiesce."""
    if not policy.tiers:
        return []
    out: list[str] = []
    assigned = assign_tiers(topology, policy)
    members: dict[str, list[str]] = {t.name: [] for t in policy.tiers}
    untiered: list[str] = []
    for name, tier in assigned.items():
        (members[tier.name] if tier is not None else untiered).append(name)
    known = {vm.name for vm in topology.vms}
    idx = topology.index()
    for tier in policy.tiers:
        where = f"tier {shown(tier.name)}"
        if not members[tier.name]:
            out.append(
                f"{where} takes no VM: its match selects no VM that needs a backup, or earlier"
                " tiers took them (first match wins)"
            )
        missing = [n for n in (tier.match.vms or []) if n not in known]
        if missing:
            out.append(
                f"{where}: match.vms names {len(missing)} VM(s) the estate lacks: {_some(missing)}"
            )
        if tier.consistency in ("application", "filesystem"):
            weak = [n for n in members[tier.name] if idx.vms[n].tools in _CANNOT_QUIESCE]
            if weak:
                out.append(
                    f"{where} asks for {tier.consistency}-consistent backups but"
                    f" {len(weak)} of its VMs have VMware Tools not running, outdated or"
                    f" missing: {_some(weak)}"
                )
    for tier, field, rule in _night_rules(policy):
        if not rule_nights(rule, policy, obj=f"tier {shown(tier.name)}", field=field):
            out.append(
                f"tier {shown(tier.name)}: {field} {shown(rule)} names no night of the cycle"
                f" ({policy.cycle.start} + {policy.cycle.nights} nights)"
            )
    if untiered:
        out.append(
            f"{len(untiered)} VM(s) match no tier and keep the policy's single regime (one"
            f" job per cycle): {_some(untiered)}"
        )
    return out


def is_tiered(schedule: Schedule) -> bool:
    """Whether the schedule holds tiered jobs (a job with a tier, or a VM with several
    jobs): what reads one job per VM must refuse it, an export writes each night's level."""
    seen: set[str] = set()
    for job in schedule.jobs:
        if job.tier is not None or job.vm in seen:
            return True
        seen.add(job.vm)
    return False


def refuse_tiered_schedule(schedule: Schedule, use: str) -> None:
    """Until ``use`` (an export that does not read levels) reads a VM's several jobs and
    their levels, refuse a tiered schedule (one the validator accepts) rather than keep one
    job per VM and drop the rest, or write a full as if it were the VM's only job."""
    if not is_tiered(schedule):
        return
    counts: dict[str, int] = {}
    for job in schedule.jobs:
        counts[job.vm] = counts.get(job.vm, 0) + 1
    several = [vm for vm, n in counts.items() if n > 1]
    tiered = [job.vm for job in schedule.jobs if job.tier is not None]
    raise InputError(
        f"{use} of tiered schedules (several jobs per VM, full and incremental levels) is"
        f" not written yet: {len(several or tiered)} VM(s) ({_some(several or tiered)})",
        obj="schedule",
        field="jobs",
    )
