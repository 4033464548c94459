from datetime import timedelta

import pytest
from pydantic import ValidationError

from stagger.model.policy import Scope, parse_duration
from tests.factories import make_policy


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("60m", 60),
        ("10h", 600),
        ("1h30m", 90),
        ("2d", 2880),
        ("PT2H", 120),
        ("P1DT1H", 1500),
        ("45", 45),
        (15, 15),
    ],
)
def test_durations(text: str | int, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "soon", "10x", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_scope_needs_exactly_one_target() -> None:
    assert Scope(tag="payroll", expand="hosts").kind == "tag"
    with pytest.raises(ValidationError, match="exactly one"):
        Scope(host="a", datastore="b")
    with pytest.raises(ValidationError, match="exactly one"):
        Scope()


def test_blackout_forms() -> None:
    with pytest.raises(ValidationError, match="positive duration"):
        make_policy(blackouts=[{"name": "b", "rrule": "FREQ=DAILY"}])
    with pytest.raises(ValidationError, match="not both"):
        make_policy(
            blackouts=[
                {
                    "name": "b",
                    "rrule": "FREQ=DAILY",
                    "duration": "1h",
                    "start": "2026-12-01T01:00",
                    "end": "2026-12-01T02:00",
                }
            ]
        )
    with pytest.raises(ValidationError, match="end must be after"):
        make_policy(
            blackouts=[{"name": "b", "start": "2026-12-01T03:00", "end": "2026-12-01T02:00"}]
        )
    with pytest.raises(ValidationError, match="duplicate blackout name"):
        make_policy(
            blackouts=[
                {"name": "b", "rrule": "FREQ=DAILY", "duration": "1h"},
                {"name": "b", "rrule": "FREQ=DAILY", "duration": "1h"},
            ]
        )


def test_window_round_trips_as_hhmm() -> None:
    p = make_policy(window={"start": "22:30", "end": "05:00"})
    assert p.window.crosses_midnight
    dumped = p.model_dump(mode="json")["window"]
    assert dumped == {"start": "22:30", "end": "05:00"}
