"""Turn the policy's local clock rules into absolute (UTC) intervals.

Window occurrences and blackout expansions are computed in the policy's zone and converted to
UTC, so a daylight-saving night simply has more (or fewer) real minutes. Pure functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rruleset, rrulestr

from stagger.model.policy import Blackout, Policy

# How far before the cycle a recurring rule is anchored when it has no dtstart of its own, so
# that an occurrence that starts before the first window and runs into it is still found.
_DEFAULT_LOOKBACK = timedelta(days=40)


@dataclass(frozen=True)
class WindowOccurrence:
    index: int
    date: date
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


@dataclass(frozen=True)
class BlackoutInterval:
    name: str
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC


def local_to_utc(value: datetime, tz: ZoneInfo) -> datetime:
    """A naive local time, or an aware one, as aware UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def window_occurrences(policy: Policy) -> list[WindowOccurrence]:
    tz = policy.tz
    out = []
    for n in range(policy.cycle.nights):
        day = policy.cycle.start + timedelta(days=n)
        end_day = day + timedelta(days=1) if policy.window.crosses_midnight else day
        start = local_to_utc(datetime.combine(day, policy.window.start), tz)
        end = local_to_utc(datetime.combine(end_day, policy.window.end), tz)
        out.append(WindowOccurrence(n, day, start, end))
    return out


def cycle_span(policy: Policy) -> tuple[datetime, datetime]:
    occ = window_occurrences(policy)
    return occ[0].start, occ[-1].end


def _rule(blackout: Blackout, policy: Policy) -> rrule | rruleset:
    assert blackout.rrule is not None
    anchor = blackout.dtstart
    if anchor is None:
        anchor = datetime.combine(policy.cycle.start, time(0)) - _DEFAULT_LOOKBACK
    elif anchor.tzinfo is not None:
        anchor = anchor.astimezone(policy.tz).replace(tzinfo=None)
    return rrulestr(blackout.rrule, dtstart=anchor)


def blackout_intervals(
    blackout: Blackout, policy: Policy, span: tuple[datetime, datetime] | None = None
) -> list[BlackoutInterval]:
    """Occurrences of one blackout that overlap ``span`` (default: the whole cycle), in UTC."""
    tz = policy.tz
    lo, hi = span or cycle_span(policy)
    if blackout.rrule is None:
        assert blackout.start is not None and blackout.end is not None
        s, e = local_to_utc(blackout.start, tz), local_to_utc(blackout.end, tz)
        return [BlackoutInterval(blackout.name, s, e)] if s < hi and e > lo else []
    assert blackout.duration is not None
    duration = blackout.duration
    # Search in local wall time with a day of slack on each side for offset changes.
    lo_local = lo.astimezone(tz).replace(tzinfo=None) - duration - timedelta(days=1)
    hi_local = hi.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    out = []
    for occ in _rule(blackout, policy).between(lo_local, hi_local, inc=True):
        s = local_to_utc(occ, tz)
        e = s + duration
        if s < hi and e > lo:
            out.append(BlackoutInterval(blackout.name, s, e))
    return out
