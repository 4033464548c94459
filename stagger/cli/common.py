"""What several commands share besides the vCenter options: reading a baseline schedule."""

from __future__ import annotations

from pathlib import Path

from stagger.model.schedule import Schedule
from stagger.sources.yamlfile import load_schedule
from stagger.validate import validate


def load_baseline(path: Path) -> Schedule:
    """A previous schedule, checked against the inputs it embeds before anything trusts it."""
    base = load_schedule(path)
    validate(base, file=f"baseline {path}")
    return base
