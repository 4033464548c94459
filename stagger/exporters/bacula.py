"""Bacula / Bareos Director configuration: Schedule and Job resources for the plan.

Default: a file to ``@include`` into an existing ``bacula-dir.conf`` — one ``Schedule`` per
planned start (one ``Run =`` line with the level and ``at HH:MM``), one ``Job`` per VM that
uses a ``JobDefs`` the admin keeps (default ``stagger-vmware``: FileSet, Storage, Pool,
Messages). ``--standalone`` writes a complete ``bacula-dir.conf`` (Director, Catalog, Storage,
Pool, Messages, FileSet, JobDefs, one Client per VM) that ``bacula-dir -t`` can check.

Bacula knows nothing of hosts, datastores or RAID groups: the staggering lives in the start
times, so nothing may hold a job back. Every Job allows one instance, and the Director and
Storage must allow at least the plan's peak concurrency (written as Maximum Concurrent Jobs).

Resource names (Job, Schedule, Client) are built from the VM's slug, the only characters a
Director accepts in a name; every other text goes through one quoted-string function and one
comment function (:mod:`stagger.exporters.quoting`), so no name can end a comment or a string.
"""

from __future__ import annotations

import string

from stagger.errors import InputError
from stagger.exporters._common import (
    Identity,
    Repeat,
    Slot,
    check_zone,
    identities,
    job_level,
    local,
    peak_concurrency,
    repeat_of,
    slots,
    utc,
)
from stagger.exporters.options import ExportOptions, check_options
from stagger.exporters.quoting import (
    bacula_command,
    bacula_comment,
    bacula_str,
    slug,
    slugs,
    visible,
)
from stagger.model.policy import Tier
from stagger.model.schedule import Schedule, ScheduledJob
from stagger.tiers import is_tiered

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


_q = bacula_str

_TIERED_NOTE = (
    "# Tiered: each VM's Job has one Schedule with a Run line per level and start. Bacula",
    "# runs an Incremental as a Full while the catalog holds no Full of that Job. Tier",
    "# scripts run on the Client (RunScript), without a shell and with % taken literally.",
)


def day_spec(schedule: Schedule, slot: Slot) -> str:
    """The date part of a Run directive for the cycle's repetition."""
    repeat = repeat_of(schedule)
    at = f"at {slot.start:%H:%M}"
    if repeat == "daily":
        return f"daily {at}"
    if repeat == "weekly":
        return f"{_DAYS[slot.start.weekday()]} {at}"
    return f"{_MONTHS[slot.start.month - 1]} {slot.start.day} {at}"


def _day_ranges(days: list[int]) -> list[str]:
    """Weekday numbers (0 = Monday), sorted, as Bacula day specs: runs of consecutive days
    as a range (``mon-fri``), a lone day by name; a range never wraps past Sunday."""
    out: list[str] = []
    i = 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and days[j + 1] == days[j] + 1:
            j += 1
        first, last = _DAYS[days[i]], _DAYS[days[j]]
        out.append(first if i == j else f"{first}-{last}")
        i = j + 1
    return out


def run_lines(schedule: Schedule, jobs: list[ScheduledJob]) -> list[str]:
    """The ``Run =`` lines of one VM's jobs: each job's level at its local start.

    A weekly cycle merges the weekdays whose jobs share both level and clock time (``Run =
    Level=Incremental mon-fri at 23:40``), nothing else; a daily cycle has one job per VM; a
    cycle of another length names each job's date.
    """
    repeat: Repeat = repeat_of(schedule)
    ordered = sorted(jobs, key=lambda j: utc(j.start))
    if repeat != "weekly":
        out = []
        for j in ordered:
            start = local(schedule, j.start)
            when = "daily" if repeat == "daily" else f"{_MONTHS[start.month - 1]} {start.day}"
            out.append(f"Run = Level={job_level(j)} {when} at {start:%H:%M}")
        return out
    days: dict[tuple[str, str], list[int]] = {}
    for j in ordered:
        start = local(schedule, j.start)
        days.setdefault((job_level(j), f"{start:%H:%M}"), []).append(start.weekday())
    return [
        f"Run = Level={level} {spec} at {at}"
        for (level, at), wdays in days.items()
        for spec in _day_ranges(sorted(set(wdays)))
    ]


def _run_scripts(tier: Tier | None) -> list[str]:
    """The tier's pre/post scripts as RunScript blocks of the Job, on the Client (the VM's
    file daemon). The pre script fails the job when it fails (no backup of an unfrozen
    application); the post script runs whatever the job's outcome (it thaws or restarts)."""
    out: list[str] = []
    if tier is not None and tier.pre_script is not None:
        out += [
            "  RunScript {",
            "    RunsWhen = Before",
            "    RunsOnClient = yes",
            "    FailJobOnError = yes",
            f"    Command = {bacula_command(tier.pre_script)}",
            "  }",
        ]
    if tier is not None and tier.post_script is not None:
        out += [
            "  RunScript {",
            "    RunsWhen = After",
            "    RunsOnClient = yes",
            "    RunsOnSuccess = yes",
            "    RunsOnFailure = yes",
            f"    Command = {bacula_command(tier.post_script)}",
            "  }",
        ]
    return out


