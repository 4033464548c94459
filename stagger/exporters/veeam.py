"""Veeam Backup & Replication: a PowerShell script that creates or updates the backup jobs.

One job per planned start-time slot (VMs that start together share a job), or one per VM
(``per_vm``). The script reads Veeam's VMware inventory once (``Find-VBRViEntity
-VMsAndTemplates``) and finds each VM by its real vCenter name (case-sensitive, never a
wildcard) and, when the plan knows it, its MoRef (the entity's ``Reference``): a VM renamed or
replaced since the plan stops the script instead of backing up the wrong one. It creates the
job with ``Add-VBRViBackupJob`` when it is missing or syncs its VM list when it exists, then
sets ``Set-VBRJobSchedule`` (``-Daily -At``, with ``-DailyKind SelectedDays -Days`` for a
weekly cycle, ``-Monthly -NumberInMonth OnDay -DayOfMonth -Months`` for dated cycles). Jobs
named with the prefix that the plan no longer has are disabled, never deleted. Re-running
changes nothing once applied; ``-WhatIf`` shows what it would change. Not run here: no
PowerShell on this machine; the script is checked with the tree-sitter PowerShell grammar,
PowerShell's own quoting rules and golden files.

A tiered schedule (several runs per VM, each full or incremental) becomes one job per VM and
local start time (:func:`tiered_jobs`): its run days, its active full days
(``Set-VBRJobAdvancedBackupOptions -EnableFullBackup -FullBackupScheduleKind Daily
-FullBackupDays``) and its tier's scripts as the job's pre-/post-job scripts
(``JobScriptCommand`` of ``Get-VBRJobOptions``, written with ``Set-VBRJobOptions``).

A plan made with an infrastructure file (``--infra``) carries each job's proxy, transport mode
and repository. Jobs starting together are split by proxy and repository (a Veeam job has one
repository and one proxy list), named ``<prefix> n0 2015 Full <proxy> <repository>`` (slugs).
The script sets each proxy's task slots and transport mode (``Set-VBRViProxy -MaxTasks``
1-100, ``-TransportMode Auto|DirectStorageAccess|HotAdd|Nbd``: in Veeam the mode is a proxy
setting, so a proxy the plan uses in one mode gets that mode, one used in several gets
``Auto``), each job's proxy (``Set-VBRJobProxy -Job -Proxy``, no automatic selection), and
a new job's repository (``Add-VBRViBackupJob -BackupRepository``). An existing job keeps the
repository it writes to (there is no cmdlet that only re-targets a job; ``Move-VBRBackup
-Backup -Repository`` moves its backups and re-targets it) and the script warns. Proxies and
repositories are read once (``Get-VBRViProxy``, ``Get-VBRBackupRepository``: their
``-Name`` takes wildcards) and matched by exact name. Veeam PowerShell Reference 13.x:
https://helpcenter.veeam.com/docs/vbr/powershell/set-vbrjobproxy.html,
https://helpcenter.veeam.com/docs/vbr/powershell/set-vbrviproxy.html,
https://helpcenter.veeam.com/docs/vbr/powershell/move-vbrbackup.html,
https://helpcenter.veeam.com/docs/vbr/powershell/get-vbrjobproxy.html.

Names are data, never code: each one is a single-quoted string (:func:`ps_str`) inside the
``$Plan`` / ``$NotScheduled`` / ``$Proxies`` tables (tier scripts too), and no name or script
is written into the comment-based help. The file starts with a UTF-8 byte-order mark so
Windows PowerShell 5.1 reads it as UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass

from stagger.errors import InputError
from stagger.exporters._common import (
    Identity,
    Slot,
    check_infrastructure_names,
    check_zone,
    has_infrastructure,
    identities,
    local,
    repeat_of,
    slots,
    utc,
)
from stagger.exporters.options import ExportOptions, check_options
from stagger.exporters.quoting import ps_str, slugs, visible
from stagger.model.schedule import Schedule, ScheduledJob
from stagger.tiers import is_tiered

BOM = "\ufeff"

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _vm_entry(ident: Identity) -> str:
    return (
        f"@{{ Name = {ps_str(ident.name)}; MoRef = {ps_str(ident.moref or '')};"
        f" VCenter = {ps_str(ident.vcenter or '')} }}"
    )


def job_name(slot: Slot, prefix: str, per_vm: bool, vm_name: str, infra_suffix: str = "") -> str:
    if per_vm:
        return f"{prefix} {vm_name}"
    return f"{prefix} n{slot.night} {slot.start:%H%M} {slot.level}{infra_suffix}"


VEEAM_TRANSPORT_MODES = {"hotadd": "HotAdd", "san": "DirectStorageAccess", "nbd": "Nbd"}
"""stagger's transport modes as ``Set-VBRViProxy -TransportMode`` names them."""
VEEAM_MAX_TASKS = 100
"""``Set-VBRViProxy -MaxTasks`` accepts 1-100 (Veeam PowerShell Reference 13.x)."""


