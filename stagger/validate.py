"""The independent validator: re-check a Schedule against topology + policy, rule by rule.

It recomputes windows and blackouts with :mod:`stagger.calendar`, job sizes with
:mod:`stagger.jobs`, and takes the rules' meaning (which VMs get a job, which resources a job
occupies and their capacities, which blackouts apply to a VM) from :mod:`stagger.rules`, the
same functions the compiler calls; it works in absolute datetimes. It never looks at the
solvers' slots or model, so a bug in the encoding cannot hide from it.

Besides the rules, every field an exporter or a report reads is checked against the inputs
(a schedule is a file anyone can edit): the time zone and cycle start, each job's host,
cluster, datastores, RAID groups, vCenter identity and size, the list of nights (re-derived
from the policy's window) and every makespan (recomputed from the jobs' end times).

A schedule planned with a backup infrastructure file (``--infra``; embedded as
``inputs.infrastructure``) is checked against it with the rules of
:mod:`stagger.infrastructure` (``reaches``, ``pins_of``, ``job_rate``): every job's proxy
reaches its VM in the recorded mode and honours the pins, its length is the mode's, and at
every instant no proxy, repository or repository ingest rate is over its limit.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from stagger.calendar import (
    blackout_intervals,
    local_to_utc,
    window_occurrences,
    window_on_night,
)
from stagger.cycle import BackupJob, cycle_jobs
from stagger.errors import InvalidScheduleError, shown
from stagger.infrastructure import Pins, job_rate, pins_of, reaches
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule, ScheduledJob, gap_pct
from stagger.model.topology import VM, Topology, TopologyIndex
from stagger.rules import (
    ResourceRef,
    blackout_members,
    capacity,
    infrastructure_capacity,
    ingest_demand,
    needs_job,
    vm_resources,
)

_EPS_MIN = 1e-6
# The planner stores job sizes rounded to 3 decimals (MiB precision).
_EPS_GIB = 1e-3
# A repository's ingest is checked on the exact float rates (MB/s) of the jobs running at
# once. Their sum may miss an exactly-full ingest by float rounding (0.1 + 0.2 > 0.3), so a
# sum counts as over the ingest only when it exceeds it by more than one part in 10^9. The
# planner keeps a margin far above that: it books ceil(rate) against floor(ingest).
_INGEST_REL_TOL = 1e-9
# As jobs.job_slots: float noise on an exact multiple must not cost one more slot.
_EPS_SLOTS = 1e-9


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="minutes")


def _in_utc(jobs: list[ScheduledJob]) -> list[ScheduledJob]:
    """Copies with UTC times. Python compares and subtracts datetimes that share a tzinfo by
    wall clock, which is wrong across a daylight-saving change; UTC has no such hour."""
    return [
        j.model_copy(update={"start": j.start.astimezone(UTC), "end": j.end.astimezone(UTC)})
        for j in jobs
    ]


def _overloads(
    jobs: list[ScheduledJob], use: list[float], limit: float
) -> list[tuple[datetime, list[int]]]:
    """Sweep the jobs' start/end events (ends before starts at the same instant), summing
    each running job's ``use``: the instant each overload above ``limit`` begins, with the
    jobs running then (positions in ``jobs``). Keyed by position, not VM: with tiers a VM has
    several jobs, and two of them at once are two jobs on the resource."""
    events = sorted(
        [(j.start, 1, k) for k, j in enumerate(jobs)]
        + [(j.end, -1, k) for k, j in enumerate(jobs)],
        key=lambda e: (e[0], e[1]),
    )
    running: set[int] = set()
    out = []
    over = False
    total = 0.0  # running sum, kept incrementally; a crossing is confirmed with an exact sum
    for when, kind, k in events:
        if kind == 1:
            running.add(k)
            total += use[k]
            if not over and total > limit and math.fsum(use[r] for r in running) > limit:
                out.append((when, sorted(running)))
                over = True
        elif k in running:  # a job whose end precedes its start (reported apart) stays on
            running.discard(k)
            total -= use[k]
            if over and math.fsum(use[r] for r in running) <= limit:
                over = False
    return out


def _capacity_violations(
    label: str, jobs: list[ScheduledJob], capacity: int, tz: ZoneInfo
) -> list[str]:
    """The first instant each overload of ``capacity`` jobs at once begins."""
    return [
        f"{label}: {len(running)} jobs at {_iso(when.astimezone(tz))}"
        f" ({', '.join(sorted(jobs[r].vm for r in running))}), limit {capacity}"
        for when, running in _overloads(jobs, [1.0] * len(jobs), capacity)
    ]


def _ingest_violations(
    label: str, jobs: list[ScheduledJob], rates: list[float], ingest: float, tz: ZoneInfo
) -> list[str]:
    """The first instant each overload of the repository's ingest begins: the running jobs'
    rates (MB/s) summed exactly, over by more than _INGEST_REL_TOL."""
    out = []
    for when, running in _overloads(jobs, rates, ingest * (1 + _INGEST_REL_TOL)):
        total = math.fsum(rates[r] for r in running)
        out.append(
            f"{label}: {total:g} MB/s at {_iso(when.astimezone(tz))}"
            f" ({len(running)} jobs: {', '.join(sorted(jobs[r].vm for r in running))}),"
            f" limit {ingest:g} MB/s"
        )
    return out


def _listed(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return ", ".join(words[:-1]) + (" and " if len(words) > 1 else "") + words[-1]


def _slots_min(minutes: float, slot_min: int) -> int:
    """``minutes`` rounded up to the planning slot grid (at least one slot), as the compiler
    rounds every job's length (stagger.jobs.job_slots)."""
    return max(1, math.ceil(minutes / slot_min - _EPS_SLOTS)) * slot_min


