"""The jobs of a cycle (stagger.cycle): the job rule by hand, and today's jobs unchanged."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from benchmarks.generate import EstateSpec, generate
from stagger.cycle import BackupJob, cycle_jobs
from stagger.errors import InputError
from stagger.jobs import job_minutes, job_size_gib
from stagger.model.policy import Policy
from stagger.model.topology import Topology
from stagger.sources.yamlfile import load_inputs
from tests.factories import EXAMPLES, GIB_PER_HOUR, make_policy, make_topology

# 2026-12-01 is a Tuesday: night 4 of a cycle starting then is Saturday 5 December.
START = "2026-12-01"


def _vm(name: str, gib: float = GIB_PER_HOUR, **extra: Any) -> dict[str, Any]:
    return {"name": name, "host": "esx01", "disks": [{"datastore": "DS-01", "size_gib": gib}]} | (
        extra
    )


def _week(*tiers: dict[str, Any], nights: int = 7, **extra: Any) -> Policy:
    return make_policy(cycle={"start": START, "nights": nights}, tiers=list(tiers), **extra)


def _jobs(vms: list[dict[str, Any]], policy: Policy) -> list[BackupJob]:
    return cycle_jobs(make_topology(vms=vms), policy)


def test_every_7_nightly_is_six_incrementals_and_one_full_on_any_night() -> None:
    pol = _week(
        {"name": "gold", "match": {"default": True}, "full": {"every": 7}, "change_rate": 0.1}
    )
    jobs = _jobs([_vm("a"), _vm("b", 2 * GIB_PER_HOUR)], pol)
    for vm, gib in (("a", GIB_PER_HOUR), ("b", 2 * GIB_PER_HOUR)):
        mine = [j for j in jobs if j.vm == vm]
        assert Counter(j.level for j in mine) == {"incremental": 6, "full": 1}
        full = next(j for j in mine if j.level == "full")
        assert full.nights == (0, 1, 2, 3, 4, 5, 6)  # the planner chooses
        assert full.size_gib == gib
        # 100 MB/s, no overhead: GIB_PER_HOUR is exactly 60 minutes; incrementals 10 %.
        assert full.minutes == pytest.approx(60 * gib / GIB_PER_HOUR)
        incr = [j for j in mine if j.level == "incremental"]
        assert all(j.minutes == pytest.approx(6 * gib / GIB_PER_HOUR) for j in incr)
        assert all(j.nights == full.nights for j in incr)  # they take the other six nights
        assert {j.tier for j in mine} == {"gold"}


def test_fixed_full_on_saturday_replaces_that_nights_incremental() -> None:
    pol = _week(
        {
            "name": "gold",
            "match": {"default": True},
            "full": {"on": "FREQ=WEEKLY;BYDAY=SA"},
            "change_rate": 0.1,
        }
    )
    jobs = _jobs([_vm("a")], pol)
    assert [(j.level, j.nights) for j in jobs] == [
        ("incremental", (0,)),
        ("incremental", (1,)),
        ("incremental", (2,)),
        ("incremental", (3,)),
        ("full", (4,)),  # Saturday 5 December
        ("incremental", (5,)),
        ("incremental", (6,)),
    ]


def test_yaml_bare_on_key_is_the_rule_not_a_boolean(tmp_path: Any) -> None:
    # YAML 1.1 reads `on:` as true; the policy file must still mean the fixed nights.
    pol = tmp_path / "p.yaml"
    pol.write_text(
        (EXAMPLES / "minimal" / "policy.yaml").read_text().replace("nights: 1", "nights: 7")
        + "tiers:\n  - {name: t, match: {default: true}, incremental: none,"
        ' full: {on: "FREQ=WEEKLY;BYDAY=SA"}}\n'
    )
    topo, policy = load_inputs(EXAMPLES / "minimal" / "topology.yaml", pol)
    assert [(j.level, j.nights) for j in cycle_jobs(topo, policy)] == [("full", (4,))] * 2


def test_blocks_of_every_and_a_shorter_last_block() -> None:
    pol = _week(
        {"name": "t", "match": {"default": True}, "full": {"every": 3}, "change_rate": 0.1},
        nights=7,
    )
    got = [(j.level, j.nights) for j in _jobs([_vm("a")], pol)]
    assert got == [
        ("full", (0, 1, 2)),
        ("incremental", (0, 1, 2)),
        ("incremental", (0, 1, 2)),
        ("full", (3, 4, 5)),
        ("incremental", (3, 4, 5)),
        ("incremental", (3, 4, 5)),
        ("full", (6,)),
    ]


def test_weekday_incrementals_with_every_7_put_the_full_on_a_weekday() -> None:
    # Tue 1 Dec .. Mon 7 Dec: weekdays are nights 0, 1, 2, 3, 6.
    pol = _week(
        {
            "name": "t",
            "match": {"default": True},
            "incremental": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            "full": {"every": 7},
            "change_rate": 0.1,
        }
    )
    got = [(j.level, j.nights) for j in _jobs([_vm("a")], pol)]
    assert got == [("full", (0, 1, 2, 3, 6))] + [("incremental", (0, 1, 2, 3, 6))] * 4


def test_no_incrementals_full_anywhere_in_its_block() -> None:
    pol = _week(
        {"name": "t", "match": {"default": True}, "incremental": "none", "full": {"every": 7}}
    )
    assert [(j.level, j.nights) for j in _jobs([_vm("a")], pol)] == [("full", tuple(range(7)))]


def test_incrementals_only_and_fixed_full_on_a_night_without_incremental() -> None:
    incr_only = _week(
        {"name": "t", "match": {"default": True}, "full": "none", "change_rate": 0.5}, nights=3
    )
    assert [(j.level, j.nights) for j in _jobs([_vm("a")], incr_only)] == [
        ("incremental", (0,)),
        ("incremental", (1,)),
        ("incremental", (2,)),
    ]
    weekend = _week(
        {
            "name": "t",
            "match": {"default": True},
            "incremental": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            "full": {"on": "FREQ=WEEKLY;BYDAY=SU"},
            "change_rate": 0.1,
        }
    )
    got = [(j.level, j.nights[0]) for j in _jobs([_vm("a")], weekend)]
    assert got == [("incremental", n) for n in (0, 1, 2, 3)] + [
        ("full", 5),
        ("incremental", 6),
    ]


def test_consistency_overheads_priority_window_scripts() -> None:
    script = 'C:\\scripts\\pre.cmd "$(whoami)" \' ; rm -rf / #'
    pol = _week(
        {
            "name": "sql",
            "match": {"tag": "sql"},
            "full": {"every": 7},
            "change_rate": 0.1,
            "consistency": "application",
            "priority": 1,
            "window": {"start": "22:00", "end": "04:00"},
            "pre_script": script,
            "post_script": "post",
        },
        {
            "name": "cold",
            "match": {"tag": "cold"},
            "incremental": "none",
            "full": {"every": 7},
            "consistency": "power-off",
            "window": {"start": "01:00", "end": "05:00"},
        },
        {
            "name": "fs",
            "match": {"tag": "fs"},
            "full": "none",
            "change_rate": 0.1,
            "consistency": "filesystem",
        },
        consistency={"application_min": 7, "filesystem_min": 2, "shutdown_min": 4, "boot_min": 6},
    )
    vms = [
        _vm("sql1", tags=["sql"]),
        _vm("sql2", tags=["sql"], priority=50, window={"start": "23:00", "end": "03:00"}),
        _vm("sql3", tags=["sql"], priority=100),  # written, but the default: the tier's
        _vm("cold1", tags=["cold"]),
        _vm("fs1", tags=["fs"]),
    ]
    by_vm: dict[str, list[BackupJob]] = {}
    for j in _jobs(vms, pol):
        by_vm.setdefault(j.vm, []).append(j)
    sql1_full = by_vm["sql1"][0]
    assert sql1_full.level == "full" and sql1_full.minutes == pytest.approx(60 + 7)
    assert by_vm["sql1"][1].minutes == pytest.approx(6 + 7)
    assert sql1_full.priority == 1 and by_vm["sql2"][0].priority == 50  # the VM's own wins
    assert by_vm["sql3"][0].priority == 1
    assert by_vm["cold1"][0].priority == 100  # no tier priority: the VM's
    assert str(sql1_full.window) == "22:00-04:00" and str(by_vm["sql2"][0].window) == "23:00-03:00"
    assert sql1_full.pre_script == script and sql1_full.post_script == "post"
    assert sql1_full.consistency == "application"
    [cold] = by_vm["cold1"]
    assert cold.minutes == pytest.approx(60 + 4 + 6) and cold.consistency == "power-off"
    assert all(j.minutes == pytest.approx(6 + 2) for j in by_vm["fs1"])
    assert len(by_vm["fs1"]) == 7


def test_change_rate_precedence_vm_then_tier_then_policy() -> None:
    tier = {"name": "t", "match": {"default": True}, "full": "none"}
    pol = _week(
        tier | {"change_rate": 0.5},
        nights=1,
        throughput={"mb_per_s": 100, "overhead_minutes": 0, "change_rate": 0.25},
    )
    [own] = _jobs([_vm("a", change_rate=0.1)], pol)
    [of_tier] = _jobs([_vm("a")], pol)
    assert own.minutes == pytest.approx(6) and of_tier.minutes == pytest.approx(30)
    pol2 = _week(
        tier, nights=1, throughput={"mb_per_s": 100, "overhead_minutes": 0, "change_rate": 0.25}
    )
    [of_policy] = _jobs([_vm("a")], pol2)
    assert of_policy.minutes == pytest.approx(15)


def test_unmatched_and_excluded_vms() -> None:
    pol = _week(
        {"name": "gold", "match": {"tag": "gold"}, "full": {"every": 7}, "change_rate": 0.1}
    )
    jobs = _jobs([_vm("g", tags=["gold"]), _vm("plain"), _vm("skip", exclude=True)], pol)
    assert Counter(j.vm for j in jobs) == {"g": 7, "plain": 1}
    [plain] = [j for j in jobs if j.vm == "plain"]
    assert plain.tier is None and plain.level == "full" and plain.nights == tuple(range(7))
    assert plain.minutes == pytest.approx(60) and plain.consistency == "crash"


def test_a_rule_that_cannot_expand_is_an_input_error() -> None:
    pol = _week(
        {
            "name": "t",
            "match": {"default": True},
            "incremental": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            "full": {"every": 7},
            "change_rate": 0.1,
        }
    )
    with pytest.raises(InputError, match="never matches") as err:
        _jobs([_vm("a")], pol)
    assert err.value.field == "incremental" and "tier 't'" in str(err.value)


def _same_as_today(topo: Topology, pol: Policy) -> None:
    jobs = cycle_jobs(topo, pol)
    need = [v for v in topo.vms if v.needs_backup]
    assert [j.vm for j in jobs] == [v.name for v in need]
    for job, vm in zip(jobs, need, strict=True):
        assert job.minutes == job_minutes(vm, pol)  # exactly: the same function
        assert job.size_gib == job_size_gib(vm, pol)
        assert job.nights == tuple(range(pol.cycle.nights))
        rate = vm.change_rate if vm.change_rate is not None else pol.throughput.change_rate
        assert job.level == ("full" if rate is None else "incremental")
        assert job.tier is None and job.priority == vm.priority and job.window == pol.window


@pytest.mark.parametrize("example", ["minimal", "estate"])
def test_without_tiers_one_job_per_vm_as_today_examples(example: str) -> None:
    topo, pol = load_inputs(
        EXAMPLES / example / "topology.yaml", EXAMPLES / example / "policy.yaml"
    )
    _same_as_today(topo, pol)


@pytest.mark.parametrize("regime", ["datastore", "balanced", "connected", "adversarial"])
@pytest.mark.parametrize("cycle", ["full", "incremental"])
def test_without_tiers_one_job_per_vm_as_today_generator(regime: Any, cycle: Any) -> None:
    topo, pol = generate(EstateSpec(300, regime, cycle, seed=3))
    _same_as_today(topo, pol)


def test_deterministic() -> None:
    pol = _week(
        {"name": "a", "match": {"name": "x*"}, "full": {"every": 2}, "change_rate": 0.1},
        {
            "name": "b",
            "match": {"default": True},
            "full": {"on": "FREQ=DAILY;INTERVAL=3"},
            "change_rate": 0.2,
        },
    )
    vms = [_vm(f"{p}{i}") for i in range(5) for p in ("x", "y")]
    assert _jobs(vms, pol) == _jobs(vms, pol)
    assert [j.vm for j in _jobs(vms, pol)][:4] == ["x0"] * 4
