"""The backup policy: time zone, cycle, nightly window, throughput, limits and blackouts.

All clock times are local to ``timezone``. Field checks live here; turning the policy into
absolute intervals is the job of :mod:`stagger.calendar`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from stagger.errors import shown
from stagger.model.text import Text, no_control_chars

# Bounds that keep every date computation (lookback, nights, DST slack) inside datetime's
# range and every solver integer small; each refusal is one pydantic error naming the field.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)
MAX_LIMIT = 100_000
"""Largest job limit (per host, datastore, RAID group, task slots): int32-safe."""
MAX_DURATION = timedelta(days=366)
"""Longest duration accepted (a blackout of more than a year is a typo)."""
MAX_RRULE_CHARS = 500
MAX_RRULE_INTERVAL = 10_000
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
MAX_ZONE_CHARS = 64

_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*$"
)


def _bounded_duration(value: object, days: float, hours: float, minutes: float) -> timedelta:
    total_min = days * 1440 + hours * 60 + minutes
    # Checked before timedelta(): 1e308 minutes would raise OverflowError, not a field error.
    if not (0 <= total_min <= MAX_DURATION.total_seconds() / 60):
        raise ValueError(f"{shown(value)} is not a duration of at most {MAX_DURATION.days} days")
    return timedelta(minutes=total_min)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """'60m', '10h', '1h30m', '2d', a bare number of minutes, or ISO 8601 'PT1H30M'.

    At most :data:`MAX_DURATION`; anything else is a ValueError (never an OverflowError).
    """
    if isinstance(value, timedelta):
        return _bounded_duration(value, 0, 0, value.total_seconds() / 60)
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) > 10**9:
            raise ValueError(
                f"{shown(value)} is not a duration of at most {MAX_DURATION.days} days"
            )
        return _bounded_duration(value, 0, 0, float(value))
    text = value.strip()
    if len(text) > 64:
        raise ValueError(f"{shown(value)} is not a duration (use e.g. 60m, 10h, 1h30m, PT2H)")
    if text.upper().startswith("PT") or text.upper().startswith("P"):
        iso = re.fullmatch(
            r"P(?:(\d+)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?)?", text.upper()
        )
        if iso and any(iso.groups()):
            d, h, m = (float(g) if g else 0.0 for g in iso.groups())
            return _bounded_duration(value, d, h, m)
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return _bounded_duration(value, 0, 0, float(text))
    match = _DURATION.fullmatch(text.lower())
    if not match or not any(match.groups()):
        raise ValueError(f"{shown(value)} is not a duration (use e.g. 60m, 10h, 1h30m, PT2H)")
    d, h, m = (float(g) if g else 0.0 for g in match.groups())
    return _bounded_duration(value, d, h, m)


def check_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows; a one-line ValueError if not
    (a directory such as ``Europe``, a path, a 5,000-character name)."""
    if len(name) > MAX_ZONE_CHARS or not _ZONE_NAME.fullmatch(name):
        raise ValueError(f"unknown IANA time zone {shown(name)}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown IANA time zone {shown(name)}") from None
    return name


def check_rrule(text: str) -> rrule:
    """The parsed rule if ``text`` is one RFC 5545 RRULE stagger accepts; a one-line
    ValueError if not (syntax, RDATE/EXRULE sets, INTERVAL out of range, controls)."""
    no_control_chars(text)
    try:
        rule = rrulestr(text, dtstart=datetime(2000, 1, 1))
    except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
        raise ValueError(f"bad RRULE {shown(text)}: {str(exc)[:200]}") from None
    if not isinstance(rule, rrule):
        raise ValueError(f"bad RRULE {shown(text)}: give one RRULE (no RDATE/EXRULE sets)")
    interval = getattr(rule, "_interval", 1)
    if not (1 <= interval <= MAX_RRULE_INTERVAL):
        raise ValueError(
            f"bad RRULE {shown(text)}: INTERVAL must be between 1 and {MAX_RRULE_INTERVAL}"
        )
    return rule


def _check_date(value: date, what: str) -> None:
    day = value.date() if isinstance(value, datetime) else value
    if not (EARLIEST <= day <= LATEST):
        raise ValueError(f"{what} must be between {EARLIEST} and {LATEST}")