def _modes_text(jobs: tuple[ScheduledJob, ...] | list[ScheduledJob]) -> str:
    return ", ".join(sorted({j.mode for j in jobs if j.mode is not None}))


def _infra_entry(jobs: tuple[ScheduledJob, ...]) -> str:
    """The ``$Plan`` fields of a job's proxy, planned transport mode(s) and repository
    (the jobs of one entry share proxy and repository: :func:`slots` with ``by_infra``)."""
    return (
        f" Proxy = {ps_str(jobs[0].proxy or '')}; Mode = {ps_str(_modes_text(jobs))};"
        f" Repository = {ps_str(jobs[0].repository or '')};"
    )


def _infra_suffix(
    jobs: tuple[ScheduledJob, ...], proxies: dict[str, str], repos: dict[str, str]
) -> str:
    """Job-name words telling apart jobs that start together on other proxies/repositories."""
    proxy = jobs[0].proxy
    repo = jobs[0].repository
    return (f" {proxies[proxy]}" if proxy else " auto") + (f" {repos[repo]}" if repo else "")


def _check_veeam_limits(schedule: Schedule) -> None:
    """Refuse a proxy with more task slots than Veeam allows (the plan counted on them)."""
    infra = schedule.inputs.infrastructure
    for p in infra.proxies if infra is not None else []:
        if p.max_tasks > VEEAM_MAX_TASKS:
            raise InputError(
                f"proxy {visible(p.name)!r} has max_tasks {p.max_tasks}; Veeam's proxy task"
                f" limit is 1-{VEEAM_MAX_TASKS} (Set-VBRViProxy -MaxTasks)",
                field="proxies[].max_tasks",
            )


def _proxy_lines(schedule: Schedule) -> list[str]:
    """The ``$Proxies`` table: per proxy of the infrastructure its task slots and the
    transport mode to set: the one mode the plan uses it in, ``Auto`` when it uses several
    (Veeam then picks per disk), none when the plan gives it no job."""
    infra = schedule.inputs.infrastructure
    planned: dict[str, list[ScheduledJob]] = {}
    for j in schedule.jobs:
        if j.proxy is not None:
            planned.setdefault(j.proxy, []).append(j)
    out = []
    for p in infra.proxies if infra is not None else []:
        modes = {j.mode for j in planned.get(p.name, []) if j.mode is not None}
        mode = (
            VEEAM_TRANSPORT_MODES[next(iter(modes))] if len(modes) == 1 else "Auto" if modes else ""
        )
        planned_modes = ps_str(_modes_text(planned.get(p.name, [])))
        out.append(
            f"    @{{ Name = {ps_str(p.name)}; MaxTasks = '{p.max_tasks}';"
            f" TransportMode = '{mode}'; PlannedModes = {planned_modes} }}"
        )
    return out


def _schedule_args(schedule: Schedule, slot: Slot) -> str:
    at = ps_str(f"{slot.start:%H:%M}")
    repeat = repeat_of(schedule)
    if repeat == "daily":
        return f"Kind = 'Daily'; At = {at}; Days = @(); DayOfMonth = ''; Month = ''"
    if repeat == "weekly":
        day = ps_str(_DAYS[slot.start.weekday()])
        return f"Kind = 'Weekly'; At = {at}; Days = @({day}); DayOfMonth = ''; Month = ''"
    return (
        f"Kind = 'Dated'; At = {at}; Days = @(); DayOfMonth = '{slot.start.day}';"
        f" Month = '{_MONTHS[slot.start.month - 1]}'"
    )