def _pin_source(vm: VM, field: str, tier: str | None) -> str:
    """Who pins ``field`` for ``vm``: its own pin wins over its tier's (pins_of)."""
    return "the VM pins" if getattr(vm, field) is not None else f"tier {shown(tier)} pins"


def _assignment_violations(
    job: ScheduledJob,
    label: str,
    vm: VM,
    idx: TopologyIndex,
    infra: Infrastructure,
    pins: Pins,
    tier: str | None,
) -> list[str]:
    """The proxy, mode and repository a job records against the infrastructure file: they
    exist, the proxy reaches the VM (the reach rule, called here, never read from the plan)
    in that mode, and the VM's or its tier's pins hold. Exporters print these fields."""
    out = []
    if job.proxy is None or job.mode is None:
        missing = [f for f in ("proxy", "mode") if getattr(job, f) is None]
        out.append(
            f"{label}: no {_listed(missing)}; with an infrastructure file every job has both"
        )
    if job.repository is None and infra.repositories:
        out.append(
            f"{label}: no repository; the infrastructure file lists"
            f" {len(infra.repositories)}, every job writes to one"
        )
    if job.repository is not None and infra.repository(job.repository) is None:
        out.append(f"{label}: repository {shown(job.repository)} is not in the infrastructure file")
    proxy = infra.proxy(job.proxy) if job.proxy is not None else None
    if job.proxy is not None and proxy is None:
        out.append(f"{label}: proxy {shown(job.proxy)} is not in the infrastructure file")
    if proxy is not None:
        if not reaches(proxy, vm, idx):
            where = ", ".join(
                [f"host {shown(vm.host)}"]
                + ([f"cluster {shown(c)}"] if (c := idx.cluster_of(vm)) is not None else [])
                + ["datastores " + (", ".join(shown(d) for d in vm.datastores) or "none")]
            )
            out.append(f"{label}: proxy {shown(proxy.name)} does not reach the VM ({where})")
        if job.mode is not None and job.mode not in proxy.modes:
            out.append(
                f"{label}: proxy {shown(proxy.name)} has no mode {job.mode!r}"
                f" (its modes: {', '.join(proxy.modes)})"
            )
    for field in ("proxy", "mode", "repository"):
        pinned, used = getattr(pins, field), getattr(job, field)
        if pinned is not None and used != pinned:
            out.append(
                f"{label}: {field} {shown(used) if used is not None else 'none'},"
                f" {_pin_source(vm, field, tier)} {field} {shown(pinned)}"
            )
    return out


def _mode_length_violation(
    job: ScheduledJob, label: str, ref: BackupJob, infra: Infrastructure, slot_min: int
) -> list[str]:
    """With an infrastructure file a job's length is set by its mode's rate (capped by its
    repository's ingest, job_rate), rounded up to the slot grid like every job's length."""
    if job.mode is None or infra.transport.rate(job.mode) is None:
        return []  # no mode, or one no proxy has: reported by _assignment_violations
    known = job.repository is not None and infra.repository(job.repository) is not None
    repository = job.repository if known else None
    rate = job_rate(infra, job.mode, repository)
    minutes = ref.minutes_at(rate)
    want = _slots_min(minutes, slot_min)
    if job.duration_min == want:
        return []
    return [
        f"{label}: duration_min {job.duration_min}, in {job.mode} mode at {rate:g} MB/s the"
        f" backup takes {minutes:.1f} min, {want} on the {slot_min}-min slot grid"
    ]


