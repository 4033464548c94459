"""`stagger infra check`: the backup infrastructure file checked against an estate."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from stagger.cli.app import app, console, handle_errors
from stagger.cli.text import as_text
from stagger.cli.vcenter_options import print_warnings
from stagger.errors import shown
from stagger.infrastructure import check_infrastructure
from stagger.sources.yamlfile import load_infrastructure, load_inputs, load_topology

infra_app = typer.Typer(help="Backup infrastructure (proxies, transport, repositories).")
app.add_typer(infra_app, name="infra")

_SHOWN_VMS = 5


@infra_app.command("check")
def check_cmd(
    topology: Path = typer.Argument(..., help="Topology file (YAML or JSON)."),
    infra: Path = typer.Argument(..., help="Infrastructure file (infrastructure.yaml)."),
    policy: Path | None = typer.Option(
        None, "--policy", "-p", help="Policy file: also check its tiers' pins."
    ),
) -> None:
    """Show which proxies reach which VMs, in which modes; check every pin.

    Writes nothing. Exit codes: 0 fine (warnings allowed), 1 bad input: a VM no proxy
    reaches, a pin naming nothing, a bad file.
    """
    with handle_errors():
        if policy is not None:
            topo, pol = load_inputs(topology, policy)
        else:
            topo, pol = load_topology(topology), None
        model = load_infrastructure(infra)
        report = check_infrastructure(
            model,
            topo,
            pol,
            infra_file=str(infra),
            topology_file=str(topology),
            policy_file=str(policy) if policy is not None else None,
        )
        tbl = Table(title="Proxies", title_justify="left")
        for c in ("proxy", "tasks", "modes", "VMs", "some of them"):
            tbl.add_column(c, overflow="fold")
        for p in model.proxies:
            vms = report.reached[p.name]
            some = ", ".join(shown(v) for v in vms[:_SHOWN_VMS])
            if len(vms) > _SHOWN_VMS:
                some += f" and {len(vms) - _SHOWN_VMS} more"
            tbl.add_row(
                as_text(p.name), str(p.max_tasks), ", ".join(p.modes), str(len(vms)), as_text(some)
            )
        console.print(tbl)
        for vm, why in report.unreached.items():
            console.print(f"[red]no proxy[/] {as_text(shown(vm))}: {as_text(why)}", highlight=False)
        print_warnings(report.warnings)
        report.check()
        console.print(
            f"[green]ok[/]: {len(model.proxies)} proxies, {len(model.repositories)}"
            " repositories; nothing written (plan with them: `stagger plan --infra`)",
            highlight=False,
        )
