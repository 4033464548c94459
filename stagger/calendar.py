"""Turn the policy's local clock rules into absolute (UTC) intervals.

Window occurrences and blackout expansions are computed in the policy's zone and converted to
UTC, so a daylight-saving night simply has more (or fewer) real minutes. Pure functions only.
"""

from __future__ import annotations

import sys
import warnings
from calendar import month_name  # the standard library's (absolute import)
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rruleset, rrulestr

from stagger.errors import InputError, shown
from stagger.model.policy import BackupWindow, Blackout, Policy

RRULE_BUDGET = 100_000
"""Steps dateutil may take expanding one blackout: candidate periods (days, hours, minutes) it
examines, each weighted by the candidate times it builds in that period.

Counted, not timed, so the same policy is accepted or refused on every machine. A rule
that needs more (``FREQ=SECONDLY`` over a cycle, a filter that never matches and so runs
dateutil to year 9999) is refused with one line; the worst accepted rule takes a few
seconds. A daily rule over a 366-night cycle needs about 410.
"""
# dateutil builds one of these per candidate period it examines, matching or not.
_RRULE_STEPS = frozenset(
    {"ydayset", "mdayset", "wdayset", "ddayset", "htimeset", "mtimeset", "stimeset"}
)


class _OverBudget(Exception):
    pass


class _PastHorizon(Exception):
    """dateutil moved to a year after the last one asked for: no occurrence can follow."""


def _step_weight(rule: rrule | rruleset) -> int:
    """Candidate times dateutil builds per period: BYHOUR x BYMINUTE x BYSECOND (an upper
    bound: for sub-daily rules some of them filter instead). A step that builds 3,600
    candidates counts as 3,600 steps."""
    weight = 1
    for attr in ("_byhour", "_byminute", "_bysecond"):
        values = getattr(rule, attr, None)
        weight *= max(1, len(values or ()))
    return weight


