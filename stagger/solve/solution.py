"""What every solver returns and reports: a plan in slots, its per-night spans, progress.

The one module the solvers share (greedy, cpsat, decompose, stability, lns); it imports only
the instance, so no solver needs another solver or the planner for these types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from stagger.instance import Instance

Starts = dict[int, int]  # job index -> start slot

# Called on each improving plan: (worst night's span in slots, wall seconds, best bound).
ProgressFn = Callable[[int, float, float], None]


@dataclass
class Solution:
    starts: Starts
    dropped: list[int] = field(default_factory=list)  # job indices with no feasible start
    # Job index -> index into its ``Job.options`` (the proxy, mode and repository it runs
    # with), for every placed job that has options; empty without an infrastructure file.
    options: dict[int, int] = field(default_factory=dict)


class GroupNights:
    """For the list schedulers: the nights each group (:attr:`Job.group`) has taken so far,
    since the jobs of one group take distinct nights."""

    def __init__(self, inst: Instance) -> None:
        self._inst = inst
        self._taken: dict[int, set[int]] = {}

    def free(self, j: int, night: int) -> bool:
        group = self._inst.jobs[j].group
        return group is None or night not in self._taken.get(group, ())

    def take(self, j: int, night: int) -> None:
        group = self._inst.jobs[j].group
        if group is not None:
            self._taken.setdefault(group, set()).add(night)


def vm_jobs(inst: Instance) -> dict[str, list[int]]:
    """VM -> its jobs (indices, ascending): the unit a plan keeps or drops whole."""
    out: dict[str, list[int]] = {}
    for j, job in enumerate(inst.jobs):
        out.setdefault(job.vm, []).append(j)
    return out


def whole_vms(inst: Instance, sol: Solution) -> Solution:
    """``sol`` with every job of a VM that lost one job dropped too: a VM is planned whole or
    not at all. The same object when nothing changes (always so in the single regime, one job
    per VM)."""
    lost = {inst.jobs[j].vm for j in sol.dropped}
    if not lost or not any(inst.jobs[j].vm in lost for j in sol.starts):
        return sol
    starts = {j: s for j, s in sol.starts.items() if inst.jobs[j].vm not in lost}
    dropped = sorted(set(sol.dropped) | {j for j in sol.starts if j not in starts})
    return Solution(starts, dropped, {j: k for j, k in sol.options.items() if j in starts})


def drop_cost(inst: Instance, dropped: Iterable[int], weight: list[int]) -> tuple[int, int]:
    """(VMs dropped, their importance): the planner's first two goals. ``weight`` is per job
    (:func:`~stagger.solve.greedy.importance`); a VM weighs its heaviest job's weight (a VM's
    jobs share one priority). In the single regime (one job per VM): jobs dropped and their
    importance."""
    per_vm: dict[str, int] = {}
    for j in dropped:
        vm = inst.jobs[j].vm
        per_vm[vm] = max(per_vm.get(vm, 0), weight[j])
    return len(per_vm), sum(per_vm.values())


def group_clashes(inst: Instance, starts: Mapping[int, int]) -> list[tuple[int, int]]:
    """(group, night) of every night two placed jobs of one group share: empty for a plan
    that keeps the rule "the jobs of one group take distinct nights"."""
    seen: dict[tuple[int, int], int] = {}
    for j, s in starts.items():
        group = inst.jobs[j].group
        if group is not None:
            key = (group, inst.night_of(s))
            seen[key] = seen.get(key, 0) + 1
    return sorted(k for k, count in seen.items() if count > 1)


def night_spans(
    inst: Instance, starts: Mapping[int, int], jobs: Iterable[int] | None = None
) -> list[int]:
    """Per night: slots from its window start to the end of its last job (0: no job), over
    the jobs ``jobs`` (default: every job in ``starts``). A start in no window counts
    nowhere."""
    # Only the jobs asked for are visited: called once per component, a pass over every
    # start each time made the warm start quadratic in the number of components.
    placed = starts.items() if jobs is None else ((j, starts[j]) for j in jobs if j in starts)
    spans = [0] * len(inst.nights)
    for j, s in placed:
        for n in inst.nights:
            if n.start <= s < n.end:
                spans[n.index] = max(spans[n.index], s + inst.jobs[j].duration - n.start)
                break
    return spans


def makespan_slots(inst: Instance, starts: Mapping[int, int]) -> int:
    """The worst night's span (0 for an empty plan)."""
    return max(night_spans(inst, starts), default=0)


class Progress(cp_model.CpSolverSolutionCallback):
    """Reports each improving CP-SAT solution through a ``ProgressFn``; Ctrl-C while it reports
    stops the search cleanly, so the best solution so far is returned instead of being lost
    with the exception."""

    def __init__(self, span_max: cp_model.IntVar, fn: ProgressFn) -> None:
        super().__init__()
        self._span_max = span_max
        self._fn = fn
        self.interrupted = False

    def on_solution_callback(self) -> None:
        try:
            self._fn(self.Value(self._span_max), self.WallTime(), self.BestObjectiveBound())
        except KeyboardInterrupt:
            self.interrupted = True
            self.StopSearch()
