"""The backup policy: time zone, cycle, nightly window, throughput, limits and blackouts.

All clock times are local to ``timezone``. Field checks live here; turning the policy into
absolute intervals is the job of :mod:`stagger.calendar`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from stagger.model.text import Text

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*$"
)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """'60m', '10h', '1h30m', '2d', a bare number of minutes, or ISO 8601 'PT1H30M'."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(minutes=float(value))
    text = value.strip()
    if text.upper().startswith("PT") or text.upper().startswith("P"):
        iso = re.fullmatch(
            r"P(?:(\d+)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?)?", text.upper()
        )
        if iso and any(iso.groups()):
            d, h, m = (float(g) if g else 0.0 for g in iso.groups())
            return timedelta(days=d, hours=h, minutes=m)
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(minutes=float(text))
    match = _DURATION.fullmatch(text.lower())
    if not match or not any(match.groups()):
        raise ValueError(f"'{value}' is not a duration (use e.g. 60m, 10h, 1h30m, PT2H)")
    d, h, m = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m)


def _parse_clock(value: str | time) -> time:
    if isinstance(value, time):
        return value
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::00)?", str(value).strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"'{value}' is not a clock time HH:MM")
    return time(int(m.group(1)), int(m.group(2)))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cycle(_Strict):
    start: date = Field(description="Local date of the first night's window start.")
    nights: int = Field(default=1, ge=1, le=366)


class BackupWindow(_Strict):
    start: time = Field(description='Local clock time "HH:MM" the window opens.')
    end: time = Field(description='Local clock time "HH:MM" it closes; before start = next day.')

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock(cls, v: str | time) -> time:
        return _parse_clock(v)

    @field_serializer("start", "end")
    def _hhmm(self, v: time) -> str:
        return v.strftime("%H:%M")

    @model_validator(mode="after")
    def _not_empty(self) -> BackupWindow:
        if self.start == self.end:
            raise ValueError("window has zero length (start equals end)")
        return self

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


class Throughput(_Strict):
    mb_per_s: float = Field(gt=0, description="Sustained backup rate of one job, MB/s.")
    overhead_minutes: float = Field(
        default=0, ge=0, description="Per-job fixed cost: snapshot create/remove, job start."
    )
    change_rate: float | None = Field(
        default=None, gt=0, le=1, description="Incremental cycle: share of size moved per job."
    )


class Limits(_Strict):
    per_host: int = Field(default=1, ge=1)
    per_datastore: int = Field(default=1, ge=1)
    per_raid_group: int = Field(default=1, ge=1)
    concurrent_jobs: int | None = Field(
        default=None, ge=1, description="Backup proxy task slots across the estate."
    )


ScopeKind = Literal["cluster", "host", "datastore", "raid_group", "vm", "tag"]
SCOPE_KINDS: tuple[ScopeKind, ...] = ("cluster", "host", "datastore", "raid_group", "vm", "tag")


class Scope(_Strict):
    cluster: Text | None = None
    host: Text | None = None
    datastore: Text | None = None
    raid_group: Text | None = None
    vm: Text | None = None
    tag: Text | None = None
    expand: Literal["hosts", "datastores", "raid_groups"] | None = Field(
        default=None,
        description="Widen to the hosts/datastores/RAID groups the matching VMs use.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Scope:
        set_ = [k for k in SCOPE_KINDS if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError(
                "scope needs exactly one of cluster, host, datastore, raid_group, vm, tag"
                f" (got {', '.join(set_) or 'none'})"
            )
        return self

    @property
    def kind(self) -> ScopeKind:
        return next(k for k in SCOPE_KINDS if getattr(self, k) is not None)

    @property
    def target(self) -> str:
        value = getattr(self, self.kind)
        assert value is not None
        return str(value)


class Blackout(_Strict):
    name: Text = Field(min_length=1)
    scope: Literal["global"] | Scope = "global"
    rrule: str | None = Field(default=None, description="RFC 5545 RRULE, local times.")
    dtstart: datetime | None = Field(
        default=None, description="Anchor of the RRULE (local); default: cycle start 00:00."
    )
    duration: timedelta | None = Field(default=None, description="With rrule: 60m, 10h, PT2H.")
    start: datetime | None = Field(default=None, description="One-off start, local.")
    end: datetime | None = Field(default=None, description="One-off end, local.")

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, v: object) -> object:
        return "global" if v is None else v

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, v: object) -> object:
        if v is None or isinstance(v, timedelta):
            return v
        if isinstance(v, str | int | float):
            return parse_duration(v)
        return v

    @field_validator("rrule")
    @classmethod
    def _rrule(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            rrulestr(v, dtstart=datetime(2000, 1, 1))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"bad RRULE '{v}': {exc}") from None
        return v

    @model_validator(mode="after")
    def _one_form(self) -> Blackout:
        if self.rrule is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("use either rrule+duration or start+end, not both")
            if self.duration is None or self.duration <= timedelta(0):
                raise ValueError("a recurring blackout needs a positive duration")
        else:
            if self.start is None or self.end is None:
                raise ValueError("a blackout needs rrule+duration or start+end")
            if self.end <= self.start:
                raise ValueError("blackout end must be after its start")
        return self


class Policy(_Strict):
    timezone: str = Field(description="IANA time zone, e.g. Europe/Berlin.")
    cycle: Cycle
    window: BackupWindow
    slot_minutes: int = Field(default=5, ge=1, le=120)
    throughput: Throughput
    limits: Limits = Field(default_factory=Limits)
    blackouts: list[Blackout] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone '{v}'") from None
        return v

    @model_validator(mode="after")
    def _unique_blackouts(self) -> Policy:
        seen: set[str] = set()
        for b in self.blackouts:
            if b.name in seen:
                raise ValueError(f"duplicate blackout name '{b.name}'")
            seen.add(b.name)
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
