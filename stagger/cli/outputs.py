"""The outputs of one command: `--export FMT:OUT` specs and the all-or-none commit."""

from __future__ import annotations

from pathlib import Path

from stagger.atomic import OutputSet
from stagger.cli.app import err_console
from stagger.errors import InputError
from stagger.exporters.registry import Format, get_format


def parse_export_spec(spec: str) -> tuple[Format, Path]:
    """'html:plan.html' -> (the html format, Path('plan.html')); errors name `--export`."""
    fmt, sep, out = spec.partition(":")
    if not sep or not fmt or not out:
        raise InputError(f"{spec!r} is not FMT:OUT (e.g. html:plan.html)", field="--export")
    try:
        return get_format(fmt), Path(out)
    except InputError as exc:
        raise InputError(exc.message, field="--export") from None


def commit(outputs: OutputSet) -> None:
    """Write every output of the run, or none; say when a killed run's leftovers went away."""
    outputs.commit()
    if outputs.leftovers_removed:
        err_console.print(
            f"note: removed {outputs.leftovers_removed} temporary file(s) left by an"
            " interrupted run",
            highlight=False,
        )