def _infrastructure_capacity_violations(
    jobs: list[ScheduledJob], infra: Infrastructure, tz: ZoneInfo
) -> list[str]:
    """Per proxy its task slots, per repository its tasks and its ingest rate, at every
    event point (the jobs' own proxy and repository fields, checked above)."""
    out = []
    for p in infra.proxies:
        mine = [j for j in jobs if j.proxy == p.name]
        if len(mine) > p.max_tasks:
            out += _capacity_violations(f"proxy {shown(p.name)} task slots", mine, p.max_tasks, tz)
    for r in infra.repositories:
        mine = [j for j in jobs if j.repository == r.name]
        if len(mine) > r.max_tasks:
            out += _capacity_violations(f"repository {shown(r.name)} tasks", mine, r.max_tasks, tz)
        # A job with a mode no rate is given for is reported already and carries no rate.
        rated = [j for j in mine if j.mode is not None and infra.transport.rate(j.mode)]
        rates = [job_rate(infra, j.mode, r.name) for j in rated if j.mode is not None]
        if math.fsum(rates) > r.ingest_mb_per_s * (1 + _INGEST_REL_TOL):
            out += _ingest_violations(
                f"repository {shown(r.name)} ingest", rated, rates, r.ingest_mb_per_s, tz
            )
    return out


def night_makespans_min(schedule: Schedule, policy: Policy) -> list[int]:
    """Per window occurrence of ``policy``: minutes from the window's opening to the end of the
    last job that lies in it (0 for a night without jobs), from the jobs' absolute times."""
    occurrences = window_occurrences(policy)
    spans = [0] * len(occurrences)
    for job in schedule.jobs:
        start, end = job.start.astimezone(UTC), job.end.astimezone(UTC)
        occ = next((o for o in occurrences if o.start <= start and end <= o.end), None)
        if occ is not None:
            minutes = (end - occ.start).total_seconds() / 60
            spans[occ.index] = max(spans[occ.index], math.ceil(minutes - _EPS_MIN))
    return spans


def makespan_min(schedule: Schedule, policy: Policy) -> int:
    """The worst night's makespan, recomputed (never the value stored in the file)."""
    return max(night_makespans_min(schedule, policy), default=0)


def _header_violations(schedule: Schedule, policy: Policy) -> list[str]:
    out = []
    if schedule.timezone != policy.timezone:
        out.append(
            f"timezone {schedule.timezone!r} but the policy's time zone is {policy.timezone!r}"
        )
    if schedule.cycle_start != policy.cycle.start:
        out.append(
            f"cycle_start {schedule.cycle_start} but the policy's cycle starts {policy.cycle.start}"
        )
    return out


def _night_violations(schedule: Schedule, policy: Policy) -> list[str]:
    """``nights`` and the makespans must be what the policy and the jobs say they are."""
    out = []
    occurrences = window_occurrences(policy)
    spans = night_makespans_min(schedule, policy)
    if len(schedule.nights) != len(occurrences):
        out.append(
            f"nights: {len(schedule.nights)} listed, the policy's cycle has {len(occurrences)}"
        )
    for occ, night, span in zip(occurrences, schedule.nights, spans, strict=False):
        mine = [j for j in schedule.jobs if j.night == occ.index]
        last = max((j.end.astimezone(UTC) for j in mine), default=None)
        where = f"night {night.index}"
        if night.index != occ.index:
            out.append(f"{where}: listed at position {occ.index}")
            continue
        if night.date != occ.date:
            out.append(f"{where}: date {night.date}, the policy's window opens {occ.date}")
        if (
            night.window_start.astimezone(UTC) != occ.start
            or night.window_end.astimezone(UTC) != occ.end
        ):
            out.append(
                f"{where}: window {_iso(night.window_start)} to {_iso(night.window_end)}, the"
                f" policy's is {_iso(occ.start.astimezone(policy.tz))} to"
                f" {_iso(occ.end.astimezone(policy.tz))}"
            )
        if night.jobs != len(mine):
            out.append(f"{where}: says {night.jobs} jobs, the schedule has {len(mine)}")
        stored_last = night.last_end.astimezone(UTC) if night.last_end else None
        if stored_last != last:
            shown = _iso(last.astimezone(policy.tz)) if last else "none"
            out.append(f"{where}: last_end differs from its last job's end ({shown})")
        if night.makespan_min != span:
            out.append(f"{where}: makespan_min {night.makespan_min}, the jobs give {span}")
    worst = max(spans, default=0)
    if schedule.makespan_min != worst:
        out.append(f"makespan_min {schedule.makespan_min}, the jobs give {worst}")
    return out


