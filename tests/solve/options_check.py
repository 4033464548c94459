"""Hand-built instances with infrastructure options, an independent plan checker and a
brute-force optimum, for the CP-SAT option tests (written from the contract in
stagger/instance.py: a job runs in exactly one option, holding its own resources and the
option's for the option's duration, at one of the option's allowed starts; units per resource
are ``Job.demand`` and ``Option.demands``), not from the CP-SAT encoding."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from stagger.instance import Instance, Job, NightSlots, Option, Resource, allowed_starts
from stagger.rules import ResourceKind
from stagger.solve.solution import Solution

ANCHOR = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


def resources(*spec: tuple[ResourceKind, str, int]) -> list[Resource]:
    return [Resource(kind, name, cap) for kind, name, cap in spec]


def option(
    inst_resources: Sequence[Resource],
    nights: Sequence[NightSlots],
    *,
    proxy: str,
    duration: int,
    mode: str = "hotadd",
    repository: str | None = None,
    ingest: int = 0,
    forbidden: Sequence[tuple[int, int]] = (),
) -> Option:
    """An option on ``proxy`` (and ``repository``: its tasks, and its ingest with ``ingest``
    MB/s when given), its allowed starts cut by ``forbidden`` [lo, hi) slots."""
    names = {(r.kind, r.name): i for i, r in enumerate(inst_resources)}
    res = [names[("proxy", proxy)]]
    units = [1]
    if repository is not None:
        res.append(names[("repository", repository)])
        units.append(1)
        if ingest:
            res.append(names[("ingest", repository)])
            units.append(ingest)
    return Option(
        proxy=proxy,
        mode=mode,
        repository=repository,
        duration=duration,
        minutes=float(duration * 30),
        allowed=allowed_starts(list(nights), sorted(forbidden), duration),
        resources=tuple(res),
        demands=tuple(units),
    )


def job(vm: str, own: Sequence[int], options: Sequence[Option], **kw: object) -> Job:
    """A job with ``options``; duration, minutes and allowed starts: the shortest option's."""
    shortest = min(options, key=lambda o: (o.duration, options.index(o)))
    return Job(
        vm=vm,
        duration=shortest.duration,
        resources=tuple(own),
        allowed=shortest.allowed,
        size_gib=100.0,
        minutes=shortest.minutes,
        options=tuple(options),
        **kw,  # type: ignore[arg-type]
    )


def instance(nights: list[NightSlots], res: list[Resource], jobs: list[Job]) -> Instance:
    return Instance(30, ANCHOR, nights, res, jobs)


def held(inst: Instance, j: int, k: int | None) -> tuple[int, list[tuple[int, int]]]:
    """(duration, [(resource, units)]) of job ``j`` running in option ``k``."""
    job = inst.jobs[j]
    own = [(r, job.demand(i)) for i, r in enumerate(job.resources)]
    if k is None:
        return job.duration, own
    opt = job.options[k]
    return opt.duration, own + list(zip(opt.resources, opt.demands, strict=True))


def violations(inst: Instance, sol: Solution) -> list[str]:
    """Every rule ``sol`` breaks: a placed job with options without a valid option, a start
    outside the chosen option's allowed starts, a resource over its capacity at some slot
    (units summed), two jobs of one group on one night."""
    out: list[str] = []
    use: dict[int, dict[int, int]] = {}
    nights_of_group: dict[tuple[int, int], int] = {}
    for j, s in sorted(sol.starts.items()):
        job = inst.jobs[j]
        k = sol.options.get(j)
        if job.options and (k is None or not 0 <= k < len(job.options)):
            out.append(f"job {j}: no option")
            continue
        if not job.options and k is not None:
            out.append(f"job {j}: an option without options")
        allowed = job.options[k].allowed if k is not None else job.allowed
        if not any(lo <= s <= hi for spans in allowed for lo, hi in spans):
            out.append(f"job {j}: start {s} not allowed for option {k}")
        duration, uses = held(inst, j, k)
        for r, units in uses:
            for t in range(s, s + duration):
                use.setdefault(r, {})[t] = use.get(r, {}).get(t, 0) + units
        if job.group is not None:
            key = (job.group, inst.night_of(s))
            nights_of_group[key] = nights_of_group.get(key, 0) + 1
    for r, per_slot in sorted(use.items()):
        cap = inst.resources[r].capacity
        over = [t for t, u in sorted(per_slot.items()) if cap and u > cap]
        if over:
            out.append(f"{inst.resources[r].label}: over {cap} at slots {over}")
    out += [f"group {g} twice on night {n}" for (g, n), c in nights_of_group.items() if c > 1]
    return out


def spans(inst: Instance, sol: Solution) -> list[int]:
    """Per night: its window start to the end of its last job (the chosen option's length)."""
    out = [0] * len(inst.nights)
    for j, s in sol.starts.items():
        n = inst.night_of(s)
        duration, _ = held(inst, j, sol.options.get(j))
        out[n] = max(out[n], s + duration - inst.nights[n].start)
    return out


def brute_force(inst: Instance) -> tuple[int, int] | None:
    """The best (worst night's span, sum of spans) over every plan placing every job, by
    depth-first enumeration of each job's (option, start) with the resource use checked slot
    by slot; None when no such plan exists."""
    choices: list[list[tuple[int | None, int]]] = []
    for job in inst.jobs:
        ks: list[int | None] = list(range(len(job.options))) if job.options else [None]
        cand = []
        for k in ks:
            allowed = job.options[k].allowed if k is not None else job.allowed
            cand += [(k, s) for spans_n in allowed for lo, hi in spans_n for s in range(lo, hi + 1)]
        choices.append(cand)
    use = [[0] * (inst.horizon + 1) for _ in inst.resources]
    caps = [r.capacity for r in inst.resources]
    night_end = [0] * len(inst.nights)
    best: list[tuple[int, int]] = []

    def place(j: int) -> None:
        if j == len(inst.jobs):
            score = (max(night_end), sum(night_end))
            if not best or score < best[0]:
                best[:] = [score]
            return
        for k, s in choices[j]:
            duration, uses = held(inst, j, k)
            if any(
                caps[r] and use[r][t] + units > caps[r]
                for r, units in uses
                for t in range(s, s + duration)
            ):
                continue
            n = inst.night_of(s)
            before = night_end[n]
            night_end[n] = max(before, s + duration - inst.nights[n].start)
            if not best or (max(night_end), 0) <= (best[0][0], best[0][1]):
                for r, units in uses:
                    for t in range(s, s + duration):
                        use[r][t] += units
                place(j + 1)
                for r, units in uses:
                    for t in range(s, s + duration):
                        use[r][t] -= units
            night_end[n] = before

    place(0)
    return best[0] if best else None