def _tiered_body(
    schedule: Schedule,
    options: ExportOptions,
    names: dict[str, str],
    ids: dict[str, Identity],
    client_tpl: str,
) -> tuple[list[str], list[str]]:
    """(resource lines, client names) of a tiered schedule: per VM one Schedule holding a
    Run line per level and start, and one Job with its tier's scripts."""
    p = options.prefix
    tiers = {t.name: t for t in schedule.inputs.policy.tiers}
    by_vm: dict[str, list[ScheduledJob]] = {}
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        by_vm.setdefault(j.vm, []).append(j)
    body: list[str] = []
    clients: list[str] = []
    for vm, jobs in by_vm.items():
        first = jobs[0]
        tier = tiers.get(first.tier) if first.tier is not None else None
        if first.tier is not None and tier is None:
            raise InputError(
                f"job {visible(vm)!r} names tier {visible(first.tier)!r}, which the"
                " schedule's policy lacks; re-plan, or export a plan that was not edited",
                field="jobs[].tier",
            )
        sname = f"{p}-{names[vm]}"
        cname = _client_name(client_tpl, names[vm], first.host)
        clients.append(cname)
        for j in jobs:
            start, end = local(schedule, j.start), local(schedule, j.end)
            body.append(
                bacula_comment(
                    f"{vm}: night {j.night} {job_level(j)} {start:%a %Y-%m-%d %H:%M}-{end:%H:%M}"
                    f" ({j.duration_min} min, {j.size_gib:g} GiB)"
                )
            )
        body += ["Schedule {", f"  Name = {_q(sname)}"]
        body += ["  " + line for line in run_lines(schedule, jobs)]
        body += ["}", ""]
        ident = ids[vm]
        where = ", ".join(x for x in (ident.moref, ident.vcenter) if x)
        fulls = sum(1 for j in jobs if job_level(j) == "Full")
        desc = (
            f"stagger: {fulls} full and {len(jobs) - fulls} incremental run(s) per cycle,"
            f" tier {first.tier or '-'}; VM {ident.name}"
            + (f" ({where})" if where else "")
            + f"; host {first.host}; datastores {', '.join(first.datastores) or '-'};"
            f" RAID {', '.join(first.raid_groups) or '-'}"
        )
        body += [
            "Job {",
            f"  Name = {_q(p + '-' + names[vm])}",
            f"  JobDefs = {_q(p + '-vmware')}",
            f"  Client = {_q(cname)}",
            f"  Schedule = {_q(sname)}",
            "  Maximum Concurrent Jobs = 1",
            "  Allow Duplicate Jobs = no",
            f"  Description = {_q(desc)}",
            *_run_scripts(tier),
            "}",
            "",
        ]
    return body, clients


def concurrency(schedule: Schedule) -> int:
    """Director/Storage Maximum Concurrent Jobs: the proxy limit if set, never below the peak."""
    peak = peak_concurrency(schedule)
    limit = schedule.inputs.policy.limits.concurrent_jobs
    return max(peak, limit or 0, 1)


def _header(schedule: Schedule, options: ExportOptions, mcj: int) -> list[str]:
    pol = schedule.inputs.policy
    first = schedule.nights[0] if schedule.nights else None
    lines = [
        "# Generated by stagger from a validated schedule: do not edit by hand, re-export.",
        bacula_comment(
            f"Time zone {check_zone(schedule).key} (the Director's clock must use it);"
            f" cycle of {pol.cycle.nights} night(s) from {schedule.cycle_start}, repeated "
            f"{repeat_of(schedule)}."
        ),
    ]
    if first is not None:
        lines.append(
            f"# Window {pol.window.start:%H:%M}-{pol.window.end:%H:%M}; {len(schedule.jobs)} jobs,"
            f" makespan {schedule.makespan_min} min, peak {peak_concurrency(schedule)} at once."
        )
    lines += [
        f"# Director and Storage need Maximum Concurrent Jobs >= {mcj}, or jobs queue and the",
        "# host/datastore/RAID-group staggering is lost. Each Job runs one instance at a time.",
    ]
    if not options.standalone:
        lines += [
            f'# Needs a JobDefs named "{options.prefix}-vmware" (FileSet, Storage, Pool, Messages)',
            '# and Clients named as in each Job. Include with: @"/etc/bacula/stagger.conf"',
        ]
    for u in schedule.unscheduled:
        lines.append(bacula_comment(f"NOT SCHEDULED: {u.vm}: {u.reason}"))
    return lines