def _parse_clock(value: str | time) -> time:
    if isinstance(value, time):
        return value
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::00)?", str(value).strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"{shown(value)} is not a clock time HH:MM")
    return time(int(m.group(1)), int(m.group(2)))


TransportMode = Literal["hotadd", "san", "nbd"]
"""How a backup proxy reads a VM's disks (stagger.model.infrastructure); here because tiers
and VMs pin one."""


class _Strict(BaseModel):
    # No inf/nan: `mb_per_s: .nan` would make every duration meaningless.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Cycle(_Strict):
    start: date = Field(description="Local date of the first night's window start.")
    nights: int = Field(default=1, ge=1, le=366)

    @field_validator("start")
    @classmethod
    def _in_range(cls, v: date) -> date:
        _check_date(v, "cycle start")
        return v


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

    @property
    def length_min(self) -> int:
        """Clock minutes from start to end (end before start: the next day)."""
        return (_clock_min(self.end) - _clock_min(self.start)) % 1440 or 1440

    def inside(self, outer: BackupWindow) -> bool:
        """True when this window lies within ``outer`` every night (clock times)."""
        offset_min = (_clock_min(self.start) - _clock_min(outer.start)) % 1440
        return offset_min + self.length_min <= outer.length_min

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _clock_min(t: time) -> int:
    return t.hour * 60 + t.minute


class Throughput(_Strict):
    mb_per_s: float = Field(ge=0.01, le=1e7, description="Sustained backup rate of one job, MB/s.")
    overhead_minutes: float = Field(
        default=0,
        ge=0,
        le=10_080,
        description="Per-job fixed cost: snapshot create/remove, job start (at most a week).",
    )
    change_rate: float | None = Field(
        default=None, gt=0, le=1, description="Incremental cycle: share of size moved per job."
    )


class Limits(_Strict):
    per_host: int = Field(default=1, ge=1, le=MAX_LIMIT)
    per_datastore: int = Field(default=1, ge=1, le=MAX_LIMIT)
    per_raid_group: int = Field(default=1, ge=1, le=MAX_LIMIT)
    concurrent_jobs: int | None = Field(
        default=None, ge=1, le=MAX_LIMIT, description="Backup proxy task slots across the estate."
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
    rrule: Text | None = Field(
        default=None, max_length=MAX_RRULE_CHARS, description="RFC 5545 RRULE, local times."
    )
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
        if v is not None:
            check_rrule(v)
        return v

    @field_validator("dtstart", "start", "end")
    @classmethod
    def _in_range(cls, v: datetime | None) -> datetime | None:
        if v is not None:
            _check_date(v, "date")
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
            if (self.start.tzinfo is None) != (self.end.tzinfo is None):
                raise ValueError(
                    "give start and end both with a UTC offset or both without (local time)"
                )
            if self.end <= self.start:
                raise ValueError("blackout end must be after its start")
        return self


MAX_SCRIPT_CHARS = 4096
"""Longest pre/post script command line accepted (Windows' own limit is 8,191)."""
MAX_GLOB_CHARS = 256

Consistency = Literal["application", "filesystem", "crash", "power-off"]
CONSISTENCIES: tuple[Consistency, ...] = ("application", "filesystem", "crash", "power-off")
# Night rules name dates, not times: FREQ finer than a day would expand to thousands of
# occurrences per night for nothing. dateutil numbers YEARLY 0 ... DAILY 3.
_DAILY = 3


def check_night_rule(text: str) -> str:
    """``text`` if it is an RRULE of nights (FREQ DAILY, WEEKLY, MONTHLY or YEARLY)."""
    rule = check_rrule(text)
    if getattr(rule, "_freq", _DAILY) > _DAILY:
        raise ValueError(
            f"bad RRULE {shown(text)}: a rule of nights needs FREQ=DAILY, WEEKLY, MONTHLY or YEARLY"
        )
    return text


class TierMatch(_Strict):
    """Which VMs a tier takes. Every selector given must hold (AND); ``default: true`` alone
    takes every VM. A VM belongs to the first tier (in file order) whose match holds."""

    default: bool = Field(
        default=False, description="Match every VM (give no other selector with it)."
    )
    tag: Text | None = Field(default=None, description="The VM carries this tag.")
    cluster: Text | None = Field(default=None, description="The VM's host is in this cluster.")
    host: Text | None = Field(default=None, description="The VM runs on this ESXi host.")
    datastore: Text | None = Field(
        default=None, description="One of the VM's disks is on this datastore."
    )
    folder: Text | None = Field(
        default=None,
        description='The VM is in this inventory folder or below it ("dc1/vm/prod" takes'
        ' "dc1/vm/prod/sql" too); VMs without a folder never match.',
    )
    name: Text | None = Field(
        default=None,
        max_length=MAX_GLOB_CHARS,
        description="Shell glob (*, ?, [seq]; case-sensitive) on the VM's name or its vCenter"
        " name.",
    )
    vms: list[Text] | None = Field(
        default=None, min_length=1, description="VM names (the topology's `name`), exactly."
    )

    @model_validator(mode="after")
    def _selectors(self) -> TierMatch:
        given = [k for k in TIER_SELECTORS if getattr(self, k) is not None]
        if self.default and given:
            raise ValueError(f"`default: true` takes every VM: drop {', '.join(given)}")
        if not self.default and not given:
            raise ValueError(
                f"match needs `default: true` or at least one of {', '.join(TIER_SELECTORS)}"
            )
        return self


TIER_SELECTORS = ("tag", "cluster", "host", "datastore", "folder", "name", "vms")


class Full(_Strict):
    """When a tier's VMs get a full backup: give exactly one of ``every`` and ``on``."""

    every: int | None = Field(
        default=None,
        ge=1,
        le=366,
        description="One full per block of this many nights (from the cycle's first night);"
        " the planner chooses the night among the block's incremental nights (all of the"
        " block when it has none). At most the cycle's nights.",
    )
    on: Text | None = Field(
        default=None,
        max_length=MAX_RRULE_CHARS,
        description='RRULE of the nights that carry a full, e.g. "FREQ=WEEKLY;BYDAY=SA" or'
        ' "FREQ=MONTHLY;BYDAY=1SU" (anchored at the cycle\'s first night).',
    )

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: object) -> object:
        # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean true.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("on")
    @classmethod
    def _rule(cls, v: str | None) -> str | None:
        return v if v is None else check_night_rule(v)

    @model_validator(mode="after")
    def _one(self) -> Full:
        if (self.every is None) == (self.on is None):
            raise ValueError("give exactly one of `every: N` and `on: RRULE`")
        return self


