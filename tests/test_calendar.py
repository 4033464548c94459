from datetime import UTC, datetime
from typing import Any

import pytest

from stagger.calendar import blackout_intervals, window_occurrences
from stagger.errors import InputError
from tests.factories import make_policy


def test_window_crossing_midnight_is_converted_to_utc() -> None:
    policy = make_policy(cycle={"start": "2026-12-01", "nights": 2})
    occ = window_occurrences(policy)
    assert [o.start for o in occ] == [
        datetime(2026, 12, 1, 19, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 19, 0, tzinfo=UTC),
    ]
    assert occ[0].end == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert occ[0].minutes == 600


def test_dst_night_has_one_hour_more() -> None:
    # Europe/Berlin leaves summer time on Sunday 25 Oct 2026 at 03:00 -> 02:00.
    policy = make_policy(cycle={"start": "2026-10-23", "nights": 3})
    assert [o.minutes for o in window_occurrences(policy)] == [600, 660, 600]


def test_spring_forward_night_has_one_hour_less() -> None:
    policy = make_policy(cycle={"start": "2026-03-28", "nights": 1})
    assert window_occurrences(policy)[0].minutes == 540


def test_daily_rrule_blackout_each_night_at_local_time() -> None:
    policy = make_policy(
        cycle={"start": "2026-10-24", "nights": 2},
        blackouts=[{"name": "av", "rrule": "FREQ=DAILY;BYHOUR=1;BYMINUTE=0", "duration": "60m"}],
    )
    ivs = blackout_intervals(policy.blackouts[0], policy)
    # 01:00 CEST (UTC+2) on the 25th is 23:00 UTC; 01:00 CET on the 26th is 00:00 UTC.
    assert [(i.start, i.end) for i in ivs] == [
        (datetime(2026, 10, 24, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
        (datetime(2026, 10, 26, 0, 0, tzinfo=UTC), datetime(2026, 10, 26, 1, 0, tzinfo=UTC)),
    ]


def test_last_working_day_of_month_rule() -> None:
    policy = make_policy(
        cycle={"start": "2026-12-30", "nights": 3},
        blackouts=[
            {
                "name": "payroll",
                "rrule": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;BYHOUR=18;BYMINUTE=0",
                "duration": "10h",
            }
        ],
    )
    ivs = blackout_intervals(policy.blackouts[0], policy)
    # Thursday 31 Dec 2026 is the last working day; 18:00 CET = 17:00 UTC.
    assert [i.start for i in ivs] == [datetime(2026, 12, 31, 17, 0, tzinfo=UTC)]
    assert ivs[0].end == datetime(2027, 1, 1, 3, 0, tzinfo=UTC)


def test_one_off_blackout_outside_cycle_is_ignored() -> None:
    policy = make_policy(
        blackouts=[{"name": "x", "start": "2026-11-01T22:00", "end": "2026-11-01T23:00"}]
    )
    assert blackout_intervals(policy.blackouts[0], policy) == []


def test_rule_with_no_occurrence_in_reach_stops_at_the_horizon(monkeypatch: Any) -> None:
    """Found by benchmarks/fuzz.py: a yearly rule with no occurrence near the cycle made
    dateutil walk every month to the year 9999 (1.5 s per expansion, over 20 s on a loaded
    machine, and a plan expands each blackout several times). It stops past the cycle's year."""
    from dateutil import rrule as dateutil_rrule

    periods: list[int] = []
    original = dateutil_rrule._iterinfo.rebuild

    def counting(self: Any, year: int, month: int) -> Any:
        periods.append(year)
        return original(self, year, month)

    monkeypatch.setattr(dateutil_rrule._iterinfo, "rebuild", counting)
    # 29 February: next in 2028, so nothing in a December 2026 cycle; 2028 is after the
    # horizon (which ends in 2027 at the latest), so dateutil must not even reach it.
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 3},
        blackouts=[
            {
                "name": "leap",
                "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=1",
                "duration": "1h",
            },
            {
                "name": "leap-every",
                "rrule": "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29",
                "duration": "1m",
            },
        ],
    )
    for b in policy.blackouts:
        periods.clear()
        assert blackout_intervals(b, policy) == []
        assert periods and max(periods) <= 2027, (b.name, max(periods))


def test_rule_that_can_never_match_is_refused() -> None:
    # 30 February: not an empty blackout but a mistake; ignoring it would run backups
    # through the payroll run the admin meant to protect.
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 3},
        blackouts=[
            {"name": "feb30", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "duration": "1h"}
        ],
    )
    with pytest.raises(InputError, match="never matches: BYMONTHDAY 30 does not exist in February"):
        blackout_intervals(policy.blackouts[0], policy)


def test_rule_matching_in_the_horizons_last_year_is_still_found() -> None:
    # The horizon ends in the next year (a window crossing New Year's Eve): its occurrences
    # there must not be cut by the stop above.
    policy = make_policy(
        cycle={"start": "2026-12-31", "nights": 1},
        blackouts=[
            {"name": "ny", "rrule": "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1;BYHOUR=2", "duration": "1h"}
        ],
    )
    ivs = blackout_intervals(policy.blackouts[0], policy)
    assert [i.start for i in ivs] == [datetime(2027, 1, 1, 1, 0, tzinfo=UTC)]


def test_rrule_with_a_zone_aware_dtstart_keeps_its_instant() -> None:
    # 14:30 at UTC-05:00 is 19:30 UTC, 20:30 in Berlin (CET): the rule recurs at that local
    # time, not at 14:30 Berlin (the offset dropped) nor at 14:30 UTC.
    policy = make_policy(
        cycle={"start": "2026-12-01", "nights": 2},
        blackouts=[
            {
                "name": "nyc",
                "rrule": "FREQ=DAILY",
                "dtstart": "2026-11-20T14:30:00-05:00",
                "duration": "30m",
            }
        ],
    )
    ivs = blackout_intervals(policy.blackouts[0], policy)
    assert [(i.start, i.end) for i in ivs] == [
        (datetime(2026, 12, 1, 19, 30, tzinfo=UTC), datetime(2026, 12, 1, 20, 0, tzinfo=UTC)),
        (datetime(2026, 12, 2, 19, 30, tzinfo=UTC), datetime(2026, 12, 2, 20, 0, tzinfo=UTC)),
    ]


def test_rrule_with_a_zone_aware_dtstart_across_a_dst_change() -> None:
    # dtstart in summer (CEST, UTC+2) at 21:00 UTC is 23:00 local; after the change to CET the
    # rule still recurs at 23:00 local, which is 22:00 UTC.
    policy = make_policy(
        cycle={"start": "2026-10-24", "nights": 2},
        blackouts=[
            {
                "name": "late",
                "rrule": "FREQ=DAILY",
                "dtstart": "2026-10-01T21:00:00+00:00",
                "duration": "60m",
            }
        ],
    )
    ivs = blackout_intervals(policy.blackouts[0], policy)
    assert [i.start for i in ivs] == [
        datetime(2026, 10, 24, 21, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 22, 0, tzinfo=UTC),
    ]
