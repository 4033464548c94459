"""`stagger whatif`, `stagger headroom`, `stagger check`: thin wrappers over stagger.whatif."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from stagger.atomic import OutputSet
from stagger.calendar import window_occurrences
from stagger.cli.app import app, console, handle_errors
from stagger.cli.common import (
    check_infra,
    load_baseline,
    load_checked_infra,
    raid_map_option,
    seed_option,
    workers_option,
)
from stagger.cli.outputs import commit
from stagger.cli.text import as_text
from stagger.cli.vcenter_options import (
    VCenterArgs,
    read_estate,
    vcenter_options,
)
from stagger.errors import ExitCode, InputError
from stagger.exporters.jsoncsv import schedule_csv, schedule_json
from stagger.fmt import hm
from stagger.headroom import first_saturated, headroom
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule
from stagger.model.topology import Topology
from stagger.planner import PlanOptions
from stagger.solve.explain import explain_unscheduled
from stagger.sources.raidmap import apply_raid_map_file
from stagger.sources.yamlfile import (
    load_infrastructure,
    load_policy,
    load_schedule,
    load_topology,
    load_vms,
)
from stagger.validate import find_violations
from stagger.whatif import (
    Changes,
    Diff,
    Move,
    MoveDisk,
    ReplanResult,
    Setting,
    apply_changes,
    diff_schedules,
    find_drift,
    replan,
)

# --- option values -> typed changes (the library takes the parsed tuples) ----------------


def parse_move(text: str) -> Move:
    vm, sep, host = text.partition("=")
    if not sep or not vm.strip() or not host.strip():
        raise InputError(f"'{text}' is not VM=HOST", obj="--move")
    return Move(vm.strip(), host.strip())


def parse_move_disk(text: str) -> MoveDisk:
    left, sep, ds = text.partition("=")
    vm, colon, disk = left.partition(":")
    if not (sep and colon and vm.strip() and disk.strip() and ds.strip()):
        raise InputError(f"'{text}' is not VM:DISK=DATASTORE", obj="--move-disk")
    return MoveDisk(vm.strip(), disk.strip(), ds.strip())


def parse_set(text: str) -> Setting:
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise InputError(f"'{text}' is not PATH=VALUE (e.g. window.end=07:00)", obj="--set")
    return Setting(path.strip(), value.strip())


def parse_grow(texts: list[str]) -> list[float]:
    """'10%', '10,20,30', '10%,20%' -> [10.0, 20.0, 30.0] (percent)."""
    out: list[float] = []
    for text in texts:
        for part in text.split(","):
            p = part.strip().removesuffix("%").strip()
            try:
                value = float(p)
            except ValueError:
                raise InputError(f"'{part}' is not a percentage", obj="--grow") from None
            if not 0 <= value < float("inf"):  # also refuses nan
                raise InputError(
                    f"{part.strip()!r} is not a growth (a percentage >= 0)", obj="--grow"
                )
            out.append(value)
    return out


def render_diff(diff: Diff, result: ReplanResult) -> None:
    s = result.stats
    console.print(
        f"[bold]{'fits' if diff.fits else 'does NOT fit'}[/]: {len(diff.added)} added,"
        f" {len(diff.removed)} removed, {len(diff.moved)} moved, {diff.unchanged} unchanged,"
        f" {len(diff.unscheduled)} unscheduled;"
        f" makespan {hm(diff.old_makespan_min)} -> {hm(diff.new_makespan_min)}"
        f" (total shift {hm(s.shift_slots * result.plan.instance.slot_minutes)})",
        highlight=False,
    )
    if diff.tiered:
        _render_fulls(diff)
    if result.schedule.inputs.infrastructure is not None:
        _render_reassigned(diff)
    if diff.added:
        t = Table(title="Added", title_justify="left")
        for c in ("vm", *(("level",) if diff.tiered else ()), "host", "start", "end"):
            t.add_column(c)
        for j in diff.added:
            added_level = (str(j.level),) if diff.tiered else ()
            t.add_row(
                as_text(j.vm),
                *added_level,
                as_text(j.host),
                f"{j.start:%a %H:%M}",
                f"{j.end:%H:%M}",
            )
        console.print(t)
    if diff.moved:
        t = Table(title="Moved", title_justify="left")
        for c in ("vm", *(("level",) if diff.tiered else ()), "old start", "new start", "why"):
            t.add_column(c)
        for m in diff.moved:
            moved_level = (m.level or "",) if diff.tiered else ()
            t.add_row(
                as_text(m.vm),
                *moved_level,
                f"{m.old_start:%a %H:%M}",
                f"{m.new_start:%a %H:%M}",
                as_text(m.why),
            )
        console.print(t)
    for j in diff.ended:
        console.print(
            f"ended {as_text(j.vm)}: its {j.level} of {j.start:%a %H:%M} no longer runs",
            highlight=False,
        )
    for vm in diff.removed:
        console.print(f"removed {as_text(vm)}", highlight=False)
    dropped = set(diff.dropped)
    for u in diff.unscheduled:
        had = " (it had a job in the baseline)" if u.vm in dropped else ""
        console.print(
            f"[yellow]unscheduled[/] {as_text(u.vm)}: {as_text(u.reason)}{had}", highlight=False
        )


def _render_reassigned(diff: Diff) -> None:
    """Jobs now run by another proxy, mode or repository (with an infrastructure file)."""
    other = diff.reassigned
    console.print(f"reassigned: {len(other)} (another proxy, mode or repository)", highlight=False)
    for m in other:
        label = f"{m.vm} {m.level}" if m.level else m.vm
        console.print(
            f"  {as_text(label)} moved {as_text(m.reassignment)}",
            highlight=False,
        )


def _render_fulls(diff: Diff) -> None:
    """Which night's fulls move: each moved full, then the fulls per night that changed."""
    fulls = diff.moved_fulls
    console.print(f"fulls moved: {len(fulls)}", highlight=False)
    for m in fulls:
        console.print(
            f"  full of {as_text(m.vm)} moved {m.old_night_label} -> {m.new_night_label}",
            highlight=False,
        )
    if diff.fulls:
        nights = ", ".join(f"{f.label} {f.old} -> {f.new}" for f in diff.fulls)
        console.print(f"fulls per night (baseline -> new): {nights}", highlight=False)


