"""Shared fixtures (the bundled examples, the one vcsim build) and the hypothesis profiles.

With ``CI`` set (``CI=true``, as CI services do), the "ci" profile runs every property test
with ``STAGGER_CI_EXAMPLES_FACTOR`` (default 3) times its examples: the profile's own count for
tests that set none, and each test's explicit ``max_examples`` multiplied (an explicit
``@settings`` would otherwise win over any profile). The fuzz harness has its own count
(``STAGGER_FUZZ_EXAMPLES``). Locally the counts stay as written.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.factories import EXAMPLES

CI = bool(os.environ.get("CI"))
CI_EXAMPLES_FACTOR = int(os.environ.get("STAGGER_CI_EXAMPLES_FACTOR", "3"))

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", max_examples=100 * CI_EXAMPLES_FACTOR, deadline=None)
settings.load_profile("ci" if CI else "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CI:
        raise_examples(items, CI_EXAMPLES_FACTOR)


def raise_examples(items: list[pytest.Item], factor: int) -> None:
    """Multiply the examples of every property test among ``items`` (not the fuzz harness)."""
    for item in items:
        test = getattr(item, "obj", None)
        if not getattr(test, "is_hypothesis_test", False) or "tests/fuzz/" in item.nodeid:
            continue
        # Hypothesis keeps a test's @settings here; if a release moves it, say so loudly
        # rather than silently running the small counts in CI.
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if not isinstance(own, settings):
            pytest.fail(f"{item.nodeid}: cannot raise its hypothesis examples (API moved)")
        if own.max_examples < 100 * factor:  # not already a profile count
            scaled = settings(own, max_examples=own.max_examples * factor)
            test._hypothesis_internal_use_settings = scaled  # type: ignore[union-attr]


_VCSIM_HARNESS = Path(__file__).resolve().parent / "vcsim" / "harness.py"


def vcsim_harness() -> Any:
    """tests/vcsim/harness.py, loaded once (it is not a package module)."""
    name = "stagger_vcsim_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _VCSIM_HARNESS)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="session")
def vcsim_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulator, built once per session for every test that starts one, in the shared
    cache ($STAGGER_VCSIM_CACHE, else the session's temp dir)."""
    harness = vcsim_harness()
    if harness.go_binary() is None:
        pytest.skip(
            "vcsim tests need Go: apt-get install golang-go golang-github-vmware-govmomi-dev"
        )
    cache = harness.shared_cache_dir(tmp_path_factory.getbasetemp() / "vcsim-build")
    build = harness.build_vcsim(cache)  # fails (not skips) when Go is there but the build breaks
    return Path(build.binary)


@pytest.fixture
def estate_paths() -> tuple[Path, Path]:
    return EXAMPLES / "estate" / "topology.yaml", EXAMPLES / "estate" / "policy.yaml"


@pytest.fixture
def minimal_paths() -> tuple[Path, Path]:
    return EXAMPLES / "minimal" / "topology.yaml", EXAMPLES / "minimal" / "policy.yaml"
