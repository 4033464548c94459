"""The typer app and what every command shares: the console and error-to-exit-code mapping.

Commands live in sibling modules (plan.py, inventory.py, export.py, ...) and only parse
arguments, call the library and render. Exit codes (README "Exit codes"):
0 ok, 1 bad input (nothing written), 2 planned with unscheduled VMs (or checks failed),
3 an inventory source failed, 4 a schedule is invalid, 64 usage error (unknown option, missing
argument, bad choice), 130 interrupted before any plan.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from stagger import __version__
from stagger.cli.text import as_text
from stagger.errors import ExitCode, StaggerError

# sysexits.h EX_USAGE. Click's own usage code is 2, which `plan` uses for "planned with
# unscheduled VMs"; a script must be able to tell a typo from a partial plan.
EXIT_USAGE = ExitCode.USAGE


class _UsageExitGroup(TyperGroup):
    """Every click/typer usage error (here or in any subcommand) exits with EXIT_USAGE."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise


app = typer.Typer(
    name="stagger",
    help="Plan VMware backup windows: never two jobs on one host, datastore or RAID group.",
    cls=_UsageExitGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stagger {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _main(
    debug: bool = typer.Option(
        False, "--debug", help="Also show the traceback of an error (the exit code stays)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    state["debug"] = debug


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn a StaggerError into one line per problem on stderr and its exit code (--debug:
    with the traceback, same exit code)."""
    try:
        yield
    except StaggerError as exc:
        if state["debug"]:
            traceback.print_exc(file=sys.stderr)
        # One line per problem (a file may have several); a name is text, never markup.
        for line in exc.lines():
            err_console.print(
                f"[bold red]error:[/] {as_text(line)}", highlight=False, soft_wrap=True
            )
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(ExitCode.INTERRUPTED)