def _explain(topology: Topology, policy: Policy, result: ReplanResult) -> None:
    """Replace generic reasons by the smallest conflicting set of rules, and print it. With
    an infrastructure file over the compiled jobs and their options, so that the rules name
    proxies and repositories."""
    schedule = result.schedule
    if not schedule.unscheduled:
        return
    compiled = result.compiled if schedule.inputs.infrastructure is not None else None
    why = explain_unscheduled(
        topology, policy, [u.vm for u in schedule.unscheduled], compiled=compiled
    )
    if why is None:
        return
    console.print(f"[bold red]why it does not fit:[/] {as_text(why.summary)}", highlight=False)
    for rule in why.rules:
        console.print(f"  - {as_text(rule.text)}", highlight=False)


def _targets(output: Path | None, csv: Path | None) -> list[Path]:
    return [p for p in (output, csv) if p is not None]


def _write(schedule: Schedule, output: Path | None, csv: Path | None) -> None:
    """The new schedule and its CSV, both or neither."""
    outputs = OutputSet()
    if output is not None:
        outputs.add_text(output, schedule_json(schedule))
    if csv is not None:
        outputs.add_text(csv, schedule_csv(schedule))
    if outputs.items:
        commit(outputs)
        console.print("wrote " + " and ".join(as_text(p) for p in _targets(output, csv)))