_BODY_HEAD = r"""
$ErrorActionPreference = 'Stop'
if (-not (Get-Command Get-VBRJob -ErrorAction SilentlyContinue)) {
    Import-Module Veeam.Backup.PowerShell -ErrorAction Stop
}
$repo = Get-VBRBackupRepository -Name $Repository
if (-not $repo) { throw "backup repository '$Repository' not found" }

# Every VM and template Veeam sees (not the folders, datacenters and vCenters of that
# tree), read once and matched exactly below: Find-VBRViEntity -Name takes wildcards, and a
# name can hold [ ] * ?.
$inventory = @(Find-VBRViEntity -VMsAndTemplates | Where-Object { $_.Type -eq 'Vm' })

function Find-PlanVM($VM) {
    $found = @($inventory | Where-Object { $_.Name -ceq $VM.Name })
    if ($VM.MoRef) {
        $byRef = @($found | Where-Object { $_.Reference -ceq $VM.MoRef })
        if ($byRef.Count -eq 0 -and $found.Count -gt 0) {
            throw "VM '$($VM.Name)': found by name, but not as $($VM.MoRef) on $($VM.VCenter); re-read the estate and re-plan"
        }
        $found = $byRef
    }
    if ($found.Count -ne 1) {
        throw "VM '$($VM.Name)' $($VM.MoRef): found $($found.Count) entities in Veeam's inventory, expected 1"
    }
    return $found[0]
}

$changed = 0
foreach ($slot in $Plan) {
    $names = @($slot.VMs | ForEach-Object { $_.Name })
    $entities = @($slot.VMs | ForEach-Object { Find-PlanVM $_ })
    $job = Get-VBRJob -Name $slot.Name
    if (-not $job) {
        if ($PSCmdlet.ShouldProcess($slot.Name, "create backup job for $($names -join ', ')")) {
            $job = Add-VBRViBackupJob -Name $slot.Name -BackupRepository $repo -Entity $entities `
                -Description $slot.Description
        }
        $changed++
    } else {
        $current = @(Get-VBRJobObject -Job $job)
        foreach ($obj in $current) {
            if ($names -cnotcontains $obj.Name -and
                $PSCmdlet.ShouldProcess($slot.Name, "remove VM $($obj.Name)")) {
                Remove-VBRJobObject -Objects $obj | Out-Null
                $changed++
            }
        }
        $have = @($current | ForEach-Object { $_.Name })
        $missing = @($entities | Where-Object { $have -cnotcontains $_.Name })
        if ($missing.Count -gt 0 -and
            $PSCmdlet.ShouldProcess($slot.Name, "add VMs $(($missing | ForEach-Object { $_.Name }) -join ', ')")) {
            Add-VBRViJobObject -Job $job -Entities $missing | Out-Null
            $changed++
        }
    }
    if (-not $job) { continue }  # -WhatIf on a job that does not exist yet
    $at = [datetime]::ParseExact($slot.At, 'HH:mm', [Globalization.CultureInfo]::InvariantCulture)
    # Setting the same schedule again leaves the job as it is: safe to re-run.
    if ($PSCmdlet.ShouldProcess($slot.Name, "schedule $($slot.Kind) at $($slot.At)")) {
        switch ($slot.Kind) {
            'Daily'  { Set-VBRJobSchedule -Job $job -Daily -At $at -DailyKind Everyday | Out-Null }
            'Weekly' { Set-VBRJobSchedule -Job $job -Daily -At $at -DailyKind SelectedDays -Days $slot.Days | Out-Null }
            'Dated'  { Set-VBRJobSchedule -Job $job -Monthly -At $at -NumberInMonth OnDay `
                           -DayOfMonth $slot.DayOfMonth -Months $slot.Month | Out-Null }
        }
    }
"""  # noqa: E501

