"""The HTML Gantt of a plan made with an infrastructure file (issue 15): lanes per backup
proxy and per repository, and the job's proxy, mode and repository on hover. Opened in
Debian's headless Chromium (browser.py); hostile proxy and repository names stay text."""

from __future__ import annotations

from pathlib import Path

from browser import run_page
from schedules import ASSIGN, estate_schedule, require_tool, with_infrastructure
from test_html import BARS, _hover, _mode, _write

from stagger.exporters.html import render
from stagger.exporters.options import ExportOptions
from tests.hostile import VM_NAMES

# Markup, script ends, prototype names, quotes, RTL marks, a long name.
HOSTILE = [
    "</script><!--",
    "<img src=x onerror=document.body.setAttribute('data-pwned',1)>",
    "__proto__",
    "constructor",
    "\u200fright-to-left",
    "prx’+$(x)+’",
    "hasOwnProperty",
    "repo & <b>bold</b>",
    "toString",
    VM_NAMES[-1][:300],
]


def test_proxy_and_repository_lanes_in_chromium(tmp_path: Path) -> None:
    require_tool("chromium")
    sched = with_infrastructure(estate_schedule())
    page = _write(tmp_path, sched)
    run = run_page(
        page,
        expressions={
            "rendered": "document.body.getAttribute('data-rendered')",
            "bars": BARS,
            "proxy": _mode("proxy"),
            "axis": "document.querySelector('#grid .axis .name').textContent",
            "repository": _mode("repository"),
            "blackouts": "document.querySelectorAll('#grid .blackout').length",
            "hover": _hover("web 100%"),
            "host": _mode("host"),
        },
    )
    assert run.errors == []
    assert run.values["rendered"] == "1"
    assert run.values["bars"] == len(sched.jobs)
    assert sorted(run.values["proxy"]) == sorted(f"{vm}@{p}" for vm, (p, _, _) in ASSIGN.items())
    assert run.values["axis"] == "backup proxy"
    assert sorted(run.values["repository"]) == sorted(
        f"{vm}@{r}" for vm, (_, _, r) in ASSIGN.items()
    )
    # No blackout shades a proxy or repository lane (their scopes are hosts and clusters).
    assert run.values["blackouts"] == 0
    display, tip, _ = run.values["hover"]
    assert display == "block"
    assert "proxyprx-any (nbd)" in tip and "repositoryrepo-2" in tip
    assert sorted(run.values["host"]) == sorted(f"{j.vm}@{j.host}" for j in sched.jobs)


def test_page_without_infrastructure_has_no_proxy_view() -> None:
    text = render(estate_schedule(), ExportOptions())
    assert 'value="proxy"' not in text and "backup proxy" not in text


def test_hostile_proxy_and_repository_names_render_as_text(tmp_path: Path) -> None:
    require_tool("chromium")
    infra = {
        "proxies": [{"name": n, "max_tasks": 2, "modes": ["nbd"]} for n in HOSTILE[:5]],
        "transport": {"nbd": {"mb_per_s": 120}},
        "repositories": [
            {"name": n, "max_tasks": 2, "ingest_mb_per_s": 500} for n in HOSTILE[5:10]
        ],
    }
    assign = {vm: (HOSTILE[i], "nbd", HOSTILE[5 + i]) for i, vm in enumerate(ASSIGN)}
    sched = with_infrastructure(estate_schedule(), infra, assign)
    names = "Array.from(document.querySelectorAll('#grid .lane .name')).map(n=>n.textContent)"
    run = run_page(
        _write(tmp_path, sched),
        expressions={
            "rendered": "document.body.getAttribute('data-rendered')",
            "proxy": _mode("proxy"),
            "proxy_names": names,
            "repository": _mode("repository"),
            "repository_names": names,
            "hover": _hover("sql01"),
            "injected": "[document.body.getAttribute('data-pwned'),"
            "document.querySelectorAll('img,iframe,object,embed').length,"
            "document.scripts.length]",
        },
    )
    assert run.errors == []
    assert run.values["rendered"] == "1"
    assert sorted(run.values["proxy"]) == sorted(f"{vm}@{p}" for vm, (p, _, _) in assign.items())
    assert sorted(run.values["proxy_names"]) == sorted(HOSTILE[:5])
    assert sorted(run.values["repository"]) == sorted(
        f"{vm}@{r}" for vm, (_, _, r) in assign.items()
    )
    assert sorted(run.values["repository_names"]) == sorted(HOSTILE[5:10])
    _, tip, _ = run.values["hover"]
    assert f"proxy{assign['sql01'][0]} (nbd)" in tip and f"repository{assign['sql01'][2]}" in tip
    assert run.values["injected"] == [None, 0, 2]


def test_the_ingest_row_of_the_resource_table_is_data_in_chromium(tmp_path: Path) -> None:
    """A real plan with the infrastructure: its repository ingest row reads as data written
    and the ingest's room in the window (MB/s x minutes shown as TB/GB), not as hours."""
    from schedules import planned_with_infrastructure

    from stagger.fmt import use_amount

    require_tool("chromium")
    sched = planned_with_infrastructure()
    ingest = [u for u in sched.utilisation if u.kind == "ingest"]
    assert ingest
    # The page shows the 12 busiest rows; the ingest rows first, so they are among them.
    rest = [u for u in sched.utilisation if u.kind != "ingest"]
    sched = sched.model_copy(update={"utilisation": ingest + rest})
    page = _write(tmp_path, sched)
    rows = (
        "Array.from(document.querySelectorAll('#util tr')).map(function (tr) {"
        " return Array.from(tr.children).map(function (td) { return td.textContent; }); })"
    )
    run = run_page(page, expressions={"rows": rows})
    assert run.errors == []
    shown = {r[0]: r for r in run.values["rows"]}
    for u in ingest:
        row = shown[f"ingest {u.name}"]
        assert row[2:4] == [use_amount("ingest", u.busy_min), use_amount("ingest", u.free_min)]
        assert row[2].endswith(("TB", "GB", "MB")), row