class ConsistencyOverheads(_Strict):
    """Minutes a consistency mode adds to each job of a tier that asks for it."""

    application_min: float = Field(
        default=10, ge=0, le=1440, description="VSS freeze/thaw of application-consistent jobs."
    )
    filesystem_min: float = Field(
        default=3, ge=0, le=1440, description="VMware Tools SYNC driver flush (filesystem)."
    )
    shutdown_min: float = Field(
        default=10, ge=0, le=1440, description="Guest shutdown before a power-off backup."
    )
    boot_min: float = Field(
        default=10, ge=0, le=1440, description="Power-on and boot after a power-off backup."
    )

    def minutes(self, mode: Consistency) -> float:
        """Overhead of one job in ``mode``: crash-consistent jobs add none."""
        if mode == "application":
            return self.application_min
        if mode == "filesystem":
            return self.filesystem_min
        if mode == "power-off":
            return self.shutdown_min + self.boot_min
        return 0.0


class Tier(_Strict):
    """One backup regime: which VMs, their incremental and full nights, window, consistency."""

    name: Text = Field(min_length=1, description="Unique name of the tier, e.g. gold.")
    match: TierMatch = Field(description="Selectors of the VMs this tier takes.")
    incremental: Literal["nightly", "none"] | Text = Field(
        default="nightly",
        description='Nights with an incremental: "nightly", "none", or an RRULE of nights'
        ' such as "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" (anchored at the cycle\'s first night).',
    )
    full: Full | Literal["none"] = Field(
        description="{every: N} (planner-chosen night per N nights), {on: RRULE} (fixed"
        ' nights) or "none" (incrementals only).'
    )
    change_rate: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Share of a VM's size an incremental moves (a VM's own change_rate wins;"
        " default throughput.change_rate).",
    )
    window: BackupWindow | None = Field(
        default=None,
        description="This tier's nightly window, inside the policy window (default: the"
        " policy window); a power-off tier's maintenance window.",
    )
    consistency: Consistency = Field(
        default="crash",
        description="application (VSS) or filesystem (SYNC driver) add their quiescing"
        " overhead, power-off adds shutdown + boot and needs a window; crash adds none.",
    )
    priority: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Priority of this tier's jobs (lower = planned first, dropped last); a VM"
        " whose own priority is not the default 100 keeps it.",
    )
    pre_script: Text | None = Field(
        default=None,
        max_length=MAX_SCRIPT_CHARS,
        description="Command run before the snapshot, carried into exports that support it.",
    )
    post_script: Text | None = Field(
        default=None,
        max_length=MAX_SCRIPT_CHARS,
        description="Command run after the snapshot is taken.",
    )
    # Pins of the backup infrastructure (--infra); a VM's own pin wins. Checked against the
    # infrastructure file by stagger.infrastructure; planned with `plan --infra`.
    proxy: Text | None = Field(default=None, description="Backup proxy every job of it uses.")
    mode: TransportMode | None = Field(
        default=None, description="Transport mode its jobs use: hotadd, san or nbd."
    )
    repository: Text | None = Field(default=None, description="Repository its jobs write to.")

    @field_validator("full", mode="before")
    @classmethod
    def _full_form(cls, v: object) -> object:
        if not isinstance(v, dict) and v != "none" and not isinstance(v, Full):
            raise ValueError(f"full is {{every: N}}, {{on: RRULE}} or none, not {shown(v)}")
        return v

    @field_validator("incremental")
    @classmethod
    def _incremental(cls, v: str) -> str:
        if v in ("nightly", "none"):
            return v
        if len(v) > MAX_RRULE_CHARS:
            raise ValueError(f"an RRULE has at most {MAX_RRULE_CHARS} characters")
        return check_night_rule(v)

    @model_validator(mode="after")
    def _backs_up(self) -> Tier:
        if self.incremental == "none" and self.full == "none":
            raise ValueError(
                "a tier with neither incrementals nor fulls backs nothing up (use `exclude` on"
                " the VMs)"
            )
        return self


