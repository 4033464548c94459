"""The plan a solver produced: absolute start/end per VM, what did not fit and why, and facts.

A ``Schedule`` carries the exact topology and policy it was planned from (``inputs``), so that
``stagger validate``, the exporters and what-if runs can re-check it without the original files.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy, TransportMode, check_zone
from stagger.model.text import Text
from stagger.model.topology import Topology

SCHEMA_VERSION = "stagger.schedule/1"
MAX_WINDOW = dt.timedelta(hours=25)
"""Longest nightly window: under 24 hours, plus the hour a daylight-saving night gains."""

ResourceKind = Literal[
    "host", "datastore", "raid_group", "concurrent", "proxy", "repository", "ingest"
]
"""What a job occupies: the estate's host, datastores and RAID groups; the global task slots
(``concurrent``); with an infrastructure file, the proxy it is processed by, the repository it
writes to (a task slot there) and that repository's ingest rate (``ingest``, MB/s)."""
SolverStatus = Literal["OPTIMAL", "FEASIBLE", "GREEDY", "INFEASIBLE", "UNKNOWN", "EMPTY"]


def gap_pct(value: float, bound: float) -> float:
    """How far ``value`` (a makespan, a count of unscheduled VMs) lies above its lower bound, in
    percent of the bound (at least 1), two decimals: the one formula the planner writes and the
    validator re-checks."""
    return round((value - bound) / max(bound, 1) * 100, 2)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ScheduledJob(_Strict):
    vm: Text = Field(description="The VM's unique name in the topology (may be disambiguated).")
    vm_display_name: Text | None = Field(
        default=None, description="The VM's name in vCenter, when it differs from `vm`."
    )
    vm_moref: Text | None = Field(default=None, description='vCenter managed object id "vm-N".')
    vm_instance_uuid: Text | None = None
    vcenter: Text | None = Field(default=None, description="vCenter server holding the VM.")
    host: Text
    cluster: Text | None = None
    datastores: list[Text] = Field(default_factory=list)
    raid_groups: list[Text] = Field(default_factory=list)
    start: AwareDatetime
    end: AwareDatetime
    duration_min: int = Field(
        ge=1,
        le=int(MAX_WINDOW.total_seconds() // 60),
        description="Minutes the job runs; at most one window (25 hours).",
    )
    size_gib: float = Field(description="GiB this job moves (full size, or size * change_rate).")
    night: int = Field(ge=0, description="Index of the window occurrence (0 = first night).")
    level: Literal["full", "incremental"] | None = Field(
        default=None,
        description="Backup level: `full` or `incremental`, as the cycle's jobs say (stagger"
        " cycle). Absent in schedules written before tiers: read as the single regime's"
        " level, filled in on load from the embedded inputs (incremental when a change_rate"
        " applies to the VM, its own or the policy's; else full).",
    )
    tier: Text | None = Field(
        default=None,
        description="Name of the policy tier the VM belongs to; null for the single regime.",
    )
    proxy: Text | None = Field(
        default=None,
        description="Backup proxy that processes the job (planned with an infrastructure"
        " file, `--infra`); null without one.",
    )
    mode: TransportMode | None = Field(
        default=None,
        description="Transport mode the proxy reads the VM's disks in (hotadd, san, nbd);"
        " it sets the job's rate and so its duration. Null without an infrastructure file.",
    )
    repository: Text | None = Field(
        default=None,
        description="Repository the job writes to; null without an infrastructure file or"
        " when it lists no repositories.",
    )


class UnscheduledVM(_Strict):
    vm: Text
    reason: Text


class Night(_Strict):
    index: int
    date: dt.date = Field(description="Local date the window opens.")
    window_start: AwareDatetime
    window_end: AwareDatetime
    jobs: int = 0
    last_end: AwareDatetime | None = None
    makespan_min: int = Field(
        default=0, description="Minutes from window start to the end of the night's last job."
    )

    @model_validator(mode="after")
    def _window_is_one_night(self) -> Night:
        # A hand-edited `window_start: 1` (1970) made the HTML export walk 56 years of ticks.
        length = self.window_end - self.window_start
        if not (dt.timedelta(0) < length <= MAX_WINDOW):
            raise ValueError("window_end must be after window_start, at most 25 hours later")
        return self


class ResourceUse(_Strict):
    kind: ResourceKind
    name: str
    capacity: int
    jobs: int
    busy_min: int = Field(
        description="Sum of job minutes on this resource; on an `ingest` row each job's"
        " minutes times its rate in whole MB/s (MB/s x minutes)."
    )
    free_min: int = Field(
        description="Window minutes left after blackouts, times capacity (on an `ingest`"
        " row: MB/s x minutes)."
    )
    utilisation_pct: float


class SolverInfo(_Strict):
    name: Literal["cpsat", "greedy"]
    status: SolverStatus
    seed: int = 0
    time_limit_s: float | None = None
    objective: float | None = None
    greedy_makespan_min: int | None = None
    interrupted: bool = Field(
        default=False, description="The search was stopped (Ctrl-C): best plan found so far."
    )
    wall_limit_hit: bool = Field(
        default=False,
        description="A solve stopped on the wall-clock time limit rather than on its"
        " deterministic budget: the same inputs may then give a different plan.",
    )
    fallbacks: list[str] = Field(
        default_factory=list,
        description="Solver runs that failed (e.g. a worker process aborted) and whose part"
        " of the plan kept the previous (greedy or earlier) plan instead.",
    )
    incremental_vms: int | None = Field(
        default=None,
        description="Tiered cycles: the scheduled VMs with two or more incrementals.",
    )
    incremental_vms_one_clock: int | None = Field(
        default=None,
        description="Of incremental_vms, those whose incrementals all start at one clock time"
        " (the same offset into every night's window).",
    )


class ScheduleInputs(_Strict):
    topology: Topology
    policy: Policy
    infrastructure: Infrastructure | None = Field(
        default=None,
        description="The backup infrastructure (`--infra` file) the plan assigned proxies,"
        " modes and repositories from; null when planned without one.",
    )


class Schedule(_Strict):
    schema_version: Literal["stagger.schedule/1"] = "stagger.schedule/1"
    timezone: str
    cycle_start: dt.date
    nights: list[Night]
    jobs: list[ScheduledJob]
    unscheduled: list[UnscheduledVM] = Field(default_factory=list)
    solver: SolverInfo
    makespan_min: int = Field(description="Largest per-night makespan, minutes.")
    lower_bound_min: int = Field(
        description="Proven lower bound on the makespan of a plan that schedules every VM;"
        " never clamped (with VMs unscheduled it may exceed makespan_min)."
    )
    gap_pct: float | None = Field(
        description="(makespan - lower bound) / lower bound * 100; null when VMs that could"
        " run are unscheduled (the bound is for a plan with all of them; see"
        " unscheduled_gap_pct). VMs that cannot run at all (too long for any free stretch, a"
        " pin that breaks a rule) are outside both the plan and the bound."
    )
    unscheduled_min: int = Field(
        default=0,
        ge=0,
        description="Proven lower bound on how many VMs no plan can schedule.",
    )
    unscheduled_gap_pct: float | None = Field(
        default=None,
        description="(unscheduled - unscheduled_min) / max(unscheduled_min, 1) * 100 when VMs"
        " are unscheduled, else null.",
    )
    utilisation: list[ResourceUse] = Field(default_factory=list)
    bottlenecks: list[str] = Field(
        default_factory=list, description="Resources whose load cannot fit, in admin words."
    )
    inputs: ScheduleInputs

    @model_validator(mode="after")
    def _nights_of_jobs_exist(self) -> Schedule:
        # Structure only (a hand-edited file): exporters index nights by jobs[].night.
        # Whether the nights match the policy is stagger.validate's job.
        if not self.nights:
            raise ValueError("a schedule has at least one night (field 'nights' is empty)")
        indices = [n.index for n in self.nights]
        if len(set(indices)) != len(indices):
            raise ValueError("two nights share one index (field 'nights')")
        missing = sorted({j.night for j in self.jobs} - set(indices))
        if missing:
            raise ValueError(f"jobs refer to night {missing[0]}, which 'nights' does not list")
        return self

    @model_validator(mode="after")
    def _single_regime_levels(self) -> Schedule:
        # Schedules written before tiers carry no `level`: their jobs are the single
        # regime's, whose level the embedded inputs give (same rule as stagger.jobs).
        vms = {vm.name: vm for vm in self.inputs.topology.vms}
        policy_rate = self.inputs.policy.throughput.change_rate
        for job in self.jobs:
            vm = vms.get(job.vm)
            if job.level is None and job.tier is None and vm is not None:
                rate = vm.change_rate if vm.change_rate is not None else policy_rate
                job.level = "full" if rate is None else "incremental"
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        # Exporters turn times into this zone: a bogus one must be a field error, not a crash.
        return check_zone(v)

    def job(self, vm: str) -> ScheduledJob | None:
        """The VM's job, for one-job-per-VM schedules (the single regime); with tiers a VM
        has several: use :meth:`jobs_of`."""
        return next((j for j in self.jobs if j.vm == vm), None)

    def jobs_of(self, vm: str) -> list[ScheduledJob]:
        """Every job of the VM, in schedule order (one per night it runs)."""
        return [j for j in self.jobs if j.vm == vm]

    @property
    def complete(self) -> bool:
        return not self.unscheduled

    def gap_text(self) -> str:
        """The gap as a claim people read: on the makespan when every VM is planned; on the
        number of unscheduled VMs otherwise (a makespan gap would compare a partial plan with
        a bound for the full one)."""
        if self.gap_pct is not None:
            if self.unscheduled:  # only VMs no plan can run (each with its reason)
                return (
                    f"{self.gap_pct:.2f} % (of the VMs that can run;"
                    f" {len(self.unscheduled)} cannot run at all)"
                )
            return f"{self.gap_pct:.2f} %"
        gap = self.unscheduled_gap_pct
        return (
            f"{len(self.unscheduled)} VMs unscheduled, at least {self.unscheduled_min} must be"
            + (f" (gap {gap:.2f} % on that count)" if gap is not None else "")
        )