_BODY_TAIL = r"""
    if (-not $job.IsScheduleEnabled -and $PSCmdlet.ShouldProcess($slot.Name, 'enable schedule')) {
        Enable-VBRJobSchedule -Job $job | Out-Null
        $changed++
    }
}

# Jobs with our prefix that this plan no longer has: disable (never delete) them.
$planned = @($Plan | ForEach-Object { $_.Name })
$ours = @(Get-VBRJob | Where-Object { $_.Name.StartsWith("$Prefix ", [StringComparison]::Ordinal) })
foreach ($old in @($ours | Where-Object { $planned -cnotcontains $_.Name })) {
    if ($old.IsScheduleEnabled -and $PSCmdlet.ShouldProcess($old.Name, 'disable schedule (not in the plan)')) {
        Disable-VBRJobSchedule -Job $old | Out-Null
        $changed++
    }
}
foreach ($miss in $NotScheduled) { Write-Warning "not scheduled by the plan: $($miss.VM): $($miss.Reason)" }
Write-Host "stagger: $changed job/VM change(s), $($Plan.Count) job schedule(s) set"
"""  # noqa: E501


_TIERED_STEP = r"""
    # Active fulls on the plan's full days, incrementals on the job's other days; no
    # synthetic full. Set-VBRJobAdvancedBackupOptions, Veeam PowerShell Reference (13.x):
    # https://helpcenter.veeam.com/docs/vbr/powershell/set-vbrjobadvancedbackupoptions.html
    if ($PSCmdlet.ShouldProcess($slot.Name, "active full on: $($slot.FullDays -join ', ')")) {
        if ($slot.FullDays.Count -gt 0) {
            Set-VBRJobAdvancedBackupOptions -Job $job -Algorithm Incremental -TransformFullToSynthetic $false `
                -EnableFullBackup $true -FullBackupScheduleKind Daily -FullBackupDays $slot.FullDays | Out-Null
        } else {
            Set-VBRJobAdvancedBackupOptions -Job $job -Algorithm Incremental -TransformFullToSynthetic $false `
                -EnableFullBackup $false | Out-Null
        }
    }
    # The tier's scripts as the job's pre-/post-job scripts ("Run the following script
    # before/after the job", run on the backup server at every run): the job options'
    # JobScriptCommand, read with Get-VBRJobOptions and written with Set-VBRJobOptions.
    if ($PSCmdlet.ShouldProcess($slot.Name, 'set the pre-/post-job scripts of its tier')) {
        $options = Get-VBRJobOptions -Job $job
        $options.JobScriptCommand.PreScriptEnabled = $slot.PreScript.Length -gt 0
        $options.JobScriptCommand.PreScriptCommandLine = $slot.PreScript
        $options.JobScriptCommand.PostScriptEnabled = $slot.PostScript.Length -gt 0
        $options.JobScriptCommand.PostScriptCommandLine = $slot.PostScript
        $options.JobScriptCommand.Periodicity = 'Cycles'
        $options.JobScriptCommand.Frequency = 1
        Set-VBRJobOptions -Job $job -Options $options | Out-Null
    }
"""  # noqa: E501

# With an infrastructure file: each proxy's task slots and transport mode, each job's
# repository at creation and its proxy (Set-VBRJobProxy). Get-VBRViProxy -Name and
# Get-VBRBackupRepository -Name take wildcards: both lists are read once and matched exactly.
_INFRA_PRELUDE = r"""
# Backup infrastructure of the plan: proxies and repositories, matched by exact name.
$viProxies = @(Get-VBRViProxy)
$repositories = @(Get-VBRBackupRepository)
function Find-Exact($List, $Kind, $Name) {
    $found = @($List | Where-Object { $_.Name -ceq $Name })
    if ($found.Count -ne 1) { throw "$Kind '$Name': found $($found.Count) with that exact name, expected 1" }
    return $found[0]
}
foreach ($p in $Proxies) {
    $px = Find-Exact $viProxies 'VMware backup proxy' $p.Name
    # Set-VBRViProxy -MaxTasks / -TransportMode (Veeam PowerShell Reference 13.x):
    # https://helpcenter.veeam.com/docs/vbr/powershell/set-vbrviproxy.html
    if ($PSCmdlet.ShouldProcess($p.Name, "max tasks $($p.MaxTasks)")) {
        Set-VBRViProxy -Proxy $px -MaxTasks ([int]$p.MaxTasks) | Out-Null
    }
    if ($p.TransportMode -and $PSCmdlet.ShouldProcess($p.Name, "transport mode $($p.TransportMode) (planned: $($p.PlannedModes))")) {
        Set-VBRViProxy -Proxy $px -TransportMode $p.TransportMode | Out-Null
    }
}
$notMoved = @()
"""  # noqa: E501

