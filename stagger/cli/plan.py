"""`stagger plan`, `stagger validate`, `stagger show`, `stagger schema`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import typer
from pydantic import BaseModel
from rich.table import Table

from stagger.atomic import OutputSet, write_text_atomic
from stagger.cli.app import app, console, err_console, handle_errors
from stagger.cli.common import (
    SolverChoice,
    blackouts_option,
    check_infra,
    load_baseline,
    load_checked_infra,
    raid_map_option,
    seed_option,
    solver_option,
    workers_option,
)
from stagger.cli.outputs import commit, parse_export_spec
from stagger.cli.text import as_text
from stagger.cli.vcenter_options import (
    VCenterArgs,
    print_warnings,
    read_estate,
    vcenter_options,
)
from stagger.errors import ExitCode, InputError
from stagger.exporters.jsoncsv import schedule_csv, schedule_json
from stagger.exporters.registry import render
from stagger.fmt import hm, use_amount
from stagger.infrastructure import ignored_pins
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule, ScheduledJob
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, PlanResult, plan
from stagger.sources.yamlfile import (
    load_infrastructure,
    load_inputs,
    load_schedule,
    with_policy,
)
from stagger.tiers import is_tiered, tier_warnings
from stagger.validate import find_violations, makespan_min


def render_summary(result: PlanResult) -> None:
    s = result.schedule
    tbl = Table(title="Plan", show_header=False, title_justify="left")
    tbl.add_column(style="bold")
    tbl.add_column()
    tbl.add_row("jobs", f"{len(s.jobs)} planned, {len(s.unscheduled)} unscheduled")
    tbl.add_row("nights", str(len(s.nights)))
    tbl.add_row("makespan", f"{hm(s.makespan_min)} (worst night)")
    bound = result.bound
    why = ""
    if bound.reason and bound.makespan * result.instance.slot_minutes == s.lower_bound_min:
        why = f" ({as_text(bound.reason)})"  # the rule that set it (stagger.solve.bounds)
    tbl.add_row("lower bound", hm(s.lower_bound_min) + why)
    tbl.add_row("gap", s.gap_text())
    solver = s.solver
    greedy = f", greedy {hm(solver.greedy_makespan_min)}" if solver.greedy_makespan_min else ""
    stopped = " (interrupted: best plan so far)" if solver.interrupted else ""
    if solver.wall_limit_hit:
        stopped += " (stopped on the wall-clock limit: may not be reproducible)"
    tbl.add_row("solver", f"{solver.name} {solver.status}{greedy}, {result.wall_s:.1f} s{stopped}")
    if solver.incremental_vms:
        tbl.add_row(
            "incrementals",
            f"at one clock time: {solver.incremental_vms_one_clock} of"
            f" {solver.incremental_vms} VMs",
        )
    console.print(tbl)
    if len(s.nights) > 1:
        # A tiered week also shows each night's fulls, so an admin sees they are staggered;
        # the single regime's table stays as it was.
        levels = _night_levels(s) if is_tiered(s) else None
        nt = Table(title="Nights", title_justify="left")
        extra = ("fulls", "full time", "incr.") if levels is not None else ()
        # A tiered cycle has a lower bound per night (stagger.solve.bound_nights).
        per_night = bound.nights if len(bound.nights) == len(s.nights) else ()
        bound_col = ("bound",) if per_night else ()
        for c in ("night", "window", "jobs", *extra, "last end", "makespan", *bound_col):
            nt.add_column(c)
        for n in s.nights:
            cells = []
            if levels is not None:
                fulls, full_min, incrementals = levels.get(n.index, (0, 0, 0))
                cells = [str(fulls), hm(full_min), str(incrementals)]
            row = [
                str(n.index),
                f"{n.window_start:%a %d %b %H:%M} - {n.window_end:%H:%M}",
                str(n.jobs),
                *cells,
                f"{n.last_end:%H:%M}" if n.last_end else "-",
                hm(n.makespan_min),
            ]
            if per_night:
                row.append(hm(per_night[n.index] * result.instance.slot_minutes))
            nt.add_row(*row)
        console.print(nt)
    busy = Table(title="Busiest resources", title_justify="left")
    for c in ("resource", "jobs", "backups", "free window", "use"):
        busy.add_column(c)
    for u in s.utilisation[:5]:
        busy.add_row(
            as_text(f"{u.kind.replace('_', ' ')} {u.name}"),
            str(u.jobs),
            use_amount(u.kind, u.busy_min),
            use_amount(u.kind, u.free_min),
            f"{u.utilisation_pct:.0f} %",
        )
    console.print(busy)
    for b in s.bottlenecks:
        console.print(f"[bold yellow]bottleneck:[/] {as_text(b)}", highlight=False)
    for miss in s.unscheduled[:20]:
        console.print(
            f"[yellow]unscheduled[/] {as_text(miss.vm)}: {as_text(miss.reason)}", highlight=False
        )
    if len(s.unscheduled) > 20:
        console.print(f"[yellow]... and {len(s.unscheduled) - 20} more unscheduled VMs[/]")


def _night_levels(schedule: Schedule) -> dict[int, tuple[int, int, int]]:
    """Night index -> (fulls, minutes of fulls, incrementals) of a tiered schedule."""
    out: dict[int, tuple[int, int, int]] = {}
    for job in schedule.jobs:
        fulls, full_min, incrementals = out.get(job.night, (0, 0, 0))
        if job.level == "full":
            out[job.night] = (fulls + 1, full_min + job.duration_min, incrementals)
        else:
            out[job.night] = (fulls, full_min, incrementals + 1)
    return out


def run_plan(
    topology: Topology,
    policy: Policy,
    options: PlanOptions,
    infrastructure: Infrastructure | None = None,
) -> PlanResult:
    """Plan with a live status line showing the best makespan found so far."""
    with console.status("compiling the estate...") as status:

        def on_stage(text: str) -> None:
            status.update(f"solving: {text}")

        def progress(span: int, wall: float, _bound: float) -> None:
            minutes = span * topology_slot
            status.update(f"solving: best makespan {hm(minutes)} after {wall:.1f} s")

        topology_slot = policy.slot_minutes
        options.progress = progress
        return plan(topology, policy, options, on_stage=on_stage, infrastructure=infrastructure)


@app.command("plan")
@vcenter_options()
def plan_cmd(
    vc: VCenterArgs,
    topology: Path | None = typer.Argument(
        None, help="Topology file (YAML or JSON); or plan straight from --vcenter."
    ),
    policy: Path = typer.Option(..., "--policy", "-p", help="Policy file (YAML or JSON)."),
    output: Path = typer.Option(..., "--output", "-o", help="Schedule JSON to write."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the schedule as CSV."),
    raid_map: Path | None = raid_map_option(
        "RAID group map (YAML/CSV) to apply to TOPOLOGY first."
    ),
    time_limit: float | None = typer.Option(
        None,
        "--time-limit",
        help="Wall seconds for the whole plan, kept (default: no wall limit; a deterministic"
        " budget by estate size, 10-240 s x 0.1).",
    ),
    deterministic_budget: float | None = typer.Option(
        None,
        "--deterministic-budget",
        help="CP-SAT deterministic time for the search (reproducible work count; default:"
        " 0.1 per second of --time-limit).",
    ),
    solver: SolverChoice = solver_option(),
    seed: int = seed_option(),
    workers: int = workers_option(),
    export: list[str] = typer.Option(
        [], "--export", help="Also export, FMT:OUT (e.g. html:plan.html); repeatable."
    ),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="Previous schedule: keep its jobs where they are if possible."
    ),
    tolerance: int = typer.Option(
        0, "--makespan-tolerance", help="With --baseline: minutes a night may grow to avoid moves."
    ),
    blackouts: list[Path] = blackouts_option(),
    infra: Path | None = typer.Option(
        None,
        "--infra",
        help="Backup infrastructure file (proxies, transport modes, repositories): each job"
        " gets a proxy, mode and repository within their task slots and ingest"
        " (docs/infrastructure.md).",
    ),
) -> None:
    """Plan the backup jobs of TOPOLOGY under POLICY and write a validated schedule.

    Exit codes: 0 every VM planned, 1 bad input (with --infra, or a --baseline planned with
    one, also a VM no proxy can process), 2 planned with unscheduled VMs, 4 the --baseline
    disagrees with its inputs, 64 usage error.
    """
    with handle_errors():
        exports = [parse_export_spec(spec) for spec in export]
        outputs = OutputSet()
        # Refuse bad output paths before a long solve, and again when writing.
        outputs.check([output, *([csv] if csv else []), *(out for _, out in exports)])
        if topology is not None and not vc.given:
            topo, pol = load_inputs(topology, policy, raid_map, blackouts)
        else:
            estate = read_estate(topology, vc)
            topo, pol = with_policy(estate.topology, policy, raid_map, blackouts)
        warn_if_empty(topo)
        print_warnings(tier_warnings(pol, topo))
        infrastructure = None
        if infra is not None:
            infrastructure = load_checked_infra(
                infra,
                topo,
                pol,
                topology_file=str(topology) if topology is not None else None,
                policy_file=str(policy),
            )
        else:
            print_warnings(ignored_pins(topo, pol))
        chosen: Literal["cpsat", "greedy"] = "cpsat" if solver is SolverChoice.cpsat else "greedy"
        opts = PlanOptions(
            solver=chosen,
            time_limit_s=time_limit,
            deterministic_budget=deterministic_budget,
            seed=seed,
            workers=workers,
        )
        if baseline is not None:
            from stagger.whatif import replan

            base = load_baseline(baseline)
            if infrastructure is None and base.inputs.infrastructure is not None:
                # The baseline's own file (--infra, when given, wins), checked against the
                # estate as --infra is.
                check_infra(
                    base.inputs.infrastructure,
                    topo,
                    pol,
                    infra_file=f"{baseline} (inputs.infrastructure)",
                    topology_file=str(topology) if topology is not None else None,
                    policy_file=str(policy),
                )
            with console.status("re-planning against the baseline..."):
                stable = replan(
                    topo, pol, base, opts, tolerance_min=tolerance, infrastructure=infrastructure
                )
            result = stable.plan
            other = (
                f", {stable.stats.reassigned} to another proxy, mode or repository"
                if result.schedule.inputs.infrastructure is not None
                else ""
            )
            console.print(
                f"stability: {stable.stats.moved} jobs moved ({stable.stats.forced} had to"
                f"{other}), {stable.stats.kept} kept, {stable.stats.new} new",
                highlight=False,
            )
        else:
            result = run_plan(topo, pol, opts, infrastructure)
        outputs.add_text(output, schedule_json(result.schedule))
        if csv is not None:
            outputs.add_text(csv, schedule_csv(result.schedule))
        for fmt, out in exports:
            # plan() already validated the schedule against these very inputs.
            outputs.add_text(out, render(result.schedule, fmt.name))
        commit(outputs)
        render_summary(result)
        written = [output, *([csv] if csv else []), *(out for _, out in exports)]
        console.print("wrote " + ", ".join(as_text(p) for p in written), highlight=False)
        if result.schedule.unscheduled:
            raise typer.Exit(ExitCode.UNSCHEDULED)


def warn_if_empty(topology: Topology) -> None:
    """An estate in which no VM needs a backup is almost always a wrong file or filter."""
    need = sum(1 for v in topology.vms if v.needs_backup)
    if need == 0:
        err_console.print(
            f"[yellow]warning:[/] no VM needs a backup ({len(topology.vms)} VMs, all templates"
            " or excluded): the plan is empty",
            highlight=False,
        )


@app.command("validate")
def validate_cmd(
    topology: Path = typer.Argument(..., help="Topology file."),
    policy: Path = typer.Argument(..., help="Policy file."),
    schedule: Path = typer.Argument(..., help="Schedule JSON."),
    blackouts: list[Path] = blackouts_option(),
    infra: Path | None = typer.Option(
        None,
        "--infra",
        help="Infrastructure file to check the jobs' proxies, modes and repositories"
        " against (default: the one the schedule was planned with, if any).",
    ),
) -> None:
    """Re-check SCHEDULE against TOPOLOGY and POLICY without the solver.

    Exit codes: 0 valid, 1 bad input, 4 the schedule breaks a rule (each one is listed).
    """
    with handle_errors():
        topo, pol = load_inputs(topology, policy, blackouts=blackouts)
        print_warnings(tier_warnings(pol, topo))
        infrastructure = load_infrastructure(infra) if infra is not None else None
        sched = load_schedule(schedule)
        violations = find_violations(sched, topo, pol, infrastructure=infrastructure)
        if violations:
            for v in violations:
                console.print(f"[red]violation[/] {as_text(v)}", highlight=False)
            console.print(f"[bold red]{as_text(schedule)}: {len(violations)} violation(s)[/]")
            raise typer.Exit(ExitCode.INVALID_SCHEDULE)
        console.print(
            f"[green]valid[/]: {len(sched.jobs)} jobs, {len(sched.unscheduled)} unscheduled,"
            f" makespan {hm(makespan_min(sched, pol))}",
            highlight=False,
        )


@app.command("show")
def show_cmd(
    schedule: Path = typer.Argument(..., help="Schedule JSON."),
    host: str | None = typer.Option(None, "--host", help="Only jobs on this host."),
    datastore: str | None = typer.Option(None, "--datastore", help="Only jobs on this datastore."),
    raid_group: str | None = typer.Option(
        None, "--raid-group", help="Only jobs on this RAID group."
    ),
    cluster: str | None = typer.Option(None, "--cluster", help="Only jobs in this cluster."),
    vm: str | None = typer.Option(None, "--vm", help="Only this VM (name or vCenter name)."),
    night: int | None = typer.Option(None, "--night", help="Only this night (0 = first)."),
) -> None:
    """Print a schedule as a table (times in the policy's zone), optionally filtered.

    Exit codes: 0 shown, 1 bad input or a filter that matches no job.
    """
    with handle_errors():
        sched = load_schedule(schedule)
        tz = sched.inputs.policy.tz
        filters: list[tuple[str, object, Callable[[ScheduledJob], bool]]] = [
            ("--host", host, lambda j: j.host == host),
            ("--datastore", datastore, lambda j: datastore in j.datastores),
            ("--raid-group", raid_group, lambda j: raid_group in j.raid_groups),
            ("--cluster", cluster, lambda j: j.cluster == cluster),
            ("--vm", vm, lambda j: vm in (j.vm, j.vm_display_name)),
            ("--night", night, lambda j: j.night == night),
        ]
        active = [(opt, value, keep) for opt, value, keep in filters if value is not None]
        missed = {u.vm for u in sched.unscheduled if vm is not None and u.vm == vm}
        for opt, value, keep in active:
            if not any(keep(j) for j in sched.jobs) and not (opt == "--vm" and missed):
                raise InputError(f"{value!r} matches no job in the schedule", field=opt)
        jobs = [j for j in sched.jobs if all(keep(j) for _, _, keep in active)]
        if active and not jobs and not missed:
            given = " ".join(f"{opt} {value!r}" for opt, value, _ in active)
            raise InputError(f"no job matches all of {given}", file=str(schedule))
        tbl = Table(
            title=f"{as_text(schedule)} ({len(jobs)} of {len(sched.jobs)} jobs, {tz.key})",
            title_justify="left",
        )
        # Times and numbers never wrap; long names and lists fold (never cut off: an admin
        # must see the whole name).
        for c in ("night", "date"):
            tbl.add_column(c, no_wrap=True)
        for c in ("vm", "host", "datastores", "raid groups"):
            tbl.add_column(c, overflow="fold")
        for c in ("start", "end"):
            tbl.add_column(c, no_wrap=True)
        tbl.add_column("min", justify="right", no_wrap=True)
        tbl.add_column("GiB", justify="right", no_wrap=True)
        for j in jobs:
            start, end = j.start.astimezone(tz), j.end.astimezone(tz)
            tbl.add_row(
                str(j.night),
                f"{start:%a %d %b}",
                as_text(j.vm),
                as_text(j.host),
                as_text(", ".join(j.datastores)),
                as_text(", ".join(j.raid_groups)),
                f"{start:%H:%M}",
                f"{end:%H:%M}" + (f" {end:%a}" if end.date() != start.date() else ""),
                str(j.duration_min),
                f"{j.size_gib:,.0f}",
            )
        console.print(tbl)
        for u in sched.unscheduled:
            if vm is None or u.vm == vm:
                console.print(
                    f"[yellow]unscheduled[/] {as_text(u.vm)}: {as_text(u.reason)}", highlight=False
                )


@app.command("schema")
def schema_cmd(
    which: str = typer.Argument(..., help="topology, policy, schedule or infrastructure."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Print the JSON Schema of an input or output file, for editors and CI checks."""
    with handle_errors():
        models: dict[str, type[BaseModel]] = {
            "topology": Topology,
            "policy": Policy,
            "schedule": Schedule,
            "infrastructure": Infrastructure,
        }
        if which not in models:
            raise typer.BadParameter(
                "use topology, policy, schedule or infrastructure", param_hint="WHICH"
            )
        text = json.dumps(models[which].model_json_schema(), indent=2) + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            write_text_atomic(output, text)
