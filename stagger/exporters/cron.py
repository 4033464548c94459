"""crontab for script-based backups (ghettoVCB on each ESXi host, or any per-VM script).

One line per job at its local start time, grouped by ESXi host, each preceded by a comment
with the host, datastores, RAID groups and planned end. A one-night cycle repeats daily, a
seven-night cycle weekly on the start's weekday; other cycles are written as the dates of this
cycle only. ``CRON_TZ`` pins the zone for cronie/Vixie cron; ESXi's busybox crond runs in UTC
and knows no ``CRON_TZ``: export with ``utc`` there (and re-export after a DST change).

The command names the VM as vCenter does (``{vm}``, the real display name, not a
disambiguated one) and writes its log to a file named by the VM's slug (``{slug}``). Every
value is one shell word through :func:`~stagger.exporters.quoting.cron_word`, every comment
one line through :func:`~stagger.exporters.quoting.cron_comment`.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime
from itertools import groupby

from stagger.errors import InputError
from stagger.exporters._common import (
    Identity,
    check_zone,
    identities,
    local,
    repeat_of,
    utc,
)
from stagger.exporters.options import ExportOptions
from stagger.exporters.quoting import cron_comment, cron_word, slugs, visible
from stagger.model.schedule import Schedule, ScheduledJob
from stagger.tiers import is_tiered

DEFAULT_COMMAND = (
    "/opt/ghettovcb/bin/ghettoVCB.sh -m {vm} -g /etc/ghettovcb/ghettoVCB.conf"
    " >> /tmp/ghettoVCB-{slug}.log 2>&1"
)
# What a --command template may name: each is replaced by one quoted shell word.
PLACEHOLDERS = ("vm", "slug", "host", "datastores", "level")


def cron_fields(when: datetime, repeat: str) -> str:
    """minute hour day-of-month month day-of-week for a start at ``when`` (wall clock)."""
    if repeat == "daily":
        return f"{when.minute} {when.hour} * * *"
    if repeat == "weekly":
        return f"{when.minute} {when.hour} * * {(when.weekday() + 1) % 7}"
    return f"{when.minute} {when.hour} {when.day} {when.month} *"


def parse_template(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder or None) pairs of a ``--command`` template.

    Only bare ``{name}`` fields of :data:`PLACEHOLDERS` are allowed: no attribute or index
    access, conversion or format spec (``str.format`` would evaluate them). The template is
    the admin's own shell code; its literal ``%`` are escaped for cron, ``{{``/``}}`` are
    literal braces.
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InputError(f"{visible(template)!r}: {exc}", field="--command") from None
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parts:
        if name is not None and (name not in PLACEHOLDERS or spec or conversion):
            raise InputError(
                f"{visible(template)!r}: unknown placeholder {{{visible(name)}}}"
                f" (use {', '.join('{' + p + '}' for p in PLACEHOLDERS)})",
                field="--command",
            )
        if "\n" in literal or "\r" in literal:
            raise InputError("the command template must be one line", field="--command")
        out.append((literal, name))
    return out


def command_for(
    job: ScheduledJob, ident: Identity, slug: str, template: list[tuple[str, str | None]]
) -> str:
    values = {
        "vm": ident.name,
        "slug": slug,
        "host": job.host,
        "datastores": ",".join(job.datastores),
        "level": job.level or "full",
    }
    # In a crontab an unescaped % ends the command and starts its standard input.
    return "".join(
        literal.replace("%", "\\%") + (cron_word(values[name]) if name else "")
        for literal, name in template
    )


def _tiered_header(
    schedule: Schedule, template: list[tuple[str, str | None]], default: bool
) -> list[str]:
    """What a tiered crontab must tell its reader: who carries the level, and the tier
    scripts cron cannot run (they belong in the guest, before and after the snapshot)."""
    if default:
        out = [
            "# Tiered: one line per job, each comment says its level (full or incremental).",
            "# ghettoVCB has no incremental mode: every line copies the whole VM, so a planned",
            "# incremental runs as long as a full and the plan's timing does not hold. Export",
            "# with --command and {level} for a tool that backs up incrementally.",
        ]
    elif any(name == "level" for _, name in template):
        out = ["# Tiered: one line per job; the command gets its level ({level})."]
    else:
        out = [
            "# Tiered: one line per job. The command template names no {level}: every line",
            "# runs the same command whatever its planned level (full or incremental).",
        ]
    for tier in schedule.inputs.policy.tiers:
        for when, script in (("pre", tier.pre_script), ("post", tier.post_script)):
            if script is not None:
                out.append(
                    cron_comment(
                        f"tier {tier.name} {when}_script, not run by cron (run it in the"
                        f" guest {'before' if when == 'pre' else 'after'} the snapshot): {script}"
                    )
                )
    return out


def render(schedule: Schedule, options: ExportOptions) -> str:
    use_utc = options.extra.get("utc", "").lower() in ("1", "yes", "true")
    template = parse_template(options.command or DEFAULT_COMMAND)
    zone = check_zone(schedule)
    ids = identities(schedule)
    slug_of = slugs(j.vm for j in schedule.jobs)
    repeat = repeat_of(schedule)
    lines = [
        "# Generated by stagger from a validated schedule: re-export rather than edit.",
        f"# {len(schedule.jobs)} jobs, cycle of {len(schedule.nights)} night(s) from"
        f" {schedule.cycle_start}, repeated {repeat}; makespan {schedule.makespan_min} min.",
        "# Install the lines of each host into that host's crontab (on ESXi:"
        " /var/spool/cron/crontabs/root).",
    ]
    if use_utc:
        lines += [
            "# Times are UTC (ESXi's crond has no CRON_TZ); re-export when daylight saving",
            cron_comment(f"changes in {zone.key}."),
        ]
    else:
        lines += [f"CRON_TZ={zone.key}"]
    for u in schedule.unscheduled:
        lines.append(cron_comment(f"NOT SCHEDULED: {u.vm}: {u.reason}"))
    tiered = is_tiered(schedule)
    if tiered:
        lines += _tiered_header(schedule, template, default=options.command is None)
    jobs = sorted(schedule.jobs, key=lambda j: (j.host, utc(j.start), j.vm))
    for host, group in groupby(jobs, key=lambda j: j.host):
        members = list(group)
        cluster = members[0].cluster
        in_cluster = f" (cluster {cluster})" if cluster else ""
        lines += ["", cron_comment(f"=== host {host}{in_cluster} ===")]
        for j in members:
            start = j.start.astimezone(UTC) if use_utc else local(schedule, j.start)
            end = j.end.astimezone(UTC) if use_utc else local(schedule, j.end)
            ident = ids[j.vm]
            known_as = f" (vCenter: {ident.name})" if ident.name != j.vm else ""
            if tiered:
                known_as += f", {j.level or 'full'}" + (f" (tier {j.tier})" if j.tier else "")
            lines.append(
                cron_comment(
                    f"{j.vm}{known_as}: host {j.host}; datastores {', '.join(j.datastores) or '-'};"
                    f" RAID {', '.join(j.raid_groups) or '-'}; {j.size_gib:g} GiB;"
                    f" {start:%Y-%m-%d %H:%M}-{end:%H:%M} ({j.duration_min} min)"
                )
            )
            command = command_for(j, ident, slug_of[j.vm], template)
            lines.append(f"{cron_fields(start, repeat)} {command}")
    return "\n".join(lines) + "\n"
