"""CLI: whatif, headroom, check and plan --baseline through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from stagger.cli import app

runner = CliRunner()


def _baseline(tmp_path: Path, paths: tuple[Path, Path]) -> Path:
    topo, pol = paths
    out = tmp_path / "base.json"
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(pol), "-o", str(out), "--time-limit", "2"]
    )
    assert res.exit_code == 0, res.output
    return out


def test_whatif_add_fits_and_writes(tmp_path: Path, minimal_paths: tuple[Path, Path]) -> None:
    base = _baseline(tmp_path, minimal_paths)
    add = tmp_path / "new.yaml"
    add.write_text(
        yaml.safe_dump(
            {
                "vms": [
                    {
                        "name": "app01",
                        "host": "esx02",
                        "disks": [{"datastore": "DS-01", "size_gib": 50}],
                    }
                ]
            }
        )
    )
    out, csv = tmp_path / "new.json", tmp_path / "new.csv"
    topo, pol = minimal_paths
    res = runner.invoke(
        app,
        [
            "whatif",
            str(topo),
            "-p",
            str(pol),
            "-b",
            str(base),
            "--add",
            str(add),
            "-o",
            str(out),
            "--csv",
            str(csv),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "fits: 1 added, 0 removed" in res.output
    assert "app01" in {j["vm"] for j in json.loads(out.read_text())["jobs"]}
    assert csv.read_text().startswith("vm,host,cluster,")


def test_whatif_bad_reference_exits_1(tmp_path: Path, minimal_paths: tuple[Path, Path]) -> None:
    base = _baseline(tmp_path, minimal_paths)
    topo, pol = minimal_paths
    res = runner.invoke(
        app, ["whatif", str(topo), "-p", str(pol), "-b", str(base), "--move", "web01=esx99"]
    )
    assert res.exit_code == 1
    assert "unknown host 'esx99'" in res.output


def test_whatif_not_fitting_exits_2_and_explains(
    tmp_path: Path, minimal_paths: tuple[Path, Path]
) -> None:
    base = _baseline(tmp_path, minimal_paths)
    topo, pol = minimal_paths
    res = runner.invoke(
        app, ["whatif", str(topo), "-p", str(pol), "-b", str(base), "--set", "window.end=20:30"]
    )
    assert res.exit_code == 2, res.output
    assert "does NOT fit" in res.output


def test_whatif_grow_table(tmp_path: Path, minimal_paths: tuple[Path, Path]) -> None:
    base = _baseline(tmp_path, minimal_paths)
    topo, pol = minimal_paths
    res = runner.invoke(
        app,
        [
            "whatif",
            str(topo),
            "-p",
            str(pol),
            "-b",
            str(base),
            "--grow",
            "10,50%",
            "--time-limit",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "10 %" in res.output and "50 %" in res.output and "datastore DS-01" in res.output


def test_headroom(minimal_paths: tuple[Path, Path]) -> None:
    topo, pol = minimal_paths
    res = runner.invoke(app, ["headroom", str(topo), "-p", str(pol), "--size-gib", "500"])
    assert res.exit_code == 0, res.output
    assert "raid group RG-1" in res.output and "more VMs" in res.output


def test_check_detects_vmotion_and_repairs(
    tmp_path: Path, minimal_paths: tuple[Path, Path]
) -> None:
    base = _baseline(tmp_path, minimal_paths)
    topo, _ = minimal_paths
    data = yaml.safe_load(topo.read_text())
    data["vms"][1]["host"] = "esx01"  # DRS moved web01 next to sql01
    current = tmp_path / "current.yaml"
    current.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["check", str(base), "--topology", str(current)])
    assert res.exit_code == 2, res.output
    assert "web01: vMotion/DRS moved it from esx02 to esx01" in res.output
    fixed = tmp_path / "fixed.json"
    res = runner.invoke(app, ["check", str(base), "--topology", str(current), "-o", str(fixed)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["check", str(fixed), "--topology", str(current)])
    assert res.exit_code == 0 and "still match" in res.output


def test_plan_with_baseline(tmp_path: Path, minimal_paths: tuple[Path, Path]) -> None:
    base = _baseline(tmp_path, minimal_paths)
    topo, pol = minimal_paths
    out = tmp_path / "next.json"
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(pol), "-o", str(out), "--baseline", str(base)]
    )
    assert res.exit_code == 0, res.output
    assert "stability: 0 jobs moved" in res.output
