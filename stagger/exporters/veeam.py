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

Names are data, never code: each one is a single-quoted string (:func:`ps_str`) inside the
``$Plan`` / ``$NotScheduled`` tables, and no name is written into the comment-based help. The
file starts with a UTF-8 byte-order mark so Windows PowerShell 5.1 reads it as UTF-8.
"""

from __future__ import annotations

from stagger.exporters._common import Identity, Slot, check_zone, identities, repeat_of, slots
from stagger.exporters.options import ExportOptions, check_options
from stagger.exporters.quoting import ps_str, slugs
from stagger.model.schedule import Schedule

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


def job_name(slot: Slot, prefix: str, per_vm: bool, vm_name: str) -> str:
    if per_vm:
        return f"{prefix} {vm_name}"
    return f"{prefix} n{slot.night} {slot.start:%H%M} {slot.level}"


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


_BODY = r"""
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


def render(schedule: Schedule, options: ExportOptions) -> str:
    check_options(options)
    p = options.prefix
    zone = check_zone(schedule).key
    ids = identities(schedule)
    names = slugs(j.vm for j in schedule.jobs)
    plan_lines: list[str] = []
    slot_list = slots(schedule, per_vm=options.per_vm)
    for slot in slot_list:
        name = job_name(slot, p, options.per_vm, names[slot.jobs[0].vm])
        vms = ", ".join(_vm_entry(ids[j.vm]) for j in slot.jobs)
        hosts = ", ".join(sorted({j.host for j in slot.jobs}))
        desc = (
            f"stagger plan {schedule.cycle_start}: night {slot.night} {slot.start:%a %H:%M}"
            f" {zone}, hosts {hosts}"
        )
        plan_lines.append(
            f"    @{{ Name = {ps_str(name)}; VMs = @({vms}); {_schedule_args(schedule, slot)};"
            f" Description = {ps_str(desc)} }}"
        )
    missed = [
        f"    @{{ VM = {ps_str(u.vm)}; Reason = {ps_str(u.reason)} }}" for u in schedule.unscheduled
    ]
    pol = schedule.inputs.policy
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
        f"      - disables the schedule of '{p} ...' jobs this plan no longer lists.",
        "    Nothing is deleted. Re-running it changes nothing once applied.",
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
        "",
    ]
    return BOM + "\n".join(header) + "\n" + _BODY.lstrip("\n")
