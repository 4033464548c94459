"""The independent validator on schedules planned with a backup infrastructure file: built by
hand (never by the planner), every figure computed by hand, each rule broken once."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stagger.cli import app
from stagger.errors import InvalidScheduleError
from stagger.exporters.jsoncsv import schedule_json
from stagger.model.infrastructure import Infrastructure
from stagger.model.policy import Policy
from stagger.model.schedule import ResourceUse, Schedule, ScheduledJob
from stagger.model.topology import Topology
from stagger.validate import _ingest_violations, find_violations, validate
from tests.factories import GIB_PER_HOUR, make_policy, make_topology
from tests.tiered import tiered_schedule

runner = CliRunner()

# 703.125 GiB: 120 min at 100 MB/s (nbd), 60 at 200 (hotadd), 30 at 400 (san) and
# 34.29 min at 350 MB/s (san capped by repo-2's ingest), 35 on the 5-minute grid.
SIZE_GIB = 2 * GIB_PER_HOUR

INFRA: dict[str, Any] = {
    "proxies": [
        {"name": "prx-a", "max_tasks": 1, "modes": ["hotadd", "nbd"], "reaches": {"cluster": "C1"}},
        {"name": "prx-c", "max_tasks": 2, "modes": ["hotadd"], "reaches": {"cluster": "C2"}},
        {"name": "prx-san", "max_tasks": 4, "modes": ["san"], "reaches": {"datastore": "DS-1*"}},
        {"name": "prx-any", "max_tasks": 1, "modes": ["nbd"]},
    ],
    "transport": {"hotadd": {"mb_per_s": 200}, "san": {"mb_per_s": 400}, "nbd": {"mb_per_s": 100}},
    "repositories": [
        {"name": "repo-1", "max_tasks": 2, "ingest_mb_per_s": 500},
        {"name": "repo-2", "max_tasks": 4, "ingest_mb_per_s": 350},
    ],
}


def _topology(**pins: dict[str, str]) -> Topology:
    vms = [("a", "esx01", "DS-01"), ("b", "esx02", "DS-02"), ("c", "esx03", "DS-10")]
    return make_topology(
        clusters=[{"name": "C1"}, {"name": "C2"}],
        hosts=[
            {"name": "esx01", "cluster": "C1"},
            {"name": "esx02", "cluster": "C1"},
            {"name": "esx03", "cluster": "C2"},
        ],
        datastores=[{"name": "DS-01"}, {"name": "DS-02"}, {"name": "DS-10"}],
        vms=[
            {
                "name": name,
                "host": host,
                "disks": [{"datastore": ds, "size_gib": SIZE_GIB}],
                **pins.get(name, {}),
            }
            for name, host, ds in vms
        ],
    )


def _infra(**changes: Any) -> Infrastructure:
    data = yaml.safe_load(yaml.safe_dump(INFRA))
    for key, value in changes.items():
        data[key] = value
    return Infrastructure.model_validate(data)


def _job(
    topo: Topology,
    policy: Policy,
    vm: str,
    at: str,
    minutes: int,
    proxy: str | None,
    mode: str | None,
    repository: str | None,
) -> ScheduledJob:
    """The job of ``vm`` from ``at`` (local HH:MM on the night of 1 Dec 2026) for ``minutes``."""
    idx = topo.index()
    v = idx.vms[vm]
    h, m = (int(x) for x in at.split(":"))
    day = 1 if h >= 12 else 2
    start = datetime(2026, 12, day, h, m, tzinfo=policy.tz)
    return ScheduledJob(
        vm=vm,
        host=v.host,
        cluster=idx.cluster_of(v),
        datastores=v.datastores,
        raid_groups=idx.raid_groups_of(v),
        start=start,
        end=start + timedelta(minutes=minutes),
        duration_min=minutes,
        size_gib=round(SIZE_GIB, 3),
        night=0,
        level="full",
        proxy=proxy,
        mode=mode,  # type: ignore[arg-type]
        repository=repository,
    )


# a and b share prx-a (one task slot): one after the other; c alone on repo-2, whose 350 MB/s
# ingest it fills exactly (san's 400 capped to 350).
VALID: list[tuple[Any, ...]] = [
    ("a", "20:00", 60, "prx-a", "hotadd", "repo-1"),
    ("b", "21:00", 120, "prx-a", "nbd", "repo-1"),
    ("c", "20:00", 35, "prx-san", "san", "repo-2"),
]


def _schedule(
    rows: list[Any],
    topo: Topology | None = None,
    policy: Policy | None = None,
    infra: Infrastructure | None = None,
) -> tuple[Schedule, Topology, Policy]:
    topo = topo if topo is not None else _topology()
    policy = policy if policy is not None else make_policy()
    jobs = [_job(topo, policy, *row) for row in rows]
    s = tiered_schedule(jobs, topo, policy)
    embedded = infra if infra is not None else _infra()
    s = s.model_copy(update={"inputs": s.inputs.model_copy(update={"infrastructure": embedded})})
    return s, topo, policy


def _with(rows: list[Any], vm: str, **changes: Any) -> list[Any]:
    names = ("vm", "at", "minutes", "proxy", "mode", "repository")
    out = []
    for row in rows:
        if row[0] == vm:
            d = dict(zip(names, row, strict=True)) | changes
            row = tuple(d[n] for n in names)
        out.append(row)
    return out


def _violations(rows: list[Any], **kw: Any) -> list[str]:
    infra = kw.pop("infrastructure", None)
    s, topo, policy = _schedule(rows, **kw)
    return find_violations(s, topo, policy, infrastructure=infra)


def test_hand_built_schedule_with_infrastructure_is_valid() -> None:
    assert _violations(VALID) == []


def test_job_without_proxy_or_mode() -> None:
    v = _violations(_with(VALID, "a", proxy=None, mode=None))
    assert v == ["job a: no proxy and mode; with an infrastructure file every job has both"]


def test_job_without_repository_when_the_file_lists_some() -> None:
    v = _violations(_with(VALID, "a", repository=None))
    assert v == [
        "job a: no repository; the infrastructure file lists 2, every job writes to one"
    ], v


def test_no_repository_needed_when_the_file_lists_none() -> None:
    # Without repositories the rate is the mode's alone: c in san at 400 MB/s, 30 min.
    rows = [(*r[:5], None) for r in _with(VALID, "c", minutes=30)]
    assert _violations(rows, infra=_infra(repositories=[])) == []


def test_unknown_proxy_and_repository() -> None:
    v = _violations(_with(VALID, "a", proxy="prx-zz"))
    assert v == ["job a: proxy 'prx-zz' is not in the infrastructure file"], v
    v = _violations(_with(VALID, "a", repository="repo-9"))
    assert v == ["job a: repository 'repo-9' is not in the infrastructure file"], v


def test_proxy_that_does_not_reach_the_vm() -> None:
    # prx-c reads cluster C2 only (same mode and rate: nothing else changes).
    v = _violations(_with(VALID, "a", proxy="prx-c"))
    assert v == [
        "job a: proxy 'prx-c' does not reach the VM (host 'esx01', cluster 'C1',"
        " datastores 'DS-01')"
    ], v


def test_datastore_reach_needs_every_datastore() -> None:
    # prx-san reads DS-1*: VM a's DS-01 does not match; 703.125 GiB at 400 MB/s: 30 min.
    v = _violations(_with(VALID, "a", proxy="prx-san", mode="san", minutes=30))
    assert v == [
        "job a: proxy 'prx-san' does not reach the VM (host 'esx01', cluster 'C1',"
        " datastores 'DS-01')"
    ], v


def test_mode_the_proxy_does_not_have() -> None:
    # 30 min: san's length, so only the mode is wrong.
    v = _violations(_with(VALID, "a", mode="san", minutes=30))
    assert v == ["job a: proxy 'prx-a' has no mode 'san' (its modes: hotadd, nbd)"], v


def test_length_is_the_modes_length() -> None:
    # b marked hotadd (200 MB/s: 60 min) but lasting nbd's 120 min.
    v = _violations(_with(VALID, "b", mode="hotadd"))
    assert v == [
        "job b: duration_min 120, in hotadd mode at 200 MB/s the backup takes 60.0 min,"
        " 60 on the 5-min slot grid"
    ], v
    # One slot short of nbd's 120 min.
    v = _violations(_with(VALID, "b", minutes=115))
    assert v == [
        "job b: duration_min 115, in nbd mode at 100 MB/s the backup takes 120.0 min,"
        " 120 on the 5-min slot grid"
    ], v


def test_length_uses_the_rate_capped_by_the_repositorys_ingest() -> None:
    # san moves 400 MB/s, but repo-2 writes 350: 34.29 min, 35 on the grid; 30 is san's
    # uncapped length.
    v = _violations(_with(VALID, "c", minutes=30))
    assert v == [
        "job c: duration_min 30, in san mode at 350 MB/s the backup takes 34.3 min,"
        " 35 on the 5-min slot grid"
    ], v


def test_shorter_than_the_policys_throughput_is_fine_with_a_faster_mode() -> None:
    # a's 60 min in hotadd is half of the 120 min the policy's 100 MB/s gives: the
    # throughput check of plans without infrastructure must not apply.
    s, topo, policy = _schedule(VALID)
    s.inputs.infrastructure = None
    v = find_violations(s, topo, policy, infrastructure=_infra())
    assert v == []


def test_vm_pins_proxy_mode_and_repository() -> None:
    topo = _topology(a={"proxy": "prx-any", "mode": "nbd", "repository": "repo-2"})
    v = _violations(VALID, topo=topo)
    assert v == [
        "job a: proxy 'prx-a', the VM pins proxy 'prx-any'",
        "job a: mode 'hotadd', the VM pins mode 'nbd'",
        "job a: repository 'repo-1', the VM pins repository 'repo-2'",
    ], v


def test_tier_pins_and_the_vms_own_pin_wins() -> None:
    tier = {
        "name": "t",
        "match": {"cluster": "C1"},
        "incremental": "none",
        "full": {"on": "FREQ=DAILY"},
        "mode": "nbd",
    }
    policy = make_policy(tiers=[tier])
    rows = [r for r in VALID if r[0] != "c"] + [("c", "20:00", 35, "prx-san", "san", "repo-2")]
    s, topo, _ = _schedule(rows, policy=policy)
    for job in s.jobs:
        job.tier = "t" if job.vm in ("a", "b") else None
    v = find_violations(s, topo, policy)
    assert v == ["job a night 0 full: mode 'hotadd', tier 't' pins mode 'nbd'"], v
    # a's own pin wins over its tier's.
    topo = _topology(a={"mode": "hotadd"})
    assert find_violations(s, topo, policy) == []


def test_proxy_task_slots_at_every_instant() -> None:
    # b starts 30 min before a ends: prx-a (one task slot) runs two.
    v = _violations(_with(VALID, "b", at="20:30"))
    assert v == ["proxy 'prx-a' task slots: 2 jobs at 2026-12-01T20:30+01:00 (a, b), limit 1"], v


def test_repository_tasks_at_every_instant() -> None:
    # repo-1 taking one task at a time; b on prx-any (another proxy) overlapping a.
    one = [dict(r, max_tasks=1) if r["name"] == "repo-1" else r for r in INFRA["repositories"]]
    rows = _with(VALID, "b", at="20:30", proxy="prx-any")
    assert _violations(VALID, infrastructure=_infra(repositories=one)) == []
    v = _violations(rows, infrastructure=_infra(repositories=one))
    assert v == ["repository 'repo-1' tasks: 2 jobs at 2026-12-01T20:30+01:00 (a, b), limit 1"], v


def test_repository_ingest_at_every_instant() -> None:
    # c in san mode into repo-1 (400 MB/s, 30 min) beside a in hotadd (200 MB/s): 600 MB/s
    # against repo-1's 500.
    rows = _with(VALID, "c", repository="repo-1", minutes=30)
    v = _violations(rows)
    assert v == [
        "repository 'repo-1' ingest: 600 MB/s at 2026-12-01T20:00+01:00 (2 jobs: a, c),"
        " limit 500 MB/s"
    ], v
    # One after the other: 400 then 200 + 100 (a and b do not overlap), fine.
    assert _violations(_with(rows, "c", at="23:00")) == []


def test_jobs_without_infrastructure_carry_no_assignment() -> None:
    s, topo, policy = _schedule(VALID)
    s.inputs.infrastructure = None
    v = find_violations(s, topo, policy)
    # Without infrastructure the policy's 100 MB/s sets the lengths: a and c are too short.
    assert v == [
        "job a: proxy, mode and repository set, but the schedule was planned without an"
        " infrastructure file",
        "job a: lasts 60 min, the backup needs 120.0 min",
        "job b: proxy, mode and repository set, but the schedule was planned without an"
        " infrastructure file",
        "job c: proxy, mode and repository set, but the schedule was planned without an"
        " infrastructure file",
        "job c: lasts 35 min, the backup needs 120.0 min",
    ], v
    s.jobs[1].mode = None
    s.jobs[1].repository = None
    assert find_violations(s, topo, policy)[2] == (
        "job b: proxy set, but the schedule was planned without an infrastructure file"
    )


def test_explicit_infrastructure_wins_over_the_embedded_one() -> None:
    s, topo, policy = _schedule(VALID)
    other = _infra(proxies=[dict(p, max_tasks=2) for p in INFRA["proxies"] if p["name"] != "prx-a"])
    v = find_violations(s, topo, policy, infrastructure=other)
    assert v == [
        "job a: proxy 'prx-a' is not in the infrastructure file",
        "job b: proxy 'prx-a' is not in the infrastructure file",
    ], v


def test_rules_false_keeps_the_assignment_checks_and_skips_capacities() -> None:
    s, topo, policy = _schedule(_with(_with(VALID, "b", at="20:30"), "a", proxy="prx-c"))
    v = find_violations(s, topo, policy, rules=False)
    assert any("does not reach" in x for x in v), v
    assert not any("task slots" in x for x in v), v


def _use(kind: str, name: str, cap: int, jobs: int, busy: int) -> ResourceUse:
    return ResourceUse(
        kind=kind,  # type: ignore[arg-type]
        name=name,
        capacity=cap,
        jobs=jobs,
        busy_min=busy,
        free_min=600 * cap,
        utilisation_pct=round(100 * busy / (600 * cap), 1),
    )


def test_utilisation_rows_of_proxies_and_repositories_are_recounted() -> None:
    s, topo, policy = _schedule(VALID)
    # repo-1: a 60 min at 200 MB/s + b 120 min at 100 MB/s = 24,000 MB/s x min.
    s.utilisation = [
        _use("proxy", "prx-a", 1, 2, 180),
        _use("proxy", "prx-san", 4, 1, 35),
        _use("repository", "repo-1", 2, 2, 180),
        _use("ingest", "repo-1", 500, 2, 24_000),
        _use("ingest", "repo-2", 350, 1, 35 * 350),
    ]
    assert find_violations(s, topo, policy) == []
    s.utilisation[0] = _use("proxy", "prx-a", 1, 1, 60)
    s.utilisation[3] = _use("ingest", "repo-1", 500, 2, 180)
    s.utilisation.append(_use("repository", "repo-2", 5, 1, 35))
    s.utilisation.append(_use("proxy", "prx-zz", 1, 0, 0))
    assert find_violations(s, topo, policy) == [
        "utilisation proxy prx-a: 1 jobs / 60 min, the jobs give 2 / 180",
        "utilisation ingest repo-1: 2 jobs / 180 min, the jobs give 2 / 24000",
        "utilisation repository 'repo-2': capacity 5, the infrastructure file gives 4",
        "utilisation proxy 'prx-zz': not in the infrastructure file",
    ]
    s.inputs.infrastructure = None
    for job in s.jobs:
        job.proxy = job.mode = job.repository = None
    v = find_violations(s, topo, policy)
    assert "utilisation proxy 'prx-a': the schedule was planned without an infrastructure file" in v


def test_validate_raises_with_the_embedded_infrastructure() -> None:
    s, _, _ = _schedule(_with(VALID, "b", at="20:30"))
    with pytest.raises(InvalidScheduleError, match="proxy 'prx-a' task slots"):
        validate(s)
    validate(_schedule(VALID)[0])


def test_names_in_lines_are_escaped() -> None:
    s, topo, policy = _schedule(_with(VALID, "a", proxy="prx\u2028zz"))
    v = find_violations(s, topo, policy)
    assert v == ["job a: proxy 'prx\\u2028zz' is not in the infrastructure file"], v


# The ingest sweep against an exact (rational) recount: rates in quarters of an MB/s, so the
# exact sum is either at most the ingest or above it by at least a quarter, far beyond the
# documented tolerance (one part in 10^9).
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(1, 20), st.integers(1, 4000)),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 8000),
)
def test_ingest_sweep_matches_an_exact_recount(
    jobs: list[tuple[int, int, int]], ingest_quarters: int
) -> None:
    policy = make_policy()
    t0 = datetime(2026, 12, 1, 20, 0, tzinfo=policy.tz)
    topo = _topology()
    sched = [
        _job(topo, policy, "a", "20:00", 5, None, None, None).model_copy(
            update={
                "vm": f"vm{k}",
                "start": t0 + timedelta(minutes=5 * s),
                "end": t0 + timedelta(minutes=5 * (s + d)),
            }
        )
        for k, (s, d, _) in enumerate(jobs)
    ]
    rates = [q / 4 for _, _, q in jobs]
    ingest = ingest_quarters / 4
    # Exact: the most running at once is reached at some job's start (ends first on ties).
    peak = max(
        sum(
            (Fraction(q, 4) for s2, d2, q in jobs if s2 <= s < s2 + d2),
            start=Fraction(0),
        )
        for s, _, _ in jobs
    )
    got = _ingest_violations("repository r ingest", sched, rates, ingest, policy.tz)
    assert bool(got) == (peak > Fraction(ingest_quarters, 4))


def test_ingest_exactly_full_with_float_rates_is_not_over() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in floats: an ingest of 0.3 taken exactly.
    policy = make_policy()
    topo = _topology()
    a = _job(topo, policy, "a", "20:00", 30, None, None, None)
    b = a.model_copy(update={"vm": "b"})
    assert _ingest_violations("r", [a, b], [0.1, 0.2], 0.3, policy.tz) == []
    assert _ingest_violations("r", [a, b], [0.1, 0.2001], 0.3, policy.tz) != []


def test_cli_validate_with_infra(tmp_path: Path) -> None:
    # b beside a on another proxy: 200 + 100 MB/s into repo-1 from 20:30.
    s, topo, policy = _schedule(_with(VALID, "b", at="20:30", proxy="prx-any"))
    s.inputs.infrastructure = None  # planned elsewhere: the file is given with --infra
    for name, model in (("t.json", topo), ("p.json", policy)):
        (tmp_path / name).write_text(model.model_dump_json())
    (tmp_path / "i.yaml").write_text(yaml.safe_dump(INFRA))
    (tmp_path / "s.json").write_text(schedule_json(s))
    files = [str(tmp_path / n) for n in ("t.json", "p.json", "s.json")]
    res = runner.invoke(app, ["validate", *files, "--infra", str(tmp_path / "i.yaml")])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output
    res = runner.invoke(app, ["validate", *files])
    assert res.exit_code == 4, res.output
    assert "planned without an infrastructure file" in " ".join(res.output.split())
    slow = yaml.safe_load(yaml.safe_dump(INFRA))
    slow["repositories"][0]["ingest_mb_per_s"] = 250
    (tmp_path / "i2.yaml").write_text(yaml.safe_dump(slow))
    res = runner.invoke(app, ["validate", *files, "--infra", str(tmp_path / "i2.yaml")])
    assert res.exit_code == 4, res.output
    assert "repository 'repo-1' ingest: 300 MB/s" in " ".join(res.output.split())
    (tmp_path / "bad.yaml").write_text("proxies: []\n")
    res = runner.invoke(app, ["validate", *files, "--infra", str(tmp_path / "bad.yaml")])
    assert res.exit_code == 1, res.output


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.integers(1, 12), min_size=1, max_size=6),
    st.lists(st.sampled_from(["hotadd", "nbd", "san"]), min_size=1, max_size=3, unique=True),
    st.integers(1, 3),
    st.integers(100, 2000),
    st.sampled_from(["greedy", "cpsat"]),
)
def test_every_plan_with_infrastructure_passes_the_validator(
    sizes: list[int], modes: list[str], tasks: int, ingest: int, solver: str
) -> None:
    from stagger.planner import PlanOptions, plan

    topo = make_topology(
        clusters=[{"name": "C1"}, {"name": "C2"}],
        hosts=[{"name": "esx01", "cluster": "C1"}, {"name": "esx02", "cluster": "C2"}],
        datastores=[{"name": "DS-01"}, {"name": "DS-10"}],
        vms=[
            {
                "name": f"vm{i}",
                "host": f"esx0{1 + i % 2}",
                "disks": [{"datastore": ("DS-01", "DS-10")[i % 2], "size_gib": 50.0 * size}],
            }
            for i, size in enumerate(sizes)
        ],
    )
    policy = make_policy(limits={"per_host": 2, "per_datastore": 2})
    infra = Infrastructure.model_validate(
        {
            "proxies": [
                {"name": "p1", "max_tasks": tasks, "modes": modes, "reaches": {"cluster": "C1"}},
                {"name": "p2", "max_tasks": 1, "modes": ["nbd"]},
            ],
            "transport": {
                m: {"mb_per_s": r} for m, r in (("hotadd", 400), ("san", 600), ("nbd", 120))
            },
            "repositories": [
                {"name": "r1", "max_tasks": 2, "ingest_mb_per_s": ingest},
                {"name": "r2", "max_tasks": 1, "ingest_mb_per_s": 300},
            ],
        }
    )
    options = PlanOptions(solver=solver, seed=1, time_limit_s=10, workers=1)  # type: ignore[arg-type]
    result = plan(topo, policy, options, infrastructure=infra)
    s = result.schedule
    assert s.inputs.infrastructure == infra
    assert find_violations(s, topo, policy) == []
