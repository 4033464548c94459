"""The Veeam export of a plan made with an infrastructure file (issue 15): per job its proxy
(``Set-VBRJobProxy``) and repository (``Add-VBRViBackupJob -BackupRepository``), per proxy
its task slots and transport mode (``Set-VBRViProxy``). Read back with the tree-sitter
PowerShell grammar and PowerShell's quote rules (pwsh.py), never run (no PowerShell here)."""

from __future__ import annotations

import os
from typing import Any

import pwsh
import pytest
from schedules import ASSIGN, GOLDEN, INFRA, estate_schedule, with_infrastructure
from test_tiered_exports import week

from stagger.errors import InputError
from stagger.exporters._common import identities
from stagger.exporters.options import ExportOptions
from stagger.exporters.registry import render
from stagger.model.schedule import Schedule
from tests.hostile import VM_NAMES


def _script(sched: Schedule, per_vm: bool = False) -> tuple[str, list[dict[str, Any]]]:
    text = render(sched, "veeam", ExportOptions(per_vm=per_vm))
    assert text.startswith("\ufeff")
    body = text[1:]
    assert pwsh.errors(pwsh.parse(body)) == []
    return body, pwsh.plan_data(body, "$Plan")


def test_golden() -> None:
    text = render(with_infrastructure(estate_schedule()), "veeam", ExportOptions())
    path = GOLDEN / "veeam_infra.ps1"
    if os.environ.get("STAGGER_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("per_vm", [False, True])
def test_each_job_carries_exactly_its_vms_proxy_and_repository(per_vm: bool) -> None:
    sched = with_infrastructure(estate_schedule())
    body, plan = _script(sched, per_vm)
    ids = identities(sched)
    by_name = {ids[j.vm].name: j.vm for j in sched.jobs}
    seen = []
    for entry in plan:
        for vm in entry["VMs"]:
            proxy, mode, repo = ASSIGN[by_name[vm["Name"]]]
            assert (entry["Proxy"], entry["Repository"]) == (proxy, repo)
            assert mode in entry["Mode"].split(", ")
            seen.append(by_name[vm["Name"]])
    assert sorted(seen) == sorted(j.vm for j in sched.jobs)
    # o'brien app (prx-a1) and web01 (prx-b1) start together at 21:15: two Veeam jobs,
    # because a job has one proxy list and one repository.
    if not per_vm:
        at_2115 = [e for e in plan if e["At"] == "21:15"]
        assert len(at_2115) == 2 and len({e["Name"] for e in plan}) == len(plan)
    assert "Set-VBRJobProxy -Job $job -Proxy (Find-Exact $viProxies" in body
    assert "-BackupRepository $target " in body
    assert "Set-VBRViProxy -Proxy $px -MaxTasks ([int]$p.MaxTasks)" in body
    assert "Set-VBRViProxy -Proxy $px -TransportMode $p.TransportMode" in body
    assert body.count("ShouldProcess(") >= 8  # the new changes are guarded (-WhatIf) too


def test_proxies_table_sets_slots_and_the_planned_mode() -> None:
    body, _ = _script(with_infrastructure(estate_schedule()))
    proxies = {p["Name"]: p for p in pwsh.plan_data(body, "$Proxies")}
    # prx-a1 is planned in hotadd and nbd: Auto (Veeam picks per disk); the others in one.
    assert proxies == {
        "prx-a1": {"Name": "prx-a1", "MaxTasks": "4", "TransportMode": "Auto",
                   "PlannedModes": "hotadd, nbd"},
        "prx-b1": {"Name": "prx-b1", "MaxTasks": "4", "TransportMode": "HotAdd",
                   "PlannedModes": "hotadd"},
        "prx-any": {"Name": "prx-any", "MaxTasks": "2", "TransportMode": "Nbd",
                    "PlannedModes": "nbd"},
    }  # fmt: skip


def test_san_is_direct_storage_access_and_unused_proxy_keeps_its_mode() -> None:
    infra = INFRA.replace("modes: [nbd]}", "modes: [nbd, san]}")
    assign = {vm: ("prx-any", "san", "repo-1") for vm in ASSIGN}
    body, _ = _script(with_infrastructure(estate_schedule(), infra, assign))
    proxies = {p["Name"]: p["TransportMode"] for p in pwsh.plan_data(body, "$Proxies")}
    assert proxies == {"prx-a1": "", "prx-b1": "", "prx-any": "DirectStorageAccess"}


def test_without_repositories_jobs_use_the_repository_parameter() -> None:
    infra = INFRA[: INFRA.index("repositories:")]
    assign = {vm: (p, m, None) for vm, (p, m, _) in ASSIGN.items()}
    body, plan = _script(with_infrastructure(estate_schedule(), infra, assign))
    assert {e["Repository"] for e in plan} == {""}
    assert "else { $repo }" in body


def test_more_task_slots_than_veeam_allows_is_refused() -> None:
    infra = INFRA.replace("{name: prx-a1, max_tasks: 4", "{name: prx-a1, max_tasks: 101")
    with pytest.raises(InputError, match=r"max_tasks 101.*1-100"):
        render(with_infrastructure(estate_schedule(), infra), "veeam", ExportOptions())


def test_job_naming_a_proxy_the_infrastructure_lacks_is_refused() -> None:
    assign = dict(ASSIGN, sql01=("prx-gone", "nbd", "repo-1"))
    with pytest.raises(InputError, match="prx-gone"):
        render(with_infrastructure(estate_schedule(), assign=assign), "veeam", ExportOptions())


def test_hostile_proxy_and_repository_names_are_data() -> None:
    names = VM_NAMES[:12]
    infra = {
        "proxies": [{"name": n, "max_tasks": 2, "modes": ["nbd"]} for n in names[:6]],
        "transport": {"nbd": {"mb_per_s": 120}},
        "repositories": [{"name": n, "max_tasks": 2, "ingest_mb_per_s": 500} for n in names[6:12]],
    }
    assign = {vm: (names[i], "nbd", names[6 + i]) for i, vm in enumerate(ASSIGN)}
    sched = with_infrastructure(estate_schedule(), infra, assign)
    body, plan = _script(sched)
    ids = identities(sched)
    got = {(vm["Name"], e["Proxy"], e["Repository"]) for e in plan for vm in e["VMs"]}
    assert got == {(ids[vm].name, p, r) for vm, (p, _, r) in assign.items()}
    assert {p["Name"] for p in pwsh.plan_data(body, "$Proxies")} == set(names[:6])
    benign = render(with_infrastructure(estate_schedule()), "veeam", ExportOptions())[1:]
    assert pwsh.code_nodes(pwsh.parse(body)) == pwsh.code_nodes(pwsh.parse(benign))
    help_block = body[: body.index("#>\n") + 2]
    assert all(n not in help_block for n in names if len(n) > 3)
    pwsh.plan_data(pwsh.as_windows_powershell_reads(("\ufeff" + body).encode()), "$Proxies")


def test_tiered_runs_on_other_proxies_become_other_jobs() -> None:
    sched = week()
    vm = sched.jobs[0].vm
    runs = sched.jobs_of(vm)
    assert len(runs) >= 2
    infra = {
        "proxies": [
            {"name": "prx-1", "max_tasks": 4, "modes": ["nbd"]},
            {"name": "prx-2", "max_tasks": 4, "modes": ["nbd"]},
        ],
        "transport": {"nbd": {"mb_per_s": 120}},
        "repositories": [{"name": "repo-1", "max_tasks": 4, "ingest_mb_per_s": 500}],
    }
    assign = {j.vm: ("prx-1", "nbd", "repo-1") for j in sched.jobs}
    base = with_infrastructure(sched, infra, assign)
    # The VM's first run on prx-2, its others on prx-1: two jobs, each with its proxy.
    first = sched.jobs.index(runs[0])
    jobs = [
        j.model_copy(update={"proxy": "prx-2"}) if i == first else j
        for i, j in enumerate(base.jobs)
    ]
    split = base.model_copy(update={"jobs": jobs})
    _, plan = _script(split)
    ids = identities(split)
    mine = [e for e in plan if e["VMs"][0]["Name"] == ids[vm].name]
    _, plan_one = _script(base)
    mine_one = [e for e in plan_one if e["VMs"][0]["Name"] == ids[vm].name]
    assert len(mine) == len(mine_one) + 1
    assert {e["Proxy"] for e in mine} == {"prx-1", "prx-2"}
    assert len({e["Name"] for e in plan}) == len(plan)
    days = sorted(d for e in mine for d in e["Days"])
    assert days == sorted(d for e in mine_one for d in e["Days"])