class Policy(_Strict):
    timezone: str = Field(description="IANA time zone, e.g. Europe/Berlin.")
    cycle: Cycle
    window: BackupWindow
    slot_minutes: int = Field(default=5, ge=1, le=120)
    throughput: Throughput
    limits: Limits = Field(default_factory=Limits)
    blackouts: list[Blackout] = Field(default_factory=list)
    tiers: list[Tier] = Field(
        default_factory=list,
        description="Backup regimes, first match wins; empty: one job per VM per cycle."
        " VMs no tier matches keep that single regime.",
    )
    consistency: ConsistencyOverheads = Field(
        default_factory=ConsistencyOverheads,
        description="Minutes each consistency mode adds to a tier's jobs.",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check_zone(v)

    @model_validator(mode="after")
    def _unique_blackouts(self) -> Policy:
        seen: set[str] = set()
        for b in self.blackouts:
            if b.name in seen:
                raise ValueError(f"duplicate blackout name {shown(b.name)}")
            seen.add(b.name)
        return self

    @model_validator(mode="after")
    def _check_tiers(self) -> Policy:
        seen: set[str] = set()
        for t in self.tiers:
            where = f"tier {shown(t.name)}"
            if t.name in seen:
                raise ValueError(f"{where}: field 'name': duplicate tier name")
            seen.add(t.name)
            every = t.full.every if isinstance(t.full, Full) else None
            if every is not None and every > self.cycle.nights:
                raise ValueError(
                    f"{where}: field 'full.every': one full every {every} nights is"
                    f" longer than the cycle ({self.cycle.nights}"
                    f" night{'s' if self.cycle.nights > 1 else ''})"
                )
            if t.window is not None and not t.window.inside(self.window):
                raise ValueError(
                    f"{where}: field 'window': {t.window} is not inside the policy window"
                    f" {self.window}"
                )
            rate = t.change_rate or self.throughput.change_rate
            if t.incremental != "none" and rate is None:
                raise ValueError(
                    f"{where}: field 'change_rate': a tier with incrementals needs a"
                    " change_rate (on the tier, or throughput.change_rate)"
                )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
