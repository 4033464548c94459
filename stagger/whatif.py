"""What-if planning: apply changes to an estate, re-plan with minimal disruption, and diff.

Pure functions over the models; every bad reference (unknown VM, host, datastore, disk or
setting) is an :class:`InputError` naming the option and the object. ``replan`` is the stable
counterpart of :func:`stagger.planner.plan`: same validated schedule, but it keeps the baseline's
jobs where they are unless they must move (see :mod:`stagger.solve.stability`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from stagger.calendar import blackout_intervals, window_occurrences
from stagger.errors import InputError, shown
from stagger.fmt import hm
from stagger.infrastructure import check_infrastructure, reaches
from stagger.instance import (
    Instance,
    compile_instance,
    fix_options,
    keep_baseline,
    shortest_option,
)
from stagger.model.infrastructure import Infrastructure, Proxy
from stagger.model.parse import parse_model
from stagger.model.policy import Policy
from stagger.model.schedule import Schedule, ScheduledJob, SolverInfo, SolverStatus, UnscheduledVM
from stagger.model.topology import VM, Topology, TopologyIndex
from stagger.planner import PlanOptions, PlanResult, build_schedule, default_time_limit
from stagger.rules import blackout_members
from stagger.solve.baseline import (
    BaselineMap,
    StabilityStats,
    baseline_options,
    map_baseline,
    match_baseline,
    reassigned_jobs,
    stability_stats,
)
from stagger.solve.bounds import lower_bound
from stagger.solve.repair import choose_options, repair_greedy
from stagger.solve.solution import makespan_slots
from stagger.solve.stability import solve_stable
from stagger.tiers import assign_tiers, is_tiered

# --------------------------------------------------------------------------- changes


class Move(NamedTuple):
    vm: str
    host: str


class MoveDisk(NamedTuple):
    vm: str
    disk: str
    """A label, an index or the datastore it is on now."""
    datastore: str


class Setting(NamedTuple):
    path: str
    """Dotted, e.g. ``window.end`` or ``vms.sql01.pinned``."""
    value: str


@dataclass
class Changes:
    """What to change, already parsed (the CLI turns its options into these)."""

    add: list[VM] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    move: list[Move] = field(default_factory=list)
    move_disk: list[MoveDisk] = field(default_factory=list)
    settings: list[Setting] = field(default_factory=list)
    grow_pct: float | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.add or self.remove or self.move or self.move_disk or self.settings or self.grow_pct
        )


def _scalar(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none", "~"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


_TOPOLOGY_KEYS = ("clusters", "hosts", "datastores", "raid_groups", "vms")


def _set_path(data: dict[str, Any], path: str, value: str, what: str) -> None:
    keys = path.split(".")
    node: Any = data
    for i, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            node = next((x for x in node if isinstance(x, dict) and x.get("name") == key), None)
            if node is None:
                raise InputError(f"no {keys[i - 1]} item named '{key}'", obj="--set", field=path)
        elif isinstance(node, dict) and key in node and node[key] is not None:
            node = node[key]
        elif isinstance(node, dict) and key in node:
            node[key] = {}
            node = node[key]
        else:
            raise InputError(f"unknown {what} setting '{key}'", obj="--set", field=path)
    if not isinstance(node, dict):
        raise InputError(f"'{path}' does not name a {what} field", obj="--set", field=path)
    node[keys[-1]] = _scalar(value)


def apply_changes(
    topology: Topology, policy: Policy, changes: Changes
) -> tuple[Topology, Policy, list[str]]:
    """The changed estate and policy, and one line per change in admin words."""
    topo = topology.model_dump(mode="json")
    pol = policy.model_dump(mode="json")
    vms: dict[str, dict[str, Any]] = {v["name"]: v for v in topo["vms"]}
    hosts = {h.name for h in topology.hosts}
    stores = {d.name for d in topology.datastores}
    said: list[str] = []

    for name in changes.remove:
        if name not in vms:
            raise InputError(f"unknown VM '{name}'", obj="--remove")
        del vms[name]
        said.append(f"remove {name}")
    for name, host in changes.move:
        if name not in vms:
            raise InputError(f"unknown VM '{name}'", obj="--move")
        if host not in hosts:
            raise InputError(f"unknown host '{host}'", obj="--move", field=name)
        said.append(f"move {name} from host {vms[name]['host']} to {host}")
        vms[name]["host"] = host
    for name, disk, ds in changes.move_disk:
        if name not in vms:
            raise InputError(f"unknown VM '{name}'", obj="--move-disk")
        if ds not in stores:
            raise InputError(f"unknown datastore '{ds}'", obj="--move-disk", field=name)
        disks = vms[name]["disks"]
        picked = _pick_disks(disks, disk)
        if not picked:
            known = ", ".join(
                f"{i} ({d.get('label') or d.get('datastore') or '?'})" for i, d in enumerate(disks)
            )
            raise InputError(
                f"VM '{name}' has no disk '{disk}'"
                f" (use a label, an index or its datastore: {known})",
                obj="--move-disk",
                field=name,
            )
        for i in picked:
            said.append(f"move disk {i} of {name} from {disks[i].get('datastore')} to {ds}")
            disks[i]["datastore"] = ds
            disks[i]["file"] = None
    for vm in changes.add:
        if vm.name in vms:
            raise InputError(f"VM '{vm.name}' already exists", obj="--add")
        vms[vm.name] = vm.model_dump(mode="json")
        said.append(f"add {vm.name} ({vm.size_gib:,.0f} GiB on {vm.host})")
    if changes.grow_pct:
        factor = 1 + changes.grow_pct / 100
        for v in vms.values():
            for d in v["disks"]:
                d["size_gib"] = round(d["size_gib"] * factor, 3)
        said.append(f"grow every VM by {changes.grow_pct:g} %")
    topo["vms"] = list(vms.values())
    for path, value in changes.settings:
        target, what = (
            (topo, "topology") if path.split(".")[0] in _TOPOLOGY_KEYS else (pol, "policy")
        )
        _set_path(target, path, value, what)
        said.append(f"set {path} = {value}")
    return (
        parse_model(Topology, topo, "what-if topology"),
        parse_model(Policy, pol, "what-if policy"),
        said,
    )


def _pick_disks(disks: list[dict[str, Any]], key: str) -> list[int]:
    by_label = [i for i, d in enumerate(disks) if d.get("label") == key]
    if by_label:
        return by_label
    index = key.removeprefix("disks[").removesuffix("]")
    if index.isdigit() and int(index) < len(disks):
        return [int(index)]
    return [i for i, d in enumerate(disks) if d.get("datastore") == key]


# --------------------------------------------------------------------------- stable re-plan


@dataclass
class ReplanResult:
    plan: PlanResult
    stats: StabilityStats
    warm_start: StabilityStats
    baseline: BaselineMap
    tolerance_min: int
    # The compiled instance before any choice: with an infrastructure file its jobs hold
    # their options (``plan.instance`` has the chosen ones folded in); for explanations.
    compiled: Instance | None = None

    @property
    def schedule(self) -> Schedule:
        return self.plan.schedule


def _pinned(topology: Topology, baseline: Schedule | None) -> dict[str, str]:
    """VM -> what it is pinned to, in words."""
    base = {j.vm for j in baseline.jobs} if baseline else set()
    out = {}
    for vm in topology.vms:
        if vm.pin is not None:
            out[vm.name] = f"pinned at {vm.pin}"
        elif vm.pinned and vm.name in base:
            out[vm.name] = "pinned to its baseline slot"
    return out


def pin_conflicts(inst: Instance, starts: dict[int, int], pinned: dict[str, str]) -> dict[str, str]:
    """For each pinned job left out: the pinned job(s) it collides with, on which resource."""
    fixed: dict[int, int] = {}
    for j, job in enumerate(inst.jobs):
        if job.vm in pinned:
            spans = [s for n in job.allowed for s in n]
            if len(spans) == 1 and spans[0][0] == spans[0][1]:
                fixed[j] = spans[0][0]
    out: dict[str, str] = {}
    for j, s in fixed.items():
        if j in starts:
            continue
        a = inst.jobs[j]
        hits = []
        for k, t in fixed.items():
            b = inst.jobs[k]
            if k == j or not (s < t + b.duration and t < s + a.duration):
                continue
            shared = [
                inst.resources[r].label
                for r in a.resources
                if r in b.resources and inst.resources[r].capacity == 1
            ]
            if shared:
                hits.append(f"{b.vm} ({pinned[b.vm]}) on {', '.join(shared)}")
        if hits:
            out[a.vm] = f"{pinned[a.vm]}, which collides with pinned " + "; ".join(hits)
    return out


def replan(
    topology: Topology,
    policy: Policy,
    baseline: Schedule,
    options: PlanOptions | None = None,
    *,
    tolerance_min: int = 0,
    on_stage: Callable[[str], None] | None = None,
    infrastructure: Infrastructure | None = None,
) -> ReplanResult:
    """Plan ``topology`` under ``policy`` keeping as much of ``baseline`` as the rules allow.

    With a backup infrastructure (``infrastructure``, else the one the baseline was planned
    with, ``baseline.inputs.infrastructure``; checked against the estate like ``plan``'s: a
    VM no proxy can process is an :class:`InputError`): each job that continues a baseline
    job keeps its proxy, mode and repository when that option still exists for it; the
    others (new jobs, jobs whose option is gone, which count as moved) take the greedy's
    choice around the kept ones (:func:`stagger.solve.repair.choose_options`); the stability
    solver then plans the instance with that choice fixed. Such a plan is OPTIMAL only when
    nothing could beat it whatever the choice: every job placed, the makespan at the lower
    bound over every option, no night over its baseline span and no job moved but those whose
    option is gone, at their baseline starts (every choice moves those); a proof on the fixed
    choice alone is not reported."""
    from stagger.validate import validate

    infra = infrastructure if infrastructure is not None else baseline.inputs.infrastructure
    if infra is not None:
        check_infrastructure(infra, topology, policy).check()
    opts = options or PlanOptions()
    t0 = time.perf_counter()
    # Tiers and VM windows are planned (several jobs per VM); a baseline job continues the
    # job of the same identity (stagger.solve.baseline.map_baseline).
    compiled = compile_instance(
        topology,
        policy,
        baseline_starts={j.vm: j.start for j in baseline.jobs},
        infrastructure=infra,
    )
    # ``pinned: true`` on VMs of a tier: each job at the start of the baseline job it
    # continues, by the identity map_baseline uses (so a kept job counts as not moved).
    keep_baseline(compiled, match_baseline(compiled, baseline), topology, policy)
    bound = lower_bound(compiled)  # with options: over every choice
    base = map_baseline(compiled, baseline)
    inst = compiled
    choice: dict[int, int] = {}
    reassigned: list[int] = []
    if infra is not None:
        matched = match_baseline(compiled, baseline)
        choice = choose_options(compiled, base, baseline_options(compiled, matched))
        reassigned = reassigned_jobs(compiled, matched, choice)
        inst = fix_options(compiled, choice)  # same jobs, same indices: ``base`` holds
    tol = math.ceil(tolerance_min / inst.slot_minutes)
    limit = opts.time_limit_s or default_time_limit(len(inst.jobs))
    if on_stage:
        on_stage(f"{len(inst.jobs)} jobs, {len(base.starts)} with a baseline slot")
    status: SolverStatus
    if opts.solver == "greedy" or not inst.jobs:
        sol = repair_greedy(inst, base, tol)
        stats = warm = stability_stats(inst, base, sol, tol, reassigned)
        status, objective = ("GREEDY" if inst.jobs else "EMPTY"), None
    else:
        res = solve_stable(
            inst,
            base,
            tolerance_slots=tol,
            time_limit_s=limit,
            seed=opts.seed,
            workers=opts.workers,
            progress=opts.progress,
            span_floor=bound.makespan,
        )
        sol, stats, warm, objective = res.solution, res.stats, res.warm_start, res.objective
        # CP-SAT's OPTIMAL here proves the stability goals (makespan over its cap, moves,
        # shift), not the shortest makespan: the schedule says OPTIMAL only when the plan
        # also reaches the lower bound, as a plan from scratch would have to.
        met = not sol.dropped and makespan_slots(inst, sol.starts) <= bound.makespan
        status = "OPTIMAL" if res.status == "OPTIMAL" and met else "FEASIBLE"
        if infra is not None:
            # The solver proved the goals on the chosen options only. Nothing beats the
            # plan whatever the choice when it meets the bound over every option and no
            # stability goal has anything left to gain.
            if reassigned:  # moved whatever their start: counted on both plans
                stats = stability_stats(inst, base, sol, tol, reassigned)
                repaired = repair_greedy(inst, base, tol)  # the warm start, as solve_stable
                warm = stability_stats(inst, base, repaired, tol, reassigned)
            # Every plan moves the reassigned jobs (their option is gone in every choice):
            # the floor is those alone, at their baseline starts.
            # With the makespan at the bound over every choice, its excess over the baseline's
            # is the least any plan has; one night's excess is that excess.
            floor = (
                stats.moved == stats.reassigned
                and stats.shift_slots == 0
                and (len(inst.nights) == 1 or not any(stats.excess))
            )
            status = "OPTIMAL" if met and floor else "FEASIBLE"
    info = SolverInfo(
        name="greedy" if status == "GREEDY" else "cpsat",
        status=status,
        seed=opts.seed,
        time_limit_s=None if status == "GREEDY" else limit,
        objective=objective,
    )
    assignment = (
        {
            j: compiled.jobs[j].options[choice.get(j, shortest_option(compiled.jobs[j]))]
            for j in sol.starts
            if compiled.jobs[j].options
        }
        if infra is not None
        else None
    )
    schedule = build_schedule(
        topology, policy, inst, sol, bound, info, infrastructure=infra, assignment=assignment
    )
    conflicts = pin_conflicts(inst, sol.starts, _pinned(topology, baseline))
    for u in schedule.unscheduled:
        if u.vm in conflicts:
            u.reason = conflicts[u.vm]
    validate(schedule, topology, policy)
    result = PlanResult(schedule, time.perf_counter() - t0, inst, bound)
    return ReplanResult(result, stats, warm, base, tolerance_min, compiled)


# --------------------------------------------------------------------------- diff


@dataclass
class MovedJob:
    vm: str
    old_start: datetime
    old_end: datetime
    new_start: datetime
    new_end: datetime
    why: str
    level: str | None = None  # tiered diffs: the job's level; None: one job per VM
    old_night: int = 0
    new_night: int = 0
    # The nights' labels ("Fri 04 Dec": the date its window opens, also for a start after
    # midnight); tiered diffs only.
    old_night_label: str = ""
    new_night_label: str = ""
    # With an infrastructure file: (proxy, mode, repository) before and after; equal when
    # only the start moved. None: planned without one.
    old_option: tuple[str | None, str | None, str | None] | None = None
    new_option: tuple[str | None, str | None, str | None] | None = None

    @property
    def shift_min(self) -> int:
        return int((self.new_start - self.old_start).total_seconds() // 60)

    @property
    def reassigned(self) -> bool:
        """Run by another proxy, mode or repository than in the old schedule (a baseline
        job with one)."""
        return (
            self.old_option is not None
            and self.old_option[0] is not None
            and self.old_option != self.new_option
        )

    @property
    def reassignment(self) -> str:
        """'prx-a1 (hotadd) -> prx-any (nbd)', with ', repository repo-1 -> repo-2' when the
        repository changed (names shown escaped); '' when not reassigned."""
        if not self.reassigned or self.old_option is None or self.new_option is None:
            return ""
        (op, om, orepo), (np_, nm, nrepo) = self.old_option, self.new_option
        text = f"{_name(op)} ({om}) -> {_name(np_)} ({nm})"
        if orepo != nrepo:
            text += f", repository {_name(orepo)} -> {_name(nrepo)}"
        return text


def _name(name: str | None) -> str:
    """A proxy's or repository's name in a diff line (names hold no control characters:
    :class:`stagger.model.text.Text`; the CLI prints them through ``as_text``)."""
    return "-" if name is None else name


def _option(job: ScheduledJob) -> tuple[str | None, str | None, str | None]:
    return (job.proxy, job.mode, job.repository)


@dataclass(frozen=True)
class NightFulls:
    """How many fulls a night of the cycle carries, before and after."""

    night: int
    label: str  # e.g. "Sat 05 Dec"
    old: int
    new: int


@dataclass
class Diff:
    added: list[ScheduledJob]
    removed: list[str]  # had a job, and no longer needs one (removed, excluded, a template)
    moved: list[MovedJob]
    unchanged: int
    unscheduled: list[UnscheduledVM]  # VMs that need a job and got none in the new schedule
    dropped: list[str]  # the unscheduled that had a job in the old schedule
    old_makespan_min: int
    new_makespan_min: int
    tiered: bool = False  # either schedule holds several jobs per VM (levels, nights)
    # Tiered: jobs of a VM still planned that no job of the new schedule continues (its tier
    # or its incremental nights changed).
    ended: list[ScheduledJob] = field(default_factory=list)
    fulls: list[NightFulls] = field(default_factory=list)  # nights whose full count changed

    @property
    def fits(self) -> bool:
        return not self.unscheduled

    @property
    def moved_fulls(self) -> list[MovedJob]:
        return [m for m in self.moved if m.level == "full"]

    @property
    def reassigned(self) -> list[MovedJob]:
        """Moved jobs now run by another proxy, mode or repository (their start may be
        unchanged: a changed assignment alone is a move)."""
        return [m for m in self.moved if m.reassigned]


def _resources(job: ScheduledJob) -> set[str]:
    return (
        {f"host {job.host}"}
        | {f"datastore {d}" for d in job.datastores}
        | {f"raid group {g}" for g in job.raid_groups}
    )


def pair_jobs(
    old: Schedule, new: Schedule
) -> list[tuple[ScheduledJob | None, ScheduledJob | None]]:
    """(old job, the new job that continues it): None on one side for a job that ended or
    is new. A VM's job of the single regime continues its only old job; tiered jobs pair by
    (level, night) first, then the rest of a level in night order (a full moved to another
    night of its block pairs with its old full; the incremental it displaced likewise)."""
    olds: dict[str, list[ScheduledJob]] = {}
    news: dict[str, list[ScheduledJob]] = {}
    for sched, into in ((old, olds), (new, news)):
        for j in sorted(sched.jobs, key=lambda j: (j.start, j.night)):
            into.setdefault(j.vm, []).append(j)
    out: list[tuple[ScheduledJob | None, ScheduledJob | None]] = []
    for vm in sorted(olds.keys() | news.keys()):
        was, now = olds.get(vm, []), news.get(vm, [])
        if len(was) == 1 and len(now) == 1:
            out.append((was[0], now[0]))
            continue
        left = list(was)
        rest: list[ScheduledJob] = []
        for nj in now:
            same = next((o for o in left if (o.level, o.night) == (nj.level, nj.night)), None)
            if same is None:
                rest.append(nj)
            else:
                left.remove(same)
                out.append((same, nj))
        for nj in rest:
            other = next((o for o in left if o.level == nj.level), None)
            if other is not None:
                left.remove(other)
            out.append((other, nj))
        out += [(o, None) for o in left]
    return out


def _full_nights(old: Schedule, new: Schedule) -> list[NightFulls]:
    counts: dict[int, list[int]] = {}
    for k, sched in enumerate((old, new)):
        for j in sched.jobs:
            if j.level == "full":
                counts.setdefault(j.night, [0, 0])[k] += 1
    labels = {n.index: f"{n.window_start:%a %d %b}" for n in new.nights}
    return [
        NightFulls(n, labels.get(n, f"night {n}"), a, b)
        for n, (a, b) in sorted(counts.items())
        if a != b
    ]


def diff_schedules(old: Schedule, new: Schedule) -> Diff:
    """What changed from ``old`` to ``new``, with the reason each moved job moved. Jobs are
    compared by identity (:func:`pair_jobs`): one job per VM in the single regime, (VM,
    level, night) with tiers."""
    pairs = pair_jobs(old, new)
    old_vms = {j.vm for j in old.jobs}
    new_vms = {j.vm for j in new.jobs}
    prev_of = {id(nj): oj for oj, nj in pairs if nj is not None}
    topo, pol = new.inputs.topology, new.inputs.policy
    idx = topo.index()
    occurrences = window_occurrences(pol)
    blackouts = [
        (b.name, members, blackout_intervals(b, pol))
        for b, members in zip(pol.blackouts, blackout_members(pol, idx), strict=True)
    ]
    tz = pol.tz
    tiered = is_tiered(old) or is_tiered(new)
    fresh = {vm for vm in new_vms if vm not in old_vms}
    by_night = {n.index: f"{n.window_start:%a}" for n in new.nights}
    old_label = {n.index: f"{n.window_start:%a %d %b}" for n in old.nights}
    new_label = {n.index: f"{n.window_start:%a %d %b}" for n in new.nights}
    moved: list[MovedJob] = []
    unchanged = 0
    infra = new.inputs.infrastructure
    proxies = {p.name: p for p in infra.proxies} if infra is not None else {}
    repositories = {r.name for r in infra.repositories} if infra is not None else set()
    for oj, nj in sorted(
        ((o, n) for o, n in pairs if o is not None and n is not None),
        key=lambda p: (p[1].start, p[1].vm),
    ):
        other_option = oj.proxy is not None and _option(oj) != _option(nj)
        if oj.start == nj.start and not other_option:
            unchanged += 1  # same start; it may end later if it grew
            continue
        vm = nj.vm
        reasons: list[str] = []
        if other_option:
            reasons.append(_why_reassigned(oj, nj, proxies, repositories, idx))
        if oj.start == nj.start:
            moved.append(_moved(oj, nj, "; ".join(reasons), tiered, old_label, new_label))
            continue
        if oj.host != nj.host:
            reasons.append(f"now on host {nj.host} (was {oj.host})")
        if set(oj.datastores) != set(nj.datastores):
            reasons.append(
                f"disks now on {', '.join(nj.datastores)} (were {', '.join(oj.datastores)})"
            )
        if oj.duration_min != nj.duration_min:
            reasons.append(f"now lasts {hm(nj.duration_min)} (was {hm(oj.duration_min)})")
        v = idx.vms.get(vm)
        if v is not None and v.pin is not None:
            reasons.append(f"pinned at {v.pin}")
        if not any(o.start <= oj.start and oj.end <= o.end for o in occurrences):
            reasons.append("its old slot is outside the backup window now")
        for name, members, intervals in blackouts:
            if vm in members and any(iv.start < oj.end and oj.start < iv.end for iv in intervals):
                reasons.append(f"its old slot overlaps blackout '{name}'")
        if not reasons and tiered and oj.night != nj.night:
            # The group rule: one job of a VM's block per night.
            taker = next(
                (j2 for j2 in new.jobs if j2.vm == vm and j2 is not nj and j2.night == oj.night),
                None,
            )
            if taker is not None:
                reasons.append(
                    f"night {by_night.get(oj.night, oj.night)} now runs its {taker.level}"
                    " (one job of a VM per night)"
                )
        if not reasons:
            mine = _resources(nj)
            takers = []
            for oj2_new in new.jobs:
                if oj2_new is nj or oj2_new.vm == vm:
                    continue
                if not (oj2_new.start < oj.end and oj.start < oj2_new.end):
                    continue
                shared = sorted(mine & _resources(oj2_new))
                if not shared:
                    continue
                prev = prev_of.get(id(oj2_new))
                other = oj2_new.vm
                if other in fresh or prev is None or prev.start != oj2_new.start:
                    what = "new job " if other in fresh else ""
                    label = f"{other} {oj2_new.level}" if tiered else other
                    takers.append(f"{what}{label} ({', '.join(shared)})")
            if takers:
                reasons.append(
                    f"its old slot {oj.start.astimezone(tz):%H:%M}-{oj.end.astimezone(tz):%H:%M}"
                    f" now goes to {'; '.join(takers)}"
                )
            else:
                reasons.append("re-planned to keep every VM within the window")
        moved.append(_moved(oj, nj, "; ".join(reasons), tiered, old_label, new_label))
    # A VM that lost its job because it no longer fits is unscheduled, not removed: it still
    # needs a backup and the admin must act on it.
    unscheduled_now = {u.vm for u in new.unscheduled}
    removed = sorted(vm for vm in old_vms if vm not in new_vms and vm not in unscheduled_now)
    added = sorted(
        (nj for oj, nj in pairs if oj is None and nj is not None and nj.vm in fresh),
        key=lambda j: (j.vm, j.start),
    )
    if tiered:  # a job a VM gains (its tier changed) is added too
        added += sorted(
            (nj for oj, nj in pairs if oj is None and nj is not None and nj.vm not in fresh),
            key=lambda j: (j.vm, j.start),
        )
    ended = [oj for oj, nj in pairs if nj is None and oj is not None and oj.vm in new_vms]
    return Diff(
        added=added,
        removed=removed,
        moved=moved,
        unchanged=unchanged,
        unscheduled=list(new.unscheduled),
        dropped=sorted(vm for vm in old_vms if vm in unscheduled_now),
        old_makespan_min=old.makespan_min,
        new_makespan_min=new.makespan_min,
        tiered=tiered,
        ended=sorted(ended, key=lambda j: (j.vm, j.start)),
        fulls=_full_nights(old, new) if tiered else [],
    )


def _moved(
    oj: ScheduledJob,
    nj: ScheduledJob,
    why: str,
    tiered: bool,
    old_label: dict[int, str],
    new_label: dict[int, str],
) -> MovedJob:
    return MovedJob(
        nj.vm,
        oj.start,
        oj.end,
        nj.start,
        nj.end,
        why,
        nj.level if tiered else None,
        oj.night,
        nj.night,
        old_label.get(oj.night, f"night {oj.night}") if tiered else "",
        new_label.get(nj.night, f"night {nj.night}") if tiered else "",
        _option(oj) if oj.proxy is not None or nj.proxy is not None else None,
        _option(nj) if oj.proxy is not None or nj.proxy is not None else None,
    )


def _why_reassigned(
    oj: ScheduledJob,
    nj: ScheduledJob,
    proxies: dict[str, Proxy],
    repositories: set[str],
    idx: TopologyIndex,
) -> str:
    """Why a job runs in another option: the first reason its old one is gone."""
    head = f"{_name(oj.proxy)} ({oj.mode}) -> {_name(nj.proxy)} ({nj.mode})"
    if oj.repository != nj.repository:
        head += f", repository {_name(oj.repository)} -> {_name(nj.repository)}"
    proxy = proxies.get(oj.proxy or "")
    vm = idx.vms.get(nj.vm)
    if proxy is None:
        why = f"proxy {_name(oj.proxy)} is no longer in the infrastructure file"
    elif vm is not None and not reaches(proxy, vm, idx):
        why = f"proxy {_name(oj.proxy)} no longer reaches it"
    elif oj.mode not in proxy.modes:
        why = f"proxy {_name(oj.proxy)} no longer has mode {oj.mode}"
    elif oj.repository is not None and oj.repository not in repositories:
        why = f"repository {_name(oj.repository)} is no longer in the infrastructure file"
    else:
        why = "its old way no longer fits a window or its pins"
    return f"{head}: {why}"


# --------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class DriftItem:
    vm: str
    kind: str  # host / datastore / gone / new / excluded / tier / proxy
    detail: str


def find_drift(
    schedule: Schedule, current: Topology, *, infrastructure: Infrastructure | None = None
) -> list[DriftItem]:
    """Jobs whose VM is no longer where the schedule assumed (DRS, Storage vMotion, ...).

    Keyed by job identity: a VM's jobs (one in the single regime, one per night it runs with
    tiers) share its host and datastores, so a VM that moved is one item per kind, saying how
    many of its jobs it concerns; a tiered VM whose tier changed (its tags, folder, ... now
    match another tier of the schedule's policy) drifted too: its jobs' levels and nights no
    longer are what its tier asks for. With an infrastructure (``infrastructure``, else the
    one the schedule was planned with): a job whose proxy no longer reaches its VM (the VM
    moved to another cluster, host or datastore), or is no longer in the file, drifted too
    (kind ``proxy``)."""
    idx = current.index()
    infra = infrastructure if infrastructure is not None else schedule.inputs.infrastructure
    proxies = {p.name: p for p in infra.proxies} if infra is not None else {}
    out: list[DriftItem] = []
    planned = {j.vm for j in schedule.jobs} | {u.vm for u in schedule.unscheduled}
    count: dict[str, int] = {}
    for job in schedule.jobs:
        count[job.vm] = count.get(job.vm, 0) + 1
    policy = schedule.inputs.policy
    tier_now = assign_tiers(current, policy) if policy.tiers else {}
    seen: set[str] = set()
    for job in schedule.jobs:
        if job.vm in seen:
            continue  # one VM, several jobs: the same drift
        seen.add(job.vm)
        of = f" (its {count[job.vm]} jobs)" if count[job.vm] > 1 else ""
        vm = idx.vms.get(job.vm)
        if vm is None:
            out.append(DriftItem(job.vm, "gone", f"VM no longer exists{of}"))
            continue
        if not vm.needs_backup:
            out.append(DriftItem(job.vm, "excluded", f"VM is now excluded or a template{of}"))
        if vm.host != job.host:
            out.append(
                DriftItem(job.vm, "host", f"vMotion/DRS moved it from {job.host} to {vm.host}{of}")
            )
        if set(vm.datastores) != set(job.datastores):
            gone = sorted(set(job.datastores) - set(vm.datastores))
            came = sorted(set(vm.datastores) - set(job.datastores))
            out.append(
                DriftItem(
                    job.vm,
                    "datastore",
                    f"Storage vMotion moved disks from {', '.join(gone) or '-'}"
                    f" to {', '.join(came) or '-'}{of}",
                )
            )
        if infra is not None and job.proxy is not None:
            proxy = proxies.get(job.proxy)
            if proxy is None:
                out.append(
                    DriftItem(
                        job.vm,
                        "proxy",
                        f"its proxy {shown(job.proxy)} is no longer in the infrastructure file{of}",
                    )
                )
            elif not reaches(proxy, vm, idx):
                out.append(
                    DriftItem(
                        job.vm,
                        "proxy",
                        f"its proxy {shown(job.proxy)} no longer reaches it (now host"
                        f" {shown(vm.host)}, cluster {shown(idx.cluster_of(vm))}, datastores"
                        f" {', '.join(shown(d) for d in vm.datastores) or '-'}){of}",
                    )
                )
        if policy.tiers and job.vm in tier_now:
            now = tier_now[job.vm]
            now_name = now.name if now is not None else None
            if now_name != job.tier:
                out.append(
                    DriftItem(
                        job.vm,
                        "tier",
                        f"now matches {_tier_words(now_name)}, its jobs were planned for"
                        f" {_tier_words(job.tier)}{of}",
                    )
                )
    for vm in current.vms:
        if vm.needs_backup and vm.name not in planned:
            out.append(DriftItem(vm.name, "new", "VM has no job in the schedule"))
    return out


def _tier_words(name: str | None) -> str:
    return f"tier {shown(name)}" if name is not None else "no tier (the single regime)"
