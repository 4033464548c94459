"""`stagger simulate`: a plan replayed through a backup server, against the product's default."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stagger.cli import app
from stagger.fmt import hm
from stagger.simulate import simulate
from stagger.sources.yamlfile import load_infrastructure, load_schedule
from tests.factories import EXAMPLES

runner = CliRunner()
TOPOLOGY = EXAMPLES / "estate" / "topology.yaml"
POLICY = EXAMPLES / "estate" / "policy.yaml"
INFRA = EXAMPLES / "infra" / "infrastructure.yaml"


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "plan.json"
    res = runner.invoke(
        app,
        ["plan", str(TOPOLOGY), "-p", str(POLICY), "-o", str(out), "--solver", "greedy"],
    )
    assert res.exit_code == 0, res.output
    return out


def sim(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["simulate", *args], env={"COLUMNS": "200"})
    return res.exit_code, res.output


def test_planned_and_default_per_night_and_nothing_written(plan_file: Path) -> None:
    before = sorted(plan_file.parent.iterdir())
    code, out = sim(str(plan_file), "--infra", str(INFRA))
    assert code == 0, out
    assert "simulated planned" in out and "default (all at opening)" in out
    assert out.count("│ plan ") == 2  # one plan row per night
    # The default's end of night 0, as the library computes it, is what the table shows.
    sched, infra = load_schedule(plan_file), load_infrastructure(INFRA)
    night = simulate(sched, infra, "default").nights[0]
    assert night.simulated_end is not None
    assert f"+{hm((night.simulated_end - night.window_start) / timedelta(minutes=1))}" in out
    assert "Nothing written" in out
    assert sorted(plan_file.parent.iterdir()) == before
    assert "Traceback" not in out


def test_mode_default_shows_no_second_replay(plan_file: Path) -> None:
    code, out = sim(str(plan_file), "--infra", str(INFRA), "--mode", "default")
    assert code == 0, out
    assert "simulated" not in out.split("Run-time rules")[0]
    assert "default (all at opening)" in out


def test_raid_groups_option_holds_them(plan_file: Path) -> None:
    code, out = sim(str(plan_file), "--infra", str(INFRA), "--mode", "default", "--raid-groups")
    assert code == 0, out
    assert "RAID groups held" in out
    rows = [line for line in out.splitlines() if "default (all at opening)" in line]
    assert rows and all(line.split("│")[7].strip() == "0" for line in rows)


def test_no_infrastructure_anywhere_is_one_line_exit_1(plan_file: Path) -> None:
    code, out = sim(str(plan_file))
    assert code == 1
    assert out.strip() == (
        f"error: {plan_file}: schedule: field 'inputs.infrastructure': the schedule embeds no"
        " infrastructure (planned without --infra): give one with --infra FILE"
    )


def test_embedded_infrastructure_is_used(tmp_path: Path) -> None:
    """A schedule planned with --infra carries the file: simulate without --infra replays
    it exactly as with the same file given."""
    embedded = tmp_path / "plan.json"
    res = runner.invoke(
        app,
        [
            "plan", str(TOPOLOGY), "-p", str(POLICY), "-o", str(embedded),
            "--solver", "greedy", "--infra", str(INFRA),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    code, out = sim(str(embedded))
    assert code == 0, out
    assert out == sim(str(embedded), "--infra", str(INFRA))[1]


def test_planned_assigned_without_planned_proxies_names_the_schedule(plan_file: Path) -> None:
    code, out = sim(str(plan_file), "--infra", str(INFRA), "--mode", "planned-assigned")
    assert code == 1
    assert out.startswith(f"error: {plan_file}: schedule: field 'proxy': job 0 (")
    assert "planned without an infrastructure file (use --mode planned)" in out


def test_vm_no_proxy_reaches_exits_1_naming_each(plan_file: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(INFRA.read_text())
    data["proxies"] = [p for p in data["proxies"] if p["name"] != "prx-any"]
    infra = tmp_path / "i.yaml"
    infra.write_text(yaml.safe_dump(data))
    code, out = sim(str(plan_file), "--infra", str(infra))
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"error: {plan_file}: vm 'dmz-")
    assert "no proxy reaches it" in lines[0]
    assert "Traceback" not in out


def test_bad_infrastructure_file_is_one_line(plan_file: Path, tmp_path: Path) -> None:
    infra = tmp_path / "i.yaml"
    infra.write_text(
        "proxies: [{name: p, max_tasks: 0, modes: [nbd]}]\ntransport: {nbd: {mb_per_s: 1}}\n"
    )
    code, out = sim(str(plan_file), "--infra", str(infra))
    assert code == 1
    assert out.count("\n") == 1 and out.startswith(f"error: {infra}: ")
    assert "max_tasks" in out


def test_unknown_mode_is_a_usage_error(plan_file: Path) -> None:
    code, out = sim(str(plan_file), "--infra", str(INFRA), "--mode", "fifo")
    assert code == 64
    assert "'fifo' is not one of" in out


def test_invalid_schedule_exits_4(plan_file: Path, tmp_path: Path) -> None:
    # Two jobs of one host moved onto one start: the validator refuses before any replay.
    data = json.loads(plan_file.read_text())
    jobs = data["jobs"]
    first = jobs[0]
    other = next(j for j in jobs[1:] if j["host"] == first["host"] and j["night"] == first["night"])
    other["start"], other["end"] = first["start"], first["end"]
    other["duration_min"] = first["duration_min"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    code, out = sim(str(bad), "--infra", str(INFRA))
    assert code == 4, out
    assert "Traceback" not in out


def test_not_a_schedule_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text("{}")
    code, out = sim(str(bad), "--infra", str(INFRA))
    assert code == 1
    assert "not a stagger schedule" in out