def _job_field_violations(
    job: ScheduledJob, label: str, vm: VM, idx: TopologyIndex, size: float | None
) -> list[str]:
    """Fields the exporters print or address VMs by, against the topology; ``size`` is the
    GiB the cycle's job of this level moves (None: the cycle has no such job, reported
    elsewhere)."""
    out = []
    cluster = idx.cluster_of(vm)
    if job.cluster != cluster:
        out.append(f"{label}: cluster is {job.cluster}, the topology says {cluster}")
    identity = {
        "vm_display_name": vm.vcenter_name,
        "vm_moref": vm.moref,
        "vm_instance_uuid": vm.instance_uuid,
        "vcenter": vm.vcenter,
    }
    for name, expected in identity.items():
        value = getattr(job, name)
        # Unset is allowed (exporters then use what the topology says); a value must match.
        if value is not None and value != expected:
            out.append(f"{label}: {name} is {value!r}, the topology says {expected!r}")
    if size is not None and abs(job.size_gib - size) > _EPS_GIB * max(1.0, size):
        out.append(f"{label}: size_gib {job.size_gib:g}, the topology gives {size:.3f}")
    return out


def _job_resource_violations(
    job: ScheduledJob, label: str, expected: list[ResourceRef]
) -> list[str]:
    """The host, datastores and RAID groups a job records must be the ones the rules give for
    its VM: exporters print them and ``whatif`` compares them to spot drift."""
    out = []
    host = next(r.name for r in expected if r.kind == "host")
    datastores = [r.name for r in expected if r.kind == "datastore"]
    raid_groups = [r.name for r in expected if r.kind == "raid_group"]
    if job.host != host:
        out.append(f"{label}: host is {job.host}, the topology says {host}")
    if set(job.datastores) != set(datastores):
        out.append(
            f"{label}: datastores {sorted(job.datastores)} differ from the topology's"
            f" {sorted(datastores)}"
        )
    if set(job.raid_groups) != set(raid_groups):
        out.append(
            f"{label}: RAID groups {sorted(job.raid_groups)} differ from the topology's"
            f" {sorted(raid_groups)}"
        )
    return out


def _utilisation_violations(schedule: Schedule, infra: Infrastructure | None) -> list[str]:
    """The per-resource job counts and busy minutes reports show, recounted from the jobs.

    Proxy and repository rows count task minutes like the estate's resources. An ingest
    row is in the units of its capacity (MB/s, the repository's ingest rounded down, as the
    rules book it, ``rules.ingest_demand``): its busy_min is the sum over the repository's
    jobs of duration_min times the job's rate in those units (MB/s x min), so that busy /
    free is the share of the ingest the jobs take."""
    jobs: dict[tuple[str, str], int] = defaultdict(int)
    busy: dict[tuple[str, str], int] = defaultdict(int)
    for job in schedule.jobs:
        keys = [("host", job.host)]
        keys += [("datastore", d) for d in set(job.datastores)]
        keys += [("raid_group", g) for g in set(job.raid_groups)]
        if job.proxy is not None:
            keys.append(("proxy", job.proxy))
        if job.repository is not None:
            keys.append(("repository", job.repository))
        for key in keys:
            jobs[key] += 1
            busy[key] += job.duration_min
        rated = infra is not None and job.mode is not None and infra.transport.rate(job.mode)
        if infra is not None and job.mode is not None and rated and job.repository is not None:
            key = ("ingest", job.repository)
            cap = _infrastructure_capacity("ingest", job.repository, infra)
            jobs[key] += 1
            if cap is not None:
                rate = job_rate(infra, job.mode, job.repository)
                busy[key] += job.duration_min * ingest_demand(rate, cap)
    out = []
    for u in schedule.utilisation:
        if u.kind == "concurrent":
            continue
        key = (u.kind, u.name)
        if u.kind in ("proxy", "repository", "ingest"):
            row = f"utilisation {u.kind} {shown(u.name)}"
            cap = _infrastructure_capacity(u.kind, u.name, infra) if infra is not None else None
            if infra is None:
                out.append(f"{row}: the schedule was planned without an infrastructure file")
                continue
            if cap is None:
                out.append(f"{row}: not in the infrastructure file")
                continue
            if u.capacity != cap:
                out.append(f"{row}: capacity {u.capacity}, the infrastructure file gives {cap}")
        if (u.jobs, u.busy_min) != (jobs[key], busy[key]):
            out.append(
                f"utilisation {u.kind.replace('_', ' ')} {u.name}: {u.jobs} jobs /"
                f" {u.busy_min} min, the jobs give {jobs[key]} / {busy[key]}"
            )
    return out


def _infrastructure_capacity(kind: str, name: str, infra: Infrastructure) -> int | None:
    """A utilisation row's capacity as the rules book it (``rules.infrastructure_capacity``);
    None: no such object in the file."""
    try:
        return infrastructure_capacity(ResourceRef(kind, name), infra)  # type: ignore[arg-type]
    except ValueError:
        return None


