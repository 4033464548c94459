"""Bacula / Bareos Director configuration: Schedule and Job resources for the plan.

Default: a file to ``@include`` into an existing ``bacula-dir.conf`` — one ``Schedule`` per
planned start (one ``Run =`` line with the level and ``at HH:MM``), one ``Job`` per VM that
uses a ``JobDefs`` the admin keeps (default ``stagger-vmware``: FileSet, Storage, Pool,
Messages). ``--standalone`` writes a complete ``bacula-dir.conf`` (Director, Catalog, Storage,
Pool, Messages, FileSet, JobDefs, one Client per VM) that ``bacula-dir -t`` can check.

Bacula knows nothing of hosts, datastores or RAID groups: the staggering lives in the start
times, so nothing may hold a job back. Every Job allows one instance, and the Director and
Storage must allow at least the plan's peak concurrency (written as Maximum Concurrent Jobs).

With an infrastructure file (``--infra``) each Job writes to its planned repository, a
``Storage`` resource named ``<prefix>-<repository slug>`` whose ``Maximum Concurrent Jobs`` is
the repository's ``max_tasks``. Bacula has no backup proxy and no transport mode: its File
Daemon reads the data. By default the Client stays the VM's own File Daemon (``{vm}-fd``)
and the planned proxy and mode are stated in the Job's Description; an estate that backs
VMs up through a proxy's File Daemon (a vSphere plugin on the proxy) gives ``--client
'{proxy}-fd'``, and that Client then gets the proxy's ``max_tasks`` as its Maximum
Concurrent Jobs. The JobDefs' FileSet must then select the Job's VM (stagger writes no
plugin line: each product spells it differently).

Resource names (Job, Schedule, Client, Storage) are built from slugs, the only characters a
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
    check_infrastructure_names,
    check_zone,
    has_infrastructure,
    identities,
    job_level,
    local,
    peak_concurrency,
    peak_of,
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


def run_lines(
    schedule: Schedule, jobs: list[ScheduledJob], storage: dict[str, str] | None = None
) -> list[str]:
    """The ``Run =`` lines of one VM's jobs: each job's level at its local start.

    A weekly cycle merges the weekdays whose jobs share both level and clock time (``Run =
    Level=Incremental mon-fri at 23:40``), nothing else; a daily cycle has one job per VM; a
    cycle of another length names each job's date. ``storage`` (repository name -> Storage
    resource) gives a run whose repository is not its first run's a ``Storage=`` override
    (the Job's own Storage is the first run's).
    """
    repeat: Repeat = repeat_of(schedule)
    ordered = sorted(jobs, key=lambda j: utc(j.start))
    base = ordered[0].repository if ordered else None

    def override(j: ScheduledJob) -> str:
        if storage is None or j.repository is None or j.repository == base:
            return ""
        return f" Storage={storage[j.repository]}"

    if repeat != "weekly":
        out = []
        for j in ordered:
            start = local(schedule, j.start)
            when = "daily" if repeat == "daily" else f"{_MONTHS[start.month - 1]} {start.day}"
            out.append(f"Run = Level={job_level(j)}{override(j)} {when} at {start:%H:%M}")
        return out
    days: dict[tuple[str, str, str], list[int]] = {}
    for j in ordered:
        start = local(schedule, j.start)
        days.setdefault((job_level(j), override(j), f"{start:%H:%M}"), []).append(start.weekday())
    return [
        f"Run = Level={level}{extra} {spec} at {at}"
        for (level, extra, at), wdays in days.items()
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


class _Targets:
    """Where each Job runs (Client) and writes (Storage, with an infrastructure file), and
    the Maximum Concurrent Jobs each Client and Storage needs so that none holds a planned
    job back."""

    def __init__(self, schedule: Schedule, prefix: str, template: str, names: dict[str, str]):
        self.schedule = schedule
        self.prefix = prefix
        self.template = template
        self.names = names
        self.fields = _template_fields(template)
        check_infrastructure_names(schedule)
        if "proxy" in self.fields and not has_infrastructure(schedule):
            raise InputError(
                f"{visible(template)!r}: {{proxy}} needs a schedule planned with an"
                " infrastructure file (--infra)",
                field="client",
            )
        infra = schedule.inputs.infrastructure
        repos = infra.repositories if infra is not None else []
        self.infra = infra
        self.storage_of = {
            name: f"{prefix}-{s}"
            for name, s in slugs(
                [r.name for r in repos]
                + [j.repository for j in schedule.jobs if j.repository is not None]
            ).items()
        }
        self.clients: dict[str, int] = {}  # Client name -> Maximum Concurrent Jobs
        self.storages: dict[str, int] = {}  # Storage name -> Maximum Concurrent Jobs
        for r in repos:
            mine = [j for j in schedule.jobs if j.repository == r.name]
            self.storages[self.storage_of[r.name]] = max(r.max_tasks, peak_of(mine), 1)

    def client(self, jobs: list[ScheduledJob]) -> str:
        """The Client of the Job running ``jobs`` (one VM's); a proxy's File Daemon
        (``{proxy}``) allows the proxy's task slots at once."""
        first = jobs[0]
        proxies = {j.proxy for j in jobs}
        if "proxy" in self.fields and len(proxies) > 1:
            raise InputError(
                f"VM {visible(first.vm)!r} runs through proxies"
                f" {', '.join(sorted(visible(p or '-') for p in proxies))}; a Bacula Job has"
                " one Client, so --client cannot name {proxy} for this plan",
                field="client",
            )
        name = _client_name(self.template, self.names[first.vm], first.host, first.proxy or "")
        proxy = self.infra.proxy(first.proxy) if self.infra and first.proxy else None
        if "proxy" in self.fields and proxy is not None:
            on_it = [j for j in self.schedule.jobs if j.proxy == proxy.name]
            need = max(proxy.max_tasks, peak_of(on_it))
        else:
            need = 1
        self.clients[name] = max(self.clients.get(name, 1), need)
        return name

    def storage_lines(self, job: ScheduledJob) -> list[str]:
        if job.repository is None:
            return []
        return [f"  Storage = {_q(self.storage_of[job.repository])}"]


def _infra_text(jobs: list[ScheduledJob]) -> str:
    """The planned proxy, mode and repository for people (Description): Bacula has no
    proxy or transport mode."""
    seen = list(dict.fromkeys((j.proxy, j.mode, j.repository) for j in jobs))
    return "; " + ", ".join(
        f"proxy {p or '-'} ({m or '-'}) to repository {r or '-'}" for p, m, r in seen
    )


def _tiered_body(
    schedule: Schedule,
    options: ExportOptions,
    names: dict[str, str],
    ids: dict[str, Identity],
    targets: _Targets,
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
        cname = targets.client(jobs)
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
        storage = targets.storage_of if has_infrastructure(schedule) else None
        body += ["  " + line for line in run_lines(schedule, jobs, storage)]
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
            + (_infra_text(jobs) if has_infrastructure(schedule) else "")
        )
        body += [
            "Job {",
            f"  Name = {_q(p + '-' + names[vm])}",
            f"  JobDefs = {_q(p + '-vmware')}",
            f"  Client = {_q(cname)}",
            *targets.storage_lines(first),
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


def _header(schedule: Schedule, options: ExportOptions, mcj: int, targets: _Targets) -> list[str]:
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
    if has_infrastructure(schedule):
        lines += [
            "# Infrastructure: each Job writes to its planned repository's Storage, whose Maximum",
            "# Concurrent Jobs is the repository's max_tasks. Bacula has no backup proxy or",
            "# transport mode (its File Daemon reads the data): the planned proxy and mode are in",
            "# each Job's Description; --client '{proxy}-fd' runs Jobs on the proxy's File Daemon.",
        ]
        lines += [
            bacula_comment(f"Storage {name}: Maximum Concurrent Jobs = {n}")
            for name, n in targets.storages.items()
        ]
    for u in schedule.unscheduled:
        lines.append(bacula_comment(f"NOT SCHEDULED: {u.vm}: {u.reason}"))
    return lines


def _standalone(
    options: ExportOptions, mcj: int, clients: dict[str, int], storages: dict[str, int]
) -> str:
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
    # One Storage per repository of the infrastructure: its task slots.
    for name, slots_ in storages.items():
        out += f"""
Storage {{
  Name = {_q(name)}
  Address = {_q(name.removeprefix(p + "-"))}
  SDPort = 9103
  Password = "change-me-storage"
  Device = FileStorage
  Media Type = File
  Maximum Concurrent Jobs = {slots_}
}}
"""
    for name, slots_ in clients.items():
        out += f"""
Client {{
  Name = {_q(name)}
  Address = {_q(name.removesuffix("-fd"))}
  FDPort = 9102
  Catalog = MyCatalog
  Password = "change-me-client"
  Maximum Concurrent Jobs = {slots_}
}}
"""
    return out


def _template_fields(template: str) -> set[str]:
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise InputError(f"{visible(template)!r}: {exc}", field="client") from None
    if not fields <= {"vm", "host", "proxy"}:
        raise InputError(
            f"{visible(template)!r}: use {{vm}}, {{host}} and {{proxy}} only", field="client"
        )
    return fields


def _client_name(template: str, vm_slug: str, host: str, proxy: str = "") -> str:
    """The Client name for a job: ``template`` with ``{vm}`` (the VM's slug), ``{host}``
    and ``{proxy}`` (its planned proxy), made a valid Director name."""
    _template_fields(template)
    return slug(template.format(vm=vm_slug, host=host, proxy=proxy))


def render(schedule: Schedule, options: ExportOptions) -> str:
    mcj = concurrency(schedule)
    p = options.prefix
    check_options(options)
    ids = identities(schedule)
    names = slugs(j.vm for j in schedule.jobs)
    client_tpl = options.extra.get("client", "{vm}-fd")
    targets = _Targets(schedule, p, client_tpl, names)
    with_infra = has_infrastructure(schedule)
    parts = ["\n".join(_header(schedule, options, mcj, targets)), ""]
    if is_tiered(schedule):
        parts[0] += "\n" + "\n".join(_TIERED_NOTE)
        tiered_body, _ = _tiered_body(schedule, options, names, ids, targets)
        if options.standalone:
            parts.append(_standalone(options, mcj, targets.clients, targets.storages))
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
    for j in sorted(schedule.jobs, key=lambda j: (utc(j.start), j.vm)):
        cname = targets.client([j])
        start, end = local(schedule, j.start), local(schedule, j.end)
        ident = ids[j.vm]
        where = ", ".join(x for x in (ident.moref, ident.vcenter) if x)
        # Times first: a Description longer than a quoted string may hold is cut at its end.
        desc = (
            f"stagger: planned {start:%Y-%m-%d %H:%M}-{end:%H:%M} ({j.duration_min} min),"
            f" {j.size_gib:g} GiB; VM {ident.name}"
            + (f" ({where})" if where else "")
            + f"; host {j.host}; datastores {', '.join(j.datastores) or '-'};"
            f" RAID {', '.join(j.raid_groups) or '-'}" + (_infra_text([j]) if with_infra else "")
        )
        body += [
            "Job {",
            f"  Name = {_q(p + '-' + names[j.vm])}",
            f"  JobDefs = {_q(p + '-vmware')}",
            f"  Client = {_q(cname)}",
            *targets.storage_lines(j),
            f"  Schedule = {_q(sched_of[j.vm])}",
            "  Maximum Concurrent Jobs = 1",
            "  Allow Duplicate Jobs = no",
            f"  Description = {_q(desc)}",
            "}",
            "",
        ]
    if options.standalone:
        parts.append(_standalone(options, mcj, targets.clients, targets.storages))
    parts.append("\n".join(body))
    return "\n".join(parts).rstrip("\n") + "\n"
