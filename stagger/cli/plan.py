"""`stagger plan`, `stagger validate`, `stagger show`, `stagger schema`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer
from rich.table import Table

from stagger.atomic import write_text_atomic
from stagger.cli.app import app, console, handle_errors
from stagger.cli.inventory import estate_from
from stagger.exporters.jsoncsv import write_csv, write_json
from stagger.exporters.registry import export_to, parse_spec
from stagger.fmt import hm
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule
from stagger.model.topology import Topology
from stagger.planner import PlanOptions, PlanResult, plan
from stagger.sources.yamlfile import load_inputs, load_schedule, with_policy
from stagger.validate import find_violations


def render_summary(result: PlanResult) -> None:
    s = result.schedule
    tbl = Table(title="Plan", show_header=False, title_justify="left")
    tbl.add_column(style="bold")
    tbl.add_column()
    tbl.add_row("jobs", f"{len(s.jobs)} planned, {len(s.unscheduled)} unscheduled")
    tbl.add_row("nights", str(len(s.nights)))
    tbl.add_row("makespan", f"{hm(s.makespan_min)} (worst night)")
    tbl.add_row("lower bound", hm(s.lower_bound_min))
    tbl.add_row("gap", s.gap_text())
    solver = s.solver
    greedy = f", greedy {hm(solver.greedy_makespan_min)}" if solver.greedy_makespan_min else ""
    stopped = " (interrupted: best plan so far)" if solver.interrupted else ""
    if solver.wall_limit_hit:
        stopped += " (stopped on the wall-clock limit: may not be reproducible)"
    tbl.add_row("solver", f"{solver.name} {solver.status}{greedy}, {result.wall_s:.1f} s{stopped}")
    console.print(tbl)
    if len(s.nights) > 1:
        nt = Table(title="Nights", title_justify="left")
        for c in ("night", "window", "jobs", "last end", "makespan"):
            nt.add_column(c)
        for n in s.nights:
            nt.add_row(
                str(n.index),
                f"{n.window_start:%a %d %b %H:%M} - {n.window_end:%H:%M}",
                str(n.jobs),
                f"{n.last_end:%H:%M}" if n.last_end else "-",
                hm(n.makespan_min),
            )
        console.print(nt)
    busy = Table(title="Busiest resources", title_justify="left")
    for c in ("resource", "jobs", "backups", "free window", "use"):
        busy.add_column(c)
    for u in s.utilisation[:5]:
        busy.add_row(
            f"{u.kind.replace('_', ' ')} {u.name}",
            str(u.jobs),
            hm(u.busy_min),
            hm(u.free_min),
            f"{u.utilisation_pct:.0f} %",
        )
    console.print(busy)
    for b in s.bottlenecks:
        console.print(f"[bold yellow]bottleneck:[/] {b}", highlight=False)
    for miss in s.unscheduled[:20]:
        console.print(f"[yellow]unscheduled[/] {miss.vm}: {miss.reason}", highlight=False)
    if len(s.unscheduled) > 20:
        console.print(f"[yellow]... and {len(s.unscheduled) - 20} more unscheduled VMs[/]")


def run_plan(topology: Topology, policy: Policy, options: PlanOptions) -> PlanResult:
    """Plan with a live status line showing the best makespan found so far."""
    with console.status("compiling the estate...") as status:

        def on_stage(text: str) -> None:
            status.update(f"solving: {text}")

        def progress(span: int, wall: float, _bound: float) -> None:
            minutes = span * topology_slot
            status.update(f"solving: best makespan {hm(minutes)} after {wall:.1f} s")

        topology_slot = policy.slot_minutes
        options.progress = progress
        return plan(topology, policy, options, on_stage=on_stage)


@app.command("plan")
def plan_cmd(
    topology: Path | None = typer.Argument(
        None, help="Topology file (YAML or JSON); or plan straight from --vcenter."
    ),
    policy: Path = typer.Option(..., "--policy", "-p", help="Policy file (YAML or JSON)."),
    output: Path = typer.Option(..., "--output", "-o", help="Schedule JSON to write."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the schedule as CSV."),
    raid_map: Path | None = typer.Option(
        None, "--raid-map", help="RAID group map (YAML/CSV) to apply to TOPOLOGY first."
    ),
    vcenter: str | None = typer.Option(
        None, "--vcenter", help="Read the estate from this vCenter/ESXi instead of TOPOLOGY."
    ),
    user: str | None = typer.Option(
        None, "--user", help="With --vcenter; password from $STAGGER_VSPHERE_PASSWORD or a prompt."
    ),
    port: int = typer.Option(443, "--port", help="With --vcenter."),
    insecure: bool = typer.Option(False, "--insecure", help="With --vcenter: skip TLS checks."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="With --vcenter: CA to trust."),
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
    solver: str = typer.Option("cpsat", "--solver", help="cpsat or greedy."),
    seed: int = typer.Option(0, "--seed", help="Solver seed; same inputs + seed = same plan."),
    workers: int = typer.Option(4, "--workers", help="CP-SAT interleaved workers."),
    export: list[str] = typer.Option(
        [], "--export", help="Also export, FMT:OUT (e.g. html:plan.html); repeatable."
    ),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="Previous schedule: keep its jobs where they are if possible."
    ),
    tolerance: int = typer.Option(
        0, "--makespan-tolerance", help="With --baseline: minutes a night may grow to avoid moves."
    ),
) -> None:
    """Plan the backup jobs of TOPOLOGY under POLICY and write a validated schedule.

    Exit codes: 0 every VM planned, 1 bad input, 2 planned with unscheduled VMs.
    """
    with handle_errors():
        if solver not in ("cpsat", "greedy"):
            raise typer.BadParameter("use cpsat or greedy", param_hint="--solver")
        exports = [parse_spec(spec) for spec in export]
        if topology is not None and vcenter is None:
            topo, pol = load_inputs(topology, policy, raid_map)
        else:
            estate = estate_from(topology, vcenter, user, port, insecure, ca_file)
            topo, pol = with_policy(estate, policy, raid_map)
        chosen: Literal["cpsat", "greedy"] = "cpsat" if solver == "cpsat" else "greedy"
        opts = PlanOptions(
            solver=chosen,
            time_limit_s=time_limit,
            deterministic_budget=deterministic_budget,
            seed=seed,
            workers=workers,
        )
        if baseline is not None:
            from stagger.whatif import replan

            base = load_schedule(baseline)
            with console.status("re-planning against the baseline..."):
                stable = replan(topo, pol, base, opts, tolerance_min=tolerance)
            result = stable.plan
            console.print(
                f"stability: {stable.stats.moved} jobs moved ({stable.stats.forced} had to),"
                f" {stable.stats.kept} kept, {stable.stats.new} new",
                highlight=False,
            )
        else:
            result = run_plan(topo, pol, opts)
        write_json(result.schedule, output)
        if csv is not None:
            write_csv(result.schedule, csv)
        for fmt, out in exports:
            export_to(result.schedule, fmt, out, trust=True)  # plan() already validated it
        render_summary(result)
        console.print(f"wrote {output}" + (f" and {csv}" if csv else ""))
        if result.schedule.unscheduled:
            raise typer.Exit(2)


@app.command("validate")
def validate_cmd(
    topology: Path = typer.Argument(..., help="Topology file."),
    policy: Path = typer.Argument(..., help="Policy file."),
    schedule: Path = typer.Argument(..., help="Schedule JSON."),
) -> None:
    """Re-check SCHEDULE against TOPOLOGY and POLICY without the solver.

    Exit codes: 0 valid, 1 bad input, 4 the schedule breaks a rule (each one is listed).
    """
    with handle_errors():
        topo, pol = load_inputs(topology, policy)
        sched = load_schedule(schedule)
        violations = find_violations(sched, topo, pol)
        if violations:
            for v in violations:
                console.print(f"[red]violation[/] {v}", highlight=False)
            console.print(f"[bold red]{schedule}: {len(violations)} violation(s)[/]")
            raise typer.Exit(4)
        console.print(
            f"[green]valid[/]: {len(sched.jobs)} jobs, {len(sched.unscheduled)} unscheduled,"
            f" makespan {hm(sched.makespan_min)}"
        )


@app.command("show")
def show_cmd(
    schedule: Path = typer.Argument(..., help="Schedule JSON."),
    host: str | None = typer.Option(None, "--host", help="Only jobs on this host."),
    datastore: str | None = typer.Option(None, "--datastore", help="Only jobs on this datastore."),
    night: int | None = typer.Option(None, "--night", help="Only this night (0 = first)."),
) -> None:
    """Print a schedule as a table, optionally filtered."""
    with handle_errors():
        sched = load_schedule(schedule)
        jobs = [
            j
            for j in sched.jobs
            if (host is None or j.host == host)
            and (datastore is None or datastore in j.datastores)
            and (night is None or j.night == night)
        ]
        tbl = Table(
            title=f"{schedule} ({len(jobs)} of {len(sched.jobs)} jobs)", title_justify="left"
        )
        for c in ("vm", "host", "datastores", "raid groups", "start", "end", "min", "GiB"):
            tbl.add_column(c)
        for j in jobs:
            tbl.add_row(
                j.vm,
                j.host,
                ", ".join(j.datastores),
                ", ".join(j.raid_groups),
                f"{j.start:%a %H:%M}",
                f"{j.end:%H:%M}",
                str(j.duration_min),
                f"{j.size_gib:,.0f}",
            )
        console.print(tbl)
        for u in sched.unscheduled:
            console.print(f"[yellow]unscheduled[/] {u.vm}: {u.reason}", highlight=False)


@app.command("schema")
def schema_cmd(
    which: str = typer.Argument(..., help="topology, policy or schedule."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here, not stdout."),
) -> None:
    """Print the JSON Schema of an input or output file, for editors and CI checks."""
    with handle_errors():
        models: dict[str, type[Topology] | type[Policy] | type[Schedule]] = {
            "topology": Topology,
            "policy": Policy,
            "schedule": Schedule,
        }
        if which not in models:
            raise typer.BadParameter("use topology, policy or schedule", param_hint="WHICH")
        text = json.dumps(models[which].model_json_schema(), indent=2) + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            write_text_atomic(output, text)
