"""Pins on tiered VMs through the CLI (typer's CliRunner): plan with a clock pin, a pin a
blackout breaks (exit 2, the night named), and what-if keeping pinned VMs' jobs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from stagger.cli import app
from stagger.exporters.jsoncsv import schedule_json
from tests.cli.test_whatif_tiers_cli import _files
from tests.test_whatif_tiers import _fulls_on_friday, _gold_vm, _one_host_gold
from tests.tiered import GOLD, WEB, tiered_policy, tiered_topology

runner = CliRunner()


def _pinned_week(tmp_path: Path, pin: str, **kw: object) -> tuple[Path, Path]:
    topo = tiered_topology(["sql1", "web1"])
    topo.vms[0].pin = pin
    return _files(tmp_path, topo, tiered_policy([GOLD, WEB], **kw))


def test_plan_puts_every_job_of_a_pinned_tiered_vm_at_its_pin(tmp_path: Path) -> None:
    topo, pol = _pinned_week(tmp_path, "23:10")
    out = tmp_path / "plan.json"
    res = runner.invoke(app, ["plan", str(topo), "-p", str(pol), "-o", str(out)])
    assert res.exit_code == 0, res.output
    jobs = [j for j in json.loads(out.read_text())["jobs"] if j["vm"] == "sql1"]
    starts = sorted(datetime.fromisoformat(j["start"]) for j in jobs)
    assert [(s.day, f"{s:%H:%M}") for s in starts] == [(1 + n, "23:10") for n in range(7)]


def test_plan_with_a_pin_a_blackout_breaks_exits_2_naming_the_night(tmp_path: Path) -> None:
    blackout = {"name": "patch", "scope": {"vm": "sql1"}, "start": "2026-12-03T23:00",
                "end": "2026-12-03T23:30"}  # fmt: skip
    topo, pol = _pinned_week(tmp_path, "23:10", blackouts=[blackout])
    out = tmp_path / "plan.json"
    res = runner.invoke(app, ["plan", str(topo), "-p", str(pol), "-o", str(out)])
    assert res.exit_code == 2, res.output
    [u] = json.loads(out.read_text())["unscheduled"]
    assert u["vm"] == "sql1"
    assert u["reason"].startswith("pinned at 23:10, but on night 2 (Thu 03 Dec) its")
    assert u["reason"].endswith("runs into blackout 'patch'")
    assert "night 2 (Thu 03 Dec)" in " ".join(res.output.split())


def test_whatif_keeps_the_jobs_of_pinned_tiered_vms(tmp_path: Path) -> None:
    """sql1 and sql2 have their fulls on Friday in the baseline (2 x 150 min of a 360 min
    window on a host that runs one job at a time). Five more gold VMs make Friday too long
    by one full; unpinned, one of sql1/sql2's full moves (tests/cli/test_whatif_tiers_cli);
    pinned, both keep every job where it was and a newcomer is left out."""
    model_topo, model_pol = _one_host_gold(["sql1", "sql2"])
    base = tmp_path / "base.json"
    base.write_text(schedule_json(_fulls_on_friday(model_topo, model_pol)))
    for vm in model_topo.vms:
        vm.pinned = True
    topo, pol = _files(tmp_path, model_topo, model_pol)
    add = tmp_path / "gold.yaml"
    add.write_text(yaml.safe_dump({"vms": [_gold_vm(f"sql{i}") for i in range(3, 8)]}))
    out = tmp_path / "new.json"
    res = runner.invoke(
        app,
        ["whatif", str(topo), "-p", str(pol), "-b", str(base), "--add", str(add), "-o", str(out)],
    )
    # Friday keeps both fulls: one newcomer does not fit in any more (exit 2).
    assert res.exit_code == 2, res.output
    assert "unscheduled sql7" in res.output

    def kept(path: Path) -> list[tuple[str, int, str, str]]:
        jobs = json.loads(path.read_text())["jobs"]
        return sorted(
            (j["vm"], j["night"], j["level"], j["start"])
            for j in jobs
            if j["vm"] in ("sql1", "sql2")
        )

    assert kept(out) == kept(base)
