"""CP-SAT building blocks: each constraint family written once, used by every model.

In the style of the cpsat-primer: a function adds one family of constraints to a model and
returns its objective terms where it has any; the models (``cpsat``, ``decompose``,
``stability``, ``lns``, ``explain``) are compositions of these. ``Lexicographic`` turns goals
ranked by importance into one weighted sum whose weights are derived from the ranges of the
goals below, so no weight is computed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

# (start slot, end slot, units in use): capacity a resource has already given away.
Occupied = tuple[int, int, int]


def add_resource_limit(
    m: cp_model.CpModel,
    intervals: Sequence[cp_model.IntervalVar],
    capacity: int | None,
    *,
    demands: Sequence[int] | None = None,
    occupied: Sequence[Occupied] = (),
    name: str = "f",
) -> bool:
    """At most ``capacity`` units of one resource at any time: ``intervals`` (one unit each
    unless ``demands``: e.g. a repository's ingest in MB/s) plus the fixed ``occupied`` steps
    (e.g. jobs that stay where they are, or the part of a shared limit another component
    holds; a step at ``capacity`` forbids the resource there). NoOverlap when the capacity and
    every demand are 1, Cumulative otherwise (which also keeps out an interval demanding more
    than the capacity). Nothing is added when the limit can never bind (``capacity`` None =
    unlimited, or the intervals' total demand plus the highest step fits). Returns whether a
    constraint was added."""
    if capacity is None:
        return False
    units = list(demands) if demands is not None else [1] * len(intervals)
    if sum(units) + max((u for _, _, u in occupied), default=0) <= capacity:
        return False
    fixed = [m.new_fixed_size_interval_var(a, b - a, f"{name}{a}") for a, b, _ in occupied]
    if capacity == 1 and all(u == 1 for u in units):
        m.add_no_overlap([*intervals, *fixed])
    else:
        m.add_cumulative([*intervals, *fixed], units + [u for _, _, u in occupied], capacity)
    return True


@dataclass
class Lexicographic:
    """Goals to minimise, added most important first, each a non-negative expression with a
    known largest value. ``terms()`` weighs them so that one unit of a goal outweighs every
    goal below it at its largest: the weight of a goal is (largest weighted sum below) + 1."""

    goals: list[tuple[str, cp_model.LinearExprT, int]] = field(default_factory=list)

    def add(self, name: str, expr: cp_model.LinearExprT, largest: int) -> None:
        """A goal below those added so far; ``largest`` bounds ``expr`` from above."""
        self.goals.append((name, expr, max(0, int(largest))))

    def weights(self) -> dict[str, int]:
        out: dict[str, int] = {}
        weight = 1
        for name, _, largest in reversed(self.goals):
            out[name] = weight
            weight *= largest + 1
        return out

    def largest(self) -> int:
        """The largest value the weighted sum can take."""
        w = self.weights()
        return sum(w[name] * largest for name, _, largest in self.goals)

    def fits(self) -> bool:
        """Whether the weighted sum stays exact: CP-SAT's objective must not overflow 64 bits
        and it reports the objective value as a double (53-bit mantissa)."""
        return self.largest() < 1 << 53

    def weighted(self, name: str) -> cp_model.LinearExprT:
        """One goal times its weight."""
        expr = next(e for n, e, _ in self.goals if n == name)
        return self.weights()[name] * expr

    def terms(self, order: Sequence[str] | None = None) -> list[cp_model.LinearExprT]:
        """The weighted goals, in ``order`` (names; default: most important first)."""
        w = self.weights()
        exprs = {n: e for n, e, _ in self.goals}
        names = order if order is not None else [n for n, _, _ in self.goals]
        return [w[n] * exprs[n] for n in names]