_INFRA_JOB_REPOSITORY = r"""    $target = if ($slot.Repository) { Find-Exact $repositories 'backup repository' $slot.Repository } else { $repo }
"""  # noqa: E501

_INFRA_JOB_STEP = r"""    if ($existed -and $slot.Repository) { $notMoved += $slot.Name }
    # The plan's proxy for this job only (no automatic selection): Set-VBRJobProxy,
    # https://helpcenter.veeam.com/docs/vbr/powershell/set-vbrjobproxy.html
    if ($slot.Proxy -and $PSCmdlet.ShouldProcess($slot.Name, "proxy $($slot.Proxy)")) {
        Set-VBRJobProxy -Job $job -Proxy (Find-Exact $viProxies 'VMware backup proxy' $slot.Proxy) | Out-Null
    }
"""  # noqa: E501

_INFRA_END = r"""if ($notMoved.Count -gt 0) {
    Write-Warning "$($notMoved.Count) job(s) existed already: this script does not change the repository an existing job writes to. Check each against its Repository in `$Plan; to move a job's backups (this also re-targets the job): Move-VBRBackup -Backup (Get-VBRBackup -Name <job>) -Repository <repository>"
}
"""  # noqa: E501


def _with_infrastructure(body: str) -> str:
    """The script body for a plan with an infrastructure file: the same steps plus the
    prelude (proxies), each job's repository at creation and its proxy."""
    repo_check = "if (-not $repo) { throw \"backup repository '$Repository' not found\" }\n"
    anchors = (
        "$changed = 0\n",
        "$job = Get-VBRJob -Name $slot.Name\n",
        "-BackupRepository $repo ",
        "    if (-not $job) { continue }  # -WhatIf on a job that does not exist yet\n",
        "foreach ($miss in $NotScheduled)",
    )
    for anchor in (*anchors, repo_check):
        assert body.count(anchor) == 1, anchor
    return (
        body.replace(
            repo_check,
            "# Only jobs the plan gives no repository write to -Repository.\n"
            "if (-not $repo -and @($Plan | Where-Object { -not $_.Repository }).Count -gt 0) {\n"
            "    throw \"backup repository '$Repository' not found\"\n}\n",
        )
        .replace(anchors[0], _INFRA_PRELUDE.lstrip("\n") + anchors[0])
        .replace(
            anchors[1],
            anchors[1] + "    $existed = [bool]$job\n" + _INFRA_JOB_REPOSITORY,
        )
        .replace(anchors[2], "-BackupRepository $target ")
        .replace(anchors[3], anchors[3] + _INFRA_JOB_STEP)
        .replace(anchors[4], _INFRA_END + anchors[4])
    )


_BODY = _BODY_HEAD + _BODY_TAIL[1:]
_TIERED_BODY = _BODY_HEAD + _TIERED_STEP[1:] + _BODY_TAIL[1:]


@dataclass(frozen=True)
class TieredJob:
    """One Veeam job of a tiered plan: one VM's runs that start at one local clock time."""

    name: str
    vm: str
    at: str  # local HH:MM
    days: tuple[str, ...]  # weekdays it runs (weekly cycle); empty for a daily cycle
    full_days: tuple[str, ...]  # the days among them that are active fulls
    jobs: tuple[ScheduledJob, ...]


