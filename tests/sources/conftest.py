"""vcsim fixtures: build the simulator once per session, start it on a free 127.0.0.1 port."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_HARNESS = Path(__file__).resolve().parents[1] / "vcsim" / "harness.py"


def _load_harness() -> Any:
    name = "stagger_vcsim_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HARNESS)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


harness = _load_harness()


@pytest.fixture(scope="session")
def vcsim_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if harness.go_binary() is None:
        pytest.skip(
            "vcsim tests need Go: apt-get install golang-go golang-github-vmware-govmomi-dev"
        )
    cache = harness.shared_cache_dir(tmp_path_factory.getbasetemp() / "vcsim-build")
    build = harness.build_vcsim(cache)  # fails (not skips) when Go is there but the build breaks
    return Path(build.binary)


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
