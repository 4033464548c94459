"""Command-line interface. ``stagger --help`` lists the commands."""

from stagger.cli import busyhours, export, inventory, plan, whatif  # noqa: F401  (registers commands)
from stagger.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
