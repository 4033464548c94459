"""Shared fixtures (the bundled examples) and the hypothesis profiles.

With ``CI`` set (``CI=true``, as CI services do), the "ci" profile runs every property test
with ``STAGGER_CI_EXAMPLES_FACTOR`` (default 3) times its examples: the profile's own count for
tests that set none, and each test's explicit ``max_examples`` multiplied (an explicit
``@settings`` would otherwise win over any profile). The fuzz harness has its own count
(``STAGGER_FUZZ_EXAMPLES``). Locally the counts stay as written.
"""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.fixture
def estate_paths() -> tuple[Path, Path]:
    return EXAMPLES / "estate" / "topology.yaml", EXAMPLES / "estate" / "policy.yaml"


@pytest.fixture
def minimal_paths() -> tuple[Path, Path]:
    return EXAMPLES / "minimal" / "topology.yaml", EXAMPLES / "minimal" / "policy.yaml"
