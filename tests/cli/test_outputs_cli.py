"""All-or-none outputs, usage exit codes, --debug, --version and option refusals (CliRunner)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stagger.atomic import TEMP_SUFFIX
from stagger.cli import app

runner = CliRunner()


def _plan_args(paths: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    topo, policy = paths
    return ["plan", str(topo), "-p", str(policy), "-o", str(out), "--solver", "greedy", *extra]


def _bad_targets(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder").mkdir()
    return {
        "parent is a file": tmp_path / "a-file" / "out.txt",
        "target is a folder": tmp_path / "a-folder",
        "missing parent": tmp_path / "missing" / "out.txt",
        # Even root cannot create files in /proc: this one fails only when written.
        "unwritable place": Path("/proc") / f"stagger-test-{os.getpid()}.txt",
    }


def _left(tmp_path: Path) -> set[str]:
    return {p.name for p in tmp_path.iterdir()} - {"a-file", "a-folder"}


@pytest.mark.parametrize(
    "case", ["parent is a file", "target is a folder", "missing parent", "unwritable place"]
)
@pytest.mark.parametrize("which", ["--csv", "--export"])
def test_plan_later_output_fails_nothing_written(
    minimal_paths: tuple[Path, Path], tmp_path: Path, case: str, which: str
) -> None:
    bad = _bad_targets(tmp_path)[case]
    out = tmp_path / "s.json"
    extra = ["--csv", str(bad)] if which == "--csv" else ["--export", f"md:{bad}"]
    res = runner.invoke(app, _plan_args(minimal_paths, out, *extra))
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert "Traceback" not in res.output
    assert _left(tmp_path) == set(), "the first output (or a temporary) was left behind"
    assert not (tmp_path / "missing").exists(), "a missing parent must not be created"


def test_failed_run_keeps_previous_outputs(
    minimal_paths: tuple[Path, Path], tmp_path: Path
) -> None:
    out, csv = tmp_path / "s.json", tmp_path / "s.csv"
    out.write_text("previous plan")
    csv.write_text("previous csv")
    res = runner.invoke(
        app, _plan_args(minimal_paths, out, "--csv", str(csv), "--export", "md:/proc/x/y.md")
    )
    assert res.exit_code == 1, res.output
    assert out.read_text() == "previous plan" and csv.read_text() == "previous csv"
    assert _left(tmp_path) == {"s.json", "s.csv"}


def test_same_target_twice_refused(minimal_paths: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    res = runner.invoke(app, _plan_args(minimal_paths, out, "--export", f"md:{out}"))
    assert res.exit_code == 1 and "twice" in res.output
    assert _left(tmp_path) == set()


def test_all_outputs_written_together(minimal_paths: tuple[Path, Path], tmp_path: Path) -> None:
    out, csv, md = tmp_path / "s.json", tmp_path / "s.csv", tmp_path / "s.md"
    res = runner.invoke(
        app, _plan_args(minimal_paths, out, "--csv", str(csv), "--export", f"md:{md}")
    )
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["jobs"] and csv.read_text() and md.read_text()
    assert _left(tmp_path) == {"s.json", "s.csv", "s.md"}


def _dead_pid() -> int:
    for pid in range(4_000_000, 3_000_000, -7919):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    pytest.skip("no free pid found")


def test_leftover_temporaries_cleaned_on_next_run(
    minimal_paths: tuple[Path, Path], tmp_path: Path
) -> None:
    dead = tmp_path / f".s.json.{_dead_pid()}.0123abcd{TEMP_SUFFIX}"
    live = tmp_path / f".s.json.{os.getppid()}.0123abcd{TEMP_SUFFIX}"
    other = tmp_path / ".notes.1.tmp"  # not ours: never touched
    for p in (dead, live, other):
        p.write_text("partial")
    res = runner.invoke(app, _plan_args(minimal_paths, tmp_path / "s.json"))
    assert res.exit_code == 0, res.output
    assert not dead.exists() and live.exists() and other.exists()
    assert "removed 1 temporary file" in res.output


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--no-such-option"],
        ["plan"],  # missing argument / option
        ["show"],
        ["no-such-command"],
        ["export", "s.json", "-f", "md"],  # missing -o
        ["inventory", "rvtools"],
    ],
)
def test_usage_errors_exit_64(args: list[str]) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 64, res.output


def test_bad_solver_choice_exits_64(minimal_paths: tuple[Path, Path], tmp_path: Path) -> None:
    res = runner.invoke(app, [*_plan_args(minimal_paths, tmp_path / "s.json"), "--solver", "x"])
    assert res.exit_code == 64, res.output
    assert not (tmp_path / "s.json").exists()
    # A click Choice: the usage error lists the choices (checked by click, before any work).
    assert "'cpsat'" in res.output and "'greedy'" in res.output, res.output


def test_debug_shows_traceback_and_keeps_exit_code(
    minimal_paths: tuple[Path, Path], tmp_path: Path
) -> None:
    topo = tmp_path / "t.yaml"
    topo.write_text("clusters: [}")
    args = ["plan", str(topo), "-p", str(minimal_paths[1]), "-o", str(tmp_path / "s.json")]
    plain = runner.invoke(app, args)
    debug = runner.invoke(app, ["--debug", *args])
    assert plain.exit_code == debug.exit_code == 1, debug.output
    assert "Traceback" in debug.output and "Traceback" not in plain.output
    assert "error:" in debug.output


def test_version() -> None:
    from stagger import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"stagger {__version__}"


def test_export_spec_errors_name_export(minimal_paths: tuple[Path, Path], tmp_path: Path) -> None:
    res = runner.invoke(app, _plan_args(minimal_paths, tmp_path / "s.json", "--export", "pdf:x"))
    assert res.exit_code == 1
    assert "--export" in res.output and "--format" not in res.output
    assert _left(tmp_path) == set()


def test_empty_estate_warns(minimal_paths: tuple[Path, Path], tmp_path: Path) -> None:
    data = yaml.safe_load(minimal_paths[0].read_text())
    for vm in data["vms"]:
        vm["exclude"] = True
    topo = tmp_path / "t.yaml"
    topo.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, _plan_args((topo, minimal_paths[1]), tmp_path / "s.json"))
    assert res.exit_code == 0, res.output
    assert "warning: no VM needs a backup (2 VMs" in res.output
