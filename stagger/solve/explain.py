"""Explain why jobs do not fit: the smallest set of rules that conflict, in admin words.

A separate, single-worker CP-SAT model over the jobs that did not fit and every job sharing a
resource with them. Each rule gets an assumption literal:

- ``window``: every job lies inside one backup window of the cycle;
- ``blackout <name>``: the jobs it applies to stay clear of it;
- ``capacity <resource>``: at most ``capacity`` jobs at once on that host, datastore or RAID
  group (optional intervals whose presence is the literal);
- ``pin <vm>``: a pinned job starts at its pin;
- ``group rule`` (tiered estates): the jobs of one VM's block (a planner-chosen full and the
  incrementals sharing its nights) take distinct nights.

On a tiered estate (several jobs per VM) the model holds the compiled jobs of the VMs
concerned: ``window`` is each job's start inside its own allowed starts (its nights, its
tier's or VM's window, and the blackouts that apply to it, which the instance has already cut
out: a blackout is then part of ``window``, not a rule of its own), capacity is counted over
the cycle's jobs, and the group rule joins the rules.

With an infrastructure file (jobs with options, :func:`explain_instance`) each job runs in
exactly one of its options, as in the plan (that choice is not a rule), and the proxies' and
repositories' task slots and a repository's ingest (a Cumulative over MB/s) are capacity
rules like a host's: ``capacity proxy prx-a1``, ``capacity ingest repo-1``.

Every job of the model must run, with its real duration. If that is infeasible, CP-SAT's
``sufficient_assumptions_for_infeasibility`` gives a conflicting subset, which is then shrunk
by deletion (drop a rule, re-solve, keep it out if still infeasible) to a minimal one. A
conflict among these jobs is a conflict of the whole plan, so the explanation is sound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from stagger.calendar import blackout_intervals, window_occurrences
from stagger.instance import Instance, Job, Resource, compile_instance
from stagger.jobs import job_slots
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.rules import ResourceRef, blackout_members, capacity, needs_job, vm_resources
from stagger.solve.blocks import add_resource_limit


@dataclass(frozen=True)
class Rule:
    kind: str  # window / blackout / capacity / pin
    name: str  # blackout name, resource label or VM
    text: str  # admin words


@dataclass
class Explanation:
    vms: list[str]  # the VMs that do not fit
    rules: list[Rule]  # minimal conflicting set
    summary: str  # one line, e.g. "datastore DS-7 needs 11.5 h; window 10 h minus av-scan 1 h"


def _h(minutes: float) -> str:
    return f"{minutes / 60:.1f} h".replace(".0 h", " h")


def explain_unscheduled(
    topology: Topology,
    policy: Policy,
    vms: list[str],
    *,
    pins: dict[str, int] | None = None,
    time_limit_s: float = 10.0,
    compiled: Instance | None = None,
) -> Explanation | None:
    """Smallest set of rules that keeps ``vms`` (with their neighbours) from all fitting.

    ``pins`` maps VM -> fixed start slot (as compiled); default: the pins of the compiled
    instance. ``compiled``: the instance the plan was made from, when the caller has it (with
    an infrastructure file it holds the options, which a compile here would not): with options
    or tiers it is explained over its jobs (:func:`explain_instance`). ``None`` if no conflict
    is found among these jobs (the plan may then just have run out of solver time)."""
    idx = topology.index()
    inst = compiled if compiled is not None else compile_instance(topology, policy)
    if any(job.level is not None or job.options for job in inst.jobs):
        return _explain_tiered(topology, policy, inst, vms, time_limit_s)
    slot = inst.slot_minutes
    occurrences = window_occurrences(policy)
    anchor = occurrences[0].start
    nights = inst.nights
    need = {v.name for v in topology.vms if needs_job(v)}
    wanted = [v for v in vms if v in need]
    if not wanted:
        return None
    if pins is None:
        pins = {}
        for job in inst.jobs:
            spans = [s for n in job.allowed for s in n]
            if (idx.vms[job.vm].pin is not None or idx.vms[job.vm].pinned) and len(spans) == 1:
                pins[job.vm] = spans[0][0]

    def res_of(name: str) -> list[ResourceRef]:
        # The task slots shared by every job are left out: with them, every job of the estate
        # would share a resource with the VMs asked about and join the model.
        return [r for r in vm_resources(idx.vms[name], idx, policy) if r.kind != "concurrent"]

    cap = {r: capacity(r, idx, policy) for name in need for r in res_of(name)}
    focus = {r for name in wanted for r in res_of(name)}
    members = sorted(v.name for v in topology.vms if v.name in need and focus & set(res_of(v.name)))
    span_lo = anchor - (occurrences[-1].end - anchor)
    span_hi = occurrences[-1].end + (occurrences[-1].end - anchor)
    lo_slot = math.floor((span_lo - anchor).total_seconds() / 60 / slot)
    hi_slot = math.ceil((span_hi - anchor).total_seconds() / 60 / slot)

    def to_slot(t: object) -> float:
        from datetime import datetime

        assert isinstance(t, datetime)
        return (t - anchor).total_seconds() / 60 / slot

    b_slots: dict[str, list[tuple[int, int]]] = {}
    b_members: dict[str, set[str]] = {}
    for b, applies_to in zip(policy.blackouts, blackout_members(policy, idx), strict=True):
        ivs = blackout_intervals(b, policy, (span_lo, span_hi))
        b_slots[b.name] = [
            (math.floor(to_slot(iv.start)), math.ceil(to_slot(iv.end))) for iv in ivs
        ]
        b_members[b.name] = applies_to

    def build(active: set[str]) -> tuple[cp_model.CpModel, dict[str, cp_model.IntVar]]:
        m = cp_model.CpModel()
        lits = {key: m.new_bool_var(key) for key in sorted(active)}
        by_res: dict[ResourceRef, list[cp_model.IntervalVar]] = {}
        for name in members:
            d = job_slots(idx.vms[name], policy)
            s = m.new_int_var(lo_slot, hi_slot, f"s_{name}")
            if "window" in lits:
                dom = cp_model.Domain.from_intervals(
                    [[n.start, n.end - d] for n in nights if n.end - n.start >= d]
                )
                m.add_linear_expression_in_domain(s, dom).only_enforce_if(lits["window"])
            for bname, ivs in b_slots.items():
                key = f"blackout {bname}"
                if key in lits and name in b_members[bname] and ivs:
                    for a, e in ivs:
                        # no overlap with [a, e): s + d <= a or s >= e
                        before = m.new_bool_var("")
                        m.add(s + d <= a).only_enforce_if(lits[key], before)
                        m.add(s >= e).only_enforce_if(lits[key], ~before)
            pkey = f"pin {name}"
            if pkey in lits and name in pins:
                m.add(s == pins[name]).only_enforce_if(lits[pkey])
            for r in res_of(name):
                ckey = f"capacity {r.label}"
                if ckey in lits:
                    by_res.setdefault(r, []).append(
                        m.new_optional_fixed_size_interval_var(s, d, lits[ckey], "")
                    )
        for r, group in by_res.items():
            add_resource_limit(m, group, cap[r])
        m.add_assumptions(list(lits.values()))
        return m, lits

    infeasible = _oracle(build, time_limit_s)

    rules: set[str] = {"window"}
    rules |= {f"blackout {b}" for b, ms in b_members.items() if ms & set(members) and b_slots[b]}
    rules |= {f"pin {v}" for v in members if v in pins}
    rules |= {f"capacity {r.label}" for v in members for r in res_of(v) if cap[r] < len(members)}
    ok, core = infeasible(rules)
    if not ok:
        return None
    core = deletion_filter(core, infeasible)
    return _phrase(topology, policy, wanted, members, sorted(core), pins, b_slots, b_members)


Oracle = Callable[[set[str]], tuple[bool, set[str]]]
Builder = Callable[[set[str]], tuple[cp_model.CpModel, dict[str, cp_model.IntVar]]]


def _oracle(build: Builder, time_limit_s: float) -> Oracle:
    """``infeasible(rules)`` over the models ``build`` makes (one assumption literal per
    rule): whether the rules conflict, with CP-SAT's sufficient assumptions as the
    conflicting subset (all of them when it gives none)."""

    def infeasible(active: set[str]) -> tuple[bool, set[str]]:
        m, lits = build(active)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = time_limit_s
        status = solver.solve(m)
        if status != cp_model.INFEASIBLE:
            return False, set()
        names = {v.index: k for k, v in lits.items()}
        core = {names[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in names}
        return True, core or set(active)

    return infeasible


def deletion_filter(core: set[str], infeasible: Oracle) -> set[str]:
    """Shrink a conflicting set of rules to a minimal one: drop each rule in turn (by name)
    and keep it out if what is left still conflicts. ``infeasible(rules)`` says whether
    ``rules`` conflict, with a conflicting subset of them when it knows one (CP-SAT's
    sufficient assumptions), which shrinks the set faster.

    Minimal (no rule can be left out) whenever the oracle is monotone, as rule sets are: a
    rule found necessary stays necessary in every subset, since fewer rules conflict less."""
    for key in sorted(core):
        trial = core - {key}
        still, smaller = infeasible(trial)
        if still:
            core = smaller & trial if smaller else trial
    return core


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, e in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((a, e))
    return out


def _phrase(
    topology: Topology,
    policy: Policy,
    wanted: list[str],
    members: list[str],
    core: list[str],
    pins: dict[str, int],
    b_slots: dict[str, list[tuple[int, int]]],
    b_members: dict[str, set[str]],
) -> Explanation:
    idx = topology.index()
    inst = compile_instance(topology, policy)
    slot = inst.slot_minutes
    nights = inst.nights
    window_min = sum(n.end - n.start for n in nights) * slot
    n_nights = len(nights)
    win = _h(window_min) if n_nights == 1 else f"{n_nights} nights, {_h(window_min)}"
    rules: list[Rule] = []
    parts: list[str] = []
    held = {v: vm_resources(idx.vms[v], idx, policy) for v in members}
    # A capacity rule's key names its resource by label: map it back to the resource.
    by_key = {f"capacity {r.label}": r for rs in held.values() for r in rs}
    loaded: list[tuple[ResourceRef, list[str]]] = [
        (by_key[key], [v for v in members if by_key[key] in held[v]])
        for key in core
        if key.startswith("capacity ")
    ]
    blackouts = [k.removeprefix("blackout ") for k in core if k.startswith("blackout ")]
    # The jobs the conflict is about: those sharing a capacity rule of it, else the VMs asked
    # about and the jobs its blackouts hold back. Only a blackout that applies to every one of
    # them shortens their common window; one that covers some (a blackout on one host of a
    # RAID group) is reported for those jobs, never subtracted from the whole group's window.
    scope = {v for _, us in loaded for v in us} or (
        set(wanted) | {v for b in blackouts for v in b_members[b] & set(members)}
    )

    def in_window(spans: list[tuple[int, int]]) -> int:
        return sum(max(0, min(e, n.end) - max(a, n.start)) for a, e in spans for n in nights)

    lost: list[str] = []
    whole: list[tuple[int, int]] = []
    partial: list[str] = []
    for b in blackouts:
        minutes = in_window(b_slots[b]) * slot
        hit = sorted(b_members[b] & scope)
        if set(hit) >= scope:
            lost.append(f"{b} {_h(minutes)}")
            whole += b_slots[b]
            rules.append(Rule("blackout", b, f"blackout '{b}' takes {_h(minutes)} of the window"))
        else:
            shown = ", ".join(hit[:3]) + (" ..." if len(hit) > 3 else "")
            partial.append(
                f"{b} blocks {_h(minutes)} for {len(hit)} of {len(scope)} jobs ({shown})"
            )
            rules.append(
                Rule(
                    "blackout",
                    b,
                    f"blackout '{b}' takes {_h(minutes)} of the window of {len(hit)} of"
                    f" {len(scope)} jobs: {', '.join(hit)}",
                )
            )
    if len(lost) > 1:
        merged = _merge_spans(whole)
        if in_window(merged) < in_window(whole):  # overlapping blackouts: do not count twice
            lost.append(f"{_h(in_window(merged) * slot)} in all")
    for ref, us in loaded:
        load = sum(job_slots(idx.vms[v], policy) for v in us) * slot
        label = ref.label
        cap = capacity(ref, idx, policy)
        at_once = f", {cap} at a time" if cap > 1 else ""
        parts.append(f"{label} needs {_h(load)} for {len(us)} jobs{at_once}")
        rules.append(
            Rule(
                "capacity",
                label,
                f"{label} runs its jobs one at a time"
                if cap == 1
                else f"{label} runs at most {cap} jobs at a time",
            )
        )
    for key in core:
        if key.startswith("pin "):
            vm = key.removeprefix("pin ")
            when = inst.to_datetime(pins[vm]).astimezone(policy.tz)
            parts.append(f"{vm} is pinned at {when:%H:%M}")
            rules.append(Rule("pin", vm, f"{vm} is pinned at {when:%Y-%m-%d %H:%M}"))
    if "window" in core:
        w = f"window {win}"
        if lost:
            w += " minus " + ", ".join(lost)
        parts.append(w)
        rules.insert(
            0,
            Rule(
                "window",
                "window",
                f"backup window {policy.window.start:%H:%M}-{policy.window.end:%H:%M}, {win}",
            ),
        )
    elif lost:
        parts.append("blackouts " + ", ".join(lost))
    parts += partial
    return Explanation(list(wanted), rules, "; ".join(parts))


GROUP_RULE = "group rule"


def _explain_tiered(
    topology: Topology,
    policy: Policy,
    inst: Instance,
    vms: list[str],
    time_limit_s: float,
) -> Explanation | None:
    """:func:`explain_unscheduled` over the compiled jobs of a tiered estate (module doc)."""
    return explain_instance(inst, policy, vms, time_limit_s=time_limit_s)


def _held(inst: Instance, job: Job) -> list[int]:
    """The limited resources ``job`` may hold (not the global task slots): its own, and each
    one an option of it may take (proxy, repository tasks, ingest), each once."""
    own = [r for r in job.resources if inst.resources[r].kind != "concurrent"]
    more = sorted({r for opt in job.options for r in opt.resources} - set(own))
    return own + more


def _ingest_text(res: Resource) -> str:
    return f"repository {res.name} ingest"


def explain_instance(
    inst: Instance, policy: Policy, vms: list[str], *, time_limit_s: float = 10.0
) -> Explanation | None:
    """:func:`explain_unscheduled` over a compiled instance: the jobs of ``vms`` and every job
    sharing a limited resource with them (module doc). Jobs with options (an infrastructure
    file) run in exactly one of them, as in the plan; a proxy's or repository's task slots
    and a repository's ingest (its MB/s, each job taking its rate) are capacity rules like a
    host's, so a conflict on them is named."""
    wanted = sorted({v for v in vms if any(job.vm == v for job in inst.jobs)})
    if not wanted:
        return None  # left out at compile time: their reason is already theirs
    res_of = {j: _held(inst, job) for j, job in enumerate(inst.jobs)}
    focus = {r for j, job in enumerate(inst.jobs) if job.vm in wanted for r in res_of[j]}
    member_vms = {job.vm for j, job in enumerate(inst.jobs) if focus & set(res_of[j])}
    members = [j for j, job in enumerate(inst.jobs) if job.vm in member_vms]
    groups: dict[int, list[int]] = {}
    for j in members:
        g = inst.jobs[j].group
        if g is not None:
            groups.setdefault(g, []).append(j)
    horizon = inst.horizon

    def uses(j: int) -> list[tuple[int | None, int, list[tuple[int, int]]]]:
        """(option or None, duration, [(resource, units)]) for each way job ``j`` runs."""
        job = inst.jobs[j]
        own = [(r, job.demand(i)) for i, r in enumerate(job.resources) if r in res_of[j]]
        if not job.options:
            return [(None, job.duration, own)]
        return [
            (k, opt.duration, own + list(zip(opt.resources, opt.demands, strict=True)))
            for k, opt in enumerate(job.options)
        ]

    def build(active: set[str]) -> tuple[cp_model.CpModel, dict[str, cp_model.IntVar]]:
        m = cp_model.CpModel()
        lits = {key: m.new_bool_var(key) for key in sorted(active)}
        starts: dict[int, cp_model.IntVar] = {}
        by_res: dict[int, list[tuple[cp_model.IntervalVar, int]]] = {}
        for j in members:
            job = inst.jobs[j]
            s = m.new_int_var(0, horizon, f"s_{j}")
            starts[j] = s
            ways = uses(j)
            # The job runs in exactly one of its options (not a rule: how it runs at all).
            chosen = [m.new_bool_var("") for _ in ways] if len(ways) > 1 else [None]
            if len(ways) > 1:
                m.add_exactly_one([c for c in chosen if c is not None])
            for (k, duration, held), c in zip(ways, chosen, strict=True):
                if "window" in lits:
                    allowed = job.allowed if k is None else job.options[k].allowed
                    spans = [[lo, hi] for n in allowed for lo, hi in n]
                    ct = m.add_linear_expression_in_domain(s, cp_model.Domain.from_intervals(spans))
                    ct.only_enforce_if([lits["window"]] + ([c] if c is not None else []))
                for r, units in held:
                    key = f"capacity {inst.resources[r].label}"
                    if key not in lits:
                        continue
                    on = lits[key]
                    if c is not None:  # the rule holds and this option is chosen
                        on = m.new_bool_var("")
                        m.add_bool_and([lits[key], c]).only_enforce_if(on)
                        m.add_bool_or([~lits[key], ~c, on])
                    iv = m.new_optional_fixed_size_interval_var(s, duration, on, "")
                    by_res.setdefault(r, []).append((iv, units))
        for r, ivs in by_res.items():
            add_resource_limit(
                m,
                [iv for iv, _ in ivs],
                inst.resources[r].capacity or None,
                demands=[u for _, u in ivs],
            )
        if GROUP_RULE in lits:
            for g in groups.values():
                on_night: dict[int, list[cp_model.IntVar]] = {}
                for j in g:
                    picks = []
                    for night in inst.nights:
                        b = m.new_bool_var("")
                        m.add(starts[j] >= night.start).only_enforce_if(b)
                        m.add(starts[j] < night.end).only_enforce_if(b)
                        picks.append(b)
                        on_night.setdefault(night.index, []).append(b)
                    m.add_exactly_one(picks).only_enforce_if(lits[GROUP_RULE])
                for bs in on_night.values():
                    m.add(sum(bs) <= 1).only_enforce_if(lits[GROUP_RULE])
        m.add_assumptions(list(lits.values()))
        return m, lits

    infeasible = _oracle(build, time_limit_s)

    def most_units(j: int, r: int) -> int:
        return max((u for _, _, held in uses(j) for q, u in held if q == r), default=0)

    rules: set[str] = {"window"}
    if groups:
        rules.add(GROUP_RULE)
    rules |= {
        f"capacity {inst.resources[r].label}"
        for r in {r for j in members for r in res_of[j]}
        if inst.resources[r].capacity
        and inst.resources[r].capacity < sum(most_units(j, r) for j in members if r in res_of[j])
    }
    ok, core = infeasible(rules)
    if not ok:
        return None
    core = deletion_filter(core, infeasible)
    return _phrase_tiered(policy, inst, wanted, members, sorted(core), res_of)


