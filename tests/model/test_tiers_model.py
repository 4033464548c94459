"""The tier part of the policy model: names, windows, night rules, round trips."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stagger.model.policy import BackupWindow, Full, Policy, Tier
from stagger.sources.yamlfile import dump_yaml
from tests.factories import make_policy

NAME = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)
CLOCK = st.builds(time, st.integers(0, 23), st.integers(0, 59))


def _minutes(w: BackupWindow) -> set[int]:
    """Clock minutes (of a 2-day clock, so crossing midnight is plain) the window covers."""
    start = w.start.hour * 60 + w.start.minute
    end = w.end.hour * 60 + w.end.minute
    if end <= start:
        end += 1440
    return set(range(start, end))


@given(CLOCK, CLOCK, CLOCK, CLOCK)
def test_window_inside_is_minute_containment(s1: time, e1: time, s2: time, e2: time) -> None:
    if s1 == e1 or s2 == e2:
        return
    inner, outer = BackupWindow(start=s1, end=e1), BackupWindow(start=s2, end=e2)
    # Inside one night's occurrence of the outer window (shifted by a day or not).
    expect = any(_minutes(inner) <= {m + k for m in _minutes(outer)} for k in (-1440, 0, 1440))
    assert inner.inside(outer) == expect


@given(st.lists(NAME, min_size=1, max_size=5, unique=True), NAME, NAME)
def test_any_names_and_scripts_round_trip(names: list[str], pre: str, glob: str) -> None:
    pol = make_policy(
        cycle={"start": "2026-12-01", "nights": 7},
        throughput={"mb_per_s": 100, "change_rate": 0.1},
        tiers=[
            {
                "name": n,
                "match": {"name": glob, "vms": [n]},
                "full": {"on": "FREQ=WEEKLY;BYDAY=SA"} if i % 2 else {"every": 7},
                "pre_script": pre,
                "post_script": pre[::-1],
            }
            for i, n in enumerate(names)
        ],
    )
    again = Policy.model_validate(yaml.safe_load(dump_yaml(pol)))
    assert again == pol
    assert [t.name for t in again.tiers] == names


@pytest.mark.parametrize("bad", ["a\nb", "\x1b[31m", "x\x85", "\ud800"])
def test_control_characters_refused_in_names_and_scripts(bad: str) -> None:
    for field in ("name", "pre_script", "post_script"):
        tier: dict[str, Any] = {"name": "t", "match": {"default": True}, "full": "none"}
        tier[field] = bad
        with pytest.raises(ValidationError):
            Tier.model_validate(tier)


def test_yaml_on_key_and_full_forms() -> None:
    assert Full.model_validate(yaml.safe_load('{on: "FREQ=DAILY"}')).on == "FREQ=DAILY"
    assert Full.model_validate({"every": 3}).every == 3
    with pytest.raises(ValidationError, match="exactly one"):
        Full.model_validate({})
    with pytest.raises(ValidationError, match="a rule of nights needs FREQ"):
        Full.model_validate({"on": "FREQ=MINUTELY"})


def test_policy_without_tiers_is_unchanged() -> None:
    pol = make_policy()
    assert pol.tiers == [] and pol.consistency.application_min == 10
    # Dumped without the new defaults: an old policy file stays as it was.
    assert "tiers" not in dump_yaml(pol) and "consistency" not in dump_yaml(pol)


def test_consistency_overheads() -> None:
    pol = make_policy(consistency={"application_min": 1, "shutdown_min": 2, "boot_min": 4})
    c = pol.consistency
    assert (c.minutes("application"), c.minutes("filesystem")) == (1, 3)
    assert (c.minutes("power-off"), c.minutes("crash")) == (6, 0)
    with pytest.raises(ValidationError):
        make_policy(consistency={"application_min": -1})


def test_schema_describes_every_tier_field() -> None:
    from stagger.model.topology import Topology

    schema = Policy.model_json_schema()
    defs = schema["$defs"]
    for model in ("Tier", "TierMatch", "Full", "ConsistencyOverheads"):
        for field, spec in defs[model]["properties"].items():
            assert spec.get("description"), f"{model}.{field} has no description"
    for field in ("tiers", "consistency"):
        assert schema["properties"][field].get("description")
    assert set(defs["Tier"]["properties"]) >= {
        "name",
        "match",
        "incremental",
        "full",
        "change_rate",
        "window",
        "consistency",
        "priority",
        "pre_script",
        "post_script",
    }
    vm = Topology.model_json_schema()["$defs"]["VM"]["properties"]
    assert vm["window"].get("description") and vm["folder"].get("description")
