"""Veeam Backup & Replication: a PowerShell script that creates or updates the backup jobs.

One job per planned start-time slot (VMs that start together share a job), or one per VM
(``per_vm``). For each job the script finds the VMs with ``Find-VBRViEntity``, creates the job
with ``Add-VBRViBackupJob`` when it is missing or syncs its VM list when it exists, then sets
``Set-VBRJobSchedule`` (``-Daily -At``, with ``-DailyKind SelectedDays -Days`` for a weekly
cycle, ``-Monthly -NumberInMonth OnDay -DayOfMonth -Months`` for dated cycles). Jobs named with
the prefix that the plan no longer has are disabled, never deleted. Re-running changes nothing
once applied; ``-WhatIf`` shows what it would change. Not run here: no PowerShell on this
machine, the script is checked by golden files and by structure.
"""

from __future__ import annotations

from stagger.exporters._common import Slot, repeat_of, slots, unique_names
from stagger.exporters.registry import ExportOptions
from stagger.model.schedule import Schedule

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


def ps_str(text: str) -> str:
    """A PowerShell single-quoted (verbatim) string."""
    return "'" + text.replace("'", "''") + "'"


def job_name(schedule: Schedule, slot: Slot, prefix: str, per_vm: bool, vm_name: str) -> str:
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

function Find-PlanVM([string]$Name) {
    $found = @(Find-VBRViEntity -VMsAndTemplates -Name $Name | Where-Object { $_.Name -eq $Name })
    if ($found.Count -ne 1) { throw "VM '$Name': found $($found.Count) entities in vCenter, expected 1" }
    return $found[0]
}

$changed = 0
foreach ($slot in $Plan) {
    $entities = @($slot.VMs | ForEach-Object { Find-PlanVM $_ })
    $job = Get-VBRJob -Name $slot.Name
    if (-not $job) {
        if ($PSCmdlet.ShouldProcess($slot.Name, "create backup job for $($slot.VMs -join ', ')")) {
            $job = Add-VBRViBackupJob -Name $slot.Name -BackupRepository $repo -Entity $entities `
                -Description $slot.Description
        }
        $changed++
    } else {
        $current = @(Get-VBRJobObject -Job $job)
        foreach ($obj in $current) {
            if ($slot.VMs -notcontains $obj.Name -and
                $PSCmdlet.ShouldProcess($slot.Name, "remove VM $($obj.Name)")) {
                Remove-VBRJobObject -Objects $obj | Out-Null
                $changed++
            }
        }
        $have = @($current | ForEach-Object { $_.Name })
        $missing = @($entities | Where-Object { $have -notcontains $_.Name })
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
foreach ($old in @(Get-VBRJob | Where-Object { $_.Name -like "$Prefix *" -and $planned -notcontains $_.Name })) {
    if ($old.IsScheduleEnabled -and $PSCmdlet.ShouldProcess($old.Name, 'disable schedule (not in the plan)')) {
        Disable-VBRJobSchedule -Job $old | Out-Null
        $changed++
    }
}
Write-Host "stagger: $changed job/VM change(s), $($Plan.Count) job schedule(s) set"
"""  # noqa: E501


def render(schedule: Schedule, options: ExportOptions) -> str:
    p = options.prefix
    names = unique_names([j.vm for j in schedule.jobs])
    plan_lines: list[str] = []
    slot_list = slots(schedule, per_vm=options.per_vm)
    for slot in slot_list:
        name = job_name(schedule, slot, p, options.per_vm, names[slot.jobs[0].vm])
        vms = ", ".join(ps_str(j.vm) for j in slot.jobs)
        hosts = ", ".join(sorted({j.host for j in slot.jobs}))
        desc = (
            f"stagger plan {schedule.cycle_start}: night {slot.night} {slot.start:%a %H:%M}"
            f" {schedule.timezone}, hosts {hosts}"
        )
        plan_lines.append(
            f"    @{{ Name = {ps_str(name)}; VMs = @({vms}); {_schedule_args(schedule, slot)};"
            f" Description = {ps_str(desc)} }}"
        )
    pol = schedule.inputs.policy
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
        "      - adds/removes VMs so each job holds exactly the VMs listed for it,",
        "      - sets each job's schedule (Set-VBRJobSchedule) and enables it,",
        f"      - disables the schedule of '{p} ...' jobs this plan no longer lists.",
        "    Nothing is deleted. Re-running it changes nothing once applied.",
        f"    Times are local to the Veeam server; the plan's zone is {schedule.timezone},"
        f" window {pol.window.start:%H:%M}-{pol.window.end:%H:%M},"
        f" cycle of {pol.cycle.nights} night(s) repeated {repeat_of(schedule)}.",
        "    Veeam must not hold jobs back: keep enough proxy/repository task slots"
        + (f" (the plan allows {lim})." if (lim := pol.limits.concurrent_jobs) else "."),
    ]
    for u in schedule.unscheduled:
        header.append(f"    NOT SCHEDULED: {u.vm}: {u.reason}")
    header += [
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
    ]
    return "\n".join(header) + "\n" + _BODY.lstrip("\n")
