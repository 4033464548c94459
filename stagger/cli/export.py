"""`stagger export`: a schedule into Bacula, Veeam, cron, iCalendar, an HTML Gantt or Markdown."""

from __future__ import annotations

from pathlib import Path

import typer

from stagger.atomic import OutputSet
from stagger.cli.app import app, console, err_console, handle_errors
from stagger.cli.outputs import commit
from stagger.cli.text import as_text
from stagger.errors import InputError
from stagger.exporters.options import ExportOptions
from stagger.exporters.registry import formats, get_format, render
from stagger.model.schedule import ScheduleInputs
from stagger.scope import check_scopes
from stagger.sources.yamlfile import load_policy, load_schedule, load_topology
from stagger.validate import validate

_FORMATS = ", ".join(f"{f.name} ({f.help})" for f in formats().values())

# Which formats read each format-specific option; any other format refuses it rather than
# silently ignoring what the user asked for.
_OPTION_FORMATS = {
    "--standalone": ("bacula",),
    "--per-vm": ("bacula", "veeam"),
    "--command": ("cron",),
    "--utc": ("cron",),
    "--workdir": ("bacula",),
    "--client": ("bacula",),
}
_DEFAULT_WORKDIR = "/var/lib/bacula"


def _check_options(fmt: str, given: dict[str, bool]) -> None:
    for option, used in given.items():
        if used and fmt not in _OPTION_FORMATS[option]:
            takers = " and ".join(_OPTION_FORMATS[option])
            raise InputError(f"applies to {takers} only, not to {fmt}", field=option)


@app.command("export")
def export_cmd(
    schedule: Path = typer.Argument(..., help="Schedule JSON written by `stagger plan`."),
    fmt: str = typer.Option(..., "--format", "-f", help=f"One of: {_FORMATS}."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write ('-' = stdout)."),
    topology: Path | None = typer.Option(
        None,
        "--topology",
        "-t",
        help="Check against this (current) topology instead of the copy in SCHEDULE.",
    ),
    policy: Path | None = typer.Option(
        None,
        "--policy",
        "-p",
        help="Check against this (current) policy instead of the copy in SCHEDULE.",
    ),
    trust: bool = typer.Option(
        False,
        "--trust",
        help="Skip the rule checks (blackouts, capacities); fields are still checked.",
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
        help="cron: command template with {vm} (vCenter name), {slug}, {host}, {datastores},"
        " {level} (full/incremental).",
    ),
    utc: bool = typer.Option(False, "--utc", help="cron: UTC times (ESXi's crond has no TZ)."),
    prefix: str = typer.Option("stagger", "--prefix", help="Name prefix of created jobs."),
    workdir: str = typer.Option(
        _DEFAULT_WORKDIR, "--workdir", help="bacula --standalone: WorkingDirectory."
    ),
    client: str | None = typer.Option(
        None,
        "--client",
        help="bacula: Client name template with {vm} (slug), {host}, {proxy} (the planned"
        " proxy: Jobs run on its File Daemon). Default {vm}-fd.",
    ),
) -> None:
    """Write SCHEDULE in another format, after checking it against its inputs.

    The inputs are the topology and policy embedded in SCHEDULE unless --topology / --policy
    give the current files; the command says which it used.

    Exit codes: 0 written, 1 bad input, 4 the schedule breaks a rule (nothing is written).
    """
    with handle_errors():
        chosen = get_format(fmt)
        _check_options(
            chosen.name,
            {
                "--standalone": standalone,
                "--per-vm": per_vm,
                "--command": command is not None,
                "--utc": utc,
                "--workdir": workdir != _DEFAULT_WORKDIR,
                "--client": client is not None,
            },
        )
        if workdir != _DEFAULT_WORKDIR and not standalone:
            raise InputError("needs --standalone", field="--workdir")
        to_stdout = str(output) == "-"
        outputs = OutputSet()
        if not to_stdout:
            outputs.check([output])
        sched = load_schedule(schedule)
        topo = load_topology(topology) if topology else sched.inputs.topology
        pol = load_policy(policy) if policy else sched.inputs.policy
        if topology or policy:
            try:
                check_scopes(pol, topo)  # the policy's blackouts name objects of this estate
            except InputError as exc:
                exc.file = str(policy or schedule)
                raise
        used = (
            f"topology {topology}" if topology else "the topology embedded in the schedule",
            f"policy {policy}" if policy else "the policy embedded in the schedule",
        )
        validate(sched, topo, pol, file=str(schedule), rules=not trust)
        # Exporters read the inputs from the schedule: give them the ones it was checked against
        # (and the infrastructure it was planned with: its proxies' and repositories' slots).
        inputs = ScheduleInputs(
            topology=topo, policy=pol, infrastructure=sched.inputs.infrastructure
        )
        sched = sched.model_copy(update={"inputs": inputs})
        options = ExportOptions(
            standalone=standalone,
            per_vm=per_vm,
            command=command,
            prefix=prefix,
            workdir=workdir,
            extra=({"utc": "yes"} if utc else {}) | ({"client": client} if client else {}),
        )
        text = render(sched, chosen.name, options)
        checked = f"checked against {used[0]} and {used[1]}" + (
            " (fields only: --trust)" if trust else ""
        )
        if to_stdout:
            err_console.print(checked, highlight=False, soft_wrap=True)
            typer.echo(text, nl=False)
            return
        outputs.add_text(output, text)
        commit(outputs)
        console.print(checked, highlight=False, soft_wrap=True)
        console.print(
            f"wrote {as_text(output)} ({chosen.name}, {len(sched.jobs)} jobs)", highlight=False
        )
