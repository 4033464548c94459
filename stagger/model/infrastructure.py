"""The backup infrastructure: proxies (task slots, transport modes, reach), the rate of each
transport mode, and repositories (task slots, ingest rate).

Its own file, ``infrastructure.yaml`` (``--infra``), not topology keys: the backup admin owns
proxies and repositories, the VMware admin owns the topology (and ``stagger inventory``
rewrites it). Field checks live here; which proxies reach which VM is
:mod:`stagger.infrastructure`; planned with ``plan --infra`` (docs/infrastructure.md).
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from stagger.errors import shown
from stagger.model.policy import MAX_GLOB_CHARS, MAX_LIMIT, TransportMode, _Strict
from stagger.model.text import Text

TRANSPORT_MODES: tuple[TransportMode, ...] = ("hotadd", "san", "nbd")
MAX_RATE_MB_PER_S = 1_000_000.0
"""Fastest rate accepted (1 TB/s): anything above is a typo, and keeps durations finite."""


class ProxyReach(_Strict):
    """Which VMs a proxy reaches: every selector given must hold (AND). Absent: every VM."""

    cluster: Text | None = Field(default=None, description="The VM's host is in this cluster.")
    host: Text | None = Field(default=None, description="The VM runs on this ESXi host.")
    datastore: Text | None = Field(
        default=None,
        max_length=MAX_GLOB_CHARS,
        description='Shell glob (*, ?, [seq]; case-sensitive), e.g. "DS-1*": EVERY datastore'
        " the VM reads must match (the LUNs zoned to a Direct SAN proxy).",
    )
    tag: Text | None = Field(default=None, description="The VM carries this tag.")

    @model_validator(mode="after")
    def _some_selector(self) -> ProxyReach:
        if all(getattr(self, k) is None for k in REACH_SELECTORS):
            raise ValueError(
                f"reaches needs at least one of {', '.join(REACH_SELECTORS)} (leave `reaches`"
                " out for a proxy that reaches every VM)"
            )
        return self


REACH_SELECTORS = ("cluster", "host", "datastore", "tag")


class Proxy(_Strict):
    name: Text = Field(min_length=1, description="Unique name of the proxy, e.g. prx-a1.")
    max_tasks: int = Field(ge=1, le=MAX_LIMIT, description="Concurrent task slots.")
    modes: list[TransportMode] = Field(
        min_length=1, description="Transport modes it can use: hotadd, san, nbd."
    )
    reaches: ProxyReach | None = Field(
        default=None, description="Which VMs it reaches (absent: every VM)."
    )

    @field_validator("modes")
    @classmethod
    def _unique_modes(cls, v: list[TransportMode]) -> list[TransportMode]:
        if len(set(v)) != len(v):
            raise ValueError("a mode is listed twice")
        return v


class Rate(_Strict):
    mb_per_s: float = Field(
        gt=0, le=MAX_RATE_MB_PER_S, description="Backup rate of one job in this mode, MB/s."
    )


class Transport(_Strict):
    """The rate of one job in each transport mode; a mode a proxy uses needs its rate."""

    hotadd: Rate | None = None
    san: Rate | None = None
    nbd: Rate | None = None

    def rate(self, mode: TransportMode) -> Rate | None:
        rate: Rate | None = getattr(self, mode)
        return rate


class Repository(_Strict):
    name: Text = Field(min_length=1, description="Unique name of the repository, e.g. repo-1.")
    max_tasks: int = Field(ge=1, le=MAX_LIMIT, description="Concurrent tasks it accepts.")
    ingest_mb_per_s: float = Field(
        gt=0, le=MAX_RATE_MB_PER_S, description="Total rate it can write, MB/s."
    )


class Infrastructure(_Strict):
    """``infrastructure.yaml``: the backup side of the estate."""

    proxies: list[Proxy] = Field(min_length=1)
    transport: Transport
    repositories: list[Repository] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Infrastructure:
        for kind, objects in (("proxy", self.proxies), ("repository", self.repositories)):
            seen: set[str] = set()
            for o in objects:
                if o.name in seen:
                    raise ValueError(f"{kind} {shown(o.name)}: field 'name': duplicate {kind} name")
                seen.add(o.name)
        for p in self.proxies:
            for mode in p.modes:
                if self.transport.rate(mode) is None:
                    raise ValueError(
                        f"proxy {shown(p.name)}: field 'modes': mode {mode!r} with no rate"
                        f" (add transport: {{{mode}: {{mb_per_s: N}}}})"
                    )
        return self

    def proxy(self, name: str) -> Proxy | None:
        return next((p for p in self.proxies if p.name == name), None)

    def repository(self, name: str) -> Repository | None:
        return next((r for r in self.repositories if r.name == name), None)