def _claim_violations(schedule: Schedule) -> list[str]:
    """The claims a report prints (gap, bound, OPTIMAL) must agree with each other and with
    the makespan: they cannot be re-proven here, but a hand-edited "gap 0 %" over a makespan
    above its bound, or a bound above the makespan of a complete plan, is caught."""
    out = []
    span, bound = schedule.makespan_min, schedule.lower_bound_min
    if schedule.gap_pct is not None:
        if bound > span:
            out.append(
                f"lower_bound_min {bound} is above makespan_min {span}: no plan with every"
                " job can end before its lower bound"
            )
        elif bound > 0:
            gap = gap_pct(span, bound)
            if abs(schedule.gap_pct - gap) > 0.011:
                out.append(
                    f"gap_pct {schedule.gap_pct:g} but makespan_min {span} and lower_bound_min"
                    f" {bound} give {gap:g}"
                )
        if schedule.solver.status == "OPTIMAL" and schedule.gap_pct > 0:
            out.append(f"solver status OPTIMAL with a gap of {schedule.gap_pct:g} %")
    dropped, must = len(schedule.unscheduled), schedule.unscheduled_min
    if must > dropped:
        out.append(f"unscheduled_min {must} but only {dropped} VMs are unscheduled")
    elif dropped and schedule.unscheduled_gap_pct is not None:
        gap = gap_pct(dropped, must)
        if abs(schedule.unscheduled_gap_pct - gap) > 0.011:
            out.append(
                f"unscheduled_gap_pct {schedule.unscheduled_gap_pct:g} but {dropped} unscheduled"
                f" of at least {must} give {gap:g}"
            )
    return out


def _unscheduled_violations(schedule: Schedule, idx: TopologyIndex) -> list[str]:
    out = []
    seen: set[str] = set()
    for u in schedule.unscheduled:
        if u.vm in seen:
            out.append(f"unscheduled vm {u.vm}: listed more than once")
        seen.add(u.vm)
        if not u.reason.strip():
            out.append(f"unscheduled vm {u.vm}: no reason given")
        vm = idx.vms.get(u.vm)
        if vm is not None and not needs_job(vm):
            out.append(f"unscheduled vm {u.vm}: VM is excluded or a template and needs no job")
    return out


def _nights_text(nights: tuple[int, ...]) -> str:
    if len(nights) == 1:
        return f"night {nights[0]}"
    if list(nights) == list(range(nights[0], nights[-1] + 1)):
        return f"nights {nights[0]}-{nights[-1]}"
    return "nights " + ", ".join(str(n) for n in nights)


def _job_label(job: ScheduledJob, tiered: bool) -> str:
    """How a line names a job: by its VM in the single regime (one job per VM, the messages
    of before tiers), by VM, night and level when the VM has several."""
    return f"job {job.vm} night {job.night} {job.level}" if tiered else f"job {job.vm}"


def _group_violations(
    vm: str,
    nights: tuple[int, ...],
    want: dict[str, int],
    got: dict[str, list[ScheduledJob]],
) -> list[str]:
    """One group of a VM's cycle jobs (those sharing ``nights``: an ``every`` block, or one
    fixed night) against the scheduled jobs on those nights, one line per kind of mismatch:
    a full in an incremental's place, an incremental in the full's place, a missing or an
    extra job, two jobs on one night."""
    out = []
    where = _nights_text(nights)
    block = len(nights) > 1
    fulls, incrs = got["full"], got["incremental"]
    d_full, d_incr = len(fulls) - want["full"], len(incrs) - want["incremental"]
    fulls_at = ", ".join(str(n) for n in sorted(j.night for j in fulls))
    if d_full > 0:
        # A full in an incremental's place (d_incr < 0), or an extra one: either way too
        # many fulls, said once.
        if block:
            out.append(
                f"vm {vm}: {len(fulls)} fulls in {where} (on nights {fulls_at}), the cycle"
                f" asks for {want['full']}"
            )
        elif want["full"] == 0 and d_incr < 0:
            out.append(f"vm {vm} night {nights[0]}: full where the cycle asks for an incremental")
        else:
            out.append(f"vm {vm} night {nights[0]}: extra full")
        d_incr += min(d_full, max(-d_incr, 0))  # the incrementals these fulls replaced
    elif d_full < 0:
        swapped = min(-d_full, max(d_incr, 0))  # incrementals in the fulls' place
        if block:
            out.append(
                f"vm {vm}: no full in {where}"
                + (" (an incremental in its place)" if swapped else "")
                + f", the cycle asks for {want['full']}"
            )
        else:
            out.append(
                f"vm {vm} night {nights[0]}: "
                + ("incremental where the cycle's full runs" if swapped else "missing full")
            )
        d_incr -= swapped
    if d_incr < 0:
        out.append(f"vm {vm}: missing {-d_incr} incremental(s) in {where}")
    elif d_incr > 0:
        at = ", ".join(str(n) for n in sorted(j.night for j in incrs))
        out.append(
            f"vm {vm}: {d_incr} extra incremental(s) in {where} (incrementals on nights {at})"
        )
    if sum(want.values()) == len(fulls) + len(incrs):
        # Right counts, wrong nights: with as many jobs as nights, a night with two jobs
        # leaves another without. (With wrong counts the line above says why already.)
        per_night: dict[int, list[str]] = defaultdict(list)
        for j in fulls + incrs:
            per_night[j.night].append(str(j.level))
        for night in sorted(per_night):
            levels = per_night[night]
            if len(levels) > 1:
                out.append(
                    f"vm {vm} night {night}: {len(levels)} jobs on one night"
                    f" ({', '.join(sorted(levels))}); {where} need one each"
                )
    return out


