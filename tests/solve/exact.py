"""An independent exact model of the planning problem, written from the README's rules only
(not from stagger's compiler or solvers): time in whole minutes, every candidate start listed
explicitly, one 0/1 variable per (job, start), capacities checked at every start time.

Rules (README "Rules the planner enforces"): a job lasts overhead + size x rate x 1024 / MB/s
/ 60 minutes rounded up to whole slots; it starts on a slot of its night (slots counted from
that night's window start), lies inside the window, and overlaps no blackout that applies to
it; it holds its host, every datastore of its disks, every RAID group of those datastores and
one backup task slot (concurrent_jobs) for its whole duration; capacities default to the
limits, overridden by max_jobs. A recurring blackout starts at each local occurrence of its
rule and lasts its duration (elapsed time); a one-off one runs from local start to local end.
A pin "HH:MM" fixes the start at the first occurrence of that local time that lies in a window.
The makespan is the largest, over nights, of (last end - window start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from dateutil.rrule import rrulestr
from ortools.sat.python import cp_model

from stagger.model.policy import Blackout, Policy
from stagger.model.topology import VM, Topology


@dataclass
class ExactResult:
    jobs: int  # VMs that need a backup
    max_scheduled: int
    min_makespan: int | None  # minutes, among plans with max_scheduled jobs; None: 0 jobs
    proven: bool


def _utc(day: date, hhmm: tuple[int, int], policy: Policy) -> datetime:
    local = datetime(day.year, day.month, day.day, hhmm[0], hhmm[1], tzinfo=policy.tz)
    return local.astimezone(UTC)


def _affects(b: Blackout, vm: VM, topo: Topology) -> bool:
    scope = b.scope
    host = next(h for h in topo.hosts if h.name == vm.host)
    stores = {d.datastore for d in vm.disks if d.datastore}
    groups = {g.name for g in topo.raid_groups if stores & set(g.datastores)}
    if scope is None or isinstance(scope, str):  # "global"
        return True
    checks = {
        "cluster": lambda x: host.cluster == x,
        "host": lambda x: vm.host == x,
        "datastore": lambda x: x in stores,
        "raid_group": lambda x: x in groups,
        "vm": lambda x: vm.name == x,
        "tag": lambda x: x in vm.tags,
    }
    data = scope.model_dump(exclude_none=True)
    data.pop("expand", None)
    if not data or data.get("global"):
        return True
    return all(checks[k](v) for k, v in data.items() if k in checks)


def _blackout_intervals(b: Blackout, policy: Policy) -> list[tuple[datetime, datetime]]:
    if b.rrule is None:
        assert b.start is not None and b.end is not None
        return [
            (b.start.replace(tzinfo=policy.tz).astimezone(UTC),
             b.end.replace(tzinfo=policy.tz).astimezone(UTC))
        ]  # fmt: skip
    assert b.duration is not None
    first = datetime.combine(policy.cycle.start - timedelta(days=2), datetime.min.time())
    last = first + timedelta(days=policy.cycle.nights + 5)
    out = []
    for occ in rrulestr(b.rrule, dtstart=first).between(first, last, inc=True):
        s = occ.replace(tzinfo=policy.tz).astimezone(UTC)
        out.append((s, s + b.duration))
    return out


def solve_exact(topo: Topology, policy: Policy, time_limit_s: float = 60.0) -> ExactResult:
    tz_start = (policy.window.start.hour, policy.window.start.minute)
    tz_end = (policy.window.end.hour, policy.window.end.minute)
    crosses = (policy.window.end.hour, policy.window.end.minute) <= tz_start
    windows = []
    for n in range(policy.cycle.nights):
        day = policy.cycle.start + timedelta(days=n)
        end_day = day + timedelta(days=1) if crosses else day
        windows.append((day, _utc(day, tz_start, policy), _utc(end_day, tz_end, policy)))
    origin = windows[0][1]

    def minute(t: datetime) -> int:
        return int((t - origin).total_seconds()) // 60

    slot = policy.slot_minutes
    tp = policy.throughput
    lim = policy.limits
    hosts = {h.name: h for h in topo.hosts}
    stores = {d.name: d for d in topo.datastores}
    vms = [vm for vm in topo.vms if not (vm.exclude or vm.template)]
    blackouts = [(b, _blackout_intervals(b, policy)) for b in policy.blackouts]

    model = cp_model.CpModel()
    choices: list[list[tuple[int, int, int, cp_model.IntVar]]] = []  # (night, start, end, x)
    uses: dict[tuple[str, str], list[int]] = {}
    caps: dict[tuple[str, str], int] = {}
    for j, vm in enumerate(vms):
        rate = vm.change_rate if vm.change_rate is not None else tp.change_rate
        size = sum(Fraction(str(d.size_gib)) for d in vm.disks) * Fraction(str(rate or 1))
        minutes = Fraction(str(tp.overhead_minutes)) + size * 1024 / Fraction(str(tp.mb_per_s)) / 60
        dur = max(1, math.ceil(minutes / slot)) * slot
        vm_stores = list(dict.fromkeys(d.datastore for d in vm.disks if d.datastore))
        res = [("host", vm.host)] + [("datastore", d) for d in vm_stores]
        caps[("host", vm.host)] = hosts[vm.host].max_jobs or lim.per_host
        for d in vm_stores:
            caps[("datastore", d)] = stores[d].max_jobs or lim.per_datastore
        for g in topo.raid_groups:
            if set(vm_stores) & set(g.datastores):
                res.append(("raid_group", g.name))
                caps[("raid_group", g.name)] = g.max_jobs or lim.per_raid_group
        if lim.concurrent_jobs:
            res.append(("concurrent", "*"))
            caps[("concurrent", "*")] = lim.concurrent_jobs
        for r in res:
            uses.setdefault(r, []).append(j)
        mine = [
            (minute(s), minute(e)) for b, ivs in blackouts if _affects(b, vm, topo) for s, e in ivs
        ]
        pinned: int | None = None
        pin_ok = True
        if vm.pin is not None:
            h, m = (int(x) for x in vm.pin.split(":"))
            times = sorted(
                _utc(d, (h, m), policy) for day, _, _ in windows for d in (day, day + timedelta(1))
            )
            hit = next((t for t in times if any(ws <= t < we for _, ws, we in windows)), None)
            pin_ok = hit is not None
            pinned = minute(hit) if hit is not None else None
        opts = []
        for n, (_, ws, we) in enumerate(windows):
            s, end = minute(ws), minute(we)
            while s + dur <= end:
                clear = all(not (s < be and bs < s + dur) for bs, be in mine)
                if clear and pin_ok and (pinned is None or s == pinned):
                    opts.append((n, s, s + dur, model.new_bool_var(f"x{j}_{s}")))
                s += slot
        model.add(sum(x for *_, x in opts) <= 1)
        choices.append(opts)
    for r, members in uses.items():
        points = {s for j in members for _, s, _, _ in choices[j]}
        for p in points:
            running = [x for j in members for _, s, e, x in choices[j] if s <= p < e]
            if len(running) > caps[r]:
                model.add(sum(running) <= caps[r])
    placed = sum(x for opts in choices for *_, x in opts)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 2
    model.maximize(placed)
    st1 = solver.solve(model)
    assert st1 in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    best = round(solver.objective_value)
    if best == 0:
        return ExactResult(len(vms), 0, None, st1 == cp_model.OPTIMAL)
    model.clear_objective()
    model.add(placed == best)
    span = model.new_int_var(0, 24 * 60 * 2, "span")
    for opts in choices:
        for n, _, e, x in opts:
            model.add(span >= e - minute(windows[n][1])).only_enforce_if(x)
    model.minimize(span)
    st2 = solver.solve(model)
    assert st2 in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    proven = st1 == cp_model.OPTIMAL and st2 == cp_model.OPTIMAL
    return ExactResult(len(vms), best, round(solver.objective_value), proven)