@app.command("whatif")
def whatif_cmd(
    topology: Path = typer.Argument(..., help="Topology file (YAML or JSON)."),
    policy: Path = typer.Option(..., "--policy", "-p", help="Policy file."),
    baseline: Path = typer.Option(..., "--baseline", "-b", help="The current schedule JSON."),
    add: Path | None = typer.Option(None, "--add", help="File with a `vms:` list to add."),
    remove: list[str] = typer.Option([], "--remove", help="VM to remove (repeatable)."),
    move: list[str] = typer.Option([], "--move", help="VM=HOST (repeatable)."),
    move_disk: list[str] = typer.Option(
        [], "--move-disk", help="VM:DISK=DATASTORE; DISK is a label, index or datastore."
    ),
    set_: list[str] = typer.Option([], "--set", help="PATH=VALUE, e.g. window.end=07:00."),
    grow: list[str] = typer.Option([], "--grow", help="Grow every VM: 10% or 10,20,30."),
    output: Path | None = typer.Option(None, "--output", "-o", help="New schedule JSON."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the new schedule as CSV."),
    tolerance: int = typer.Option(
        0, "--makespan-tolerance", help="Minutes a night's makespan may grow to avoid moves."
    ),
    time_limit: float | None = typer.Option(None, "--time-limit", help="Solver seconds."),
    seed: int = seed_option(),
    workers: int = workers_option(),
    infra: Path | None = typer.Option(
        None,
        "--infra",
        help="Backup infrastructure file (default: the one the baseline was planned with).",
    ),
) -> None:
    """Apply changes to the estate, re-plan with as few moved jobs as possible, print the diff.

    Exit codes: 0 everything fits, 1 bad input (with an infrastructure file also a VM no
    proxy can process), 2 some VMs do not fit, 4 the baseline disagrees with its inputs.
    """
    with handle_errors():
        OutputSet().check(_targets(output, csv))
        topo = load_topology(topology)
        pol = load_policy(policy)
        base = load_baseline(baseline)
        infrastructure = load_infrastructure(infra) if infra is not None else None
        infra_file = str(infra) if infra is not None else f"{baseline} (inputs.infrastructure)"
        changes = Changes(
            add=load_vms(add) if add else [],
            remove=list(remove),
            move=[parse_move(m) for m in move],
            move_disk=[parse_move_disk(m) for m in move_disk],
            settings=[parse_set(s) for s in set_],
        )
        steps = parse_grow(grow)
        opts = PlanOptions(time_limit_s=time_limit, seed=seed, workers=workers)
        if len(steps) > 1:
            if output or csv:
                # A growth table has one plan per step: which one would be written is unclear.
                raise InputError("-o/--csv need a single --grow step", field="--grow")
            _grow_table(topo, pol, base, changes, steps, opts, tolerance, infrastructure)
            return
        changes.grow_pct = steps[0] if steps else None
        new_topo, new_pol, said = apply_changes(topo, pol, changes)
        for line in said:
            console.print(f"change: {as_text(line)}", highlight=False)
        checked = infrastructure or base.inputs.infrastructure
        if checked is not None:
            # The infrastructure the re-plan uses, against the changed estate.
            check_infra(checked, new_topo, new_pol, infra_file=infra_file)
        with console.status("re-planning..."):
            result = replan(
                new_topo,
                new_pol,
                base,
                opts,
                tolerance_min=tolerance,
                infrastructure=infrastructure,
            )
        diff = diff_schedules(base, result.schedule)
        render_diff(diff, result)
        _explain(new_topo, new_pol, result)
        _write(result.schedule, output, csv)
        if not diff.fits:
            raise typer.Exit(ExitCode.UNSCHEDULED)


def _grow_table(
    topo: Topology,
    pol: Policy,
    base: Schedule,
    changes: Changes,
    steps: list[float],
    opts: PlanOptions,
    tolerance: int,
    infrastructure: Infrastructure | None,
) -> None:
    t = Table(title="Growth", title_justify="left")
    for c in ("growth", "makespan", "moved", "unscheduled", "first saturated resource"):
        t.add_column(c)
    worst = 0
    for pct in steps:
        changes.grow_pct = pct
        new_topo, new_pol, _ = apply_changes(topo, pol, changes)
        with console.status(f"re-planning with {pct:g} % growth..."):
            result = replan(
                new_topo,
                new_pol,
                base,
                opts,
                tolerance_min=tolerance,
                infrastructure=infrastructure,
            )
        s = result.schedule
        label, share = first_saturated(new_topo, new_pol, infrastructure=s.inputs.infrastructure)
        worst = max(worst, len(s.unscheduled))
        t.add_row(
            f"{pct:g} %",
            hm(s.makespan_min),
            str(result.stats.moved),
            str(len(s.unscheduled)),
            as_text(f"{label} ({share:.0f} %)" + (" saturated" if share >= 100 else "")),
        )
    console.print(t)
    if worst:
        raise typer.Exit(ExitCode.UNSCHEDULED)


@app.command("headroom")
def headroom_cmd(
    topology: Path = typer.Argument(..., help="Topology file."),
    policy: Path = typer.Option(..., "--policy", "-p", help="Policy file."),
    size_gib: float = typer.Option(500.0, "--size-gib", help="Size of the VMs to fit."),
    limit: int = typer.Option(0, "--top", help="Show only the N tightest resources (0: all)."),
    infra: Path | None = typer.Option(
        None, "--infra", help="Infrastructure file: also proxies and repositories."
    ),
) -> None:
    """Free window minutes per host, datastore and RAID group, and how many more VMs fit.

    With --infra also per proxy (task time), repository (task time) and repository ingest
    (time at its full rate). Exit codes: 0 shown, 1 bad input (a VM no proxy reaches too).
    """
    with handle_errors():
        if size_gib <= 0:
            raise typer.BadParameter("must be > 0", param_hint="--size-gib")
        pol = load_policy(policy)
        topo = load_topology(topology)
        infrastructure = None
        if infra is not None:
            infrastructure = load_checked_infra(
                infra, topo, pol, topology_file=str(topology), policy_file=str(policy)
            )
        rows = headroom(topo, pol, size_gib, infrastructure=infrastructure)
        t = Table(title=f"Headroom for {size_gib:g} GiB VMs", title_justify="left")
        # Tiered estates: the night with the most work per resource (stagger.headroom).
        nights = any(h.worst_night is not None for h in rows)
        dates = [o.date for o in window_occurrences(pol)]
        for c in ("resource", "jobs", "free window", "busy", "spare", "use", "more VMs"):
            t.add_column(c)
        if nights:
            t.add_column("worst night (busy / window)")
        for h in rows[: limit or None]:
            worst: tuple[str, ...] = ()
            if nights:
                worst = (
                    (
                        f"{dates[h.worst_night]:%a %d %b}"
                        f" {hm(h.worst_night_busy_min)} / {hm(h.worst_night_free_min)}",
                    )
                    if h.worst_night is not None
                    else ("-",)
                )
            t.add_row(
                as_text(f"{h.kind.replace('_', ' ')} {h.name}"),
                str(h.jobs),
                hm(h.free_min),
                hm(h.busy_min),
                hm(h.spare_min),
                f"{h.utilisation_pct:.0f} %",
                str(h.more_vms),
                *worst,
            )
        console.print(t)
        for h in rows[: limit or None]:
            if h.kind in ("proxy", "repository", "ingest"):
                console.print(as_text(h.summary), highlight=False)


@app.command("check")
@vcenter_options()
def check_cmd(
    vc: VCenterArgs,
    schedule: Path = typer.Argument(..., help="Schedule JSON to check."),
    topology: Path | None = typer.Option(None, "--topology", "-t", help="The current topology."),
    raid_map: Path | None = raid_map_option("RAID group map to apply to the current estate."),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Policy (default: the one the schedule was planned with)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the repaired plan."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write the repair as CSV."),
    time_limit: float | None = typer.Option(None, "--time-limit", help="Solver seconds."),
    seed: int = seed_option(),
) -> None:
    """Find jobs made stale by DRS / Storage vMotion and propose the minimal repair.

    Exit codes: 0 nothing drifted (or -o wrote a complete repair), 1 bad input, 2 drift found.
    """
    with handle_errors():
        OutputSet().check(_targets(output, csv))
        sched = load_schedule(schedule)
        topo = read_estate(topology, vc).topology
        if raid_map is not None:
            topo = apply_raid_map_file(topo, raid_map).topology
        pol = load_policy(policy) if policy else sched.inputs.policy
        drift = find_drift(sched, topo)
        violations = find_violations(sched, topo, pol)
        for d in drift:
            console.print(f"[yellow]drift[/] {as_text(d.vm)}: {as_text(d.detail)}", highlight=False)
        for v in violations:
            console.print(f"[red]invalid[/] {as_text(v)}", highlight=False)
        if not drift and not violations:
            console.print(f"[green]ok[/]: {len(sched.jobs)} jobs still match the estate")
            return
        with console.status("repairing..."):
            result = replan(topo, pol, sched, PlanOptions(time_limit_s=time_limit, seed=seed))
        diff = diff_schedules(sched, result.schedule)
        console.print("[bold]minimal repair:[/]")
        render_diff(diff, result)
        _explain(topo, pol, result)
        _write(result.schedule, output, csv)
        if output is None or not diff.fits:
            raise typer.Exit(ExitCode.UNSCHEDULED)