def _cycle_violations(
    vm: str, scheduled: list[ScheduledJob], expected: list[BackupJob]
) -> list[str]:
    """A tiered VM's scheduled jobs against the jobs its cycle asks for (cycle_jobs), one to
    one by level and allowed nights. The cycle's jobs of one VM fall into groups that share
    their nights (an ``every`` block; one fixed night); groups never share a night."""
    out: list[str] = []
    wanted: dict[tuple[int, ...], dict[str, int]] = {}
    for c in expected:
        wanted.setdefault(c.nights, {"full": 0, "incremental": 0})[c.level] += 1
    group_of = {n: g for g in wanted for n in g}
    got: dict[tuple[int, ...], dict[str, list[ScheduledJob]]] = {
        g: {"full": [], "incremental": []} for g in wanted
    }
    stray: list[ScheduledJob] = []
    for job in scheduled:
        if job.level is None:
            out.append(f"job {vm} night {job.night}: no level (full or incremental)")
            continue
        g = group_of.get(job.night)
        if g is None:
            stray.append(job)
        else:
            got[g][job.level].append(job)
    # A full on another night than the one night the cycle puts it on (full.on, every: 1):
    # one line naming both nights, instead of a missing full here and an extra one there.
    for g, want in wanted.items():
        if len(g) != 1 or want["full"] != 1 or got[g]["full"]:
            continue
        moved = next((j for j in stray if j.level == "full"), None)
        if moved is not None:
            stray.remove(moved)
        else:
            extra = next((h for h in got if len(got[h]["full"]) > wanted[h]["full"]), None)
            if extra is None:
                continue
            moved = got[extra]["full"].pop()
        got[g]["full"].append(moved.model_copy(update={"night": g[0]}))
        out.append(f"vm {vm} night {moved.night}: full, the cycle puts this full on night {g[0]}")
    for job in stray:
        allowed = sorted(group_of)
        out.append(
            f"vm {vm} night {job.night}: {job.level} on a night the cycle gives the VM no"
            f" job (its nights: {_nights_text(tuple(allowed)) if allowed else 'none'})"
        )
    for g, want in wanted.items():
        out += _group_violations(vm, g, want, got[g])
    return out


def _window_label(job: BackupJob, vm: VM, policy: Policy) -> str:
    """Whose window a job must lie in, as a line names it."""
    kind = "maintenance window" if job.consistency == "power-off" else "window"
    if vm.window is not None:
        return f"the VM's {kind} {job.window}"
    if job.tier is not None and job.window != policy.window:
        return f"tier '{job.tier}' {kind} {job.window}"
    return f"the policy's {kind} {job.window}"


def _pin_violations(
    vm: VM, scheduled: list[ScheduledJob], expected: list[BackupJob], policy: Policy
) -> list[str]:
    """A pinned VM's jobs against its ``pin`` (README, docs/tiers.md "Pins"): ``HH:MM``,
    every job starts at that local time (rounded up to the planning slot) on its night; an
    ISO date-time, the VM's job on that night starts then, and where that night lies in a
    block whose full the planner places, that job is the full."""
    assert vm.pin is not None
    tz = policy.tz
    slot = timedelta(minutes=policy.slot_minutes)
    text = vm.pin.strip()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    out = []
    if clock is not None:
        h, m = int(clock.group(1)), int(clock.group(2))
        for job in scheduled:
            local = job.start.astimezone(tz)
            # The pin on the job's local date, or on the day before when rounding up to
            # the slot grid crossed midnight.
            at = [
                local_to_utc(datetime.combine(day, time(h, m)), tz)
                for day in (local.date(), local.date() - timedelta(days=1))
            ]
            if not any(t <= job.start < t + slot for t in at):
                out.append(
                    f"job {vm.name} night {job.night} {job.level or ''}".rstrip()
                    + f": starts {_iso(local)}, the VM is pinned at {vm.pin}"
                )
        return out
    when = local_to_utc(datetime.fromisoformat(text), tz)
    hit = next((j for j in scheduled if when <= j.start < when + slot), None)
    if hit is None:
        return [f"vm {vm.name}: pinned at {vm.pin}, but no job of it starts then"]
    block_full = any(
        c.level == "full" and len(c.nights) > 1 and hit.night in c.nights
        for c in expected
        if any(o.nights == c.nights and o.level == "incremental" for o in expected)
    )
    if block_full and hit.level != "full":
        out.append(
            f"job {vm.name} night {hit.night} {hit.level}: pinned at {vm.pin}, a date in a"
            " block whose full the planner places, so it must be the full"
        )
    return out


