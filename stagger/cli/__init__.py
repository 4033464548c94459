"""Command-line interface. ``stagger --help`` lists the commands."""

from stagger.cli import (  # noqa: F401  (registers commands)
    busyhours,
    cycle,
    export,
    infra,
    inventory,
    plan,
    simulate,
    whatif,
)
from stagger.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