def tiered_jobs(schedule: Schedule, prefix: str) -> list[TieredJob]:
    """The Veeam jobs of a tiered schedule: per VM, one per distinct local start time.

    A Veeam job has one start time a day (``Set-VBRJobSchedule -Daily -At``) and runs an
    active full instead of an incremental on its full days, so a VM whose runs all start at
    one time is one job (the usual case), and runs at other times become further jobs named
    ``<prefix> <slug> <HHMM>``, each with the days it runs at that time. Per VM rather than
    per group of VMs: the planner staggers starts, so VMs sharing every run are rare, and a
    job per VM keeps each VM's full days its own. Only 1- and 7-night cycles: a Veeam daily
    schedule repeats weekdays; the dates of another cycle length have no per-job form here.
    """
    repeat = repeat_of(schedule)
    if repeat == "dated":
        raise InputError(
            f"the veeam export writes tiered schedules of 1- or 7-night cycles only (this one"
            f" has {schedule.inputs.policy.cycle.nights}): a Veeam job repeats weekdays",
            field="cycle.nights",
        )
    names = slugs(j.vm for j in schedule.jobs)
    proxy_names = slugs(j.proxy for j in schedule.jobs if j.proxy is not None)
    repo_names = slugs(j.repository for j in schedule.jobs if j.repository is not None)
    by_vm: dict[str, list[ScheduledJob]] = {}
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        by_vm.setdefault(j.vm, []).append(j)
    out: list[TieredJob] = []
    for vm, runs in by_vm.items():
        # A Veeam job has one proxy and one repository: runs the plan gives another one
        # become another job too (only with an infrastructure file).
        by_time: dict[tuple[str, str | None, str | None], list[ScheduledJob]] = {}
        for j in runs:
            key = (f"{local(schedule, j.start):%H:%M}", j.proxy, j.repository)
            by_time.setdefault(key, []).append(j)
        times = [k[0] for k in by_time]
        for (at, _proxy, _repo), group in by_time.items():
            name = (
                f"{prefix} {names[vm]}"
                if len(by_time) == 1
                else f"{prefix} {names[vm]} {at[:2]}{at[3:]}"
                if times.count(at) == 1
                else f"{prefix} {names[vm]} {at[:2]}{at[3:]}"
                + _infra_suffix(tuple(group), proxy_names, repo_names)
            )
            if repeat == "daily":
                days: tuple[str, ...] = ()
                full_days: tuple[str, ...] = _DAYS if any(j.level == "full" for j in group) else ()
            else:
                weekday = [local(schedule, j.start).weekday() for j in group]
                if len(set(weekday)) != len(group):
                    raise InputError(
                        f"job {visible(vm)!r}: two runs at {at} on one weekday; a Veeam job"
                        " runs once a day",
                        field="jobs[].start",
                    )
                days = tuple(_DAYS[d] for d in sorted(weekday))
                full_days = tuple(
                    _DAYS[d]
                    for d, j in sorted(zip(weekday, group, strict=True), key=lambda x: x[0])
                    if j.level == "full"
                )
            out.append(TieredJob(name, vm, at, days, full_days, tuple(group)))
    return out


def _tiered_lines(schedule: Schedule, prefix: str, zone: str) -> tuple[list[str], int]:
    """($Plan entries, number of VMs split over several jobs) of a tiered schedule."""
    ids = identities(schedule)
    with_infra = has_infrastructure(schedule)
    tiers = {t.name: t for t in schedule.inputs.policy.tiers}
    kind = "Daily" if repeat_of(schedule) == "daily" else "Weekly"
    lines: list[str] = []
    vms_per_name: dict[str, int] = {}
    for job in tiered_jobs(schedule, prefix):
        vms_per_name[job.vm] = vms_per_name.get(job.vm, 0) + 1
        tier_name = job.jobs[0].tier
        tier = tiers.get(tier_name) if tier_name is not None else None
        if tier_name is not None and tier is None:
            raise InputError(
                f"job {visible(job.vm)!r} names tier {visible(tier_name)!r}, which the"
                " schedule's policy does not define; re-plan, or export a plan that was not"
                " edited",
                field="jobs[].tier",
            )
        days = ", ".join(ps_str(d) for d in job.days)
        fulls = ", ".join(ps_str(d) for d in job.full_days)
        pre = tier.pre_script if tier is not None and tier.pre_script is not None else ""
        post = tier.post_script if tier is not None and tier.post_script is not None else ""
        levels_desc = f"active full {'/'.join(d[:3] for d in job.full_days) or 'never'}"
        infra = _infra_entry(job.jobs) if with_infra else ""
        desc = (
            f"stagger plan {schedule.cycle_start}: at {job.at} {zone},"
            f" {len(job.jobs)} run(s) a cycle, {levels_desc}; tier {tier_name or '-'};"
            f" host {job.jobs[0].host}"
        )
        lines.append(
            f"    @{{ Name = {ps_str(job.name)}; VMs = @({_vm_entry(ids[job.vm])});"
            f" Kind = '{kind}'; At = {ps_str(job.at)}; Days = @({days}); DayOfMonth = '';"
            f" Month = ''; FullDays = @({fulls}); PreScript = {ps_str(pre)};"
            f" PostScript = {ps_str(post)};{infra} Description = {ps_str(desc)} }}"
        )
    return lines, sum(1 for n in vms_per_name.values() if n > 1)


