"""vcsim fixtures: the session's simulator (built once by tests/conftest.py's vcsim_binary)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import vcsim_harness

harness = vcsim_harness()


@pytest.fixture(scope="session")
def vcsim(vcsim_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A simulator with a 300-VM estate, shared by the session."""
    sim = harness.start_vcsim(vcsim_binary, tmp_path_factory.mktemp("vcsim"), vms=300)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def fresh_vcsim(vcsim_binary: Path, tmp_path: Path) -> Iterator[Any]:
    """A small simulator of its own, for tests that kill it."""
    sim = harness.start_vcsim(vcsim_binary, tmp_path / "vcsim", vms=40)
    try:
        yield sim
    finally:
        sim.stop()
