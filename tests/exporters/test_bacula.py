"""Bacula exporter: checked by the real Director parser (`bacula-dir -t`)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
from schedules import ESTATE as ESTATE_YAML
from schedules import POLICY, STARTS, estate_schedule, make_schedule, policy, require_tool, topology

from stagger.exporters._common import local, peak_concurrency
from stagger.exporters.bacula import render
from stagger.exporters.options import ExportOptions
from stagger.exporters.quoting import slugs
from stagger.model.schedule import Schedule


def _check(conf: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run `bacula-dir -t` on ``conf``; the catalog it opens is a sqlite file with a Version
    table in the WorkingDirectory (bacula-dir -t fails without it)."""
    exe = require_tool("bacula-dir")
    db = tmp_path / "bacula.db"
    if not db.exists():
        with sqlite3.connect(db) as c:
            c.execute("CREATE TABLE Version (VersionId INTEGER UNSIGNED NOT NULL)")
            c.execute("INSERT INTO Version (VersionId) VALUES (16)")
    path = tmp_path / "bacula-dir.conf"
    path.write_text(conf)
    return subprocess.run(
        [exe, "-t", "-c", str(path.resolve())], capture_output=True, text=True, timeout=60
    )


def _resources(conf: str, kind: str) -> list[dict[str, str]]:
    out = []
    for block in re.findall(kind + r" \{\n(.*?)\n\}", conf, flags=re.S):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.strip().partition(" = ")
            fields[key] = value.strip('"')
        out.append(fields)
    return out


def _runs_by_vm(conf: str, schedule: Schedule) -> dict[str, str]:
    runs = {s["Name"]: s["Run"] for s in _resources(conf, "Schedule")}
    out = {}
    for job in _resources(conf, "Job"):
        vm = re.search(r"^stagger-(.*)$", job["Name"])
        assert vm is not None
        out[job["Name"]] = runs[job["Schedule"]]
    return out


def _standalone(schedule: Schedule, tmp_path: Path, **kw: object) -> str:
    return render(schedule, ExportOptions(standalone=True, workdir=str(tmp_path), **kw))  # type: ignore[arg-type]


def test_standalone_config_passes_bacula_dir(tmp_path: Path) -> None:
    sched = estate_schedule()
    res = _check(_standalone(sched, tmp_path), tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_parser_rejects_a_broken_run_line(tmp_path: Path) -> None:
    """Negative control: the check above can fail, and says where."""
    conf = _standalone(estate_schedule(), tmp_path).replace("daily at", "dailyy at", 1)
    res = _check(conf, tmp_path)
    assert res.returncode != 0
    assert "dailyy" in res.stdout + res.stderr and "line" in res.stdout + res.stderr


def test_one_run_line_per_planned_start_with_local_time(tmp_path: Path) -> None:
    sched = estate_schedule()
    conf = render(sched, ExportOptions())
    runs = _runs_by_vm(conf, sched)
    jobs = _resources(conf, "Job")
    names = slugs(j.vm for j in sched.jobs)
    assert sorted(j["Name"] for j in jobs) == sorted("stagger-" + names[j.vm] for j in sched.jobs)
    schedules = _resources(conf, "Schedule")
    assert len(schedules) == len({j.start for j in sched.jobs})
    for j in sched.jobs:
        name = next(
            x["Name"]
            for x in jobs
            if f"planned {local(sched, j.start):%Y-%m-%d %H:%M}" in x["Description"]
            and j.host in x["Description"]
            and x["Name"].startswith("stagger-")
        )
        assert runs[name] == f"Level=Full daily at {local(sched, j.start):%H:%M}"
    for u in sched.unscheduled:
        assert f"# NOT SCHEDULED: {u.vm}" in conf
        assert not any(u.vm in j["Name"] for j in jobs)


def test_maximum_concurrent_jobs_follows_limits(tmp_path: Path) -> None:
    sched = estate_schedule()
    conf = _standalone(sched, tmp_path)
    director = _resources(conf, "Director")[0]
    storage = _resources(conf, "Storage")[0]
    expected = max(peak_concurrency(sched), sched.inputs.policy.limits.concurrent_jobs or 0)
    assert expected == 4  # the estate policy allows 4 proxy slots, the plan peaks lower
    assert director["Maximum Concurrent Jobs"] == str(expected)
    assert storage["Maximum Concurrent Jobs"] == str(expected)
    assert all(j["Maximum Concurrent Jobs"] == "1" for j in _resources(conf, "Job"))


def test_incremental_level_on_change_rate_cycle(tmp_path: Path) -> None:
    pol_text = POLICY.replace("NIGHTS", "1").replace(
        "overhead_minutes: 5}", "overhead_minutes: 5, change_rate: 0.1}"
    )
    sched = make_schedule(
        topology(ESTATE_YAML),
        policy(pol_text),
        {"sql01": "2026-12-01T20:00"},
        unscheduled={v: "test" for v in ("o'brien app", "web01", "web 100%", "mail01", "huge01")},
    )
    conf = _standalone(sched, tmp_path)
    assert "Run = Level=Incremental daily at 20:00" in conf
    res = _check(conf, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize(
    ("nights", "starts", "expected"),
    [
        (
            7,
            {**STARTS, "mail01": "2026-12-04T02:00"},
            {"mail01": "fri at 02:00", "sql01": "tue at 20:00"},
        ),
        (
            3,
            {**STARTS, "mail01": "2026-12-03T02:30"},
            {"mail01": "dec 3 at 02:30", "sql01": "dec 1 at 20:00"},
        ),
    ],
)
def test_multi_night_cycles(
    tmp_path: Path, nights: int, starts: dict[str, str], expected: dict[str, str]
) -> None:
    sched = make_schedule(
        topology(ESTATE_YAML),
        policy(POLICY.replace("NIGHTS", str(nights))),
        starts,
        unscheduled={"huge01": "too big"},
    )
    conf = _standalone(sched, tmp_path, per_vm=True)
    runs = {s["Name"]: s["Run"] for s in _resources(conf, "Schedule")}
    for vm, spec in expected.items():
        assert runs[f"stagger-{vm}"] == f"Level=Full {spec}"
    res = _check(conf, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_include_file_is_the_tail_of_the_standalone(tmp_path: Path) -> None:
    sched = estate_schedule()
    include = render(sched, ExportOptions())
    full = _standalone(sched, tmp_path)
    body = include[include.index("Schedule {") :]
    assert full.endswith(body)
    assert "Director {" not in include and 'JobDefs = "stagger-vmware"' in include
