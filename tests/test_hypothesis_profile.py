"""The CI profile really raises the example count of property tests (tests/conftest.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import raise_examples


def _property_test(examples: int) -> Any:
    seen: list[int] = []

    @settings(max_examples=examples, deadline=None, database=None)
    @given(st.integers())
    def prop(x: int) -> None:
        seen.append(x)

    return prop, seen


def test_ci_factor_multiplies_explicit_examples_and_runs_them() -> None:
    prop, seen = _property_test(10)
    fuzz, _ = _property_test(10)
    items: Any = [
        SimpleNamespace(obj=prop, nodeid="tests/sources/test_x.py::prop"),
        SimpleNamespace(obj=fuzz, nodeid="tests/fuzz/test_fuzz.py::target"),
        SimpleNamespace(obj=len, nodeid="tests/test_x.py::plain"),  # not a property test
    ]
    raise_examples(items, 3)
    assert prop._hypothesis_internal_use_settings.max_examples == 30
    assert fuzz._hypothesis_internal_use_settings.max_examples == 10  # own count
    prop()
    assert len(seen) > 10  # more than the 10 written (hypothesis may stop early: < 30)