def _help_tail_and_tables(
    schedule: Schedule, zone: str, prefix: str, plan_lines: list[str], missed: list[str]
) -> list[str]:
    """The end of the help block (zone, window, task slots, examples: numbers and the
    validated prefix and zone only, never a name) and the ``$Plan`` / ``$NotScheduled``
    tables: the same for a single-regime and a tiered script."""
    pol = schedule.inputs.policy
    p = prefix
    return [
        f"    Times are local to the Veeam server; the plan's zone is {zone},"
        f" window {pol.window.start:%H:%M}-{pol.window.end:%H:%M},"
        f" cycle of {pol.cycle.nights} night(s) repeated {repeat_of(schedule)}.",
        "    Veeam must not hold jobs back: keep enough proxy/repository task slots"
        + (f" (the plan allows {lim})." if (lim := pol.limits.concurrent_jobs) else "."),
        f"    VMs the plan could not schedule: {len(schedule.unscheduled)} (listed in"
        " $NotScheduled, warned at the end).",
        ".EXAMPLE",
        "    .\\stagger-veeam.ps1 -WhatIf    # show the changes only",
        ".EXAMPLE",
        "    .\\stagger-veeam.ps1 -Repository 'Backup Repo 1'",
        "#>",
        "[CmdletBinding(SupportsShouldProcess = $true)]",
        "param(",
        "    [string]$Repository = 'Default Backup Repository',",
        f"    [string]$Prefix = {ps_str(p)}",
        ")",
        "",
        "$Plan = @(",
        ",\n".join(plan_lines),
        ")",
        "$NotScheduled = @(",
        ",\n".join(missed),
        ")",
        *(
            ["$Proxies = @(", ",\n".join(_proxy_lines(schedule)), ")"]
            if has_infrastructure(schedule)
            else []
        ),
        "",
    ]


_INFRA_HELP = [
    "      - sets each proxy's task slots and transport mode (Set-VBRViProxy -MaxTasks,",
    "        -TransportMode: the plan's mode, Auto for a proxy planned in several) and each",
    "        job's proxy (Set-VBRJobProxy); a new job writes to its planned repository",
    "        (Add-VBRViBackupJob -BackupRepository), an existing one keeps its own (warned:",
    "        Move-VBRBackup moves its backups and re-targets it),",
]


