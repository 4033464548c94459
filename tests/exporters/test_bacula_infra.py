"""The Bacula export of a plan made with an infrastructure file (issue 15): each Job writes
to its repository's Storage (Maximum Concurrent Jobs = the repository's max_tasks); proxies
have no Bacula resource, unless Jobs run on the proxy's File Daemon (``--client
'{proxy}-fd'``). Checked with the real ``bacula-dir -t`` and read back with ``bdirjson``."""

from __future__ import annotations

from pathlib import Path

import pytest
from schedules import ASSIGN, estate_schedule, with_infrastructure
from test_quoting import bacula_jobs
from test_tiered_exports import week

from stagger.errors import InputError
from stagger.exporters.options import ExportOptions
from stagger.exporters.quoting import slugs
from stagger.exporters.registry import render
from stagger.model.schedule import Schedule
from tests.hostile import VM_NAMES


def _conf(sched: Schedule, workdir: Path, **extra: str) -> str:
    return render(
        sched, "bacula", ExportOptions(standalone=True, workdir=str(workdir), extra=extra)
    )


def test_each_job_writes_to_its_repositorys_storage(tmp_path: Path) -> None:
    sched = with_infrastructure(estate_schedule())
    conf = _conf(sched, tmp_path)
    names = slugs(j.vm for j in sched.jobs)
    jobs = {j["Name"]: j for j in bacula_jobs(conf, tmp_path)}
    for j in sched.jobs:
        job = jobs[f"stagger-{names[j.vm]}"]
        assert job["Storage"] == [f"stagger-{ASSIGN[j.vm][2]}"]
        assert job["Client"] == f"{names[j.vm]}-fd"  # the VM's own File Daemon by default
        proxy, mode, _ = ASSIGN[j.vm]
        assert f"proxy {proxy} ({mode}) to repository {ASSIGN[j.vm][2]}" in job["Description"]
    storages = {
        s["Name"]: s["MaximumConcurrentJobs"] for s in bacula_jobs(conf, tmp_path, "Storage")
    }
    assert storages == {"stagger-repo-1": 12, "stagger-repo-2": 6, "stagger-storage": 4}
    clients = bacula_jobs(conf, tmp_path, "Client")
    assert {c["MaximumConcurrentJobs"] for c in clients} == {1}


def test_include_file_names_the_storage_too() -> None:
    conf = render(with_infrastructure(estate_schedule()), "bacula", ExportOptions())
    assert conf.count('  Storage = "stagger-repo-1"') == 2
    assert conf.count('  Storage = "stagger-repo-2"') == 3
    assert "# Storage stagger-repo-2: Maximum Concurrent Jobs = 6" in conf


def test_jobs_on_the_proxys_file_daemon(tmp_path: Path) -> None:
    sched = with_infrastructure(estate_schedule())
    conf = _conf(sched, tmp_path, client="{proxy}-fd")
    names = slugs(j.vm for j in sched.jobs)
    jobs = {j["Name"]: j for j in bacula_jobs(conf, tmp_path)}
    for j in sched.jobs:
        assert jobs[f"stagger-{names[j.vm]}"]["Client"] == f"{ASSIGN[j.vm][0]}-fd"
    clients = {c["Name"]: c["MaximumConcurrentJobs"] for c in bacula_jobs(conf, tmp_path, "Client")}
    assert clients == {"prx-a1-fd": 4, "prx-b1-fd": 4, "prx-any-fd": 2}


def test_proxy_client_without_infrastructure_is_refused() -> None:
    with pytest.raises(InputError, match=r"\{proxy\}"):
        render(estate_schedule(), "bacula", ExportOptions(extra={"client": "{proxy}-fd"}))


def test_tiered_run_on_another_repository_overrides_storage(tmp_path: Path) -> None:
    sched = week()
    infra = {
        "proxies": [{"name": "prx-1", "max_tasks": 4, "modes": ["nbd"]}],
        "transport": {"nbd": {"mb_per_s": 120}},
        "repositories": [
            {"name": "repo-1", "max_tasks": 4, "ingest_mb_per_s": 500},
            {"name": "repo-2", "max_tasks": 3, "ingest_mb_per_s": 500},
        ],
    }
    base = with_infrastructure(sched, infra, {j.vm: ("prx-1", "nbd", "repo-1") for j in sched.jobs})
    vm = sched.jobs[0].vm
    runs = [i for i, j in enumerate(base.jobs) if j.vm == vm]
    last = max(runs, key=lambda i: base.jobs[i].start)
    jobs = [
        j.model_copy(update={"repository": "repo-2"}) if i == last else j
        for i, j in enumerate(base.jobs)
    ]
    split = base.model_copy(update={"jobs": jobs})
    conf = _conf(split, tmp_path)
    names = slugs(j.vm for j in sched.jobs)
    schedules = {s["Name"]: s for s in bacula_jobs(conf, tmp_path, "Schedule")}
    mine = schedules[f"stagger-{names[vm]}"]
    # The Director read a Storage override on exactly the moved run's line.
    overridden = [r for r in mine["Run"] if r.get("Storage")]
    assert len(overridden) == 1 and overridden[0]["Storage"] == "stagger-repo-2"
    job = next(j for j in bacula_jobs(conf, tmp_path) if j["Name"] == f"stagger-{names[vm]}")
    assert job["Storage"] == ["stagger-repo-1"]


def test_hostile_proxy_and_repository_names(tmp_path: Path) -> None:
    names = VM_NAMES[:12]
    infra = {
        "proxies": [{"name": n, "max_tasks": 2, "modes": ["nbd"]} for n in names[:6]],
        "transport": {"nbd": {"mb_per_s": 120}},
        "repositories": [{"name": n, "max_tasks": 2, "ingest_mb_per_s": 500} for n in names[6:12]],
    }
    assign = {vm: (names[i], "nbd", names[6 + i]) for i, vm in enumerate(ASSIGN)}
    sched = with_infrastructure(estate_schedule(), infra, assign)
    for client in ("{vm}-fd", "{proxy}-fd"):
        conf = _conf(sched, tmp_path, client=client)
        storage = {n: f"stagger-{s}" for n, s in slugs(names[6:12]).items()}
        vm_slugs = slugs(j.vm for j in sched.jobs)
        jobs = {j["Name"]: j for j in bacula_jobs(conf, tmp_path)}
        for vm, (_, _, repo) in assign.items():
            assert jobs[f"stagger-{vm_slugs[vm]}"]["Storage"] == [storage[repo]]
        got = {s["Name"] for s in bacula_jobs(conf, tmp_path, "Storage")}
        assert got == set(storage.values()) | {"stagger-storage"}


def test_job_naming_a_repository_the_infrastructure_lacks_is_refused() -> None:
    assign = dict(ASSIGN, sql01=("prx-a1", "nbd", "repo-gone"))
    with pytest.raises(InputError, match="repo-gone"):
        render(with_infrastructure(estate_schedule(), assign=assign), "bacula", ExportOptions())