def _budgeted(rule: rrule | rruleset, budget: int, last_year: int) -> Iterator[datetime]:
    """Iterate ``rule`` up to the end of ``last_year``, raising _OverBudget once dateutil took
    more than ``budget`` steps.

    dateutil gives control back only at an occurrence, so a rule that never matches
    (``BYMONTH=2;BYMONTHDAY=30``) would run to the year 9999 (1.5 s, and over 20 s on a
    loaded machine) and one that matches rarely cannot be stopped from outside its loop; a
    trace hook that counts its per-period calls and sees the year of each period it starts
    (``rebuild(year, month)``) can. The hook is ours only while dateutil runs; a debugger's
    or coverage's hook is put back each time.
    """
    steps = 0
    weight = _step_weight(rule)

    def tracer(frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal steps
        if event == "call":
            name = frame.f_code.co_name
            if name in _RRULE_STEPS:
                steps += weight
                if steps > budget:
                    raise _OverBudget
            elif name == "rebuild" and frame.f_locals.get("year", 0) > last_year:
                raise _PastHorizon
        return None

    it = iter(rule)
    while True:
        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            occ = next(it)
        except (StopIteration, _PastHorizon):
            return
        finally:
            sys.settrace(previous)
        yield occ


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


def window_on_night(window: BackupWindow, policy: Policy, night: int) -> tuple[datetime, datetime]:
    """Start and end (UTC) of ``window`` (a tier's or a VM's, inside the policy window) on
    night ``night``: the occurrence that lies in the policy window opening on cycle start +
    ``night`` days. Its clock times are read on the local dates they fall on (after midnight
    when it opens before the policy window's start clock time), so a daylight-saving night
    has the real minutes between them."""
    day = policy.cycle.start + timedelta(days=night)
    start_day = day + timedelta(days=1) if window.start < policy.window.start else day
    end_day = start_day + timedelta(days=1) if window.crosses_midnight else start_day
    tz = policy.tz
    return (
        local_to_utc(datetime.combine(start_day, window.start), tz),
        local_to_utc(datetime.combine(end_day, window.end), tz),
    )


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
    for occ in _occurrences(blackout, policy, lo_local, hi_local):
        s = local_to_utc(occ, tz)
        e = s + duration
        if s < hi and e > lo:
            out.append(BlackoutInterval(blackout.name, s, e))
    return out


def _occurrences(
    blackout: Blackout, policy: Policy, lo_local: datetime, hi_local: datetime
) -> list[datetime]:
    """Local occurrences in [lo_local, hi_local], within :data:`RRULE_BUDGET` steps."""
    obj = f"blackout {shown(blackout.name)}"
    try:
        rule = _rule(blackout, policy)
        with warnings.catch_warnings():
            # COUNT and UNTIL together are deprecated by dateutil, and still honoured.
            warnings.simplefilter("ignore")
            if isinstance(rule, rrule):
                # Stop at the cycle's end even when no occurrence comes to check it against.
                until = getattr(rule, "_until", None)
                if until is not None and until.tzinfo is not None:
                    until = until.astimezone(policy.tz).replace(tzinfo=None)
                rule = rule.replace(until=min(until, hi_local) if until else hi_local)
        if isinstance(rule, rrule) and (why := _never_matches(rule)):
            # Not an empty blackout: the admin meant a date that does not exist, and a plan
            # that silently ignores it would run backups through payroll.
            raise InputError(f"this rule never matches: {why}", obj=obj, field="rrule")
        out = []
        # A set (RRULE with RDATE/EXRULE) merges several iterators: one past the horizon must
        # not end the others, so only a plain rule stops at the horizon's year.
        last_year = hi_local.year if isinstance(rule, rrule) else MAXYEAR
        for occ in _budgeted(rule, RRULE_BUDGET, last_year):
            if occ > hi_local:
                break
            if occ >= lo_local:
                out.append(occ)
        return out
    except _OverBudget:
        raise InputError(
            f"expanding this rule takes more than {RRULE_BUDGET:,} steps up to the end of the "
            "cycle; use a coarser FREQ (e.g. HOURLY with BYMINUTE), a dtstart closer to the "
            "cycle, or check that the rule can match at all",
            obj=obj,
            field="rrule",
        ) from None
    except (ValueError, ArithmeticError, TypeError, LookupError) as exc:
        # dateutil's own failures on rules it parsed: BYDAY=2147483648TU is an IndexError.
        raise InputError(f"cannot expand: {str(exc)[:200]}", obj=obj, field="rrule") from None


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February in a leap year


def _never_matches(rule: rrule) -> str | None:
    """Why ``rule`` can never produce a date (BYMONTHDAY past the end of every BYMONTH
    month, e.g. February 30), or None. Such a rule would expand to nothing, silently."""
    days = [
        *(getattr(rule, "_bymonthday", None) or ()),
        *(getattr(rule, "_bynmonthday", None) or ()),
    ]
    if not days:
        return None
    months = getattr(rule, "_bymonth", None) or range(1, 13)
    if any(abs(d) <= _MONTH_DAYS[m - 1] for m in months for d in days):
        return None
    named = ", ".join(month_name[m] for m in sorted(set(months)))
    wanted = ", ".join(str(d) for d in sorted(days))
    return f"BYMONTHDAY {wanted} does not exist in {named}"


def check_blackouts(policy: Policy) -> None:
    """Expand every blackout over the cycle once: an InputError for each that cannot be."""
    problems: list[InputError] = []
    for b in policy.blackouts:
        try:
            blackout_intervals(b, policy)
        except InputError as exc:
            problems.append(exc)
    if problems:
        problems[0].more = problems[1:]
        raise problems[0]


def rule_nights(text: str, policy: Policy, *, obj: str, field: str) -> list[int]:
    """Indices of the cycle's nights whose date (the day the window opens) an RRULE of
    nights names, ascending. The rule is anchored at the cycle's first date, 00:00, so
    ``FREQ=DAILY;INTERVAL=2`` is nights 0, 2, 4... and a bare ``FREQ=WEEKLY`` is the first
    night's weekday. Bounded like a blackout's expansion; an InputError naming ``obj`` and
    ``field`` for a rule that cannot match or cannot be expanded."""
    first = datetime.combine(policy.cycle.start, time(0))
    last = first + timedelta(days=policy.cycle.nights - 1)
    try:
        rule = rrulestr(text, dtstart=first)
        if isinstance(rule, rrule) and (why := _never_matches(rule)):
            raise InputError(f"this rule never matches: {why}", obj=obj, field=field)
        nights: set[int] = set()
        for occ in _budgeted(rule, RRULE_BUDGET, last.year):
            if occ > last + timedelta(days=1):
                break
            n = (occ.date() - first.date()).days
            if 0 <= n < policy.cycle.nights:
                nights.add(n)
        return sorted(nights)
    except _OverBudget:
        raise InputError(
            f"expanding this rule takes more than {RRULE_BUDGET:,} steps over the cycle",
            obj=obj,
            field=field,
        ) from None
    except (ValueError, ArithmeticError, TypeError, LookupError) as exc:
        raise InputError(f"cannot expand: {str(exc)[:200]}", obj=obj, field=field) from None