def render(schedule: Schedule, options: ExportOptions) -> str:
    check_options(options)
    p = options.prefix
    zone = check_zone(schedule).key
    with_infra = has_infrastructure(schedule)
    if with_infra:
        check_infrastructure_names(schedule)
        _check_veeam_limits(schedule)
    if is_tiered(schedule):
        return _render_tiered(schedule, options, zone)
    ids = identities(schedule)
    names = slugs(j.vm for j in schedule.jobs)
    proxy_names = slugs(j.proxy for j in schedule.jobs if j.proxy is not None)
    repo_names = slugs(j.repository for j in schedule.jobs if j.repository is not None)
    plan_lines: list[str] = []
    slot_list = slots(schedule, per_vm=options.per_vm, by_infra=with_infra)
    for slot in slot_list:
        suffix = _infra_suffix(slot.jobs, proxy_names, repo_names) if with_infra else ""
        name = job_name(slot, p, options.per_vm, names[slot.jobs[0].vm], suffix)
        vms = ", ".join(_vm_entry(ids[j.vm]) for j in slot.jobs)
        hosts = ", ".join(sorted({j.host for j in slot.jobs}))
        desc = (
            f"stagger plan {schedule.cycle_start}: night {slot.night} {slot.start:%a %H:%M}"
            f" {zone}, hosts {hosts}"
        )
        infra = _infra_entry(slot.jobs) if with_infra else ""
        plan_lines.append(
            f"    @{{ Name = {ps_str(name)}; VMs = @({vms}); {_schedule_args(schedule, slot)};"
            f"{infra} Description = {ps_str(desc)} }}"
        )
    missed = [
        f"    @{{ VM = {ps_str(u.vm)}; Reason = {ps_str(u.reason)} }}" for u in schedule.unscheduled
    ]
    # The help block holds no name: only the validated prefix and zone, dates and numbers
    # (a name holding "#>" would end the block and run what follows).
    header = [
        "<#",
        ".SYNOPSIS",
        f"    stagger: Veeam B&R backup jobs for the plan of {schedule.cycle_start}"
        f" ({len(schedule.jobs)} VMs, {len(slot_list)} jobs).",
        ".DESCRIPTION",
        "    Generated by stagger from a validated schedule; re-export rather than edit.",
        "    What it changes, on the Veeam server it runs on:",
        f"      - creates the backup jobs named '{p} ...' below that do not exist yet",
        "        (Add-VBRViBackupJob into -Repository),",
        "      - adds/removes VMs so each job holds exactly the VMs listed for it (each VM",
        "        found by its vCenter name and, when known, its MoRef),",
        "      - sets each job's schedule (Set-VBRJobSchedule) and enables it,",
        *(_INFRA_HELP if with_infra else []),
        f"      - disables the schedule of '{p} ...' jobs this plan no longer lists.",
        "    Nothing is deleted. Re-running it changes nothing once applied.",
        *_help_tail_and_tables(schedule, zone, p, plan_lines, missed),
    ]
    body = _with_infrastructure(_BODY) if with_infra else _BODY
    return BOM + "\n".join(header) + "\n" + body.lstrip("\n")


def _render_tiered(schedule: Schedule, options: ExportOptions, zone: str) -> str:
    """A tiered schedule: per VM one job (per start time), its active full days and its
    tier's scripts; ``--per-vm`` changes nothing (it is per VM already)."""
    p = options.prefix
    with_infra = has_infrastructure(schedule)
    plan_lines, split = _tiered_lines(schedule, p, zone)
    missed = [
        f"    @{{ VM = {ps_str(u.vm)}; Reason = {ps_str(u.reason)} }}" for u in schedule.unscheduled
    ]
    n_vms = len({j.vm for j in schedule.jobs})
    # As in render(): the help block holds no name, script or tier, only numbers and the
    # validated prefix and zone.
    header = [
        "<#",
        ".SYNOPSIS",
        f"    stagger: Veeam B&R backup jobs for the tiered plan of {schedule.cycle_start}"
        f" ({n_vms} VMs, {len(schedule.jobs)} runs, {len(plan_lines)} jobs).",
        ".DESCRIPTION",
        "    Generated by stagger from a validated schedule; re-export rather than edit.",
        "    What it changes, on the Veeam server it runs on:",
        f"      - creates the backup jobs named '{p} ...' below that do not exist yet",
        "        (Add-VBRViBackupJob into -Repository), one per VM and start time,",
        "      - makes each job hold exactly its VM (found by its vCenter name and, when",
        "        known, its MoRef),",
        "      - sets each job's schedule (Set-VBRJobSchedule: the days it runs, at its",
        "        time) and enables it,",
        "      - sets its active full days (Set-VBRJobAdvancedBackupOptions: forward",
        "        incremental on the other days, no synthetic full) and its tier's",
        "        pre-/post-job scripts (Set-VBRJobOptions; they run on the backup server),",
        *(_INFRA_HELP if with_infra else []),
        f"      - disables the schedule of '{p} ...' jobs this plan no longer lists.",
        "    Nothing is deleted. Re-running it changes nothing once applied.",
        f"    VMs whose runs start at different times: {split}. Each of their jobs is its own",
        "    backup chain; a job holding no full day is forever-incremental after its first",
        "    run (a new Veeam job's first run is always a full).",
        *_help_tail_and_tables(schedule, zone, p, plan_lines, missed),
    ]
    body = _with_infrastructure(_TIERED_BODY) if with_infra else _TIERED_BODY
    return BOM + "\n".join(header) + "\n" + body.lstrip("\n")
