"""`stagger inventory vcenter|rvtools` and `stagger audit`: parse, call the library, render."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from stagger.atomic import write_text_atomic
from stagger.audit import CHECKS, AuditReport, AuditSettings, audit
from stagger.cli.app import app, console, err_console, handle_errors
from stagger.cli.text import shown
from stagger.errors import InputError
from stagger.model.topology import Topology
from stagger.sources.raidmap import apply_raid_map_file
from stagger.sources.yamlfile import dump_yaml, load_topology

if TYPE_CHECKING:
    from stagger.sources.vcenter import VCenterOptions

PASSWORD_ENV = "STAGGER_VSPHERE_PASSWORD"

inventory_app = typer.Typer(
    help="Read the estate from vCenter/ESXi or an RVTools export into a topology file.",
    no_args_is_help=True,
)
app.add_typer(inventory_app, name="inventory")


def _password(user: str, server: str) -> str:
    pw = os.environ.get(PASSWORD_ENV)
    if pw:
        return pw
    try:
        return str(typer.prompt(f"Password for {user}@{server}", hide_input=True))
    except (typer.Abort, EOFError):
        raise InputError(f"no password: set {PASSWORD_ENV} or run interactively") from None


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {shown(w)}", highlight=False, soft_wrap=True)


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


def vcenter_options(
    server: str, port: int, user: str, insecure: bool, ca_file: Path | None, timeout: float
) -> VCenterOptions:
    from stagger.sources.vcenter import VCenterOptions

    if insecure and ca_file is not None:
        raise InputError("--insecure and --ca-file exclude each other")
    return VCenterOptions(
        server=server,
        port=port,
        user=user,
        password=_password(user, server),
        insecure=insecure,
        ca_file=str(ca_file) if ca_file else None,
        timeout=timeout,
    )


def estate_from(
    topology: Path | None,
    vcenter: str | None,
    user: str | None,
    port: int,
    insecure: bool,
    ca_file: Path | None,
) -> Topology:
    """The current estate from a topology file or, with ``--vcenter``, the live server."""
    if (topology is None) == (vcenter is None):
        raise InputError("give either a topology file or --vcenter SERVER")
    if topology is not None:
        return load_topology(topology)
    from stagger.sources.vcenter import load_vcenter

    assert vcenter is not None
    if not user:
        raise InputError("--vcenter needs --user")
    opts = vcenter_options(vcenter, port, user, insecure, ca_file, timeout=60.0)
    with console.status(f"reading the estate from {shown(vcenter)}..."):
        inv = load_vcenter(opts)
    _warn(inv.warnings)
    return inv.topology


@inventory_app.command("vcenter")
def inventory_vcenter(
    server: str = typer.Option(..., "--server", help="vCenter or ESXi host name."),
    user: str = typer.Option(
        ..., "--user", help="User name; password from $STAGGER_VSPHERE_PASSWORD or a prompt."
    ),
    port: int = typer.Option(443, "--port"),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the TLS certificate."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="PEM file of the CA to trust."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for an answer."),
    raid_map: Path | None = typer.Option(None, "--raid-map", help="RAID group map (YAML or CSV)."),
    output: Path = typer.Option(..., "-o", "--output", help="Topology file to write."),
) -> None:
    """Read VMs, hosts, clusters and datastores from a live vCenter in one bulk retrieval."""
    with handle_errors():
        from stagger.sources.vcenter import load_vcenter

        opts = vcenter_options(server, port, user, insecure, ca_file, timeout)
        inv = load_vcenter(opts)
        _warn(inv.warnings)
        topo = _with_raid_map(inv.topology, raid_map)
        write_text_atomic(output, dump_yaml(topo))
        st = inv.stats
        _summary(
            topo,
            output,
            f"{server}: {st.objects} objects in {st.round_trips} round trips, {st.seconds:.2f} s; "
            f"{inv.templates_skipped} templates skipped",
        )


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
def audit_cmd(
    topology: Path | None = typer.Option(None, "--topology", "-t", help="A topology file."),
    rvtools: Path | None = typer.Option(
        None, "--rvtools", help="An RVTools export (xlsx or CSV folder)."
    ),
    server: str | None = typer.Option(None, "--server", help="A live vCenter/ESXi."),
    user: str | None = typer.Option(None, "--user"),
    port: int = typer.Option(443, "--port"),
    insecure: bool = typer.Option(False, "--insecure"),
    ca_file: Path | None = typer.Option(None, "--ca-file"),
    timeout: float = typer.Option(60.0, "--timeout"),
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
        help=f"Exit 2 if any finding of these checks (comma list, or 'any'): {', '.join(CHECKS)}",
    ),
) -> None:
    """The pre-flight checklist: stale/large snapshots, consolidation, VMware Tools, layout."""
    with handle_errors():
        wanted = [c.strip() for c in (fail_on or "").split(",") if c.strip()]
        for c in wanted:
            if c != "any" and c not in CHECKS:
                raise InputError(
                    f"unknown check '{c}' (known: any, {', '.join(CHECKS)})", field="--fail-on"
                )
        sources = [x for x in (topology, rvtools, server) if x is not None]
        if len(sources) != 1:
            raise InputError("give exactly one of --topology, --rvtools, --server")
        if topology is not None:
            topo, source = load_topology(topology), str(topology)
        elif rvtools is not None:
            from stagger.sources.rvtools import load_rvtools

            inv = load_rvtools(rvtools)
            _warn(inv.warnings)
            topo, source = inv.topology, str(rvtools)
        else:
            from stagger.sources.vcenter import load_vcenter

            if not user:
                raise InputError("--server needs --user")
            assert server is not None
            opts = vcenter_options(server, port, user, insecure, ca_file, timeout)
            vinv = load_vcenter(opts)
            _warn(vinv.warnings)
            topo, source = vinv.topology, server
        topo = _with_raid_map(topo, raid_map)
        settings = AuditSettings(
            snapshot_age_days=snapshot_days,
            snapshot_size_gib=snapshot_gib,
            check_raid_groups=raid_map is not None or bool(topo.raid_groups),
        )
        report = audit(topo, source=source, settings=settings)
        if as_json:
            typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        else:
            _render_report(report)
        failing = report.failing(wanted) if wanted else []
        if failing:
            if not as_json:
                err_console.print(
                    f"[bold red]audit failed:[/] {len(failing)} findings in {fail_on}"
                )
            raise typer.Exit(2)
