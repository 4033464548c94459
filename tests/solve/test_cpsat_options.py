"""CP-SAT chooses each job's proxy, mode and repository (``Job.options``): hand-built
instances whose only optimal plan needs a specific option, each proven OPTIMAL, every plan
checked by an independent checker (tests/solve/options_check.py), and a brute-force cross-check
on small random instances with options."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from stagger.instance import Instance, Job, NightSlots
from stagger.solve.cpsat import build_model, solve_cpsat
from stagger.solve.solution import Solution
from tests.solve.crosscheck import exact_settings
from tests.solve.options_check import (
    brute_force,
    instance,
    job,
    option,
    resources,
    spans,
    violations,
)

NIGHT = [NightSlots(0, 0, 12)]


def _solve(inst: Instance, hint: Solution | None = None, seed: int = 0) -> tuple[Solution, str]:
    res = solve_cpsat(inst, hint, time_limit_s=20, seed=seed, workers=1)
    assert not violations(inst, res.solution), violations(inst, res.solution)
    return res.solution, res.status


def test_proxy_max_tasks_one_serialises_two_jobs() -> None:
    # Two jobs on their own hosts, both only through proxy p (one task slot): one after the
    # other, 4 + 5 slots. Without the proxy's limit they would run side by side (5).
    res = resources(("host", "h0", 1), ("host", "h1", 1), ("proxy", "p", 1))
    a = job("a", [0], [option(res, NIGHT, proxy="p", duration=4)])
    b = job("b", [1], [option(res, NIGHT, proxy="p", duration=5)])
    inst = instance(NIGHT, res, [a, b])
    sol, status = _solve(inst)
    assert status == "OPTIMAL"
    assert not sol.dropped and sol.options == {0: 0, 1: 0}
    assert spans(inst, sol) == [9]


def test_repository_ingest_forces_two_fast_jobs_apart() -> None:
    # Two 400 MB/s jobs (on their own hosts and proxies) write to repo r, ingest 600 MB/s: they
    # cannot overlap, so 3 + 4 = 7 slots. Each could also go NBD (120 MB/s, 10 slots) beside
    # the other (400 + 120 <= 600), which ends later (10): the optimum keeps both fast and
    # apart. With unit demands on the ingest both fast jobs would overlap (4).
    res = resources(
        ("host", "h0", 1), ("host", "h1", 1),
        ("proxy", "p0", 4), ("proxy", "p1", 4), ("proxy", "nbd", 4),
        ("repository", "r", 12), ("ingest", "r", 600),
    )  # fmt: skip
    jobs = [
        job(
            vm,
            [host],
            [
                option(res, NIGHT, proxy=p, duration=d, repository="r", ingest=400),
                option(
                    res, NIGHT, proxy="nbd", mode="nbd", duration=10, repository="r", ingest=120
                ),
            ],
        )
        for vm, host, p, d in (("a", 0, "p0", 3), ("b", 1, "p1", 4))
    ]
    inst = instance(NIGHT, res, jobs)
    sol, status = _solve(inst)
    assert status == "OPTIMAL"
    assert sol.options == {0: 0, 1: 0}
    assert spans(inst, sol) == [7]
    (s0, s1) = sol.starts[0], sol.starts[1]
    assert s0 + 3 <= s1 or s1 + 4 <= s0  # apart


def test_only_the_slower_option_fits_where_its_proxy_is_free() -> None:
    # Job x: option A on proxy p1 (2 slots) or B on proxy p2 (5 slots); a blackout [4, 6) on
    # its host leaves A the starts 0-2 and 6-10, B only 6-7 (5 slots fit only after it).
    # Job y holds p1 (one task) for slots 0-10. A at 10 ends at 12, B at 6 ends at 11: the
    # optimum is B at 6. A model that let B start anywhere A may (0) would end at 10.
    res = resources(("host", "hx", 1), ("host", "hy", 1), ("proxy", "p1", 1), ("proxy", "p2", 1))
    cut = [(4, 6)]
    x = job(
        "x",
        [0],
        [
            option(res, NIGHT, proxy="p1", duration=2, forbidden=cut),
            option(res, NIGHT, proxy="p2", mode="nbd", duration=5, forbidden=cut),
        ],
    )
    y_opt = option(res, NIGHT, proxy="p1", duration=10)
    y_opt = replace(y_opt, allowed=(((0, 0),),))  # pinned at the window start
    y = job("y", [1], [y_opt])
    inst = instance(NIGHT, res, [x, y])
    sol, status = _solve(inst)
    assert status == "OPTIMAL"
    assert sol.options[0] == 1 and sol.starts[0] == 6
    assert spans(inst, sol) == [11]


def test_the_host_is_held_for_the_chosen_options_length() -> None:
    # Jobs x and y share host h (one job at a time). x: A on p1 (2 slots) or B on p2 (6
    # slots); z holds p1 for slots 0-10, so A could only run at 10-12. y: 5 slots on p2. With
    # B, x and y follow each other on h: 6 + 5 = 11, better than A (12). A model that held h
    # for the shortest option (2) only would let y start at 2 and end the night at 10 (z).
    res = resources(("host", "h", 1), ("host", "hz", 1), ("proxy", "p1", 1), ("proxy", "p2", 2))
    x = job(
        "x",
        [0],
        [
            option(res, NIGHT, proxy="p1", duration=2),
            option(res, NIGHT, proxy="p2", mode="nbd", duration=6),
        ],
    )
    y = job("y", [0], [option(res, NIGHT, proxy="p2", duration=5)])
    z_opt = replace(option(res, NIGHT, proxy="p1", duration=10), allowed=(((0, 0),),))
    z = job("z", [1], [z_opt])
    inst = instance(NIGHT, res, [x, y, z])
    sol, status = _solve(inst)
    assert status == "OPTIMAL"
    assert sol.options[0] == 1
    assert spans(inst, sol) == [11]


def test_a_hint_with_options_is_kept_or_bettered_and_presence_is_fixed() -> None:
    # The warm start (every job placed, options named) fixes presence; CP-SAT still moves
    # the option to reach the optimum of the ingest case.
    res = resources(
        ("host", "h0", 1), ("host", "h1", 1), ("proxy", "p", 4),
        ("repository", "r", 12), ("ingest", "r", 600),
    )  # fmt: skip
    opts = [
        option(res, NIGHT, proxy="p", duration=3, repository="r", ingest=400),
        option(res, NIGHT, proxy="p", mode="nbd", duration=9, repository="r", ingest=120),
    ]
    inst = instance(NIGHT, res, [job("a", [0], opts), job("b", [1], opts)])
    hint = Solution({0: 0, 1: 0}, [], {0: 0, 1: 1})  # a fast, b slow beside it: 9
    assert not violations(inst, hint)
    built = build_model(inst, hint, all_present=True)
    assert all(p is True for p in built.present)
    sol, status = _solve(inst, hint)
    assert status == "OPTIMAL"
    assert sol.options == {0: 0, 1: 0} and spans(inst, sol) == [6]


def test_same_seed_same_plan_with_options() -> None:
    res = resources(
        ("host", "h0", 1), ("host", "h1", 1), ("host", "h2", 1),
        ("proxy", "p0", 1), ("proxy", "p1", 2),
        ("repository", "r", 2), ("ingest", "r", 700),
    )  # fmt: skip
    jobs = [
        job(
            f"vm{i}",
            [i % 3],
            [
                option(res, NIGHT, proxy="p0", duration=2 + i % 2, repository="r", ingest=400),
                option(res, NIGHT, proxy="p1", mode="nbd", duration=4, repository="r", ingest=200),
            ],
        )
        for i in range(6)
    ]
    inst = instance(NIGHT, res, jobs)
    runs = [solve_cpsat(inst, None, time_limit_s=5, seed=7, workers=4) for _ in range(2)]
    assert runs[0].solution == runs[1].solution
    assert not violations(inst, runs[0].solution)


def test_jobs_without_options_build_the_model_as_before() -> None:
    # No options: no option literal, no option record (the model of a plan without an
    # infrastructure file; the golden tests check its plans byte for byte).
    res = resources(("host", "h0", 1))
    plain = Job("a", 3, (0,), (((0, 9),),), 1.0, 90.0)
    inst = instance(NIGHT, res, [plain])
    built = build_model(inst, None, all_present=False)
    assert built.options == {}
    sol, status = _solve(inst)
    assert status == "OPTIMAL" and sol.options == {} and sol.starts == {0: 0}


@st.composite
def option_instances(draw: st.DrawFn) -> Instance:
    n_nights = draw(st.integers(1, 2))
    length = draw(st.integers(5, 9))
    nights = [NightSlots(i, i * (length + 3), i * (length + 3) + length) for i in range(n_nights)]
    res = resources(
        ("host", "h0", 1),
        ("host", "h1", 1),
        ("datastore", "d", draw(st.integers(1, 2))),
        ("proxy", "p0", draw(st.integers(1, 2))),
        ("proxy", "p1", draw(st.integers(1, 2))),
        ("repository", "r", draw(st.integers(1, 3))),
        ("ingest", "r", draw(st.sampled_from([400, 600, 1000]))),
    )
    jobs: list[Job] = []
    for i in range(draw(st.integers(2, 3))):
        own = sorted(draw(st.sets(st.integers(0, 2), min_size=1, max_size=2)))
        lo = draw(st.integers(0, length))
        cut = [(lo, lo + draw(st.integers(0, 3)))]
        opts = []
        for k in range(draw(st.integers(1, 3))):
            o = option(
                res,
                nights,
                proxy=draw(st.sampled_from(["p0", "p1"])),
                mode=f"m{k}",
                duration=draw(st.integers(1, 5)),
                repository=draw(st.sampled_from([None, "r"])),
                ingest=draw(st.sampled_from([100, 300, 500])),
                forbidden=[c for c in cut if c[0] < c[1]],
            )
            if any(o.allowed):
                opts.append(o)
        if opts:
            jobs.append(job(f"vm{i}", own, opts))
    return instance(nights, res, jobs)


@exact_settings(30)
@given(option_instances())
def test_cpsat_matches_brute_force_on_small_option_instances(inst: Instance) -> None:
    if not inst.jobs:
        return
    best = brute_force(inst)
    sol, status = _solve(inst)
    assert status == "OPTIMAL"
    if best is None:
        assert sol.dropped  # no plan places every job
        return
    assert not sol.dropped
    sp = spans(inst, sol)
    assert (max(sp), sum(sp)) == best
