"""Property tests: any proxy and repository names (hypothesis) through the Veeam script (read
back as PowerShell data, same code as a benign export) and the Bacula config (the real
``bacula-dir -t`` accepts it and every Job names its repository's Storage)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pwsh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schedules import ASSIGN, estate_schedule, with_infrastructure
from test_quoting import bacula_jobs

from stagger.exporters._common import identities
from stagger.exporters.options import ExportOptions
from stagger.exporters.quoting import slugs
from stagger.exporters.registry import render
from stagger.model.schedule import Schedule

# Names the models accept: no control characters (Text refuses them), no surrogates.
_name = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"),
    min_size=1,
    max_size=80,
)
_names = st.lists(_name, min_size=4, max_size=4, unique=True)

VMS = list(ASSIGN)


def _sched(names: list[str]) -> tuple[Schedule, dict[str, tuple[str, str, str]]]:
    proxies, repos = names[:2], names[2:]
    infra = {
        "proxies": [{"name": n, "max_tasks": 3, "modes": ["hotadd", "nbd"]} for n in proxies],
        "transport": {"hotadd": {"mb_per_s": 400}, "nbd": {"mb_per_s": 120}},
        "repositories": [{"name": n, "max_tasks": 3, "ingest_mb_per_s": 900} for n in repos],
    }
    assign = {
        vm: (proxies[i % 2], ("hotadd", "nbd")[i % 2], repos[i // 3]) for i, vm in enumerate(VMS)
    }
    return with_infrastructure(estate_schedule(), infra, assign), assign


_BENIGN = pwsh.code_nodes(
    pwsh.parse(render(with_infrastructure(estate_schedule()), "veeam", ExportOptions())[1:])
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_names)
def test_veeam_proxy_and_repository_names_stay_data(names: list[str]) -> None:
    sched, assign = _sched(names)
    body = render(sched, "veeam", ExportOptions())[1:]
    tree = pwsh.parse(body)
    assert pwsh.errors(tree) == []
    assert pwsh.code_nodes(tree) == _BENIGN
    ids = identities(sched)
    got = {
        (vm["Name"], e["Proxy"], e["Repository"])
        for e in pwsh.plan_data(body, "$Plan")
        for vm in e["VMs"]
    }
    assert got == {(ids[vm].name, p, r) for vm, (p, _, r) in assign.items()}
    assert [p["Name"] for p in pwsh.plan_data(body, "$Proxies")] == names[:2]


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_names)
def test_bacula_proxy_and_repository_names(names: list[str]) -> None:
    sched, assign = _sched(names)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        conf = render(
            sched,
            "bacula",
            ExportOptions(standalone=True, workdir=str(workdir), extra={"client": "{proxy}-fd"}),
        )
        storage = {n: f"stagger-{s}" for n, s in slugs(names[2:]).items()}
        vm_slugs = slugs(VMS)
        jobs = {j["Name"]: j for j in bacula_jobs(conf, workdir)}
        for vm, (_, _, repo) in assign.items():
            assert jobs[f"stagger-{vm_slugs[vm]}"]["Storage"] == [storage[repo]]
