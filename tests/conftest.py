"""Shared fixtures: the bundled examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import EXAMPLES


@pytest.fixture
def estate_paths() -> tuple[Path, Path]:
    return EXAMPLES / "estate" / "topology.yaml", EXAMPLES / "estate" / "policy.yaml"


@pytest.fixture
def minimal_paths() -> tuple[Path, Path]:
    return EXAMPLES / "minimal" / "topology.yaml", EXAMPLES / "minimal" / "policy.yaml"
