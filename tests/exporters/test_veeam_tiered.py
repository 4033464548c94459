"""Tiered schedules through the Veeam export: per VM a job per start time with its run days,
active full days and tier scripts. The weeks are built by hand and pass the validator first
(tests/tiered.py); the script is read back with the tree-sitter PowerShell grammar and
PowerShell's own quote rules (pwsh.py), never run (no PowerShell here)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pwsh
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedules import estate_schedule
from test_tiered_exports import HOSTILE_SCRIPTS, POST, PRE, hostile_week, week

from stagger.errors import InputError
from stagger.exporters._common import identities, local
from stagger.exporters.options import ExportOptions
from stagger.exporters.registry import render
from stagger.model.schedule import Schedule
from stagger.validate import find_violations
from tests.hostile import LONG, PWNED, VM_NAMES
from tests.tiered import tiered_schedule, valid_week

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _read_back(text: str) -> tuple[list[dict[str, Any]], set[tuple[str, str, str, str]]]:
    """($Plan entries, every run they schedule as (VM, weekday, HH:MM, level)), read as
    PowerShell data: a day in FullDays is an active full, any other day an incremental."""
    assert text.startswith("\ufeff")
    body = text[1:]
    assert pwsh.errors(pwsh.parse(body)) == []
    entries = pwsh.plan_data(body, "$Plan")
    runs = set()
    for e in entries:
        (vm,) = e["VMs"]  # one VM per job
        assert e["Kind"] == "Weekly"
        assert set(e["FullDays"]) <= set(e["Days"])  # Veeam fulls only on days it runs
        for day in e["Days"]:
            level = "full" if day in e["FullDays"] else "incremental"
            runs.add((vm["Name"], day, e["At"], level))
    assert sum(len(e["Days"]) for e in entries) == len(runs)
    return entries, runs


def _check(sched: Schedule) -> list[dict[str, Any]]:
    """Every run of the schedule is exactly one (day, time, level) of one job of its VM; each
    job carries its tier's scripts, exactly their text."""
    text = render(sched, "veeam", ExportOptions())
    entries, runs = _read_back(text)
    ids = identities(sched)
    wanted = set()
    for j in sched.jobs:
        start = local(sched, j.start)
        wanted.add((ids[j.vm].name, DAYS[start.weekday()], f"{start:%H:%M}", j.level))
    assert runs == wanted
    assert len(runs) == len(sched.jobs)
    tiers = {t.name: t for t in sched.inputs.policy.tiers}
    by_name = {ids[j.vm].name: j for j in sched.jobs}
    for e in entries:
        tier = tiers.get(by_name[e["VMs"][0]["Name"]].tier or "")
        assert e["PreScript"] == (tier.pre_script or "" if tier else "")
        assert e["PostScript"] == (tier.post_script or "" if tier else "")
    # As Windows PowerShell 5.1 decodes the file: every string stays whole.
    pwsh.plan_data(pwsh.as_windows_powershell_reads(text.encode("utf-8")), "$Plan")
    return entries


def test_tiered_week_exported() -> None:
    sched = week(scripts={"pre_script": PRE, "post_script": POST})
    entries = _check(sched)
    assert len(entries) == 4  # one job per VM: each VM's runs share one start time
    sql = next(e for e in entries if e["Name"] == "stagger sql1")
    assert sql["At"] == "22:00" and sql["FullDays"] == ["Friday"] and len(sql["Days"]) == 7
    assert sql["PreScript"] == PRE and sql["PostScript"] == POST
    web = next(e for e in entries if e["Name"] == "stagger web1")
    assert web["FullDays"] == ["Saturday"] and "Sunday" not in web["Days"]
    text = render(sched, "veeam", ExportOptions())
    # The cmdlets and parameters of Veeam's PowerShell Reference (13.x).
    assert "Set-VBRJobAdvancedBackupOptions -Job $job -Algorithm Incremental" in text
    assert (
        "-EnableFullBackup $true -FullBackupScheduleKind Daily -FullBackupDays $slot.FullDays"
        in text
    )
    assert "$options.JobScriptCommand.PreScriptCommandLine = $slot.PreScript" in text
    assert "Set-VBRJobOptions -Job $job -Options $options" in text
    assert text.count("ShouldProcess(") >= 7  # the new steps are guarded too (-WhatIf)
    # --per-vm changes nothing: a tiered export is per VM already.
    assert render(sched, "veeam", ExportOptions(per_vm=True)) == text


