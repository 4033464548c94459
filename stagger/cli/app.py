"""The typer app and what every command shares: the console and error-to-exit-code mapping.

Commands live in sibling modules (plan.py, inventory.py, export.py, ...) and only parse
arguments, call the library and render. Exit codes:
0 all planned / ok, 1 bad input, 2 planned with unscheduled VMs (or checks failed),
3 an inventory source failed, 4 a schedule is invalid.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from stagger.errors import StaggerError

app = typer.Typer(
    name="stagger",
    help="Plan VMware backup windows: never two jobs on one host, datastore or RAID group.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

state = {"debug": False}


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    state["debug"] = debug


@contextlib.contextmanager
def handle_errors() -> Iterator[None]:
    """Turn a StaggerError into one line per problem on stderr and its exit code."""
    try:
        yield
    except StaggerError as exc:
        if state["debug"]:
            raise
        # One line per problem (a file may have several); a name is text, never markup.
        for line in exc.lines():
            err_console.print(
                f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True
            )
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
