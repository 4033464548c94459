"""The warm start's per-component merge (``solve_greedy_best``) and ``night_spans`` over a
subset of jobs, against the straightforward versions they replaced (kept here as oracles):
the same answers, without a pass over every job per component."""

from __future__ import annotations

import random

import pytest

from benchmarks.generate import EstateSpec, generate
from stagger.instance import Instance, compile_instance
from stagger.solve.components import components
from stagger.solve.greedy import (
    candidates,
    plan_score,
    solve_greedy,
    solve_greedy_best,
)
from stagger.solve.solution import Solution, night_spans


def scanned_night_spans(inst: Instance, starts: dict[int, int], jobs: list[int]) -> list[int]:
    """``night_spans`` before commit 'warm start linear in components': every start visited."""
    keep = set(jobs)
    spans = [0] * len(inst.nights)
    for j, s in starts.items():
        if j not in keep:
            continue
        for n in inst.nights:
            if n.start <= s < n.end:
                spans[n.index] = max(spans[n.index], s + inst.jobs[j].duration - n.start)
                break
    return spans


def merged_by_scan(inst: Instance, groups: list[list[int]]) -> Solution:
    """``solve_greedy_best`` before that commit: each group's order found by scanning the
    whole winning order (over the same candidate plans)."""
    orders, runs = candidates(inst)
    best = min(range(len(runs)), key=lambda i: (plan_score(inst, runs[i]), i))
    if len(groups) < 2:
        return runs[best]
    position = [0.0] * len(inst.jobs)
    for g in groups:
        pick = min(range(len(runs)), key=lambda i: (plan_score(inst, runs[i], g), i))
        members = set(g)
        ranked = [j for j in orders[pick] if j in members]
        for k, j in enumerate(ranked):
            position[j] = k / len(ranked)
    merged = sorted(range(len(inst.jobs)), key=lambda j: (position[j], j))
    mixed = solve_greedy(inst, merged)
    return mixed if plan_score(inst, mixed) <= plan_score(inst, runs[best]) else runs[best]


@pytest.mark.parametrize(
    ("regime", "cycle", "seed"),
    [("datastore", "full", 1), ("balanced", "incremental", 2), ("connected", "full", 3)],
)
def test_warm_start_is_the_merge_it_replaced(regime: str, cycle: str, seed: int) -> None:
    topo, pol = generate(EstateSpec(500, regime, cycle, seed))  # type: ignore[arg-type]
    inst = compile_instance(topo, pol)
    groups = components(inst)
    got = solve_greedy_best(inst, groups)
    want = merged_by_scan(inst, groups)
    assert (got.starts, got.dropped) == (want.starts, want.dropped)


def test_night_spans_over_some_jobs_is_the_scan() -> None:
    topo, pol = generate(EstateSpec(400, "balanced", "full", 4))
    inst = compile_instance(topo, pol)
    starts = solve_greedy(inst).starts
    rng = random.Random(0)
    for _ in range(50):
        # Jobs without a start, repeats and an empty subset included.
        jobs = rng.sample(range(len(inst.jobs)), rng.randint(0, 40))
        partial = {j: s for j, s in starts.items() if rng.random() < 0.8}
        jobs += jobs[:3]
        assert night_spans(inst, partial, jobs) == scanned_night_spans(inst, partial, jobs)
    assert night_spans(inst, starts) == scanned_night_spans(inst, starts, list(starts))