def _standalone(options: ExportOptions, mcj: int, clients: list[str]) -> str:
    wd = options.workdir
    p = options.prefix
    out = f"""Director {{
  Name = {p}-dir
  DIRport = 9101
  QueryFile = "/etc/bacula/scripts/query.sql"
  WorkingDirectory = {_q(wd)}
  PidDirectory = {_q(wd)}
  Maximum Concurrent Jobs = {mcj}
  Password = "change-me-director"
  Messages = Daemon
}}

Catalog {{
  Name = MyCatalog
  dbname = "bacula"
  dbuser = "bacula"
  dbpassword = ""
}}

Messages {{
  Name = Standard
  console = all, !skipped, !saved
  append = {_q(wd + "/log")} = all, !skipped
  catalog = all
}}

Messages {{
  Name = Daemon
  console = all, !skipped, !saved
  append = {_q(wd + "/log")} = all, !skipped
}}

Storage {{
  Name = {p}-storage
  Address = localhost
  SDPort = 9103
  Password = "change-me-storage"
  Device = FileStorage
  Media Type = File
  Maximum Concurrent Jobs = {mcj}
}}

Pool {{
  Name = {p}-pool
  Pool Type = Backup
  Recycle = yes
  AutoPrune = yes
  Volume Retention = 30 days
}}

FileSet {{
  Name = {p}-vm
  Include {{
    Options {{
      signature = MD5
    }}
    File = /
  }}
}}

JobDefs {{
  Name = {_q(p + "-vmware")}
  Type = Backup
  Level = Full
  FileSet = {p}-vm
  Storage = {p}-storage
  Pool = {p}-pool
  Messages = Standard
  Priority = 10
}}
"""
    for name in clients:
        out += f"""
Client {{
  Name = {_q(name)}
  Address = {_q(name.removesuffix("-fd"))}
  FDPort = 9102
  Catalog = MyCatalog
  Password = "change-me-client"
  Maximum Concurrent Jobs = 1
}}
"""
    return out


def _client_name(template: str, vm_slug: str, host: str) -> str:
    """The Client name for a job: ``template`` with ``{vm}`` (the VM's slug) and ``{host}``,
    made a valid Director name."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise InputError(f"{visible(template)!r}: {exc}", field="client") from None
    if not fields <= {"vm", "host"}:
        raise InputError(f"{visible(template)!r}: use {{vm}} and {{host}} only", field="client")
    return slug(template.format(vm=vm_slug, host=host))


def render(schedule: Schedule, options: ExportOptions) -> str:
    mcj = concurrency(schedule)
    p = options.prefix
    check_options(options)
    ids = identities(schedule)
    names = slugs(j.vm for j in schedule.jobs)
    client_tpl = options.extra.get("client", "{vm}-fd")
    parts = ["\n".join(_header(schedule, options, mcj)), ""]
    if is_tiered(schedule):
        parts[0] += "\n" + "\n".join(_TIERED_NOTE)
        tiered_body, tiered_clients = _tiered_body(schedule, options, names, ids, client_tpl)
        if options.standalone:
            parts.append(_standalone(options, mcj, list(dict.fromkeys(tiered_clients))))
        parts.append("\n".join(tiered_body))
        return "\n".join(parts).rstrip("\n") + "\n"
    sched_of: dict[str, str] = {}
    body: list[str] = []
    for slot in slots(schedule, per_vm=options.per_vm):
        if options.per_vm:
            sname = f"{p}-{names[slot.jobs[0].vm]}"
        else:
            sname = f"{p}-n{slot.night}-{slot.start:%H%M}-{slot.level.lower()}"
        body += [
            "Schedule {",
            f"  Name = {_q(sname)}",
            f"  Run = Level={slot.level} {day_spec(schedule, slot)}",
            "}",
            "",
        ]
        for j in slot.jobs:
            sched_of[j.vm] = sname
    clients: list[str] = []
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        cname = _client_name(client_tpl, names[j.vm], j.host)
        clients.append(cname)
        start, end = local(schedule, j.start), local(schedule, j.end)
        ident = ids[j.vm]
        where = ", ".join(x for x in (ident.moref, ident.vcenter) if x)
        # Times first: a Description longer than a quoted string may hold is cut at its end.
        desc = (
            f"stagger: planned {start:%Y-%m-%d %H:%M}-{end:%H:%M} ({j.duration_min} min),"
            f" {j.size_gib:g} GiB; VM {ident.name}"
            + (f" ({where})" if where else "")
            + f"; host {j.host}; datastores {', '.join(j.datastores) or '-'};"
            f" RAID {', '.join(j.raid_groups) or '-'}"
        )
        body += [
            "Job {",
            f"  Name = {_q(p + '-' + names[j.vm])}",
            f"  JobDefs = {_q(p + '-vmware')}",
            f"  Client = {_q(cname)}",
            f"  Schedule = {_q(sched_of[j.vm])}",
            "  Maximum Concurrent Jobs = 1",
            "  Allow Duplicate Jobs = no",
            f"  Description = {_q(desc)}",
            "}",
            "",
        ]
    if options.standalone:
        parts.append(_standalone(options, mcj, list(dict.fromkeys(clients))))
    parts.append("\n".join(body))
    return "\n".join(parts).rstrip("\n") + "\n"