def find_violations(
    schedule: Schedule,
    topology: Topology,
    policy: Policy,
    *,
    rules: bool = True,
    infrastructure: Infrastructure | None = None,
) -> list[str]:
    """Every broken rule and every field that disagrees with the inputs. ``rules=False``
    (``export --trust``) skips the costly rule checks (job lengths, blackouts, capacities) but
    never the checks of fields the exporters read (a job's proxy, mode and repository among
    them). ``infrastructure``: the backup infrastructure to check the jobs' proxies, modes
    and repositories against; None: the one the schedule was planned with
    (``inputs.infrastructure``), and without one every job must carry none.

    The jobs each VM must get come from :func:`stagger.cycle.cycle_jobs` (the policy's tiers,
    read here, never from the solver's instance): one per VM in the single regime, one per
    night it runs with tiers."""
    idx = topology.index()
    out: list[str] = _header_violations(schedule, policy)
    occurrences = window_occurrences(policy)
    expected: dict[str, list[BackupJob]] = defaultdict(list)
    for cj in cycle_jobs(topology, policy):
        expected[cj.vm].append(cj)
    need = {v.name for v in topology.vms if needs_job(v)}
    seen: set[str] = set()
    jobs = _in_utc(schedule.jobs)
    tz = policy.tz
    infra = infrastructure if infrastructure is not None else schedule.inputs.infrastructure
    tiers = {t.name: t for t in policy.tiers}

    def iso(t: datetime) -> str:
        return _iso(t.astimezone(tz))

    tiered_jobs: dict[str, list[ScheduledJob]] = defaultdict(list)
    for job in jobs:
        vm = idx.vms.get(job.vm)
        if vm is None:
            out.append(f"job {job.vm}: no such VM in the topology")
            continue
        mine = expected.get(job.vm, [])
        tiered = bool(mine) and mine[0].tier is not None
        label = _job_label(job, tiered)
        if not needs_job(vm):
            out.append(f"job {job.vm}: VM is excluded or a template and must get no job")
        if tiered:
            tiered_jobs[job.vm].append(job)
            if job.tier != mine[0].tier:
                out.append(
                    f"{label}: tier {job.tier!r}, the policy puts the VM in {mine[0].tier!r}"
                )
        else:
            if job.vm in seen:
                out.append(f"job {job.vm}: VM is scheduled more than once")
            if mine and job.level is not None and job.level != mine[0].level:
                out.append(f"{label}: level {job.level}, the single regime's is {mine[0].level}")
            if job.tier is not None:
                out.append(f"{label}: tier {job.tier!r}, but no tier of the policy takes the VM")
        seen.add(job.vm)
        # All jobs of one level of a VM move the same GiB for the same minutes.
        ref = next((c for c in mine if c.level == job.level), mine[0] if mine else None)
        if tiered and ref is not None and ref.level != job.level:
            ref = None  # a level the cycle does not ask for: reported by the cycle check
        out += _job_resource_violations(job, label, vm_resources(vm, idx, policy))
        out += _job_field_violations(job, label, vm, idx, ref.size_gib if ref else None)
        length = (job.end - job.start).total_seconds() / 60
        if abs(length - job.duration_min) > _EPS_MIN:
            out.append(f"{label}: duration_min {job.duration_min} but end - start is {length:g}")
        if infra is None:
            assigned = [f for f in ("proxy", "mode", "repository") if getattr(job, f) is not None]
            if assigned:
                out.append(
                    f"{label}: {_listed(assigned)} set, but the schedule was planned"
                    " without an infrastructure file"
                )
            if rules and ref is not None and length + _EPS_MIN < ref.minutes:
                out.append(f"{label}: lasts {length:g} min, the backup needs {ref.minutes:.1f} min")
        else:
            # The VM's pins, else its tier's (the tier the cycle puts it in).
            tier = tiers.get(mine[0].tier) if mine and mine[0].tier is not None else None
            tier_pins = (
                Pins(proxy=tier.proxy, mode=tier.mode, repository=tier.repository)
                if tier is not None
                else None
            )
            pins = pins_of(vm, tier_pins)
            out += _assignment_violations(
                job, label, vm, idx, infra, pins, tier.name if tier is not None else None
            )
            if rules and ref is not None:
                out += _mode_length_violation(job, label, ref, infra, policy.slot_minutes)
        occ = next((o for o in occurrences if o.start <= job.start and job.end <= o.end), None)
        if occ is None:
            out.append(
                f"{label}: {iso(job.start)} to {iso(job.end)} is not inside one backup window"
            )
        elif occ.index != job.night:
            out.append(f"{label}: lies in night {occ.index}, marked night {job.night}")
        elif ref is not None and (ref.window != policy.window or vm.window is not None):
            # A VM's or a tier's window (a power-off tier's maintenance window) on that
            # night, expanded on the local clock like the policy's.
            w_start, w_end = window_on_night(ref.window, policy, job.night)
            if not (w_start <= job.start and job.end <= w_end):
                out.append(
                    f"{label}: {iso(job.start)} to {iso(job.end)} is not inside"
                    f" {_window_label(ref, vm, policy)} ({iso(w_start)} to {iso(w_end)})"
                )

    for name, mine in expected.items():
        tier = tiers.get(mine[0].tier) if mine[0].tier is not None else None
        if tier is None:
            continue
        vm = idx.vms[name]
        if tier.consistency == "power-off" and tier.window is None and vm.window is None:
            out.append(
                f"vm {name}: tier {tier.name!r} backs it up powered off but neither the tier"
                " nor the VM has a maintenance window"
            )
        if tiered_jobs.get(name):
            out += _cycle_violations(name, tiered_jobs[name], mine)

    jobs_by_vm: dict[str, list[ScheduledJob]] = defaultdict(list)
    for j in jobs:
        jobs_by_vm[j.vm].append(j)
    for name, vm_jobs in jobs_by_vm.items():
        pinned_vm = idx.vms.get(name)
        if pinned_vm is not None and pinned_vm.pin is not None:
            out += _pin_violations(pinned_vm, vm_jobs, expected.get(name, []), policy)
    blackouts = policy.blackouts if rules else []
    members_of = blackout_members(policy, idx) if rules else []
    for b, members in zip(blackouts, members_of, strict=True):
        intervals = blackout_intervals(b, policy)
        if not intervals:
            continue
        for name in sorted(members):
            mine = expected.get(name, [])
            tiered = bool(mine) and mine[0].tier is not None
            for hit in jobs_by_vm.get(name, []):
                for iv in intervals:
                    if hit.start < iv.end and iv.start < hit.end:
                        out.append(
                            f"{_job_label(hit, tiered)}: {iso(hit.start)}-{iso(hit.end)}"
                            f" overlaps blackout '{b.name}' {iso(iv.start)}-{iso(iv.end)}"
                        )
                        break

    # Capacities: the jobs of each resource a job occupies (by the topology, never by the
    # job's own fields, which were checked above), swept in absolute time.
    groups: dict[ResourceRef, list[ScheduledJob]] = defaultdict(list)
    for job in jobs if rules else []:
        vm = idx.vms.get(job.vm)
        if vm is None:
            continue
        for ref_res in vm_resources(vm, idx, policy):
            groups[ref_res].append(job)
    # Per-object resources by kind and name, then the global task slots.
    for res, group in sorted(groups.items(), key=lambda g: (g[0].kind == "concurrent", g[0])):
        cap = capacity(res, idx, policy)
        if len(group) > cap:
            label = (
                "concurrent jobs (backup proxy task slots)"
                if res.kind == "concurrent"
                else res.label
            )
            out += _capacity_violations(label, group, cap, tz)
    if rules and infra is not None:
        out += _infrastructure_capacity_violations(jobs, infra, tz)

    out += _night_violations(schedule, policy)
    out += _utilisation_violations(schedule, infra)
    out += _claim_violations(schedule)
    out += _unscheduled_violations(schedule, idx)
    unscheduled = {u.vm for u in schedule.unscheduled}
    for name in sorted(unscheduled & seen):
        out.append(f"vm {name}: listed both as scheduled and as unscheduled")
    for name in sorted(unscheduled - set(idx.vms)):
        out.append(f"unscheduled vm {name}: no such VM in the topology")
    for name in sorted(need - seen - unscheduled):
        out.append(f"vm {name}: neither scheduled nor reported as unscheduled")
    return out


def validate(
    schedule: Schedule,
    topology: Topology | None = None,
    policy: Policy | None = None,
    *,
    file: str | None = None,
    rules: bool = True,
    infrastructure: Infrastructure | None = None,
) -> None:
    """Raise :class:`InvalidScheduleError` listing every broken rule; default inputs
    (topology, policy, infrastructure) are the ones the schedule was planned from."""
    topo = topology if topology is not None else schedule.inputs.topology
    pol = policy if policy is not None else schedule.inputs.policy
    violations = find_violations(schedule, topo, pol, rules=rules, infrastructure=infrastructure)
    if violations:
        raise InvalidScheduleError(violations, file=file)