def _always_holds(job: Job, r: int) -> bool:
    """Whether ``job`` holds ``r`` whatever option it runs in."""
    return r in job.resources or (
        bool(job.options) and all(r in opt.resources for opt in job.options)
    )


def _least_use(job: Job, r: int, *, units: bool = True) -> int:
    """The least slots (times its units on ``r`` when ``units``) ``job`` may hold resource
    ``r`` for: over the options that take ``r`` when it is not one of the job's own."""
    if r in job.resources:
        i = job.resources.index(r)
        ways = [(o.duration, job.demand(i)) for o in job.options] or [(job.duration, job.demand(i))]
    else:
        ways = [
            (o.duration, u)
            for o in job.options
            for q, u in zip(o.resources, o.demands, strict=True)
            if q == r
        ]
    return min(d * (u if units else 1) for d, u in ways)


def _phrase_tiered(
    policy: Policy,
    inst: Instance,
    wanted: list[str],
    members: list[int],
    core: list[str],
    res_of: dict[int, list[int]],
) -> Explanation:
    slot = inst.slot_minutes
    n_nights = len(inst.nights)
    rules: list[Rule] = []
    parts: list[str] = []
    for key in core:
        if not key.startswith("capacity "):
            continue
        r = next(
            r for j in members for r in res_of[j] if f"capacity {inst.resources[r].label}" == key
        )
        res = inst.resources[r]
        using = [j for j in members if r in res_of[j]]
        if res.kind == "ingest":
            # Its MB/s over time: each job's least (rate x length) among its options, for the
            # jobs that cannot avoid it; the others counted apart.
            forced = [j for j in using if _always_holds(inst.jobs[j], r)]
            energy = sum(_least_use(inst.jobs[j], r) for j in forced) * slot / res.capacity
            name = _ingest_text(res)
            may = len(using) - len(forced)
            parts.append(
                f"{name} needs {_h(energy)} at its full {res.capacity} MB/s over {n_nights}"
                f" nights for {len(forced)} jobs of"
                f" {len({inst.jobs[j].vm for j in forced})} VMs"
                + (f" ({may} more jobs may use it)" if may else "")
            )
            rules.append(Rule("capacity", res.label, f"{name} takes {res.capacity} MB/s at most"))
            continue
        # The load of the jobs that cannot avoid it (every option of theirs takes it); a
        # job that may run elsewhere is counted apart, not in the hours.
        forced = [j for j in using if _always_holds(inst.jobs[j], r)]
        load = sum(_least_use(inst.jobs[j], r, units=False) for j in forced) * slot
        at_once = f", {res.capacity} at a time" if res.capacity > 1 else ""
        n_vms = len({inst.jobs[j].vm for j in forced})
        may = len(using) - len(forced)
        parts.append(
            f"{res.label} needs {_h(load)} over {n_nights} nights for {len(forced)} jobs"
            f" of {n_vms} VMs{at_once}" + (f" ({may} more jobs may use it)" if may else "")
        )
        rules.append(
            Rule(
                "capacity",
                res.label,
                f"{res.label} runs its jobs one at a time"
                if res.capacity == 1
                else f"{res.label} runs at most {res.capacity} jobs at a time",
            )
        )
    if GROUP_RULE in core:
        parts.append("one job of a VM's block per night (a full replaces that night's incremental)")
        rules.append(
            Rule(
                "group",
                GROUP_RULE,
                "the jobs of one VM's block (its full and the incrementals sharing its nights)"
                " take distinct nights",
            )
        )
    if "window" in core:
        window_min = sum(n.end - n.start for n in inst.nights) * slot
        parts.append(
            f"each job inside its window on its nights ({n_nights} nights, {_h(window_min)})"
        )
        rules.insert(
            0,
            Rule(
                "window",
                "window",
                "each job inside its tier's (or VM's) window on its nights, clear of its"
                f" blackouts; policy window {policy.window.start:%H:%M}-{policy.window.end:%H:%M}",
            ),
        )
    return Explanation(list(wanted), rules, "; ".join(parts))