def test_runs_at_another_time_get_their_own_job() -> None:
    """A Veeam job starts at one time a day: sql1's Thursday incremental moved to 22:15
    becomes a second job holding that day only; the 22:00 job keeps the others."""
    jobs, topo, policy = valid_week()
    moved = next(j for j in jobs if j.vm == "sql1" and j.night == 2)
    moved.start += timedelta(minutes=15)
    moved.end += timedelta(minutes=15)
    sched = tiered_schedule(jobs, topo, policy)
    assert find_violations(sched, topo, policy) == []
    entries = {e["Name"]: e for e in _check(sched)}
    assert entries["stagger sql1 2215"]["Days"] == ["Thursday"]
    assert entries["stagger sql1 2215"]["FullDays"] == []
    assert "Thursday" not in entries["stagger sql1 2200"]["Days"]
    assert entries["stagger sql1 2200"]["FullDays"] == ["Friday"]
    assert "stagger sql1" not in entries
    text = render(sched, "veeam", ExportOptions())
    assert "VMs whose runs start at different times: 1." in text


def test_one_night_cycle_runs_every_day() -> None:
    """A 1-night cycle repeats daily: Kind Daily (Set-VBRJobSchedule -DailyKind Everyday),
    active fulls every day for a VM whose run is a full, none for an incremental."""
    sched = week()
    sched.jobs = [j for j in sched.jobs if j.night == 0]
    sched.nights = sched.nights[:1]
    sched.inputs.policy.cycle.nights = 1
    entries = {
        e["Name"]: e for e in pwsh.plan_data(render(sched, "veeam", ExportOptions())[1:], "$Plan")
    }
    assert {e["Kind"] for e in entries.values()} == {"Daily"}
    assert entries["stagger misc1"]["FullDays"] == list(DAYS)  # its one run is a full
    assert entries["stagger sql1"]["FullDays"] == []  # its night-0 run is incremental
    assert all(e["Days"] == [] for e in entries.values())


def test_dated_cycle_refused_with_one_line() -> None:
    sched = week()
    sched.inputs.policy.cycle.nights = 3
    with pytest.raises(InputError, match="1- or 7-night cycles only") as exc:
        render(sched, "veeam", ExportOptions())
    assert "\n" not in str(exc.value)


def test_job_whose_tier_the_policy_lacks_is_refused() -> None:
    sched = week(scripts={"pre_script": PRE})
    for job in sched.jobs_of("sql1"):
        job.tier = "gone\n"
    with pytest.raises(InputError, match=r"names tier 'gone\\\\n', which the schedule's policy"):
        render(sched, "veeam", ExportOptions())


def test_single_regime_unchanged_by_tiers() -> None:
    """The golden files stay what they were (test_veeam.py::test_golden) and no tiered step
    appears in a single-regime export."""
    text = render(estate_schedule(), "veeam", ExportOptions())
    assert "Set-VBRJobAdvancedBackupOptions" not in text and "FullDays" not in text


_script = st.one_of(
    st.sampled_from([*HOSTILE_SCRIPTS, LONG]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60),
)
_name = st.sampled_from(VM_NAMES) | st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30
)


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_name, _name, _name, _name, _script, st.none() | _script)
def test_hostile_names_and_scripts_stay_data(
    sql: str, web: str, cold: str, misc: str, pre: str, post: str | None
) -> None:
    sched = hostile_week(sql, web, cold, misc, pre, post)
    _check(sched)
    text = render(sched, "veeam", ExportOptions())[1:]
    # Exactly the commands, sub-expressions and variables of the benign tiered export.
    benign = render(week(scripts={"pre_script": PRE}), "veeam", ExportOptions())[1:]
    assert pwsh.code_nodes(pwsh.parse(text)) == pwsh.code_nodes(pwsh.parse(benign))
    # No name or script in the comment-based help (a "#>" there would end it).
    help_block = text[: text.index("#>\n") + 2]
    assert help_block.count("#>") == 1
    assert not os.path.exists(PWNED)
