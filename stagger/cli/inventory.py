"""`stagger inventory vcenter|rvtools` and `stagger audit`: parse, call the library, render."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from stagger.atomic import check_target, write_text_atomic
from stagger.audit import CHECKS, AuditReport, AuditSettings, audit, parse_fail_on
from stagger.cli.app import app, console, err_console, handle_errors
from stagger.cli.text import shown
from stagger.cli.vcenter_options import (
    VCenterArgs,
    print_warnings,
    read_estate,
    vcenter_options,
)
from stagger.errors import InputError
from stagger.model.topology import Topology
from stagger.sources.raidmap import apply_raid_map_file
from stagger.sources.yamlfile import dump_yaml

inventory_app = typer.Typer(
    help="Read the estate from vCenter/ESXi or an RVTools export into a topology file.",
    no_args_is_help=True,
)
app.add_typer(inventory_app, name="inventory")


def _warn(warnings: list[str]) -> None:
    print_warnings(warnings)  # names as text, never Rich markup


def _with_raid_map(topo: Topology, raid_map: Path | None) -> Topology:
    if raid_map is None:
        return topo
    res = apply_raid_map_file(topo, raid_map)
    for m in res.unused_members:
        err_console.print(
            f"[yellow]warning:[/] raid map member matches no datastore: {shown(m)}",
            highlight=False,
        )
    if res.unmapped:
        listed = ", ".join(res.unmapped[:8]) + (" ..." if len(res.unmapped) > 8 else "")
        err_console.print(
            f"[yellow]warning:[/] {len(res.unmapped)} datastores in no RAID group "
            f"(only datastore and host limits apply): {shown(listed)}",
            highlight=False,
            soft_wrap=True,
        )
    return res.topology


def _summary(topo: Topology, out: Path | None, extra: str = "") -> None:
    tbl = Table(title="Inventory", show_header=False, title_justify="left")
    tbl.add_column(style="bold")
    tbl.add_column()
    tbl.add_row("VMs", str(len(topo.vms)))
    tbl.add_row("disks", str(sum(len(v.disks) for v in topo.vms)))
    tbl.add_row("hosts / clusters", f"{len(topo.hosts)} / {len(topo.clusters)}")
    tbl.add_row("datastores / RAID groups", f"{len(topo.datastores)} / {len(topo.raid_groups)}")
    if extra:
        tbl.add_row("source", shown(extra))
    if out is not None:
        tbl.add_row("written", shown(out))
    console.print(tbl)


@inventory_app.command("vcenter")
@vcenter_options(required=True)
def inventory_vcenter(
    vc: VCenterArgs,
    raid_map: Path | None = typer.Option(None, "--raid-map", help="RAID group map (YAML or CSV)."),
    output: Path = typer.Option(..., "-o", "--output", help="Topology file to write."),
) -> None:
    """Read VMs, hosts, clusters and datastores from a live vCenter in one bulk retrieval."""
    with handle_errors():
        check_target(output)  # before the retrieval, not after it
        estate = read_estate(None, vc)
        topo = _with_raid_map(estate.topology, raid_map)
        write_text_atomic(output, dump_yaml(topo))
        _summary(topo, output, estate.detail)


@inventory_app.command("rvtools")
def inventory_rvtools(
    path: Path = typer.Argument(..., help="RVTools .xlsx, or a folder of its CSV exports."),
    raid_map: Path | None = typer.Option(None, "--raid-map", help="RAID group map (YAML or CSV)."),
    strict: bool = typer.Option(False, "--strict", help="Fail when a VM's datastore is unknown."),
    output: Path = typer.Option(..., "-o", "--output", help="Topology file to write."),
) -> None:
    """Read an RVTools export (4.x or 3.x headers)."""
    with handle_errors():
        from stagger.sources.rvtools import load_rvtools

        check_target(output)
        inv = load_rvtools(path, strict=strict)
        _warn(inv.warnings)
        topo = _with_raid_map(inv.topology, raid_map)
        write_text_atomic(output, dump_yaml(topo))
        _summary(topo, output, f"{path}: {inv.templates_skipped} templates skipped")


def _render_report(report: AuditReport) -> None:
    tbl = Table(
        title=f"Pre-backup audit: {report.vms} VMs, {report.datastores} datastores",
        title_justify="left",
    )
    for c in ("check", "severity", "object", "detail"):
        tbl.add_column(c)
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    for f in report.findings:
        tbl.add_row(
            f.check, f"[{colour[f.severity]}]{f.severity}[/]", shown(f.object), shown(f.detail)
        )
    if report.findings:
        console.print(tbl)
    counts = Table(title="Summary", title_justify="left")
    counts.add_column("check")
    counts.add_column("findings", justify="right")
    for c, n in report.counts.items():
        counts.add_row(c, str(n))
    console.print(counts)


@app.command("audit")
@vcenter_options()
def audit_cmd(
    vc: VCenterArgs,
    topology: Path | None = typer.Option(None, "--topology", "-t", help="A topology file."),
    rvtools: Path | None = typer.Option(
        None, "--rvtools", help="An RVTools export (xlsx or CSV folder)."
    ),
    raid_map: Path | None = typer.Option(None, "--raid-map", help="RAID group map (YAML or CSV)."),
    snapshot_days: float = typer.Option(
        3, "--snapshot-days", help="Flag snapshots older than this."
    ),
    snapshot_gib: float = typer.Option(
        50, "--snapshot-gib", help="Flag snapshots larger than this."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        help=(
            "Exit 2 on findings of this severity or worse (info, warning, error; 'any' ="
            f" warning), or of these checks (comma list): {', '.join(CHECKS)}"
        ),
    ),
) -> None:
    """The pre-flight checklist: stale/large snapshots, consolidation, VMware Tools, layout."""
    with handle_errors():
        wanted = [c.strip() for c in (fail_on or "").split(",") if c.strip()]
        try:
            parse_fail_on(wanted)
        except ValueError as exc:
            raise InputError(str(exc), field="--fail-on") from None
        sources = [x for x in (topology, rvtools, vc.vcenter) if x is not None]
        if len(sources) != 1:
            raise InputError("give exactly one of --topology, --rvtools, --vcenter")
        estate = read_estate(topology, vc, rvtools=rvtools)
        topo, source, joins = estate.topology, estate.source, estate.joins
        topo = _with_raid_map(topo, raid_map)
        settings = AuditSettings(
            snapshot_age_days=snapshot_days,
            snapshot_size_gib=snapshot_gib,
            check_raid_groups=raid_map is not None or bool(topo.raid_groups),
        )
        report = audit(topo, source=source, settings=settings, joins=joins)
        if as_json:
            typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        else:
            _render_report(report)
        failing = report.failing(wanted) if wanted else []
        if failing:
            if not as_json:
                err_console.print(
                    f"[bold red]audit failed:[/] {len(failing)} findings match --fail-on",
                    highlight=False,
                )
            raise typer.Exit(2)
