"""`stagger export`: a schedule into Bacula, Veeam, cron, iCalendar, an HTML Gantt or Markdown."""

from __future__ import annotations

from pathlib import Path

import typer

from stagger.cli.app import app, console, handle_errors
from stagger.cli.text import shown
from stagger.exporters.registry import ExportOptions, export_to, formats, get_format, render
from stagger.sources.yamlfile import load_schedule
from stagger.validate import validate

_FORMATS = ", ".join(f"{f.name} ({f.help})" for f in formats().values())


@app.command("export")
def export_cmd(
    schedule: Path = typer.Argument(..., help="Schedule JSON written by `stagger plan`."),
    fmt: str = typer.Option(..., "--format", "-f", help=f"One of: {_FORMATS}."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write ('-' = stdout)."),
    trust: bool = typer.Option(
        False, "--trust", help="Skip re-validating the schedule against its embedded inputs."
    ),
    standalone: bool = typer.Option(
        False, "--standalone", help="bacula: a complete bacula-dir.conf, not an include file."
    ),
    per_vm: bool = typer.Option(
        False, "--per-vm", help="veeam/bacula: one job or schedule per VM, not per start slot."
    ),
    command: str | None = typer.Option(
        None,
        "--command",
        help="cron: command template with {vm} (vCenter name), {slug}, {host}, {datastores}.",
    ),
    utc: bool = typer.Option(False, "--utc", help="cron: UTC times (ESXi's crond has no TZ)."),
    prefix: str = typer.Option("stagger", "--prefix", help="Name prefix of created jobs."),
    workdir: str = typer.Option(
        "/var/lib/bacula", "--workdir", help="bacula --standalone: WorkingDirectory."
    ),
) -> None:
    """Write SCHEDULE in another format. The schedule is re-validated first (unless --trust).

    Exit codes: 0 written, 1 bad input, 4 the schedule breaks a rule (nothing is written).
    """
    with handle_errors():
        chosen = get_format(fmt)
        sched = load_schedule(schedule)
        options = ExportOptions(
            standalone=standalone,
            per_vm=per_vm,
            command=command,
            prefix=prefix,
            workdir=workdir,
            extra={"utc": "yes"} if utc else {},
        )
        if str(output) == "-":
            if not trust:
                validate(sched, file=str(schedule))
            typer.echo(render(sched, chosen.name, options), nl=False)
            return
        export_to(sched, chosen.name, output, options, trust=trust, source=str(schedule))
        console.print(
            f"wrote {shown(output)} ({chosen.name}, {len(sched.jobs)} jobs)", highlight=False
        )
