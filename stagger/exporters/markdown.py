"""A short Markdown report for a change ticket: what runs when, what limits it, what is left.

Every name, reason and bottleneck goes through :func:`~stagger.exporters.quoting.md_text`, so
it renders as text: no HTML, link, emphasis or code span, and no ``|`` that splits a cell.

A tiered schedule (several jobs per VM, each ``full`` or ``incremental``) gets a level and a
tier column in the job table and, per night, its fulls and incrementals (count and minutes) in
the nights table, so a reviewer sees the week is balanced. A single-regime schedule is written
exactly as before these columns existed (golden files).
"""

from __future__ import annotations

from stagger.exporters._common import (
    check_zone,
    has_infrastructure,
    identities,
    local,
    peak_concurrency,
    peak_of,
    repeat_of,
    utc,
)
from stagger.exporters.options import ExportOptions, check_options
from stagger.exporters.quoting import md_text
from stagger.fmt import hm
from stagger.model.schedule import Schedule
from stagger.tiers import is_tiered

_cell = md_text


def _infrastructure_section(s: Schedule) -> list[str]:
    """Per proxy and repository: its task slots and the plan's jobs on it (count, minutes,
    most at once), so a reviewer sees the assignment the backup product is given."""
    infra = s.inputs.infrastructure
    out = [
        "## Backup infrastructure",
        "",
        "| kind | name | task slots | modes / ingest | jobs | job minutes | peak at once |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    rows: list[tuple[str, str, int | None, str, str]] = []
    for p in infra.proxies if infra is not None else []:
        rows.append(("proxy", p.name, p.max_tasks, ", ".join(p.modes), "proxy"))
    for r in infra.repositories if infra is not None else []:
        rows.append(
            ("repository", r.name, r.max_tasks, f"{r.ingest_mb_per_s:g} MB/s", "repository")
        )
    for kind, name, slots_, what, field in rows:
        mine = [j for j in s.jobs if getattr(j, field) == name]
        out.append(
            f"| {kind} | {_cell(name)} | {slots_} | {what} | {len(mine)} |"
            f" {sum(j.duration_min for j in mine)} | {peak_of(mine)} |"
        )
    return [*out, ""]


def render(schedule: Schedule, options: ExportOptions) -> str:
    check_options(options)
    zone = check_zone(schedule).key
    ids = identities(schedule)
    pol = schedule.inputs.policy
    lim = pol.limits
    s = schedule
    tiered = is_tiered(s)
    out = [
        f"# Backup schedule change: cycle from {s.cycle_start}",
        "",
        "## Summary",
        "",
        f"- **Jobs**: {len(s.jobs)} planned, {len(s.unscheduled)} not scheduled",
        f"- **Window**: {pol.window.start:%H:%M}-{pol.window.end:%H:%M} {zone},"
        f" {len(s.nights)} night(s), repeated {repeat_of(s)}",
        f"- **Makespan**: {hm(s.makespan_min)} (worst night); lower bound"
        f" {hm(s.lower_bound_min)}; gap {s.gap_text()}",
        f"- **Limits**: {lim.per_host} per host, {lim.per_datastore} per datastore,"
        f" {lim.per_raid_group} per RAID group"
        + (f", {lim.concurrent_jobs} concurrent" if lim.concurrent_jobs else "")
        + f"; peak {peak_concurrency(s)} jobs at once",
        f"- **Solver**: {s.solver.name} {s.solver.status}",
        "- **Blackouts respected**: " + (", ".join(_cell(b.name) for b in pol.blackouts) or "none"),
        "",
    ]
    if tiered:
        fulls = sum(1 for j in s.jobs if j.level == "full")
        tiers = sorted({j.tier for j in s.jobs if j.tier is not None})
        out.insert(
            5,
            f"- **Levels**: {fulls} full, {len(s.jobs) - fulls} incremental; tiers "
            + (", ".join(_cell(t) for t in tiers) or "none"),
        )
    if s.bottlenecks:
        out += ["## Bottlenecks", ""] + [f"- {_cell(b)}" for b in s.bottlenecks] + [""]
    if s.unscheduled:
        out += ["## Not scheduled", "", "| VM | reason |", "| --- | --- |"]
        out += [f"| {_cell(u.vm)} | {_cell(u.reason)} |" for u in s.unscheduled] + [""]
    if has_infrastructure(s):
        out += _infrastructure_section(s)
    out += [
        "## Nights",
        "",
        "| night | window | jobs | last end | makespan |",
        "| --- | --- | --- | --- | --- |",
    ]
    if tiered:
        out[-2:] = [
            "| night | window | jobs | fulls | incrementals | full min | incremental min"
            " | last end | makespan |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        ]
    for n in s.nights:
        ws, we = local(s, n.window_start), local(s, n.window_end)
        last = f"{local(s, n.last_end):%H:%M}" if n.last_end else "-"
        load = ""
        if tiered:
            mine = [j for j in s.jobs if j.night == n.index]
            full_min = [j.duration_min for j in mine if j.level == "full"]
            inc_min = [j.duration_min for j in mine if j.level != "full"]
            load = f" {len(full_min)} | {len(inc_min)} | {sum(full_min)} | {sum(inc_min)} |"
        out.append(
            f"| {n.index} | {ws:%a %Y-%m-%d %H:%M}-{we:%H:%M} | {n.jobs} |{load} {last} |"
            f" {hm(n.makespan_min)} |"
        )
    head = "| start | end | VM | vCenter name | host | datastores | RAID groups | GiB | min |"
    rule = "| --- | --- | --- | --- | --- | --- | --- | ---: | ---: |"
    if tiered:
        head += " level | tier |"
        rule += " --- | --- |"
    infra = has_infrastructure(s)
    if infra:
        head += " proxy | mode | repository |"
        rule += " --- | --- | --- |"
    out += ["", "## Jobs", "", head, rule]
    for j in sorted(s.jobs, key=lambda j: (utc(j.start), j.vm)):
        ident = ids[j.vm]
        known = ", ".join(x for x in (ident.name, ident.moref) if x)
        level = f" {j.level or '-'} | {_cell(j.tier) if j.tier else '-'} |" if tiered else ""
        if infra:
            level += (
                f" {_cell(j.proxy) if j.proxy else '-'} | {j.mode or '-'} |"
                f" {_cell(j.repository) if j.repository else '-'} |"
            )
        out.append(
            f"| {local(s, j.start):%a %Y-%m-%d %H:%M} | {local(s, j.end):%H:%M} |"
            f" {_cell(j.vm)} | {_cell(known)} | {_cell(j.host)} |"
            f" {_cell(', '.join(j.datastores) or '-')} |"
            f" {_cell(', '.join(j.raid_groups) or '-')} | {j.size_gib:,.0f} | {j.duration_min} |"
            + level
        )
    out += [
        "",
        "## Rollback",
        "",
        "Re-apply the previous export (backup software configuration or crontab) or disable the"
        f" `{options.prefix}` jobs; the plan changes no VM, host or datastore.",
        "",
    ]
    return "\n".join(out)
