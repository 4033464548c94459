"""`stagger plan / validate / show / schema` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stagger.cli import app

runner = CliRunner()


def test_plan_minimal_example_writes_valid_json_and_csv(
    minimal_paths: tuple[Path, Path], tmp_path: Path
) -> None:
    topo, policy = minimal_paths
    out, csv = tmp_path / "s.json", tmp_path / "s.csv"
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(policy), "-o", str(out), "--csv", str(csv)]
    )
    assert res.exit_code == 0, res.output
    assert "makespan" in res.output and "lower bound" in res.output
    data = json.loads(out.read_text())
    assert data["schema_version"] == "stagger.schedule/1"
    lines = csv.read_text().splitlines()
    assert lines[0].startswith(
        "vm,host,cluster,datastores,raid_groups,start,end,duration_min,size_gib"
    )
    assert lines[1].split(",")[0] == "sql01"
    assert "DS-01;DS-02" in lines[1]
    res = runner.invoke(app, ["validate", str(topo), str(policy), str(out)])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output
    res = runner.invoke(app, ["show", str(out), "--host", "esx02"])
    assert res.exit_code == 0 and "web01" in res.output and "sql01" not in res.output


def test_plan_with_unscheduled_vms_exits_2(
    tmp_path: Path, minimal_paths: tuple[Path, Path]
) -> None:
    topo = yaml.safe_load(minimal_paths[0].read_text())
    topo["vms"][1]["disks"][0]["size_gib"] = 6000  # ~17 h at 100 MB/s
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(topo))
    out = tmp_path / "s.json"
    res = runner.invoke(
        app,
        [
            "plan",
            str(tmp_path / "t.yaml"),
            "-p",
            str(minimal_paths[1]),
            "-o",
            str(out),
            "--solver",
            "greedy",
        ],
    )
    assert res.exit_code == 2, res.output
    assert "unscheduled" in res.output and "web01" in res.output
    assert out.exists()


def test_validate_reports_hand_edited_overlap(
    minimal_paths: tuple[Path, Path], tmp_path: Path
) -> None:
    topo, policy = minimal_paths
    out = tmp_path / "s.json"
    assert runner.invoke(app, ["plan", str(topo), "-p", str(policy), "-o", str(out)]).exit_code == 0
    data = json.loads(out.read_text())
    data["jobs"][1]["start"] = data["jobs"][0]["start"]
    data["jobs"][1]["end"] = data["jobs"][0]["start"].replace("20:00", "20:20")
    out.write_text(json.dumps(data))
    res = runner.invoke(app, ["validate", str(topo), str(policy), str(out)])
    assert res.exit_code == 4
    assert "datastore DS-02: 2 jobs" in res.output


def _write(tmp_path: Path, name: str, data: object) -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


BAD_TOPOLOGY = [
    ("vms", 1, "host", "nope", "vm 'web01'", "host", "unknown host 'nope'"),
    (
        "vms",
        1,
        "disks",
        [{"datastore": "DS-09", "size_gib": 5}],
        "vm 'web01'",
        "disks[0].datastore",
        "unknown datastore 'DS-09'",
    ),
    (
        "vms",
        1,
        "disks",
        [{"datastore": "DS-02", "size_gib": 0}],
        "vm 'web01'",
        "disks[0].size_gib",
        "greater than 0",
    ),
    ("vms", 1, "name", "sql01", "vm 'sql01'", "name", "duplicate name"),
    ("vms", 1, "colour", "red", "vm 'web01'", "colour", "unknown field"),
    ("hosts", 0, "cluster", "PROD-Z", "host 'esx01'", "cluster", "unknown cluster 'PROD-Z'"),
]


@pytest.mark.parametrize(("section", "i", "key", "value", "obj", "field", "msg"), BAD_TOPOLOGY)
def test_bad_topology_one_line_error_exit_1_nothing_written(
    minimal_paths: tuple[Path, Path],
    tmp_path: Path,
    section: str,
    i: int,
    key: str,
    value: object,
    obj: str,
    field: str,
    msg: str,
) -> None:
    data = yaml.safe_load(minimal_paths[0].read_text())
    data[section][i][key] = value
    topo = _write(tmp_path, "topology.yaml", data)
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["plan", str(topo), "-p", str(minimal_paths[1]), "-o", str(out)])
    assert res.exit_code == 1, res.output
    line = res.output.strip()
    assert "\n" not in line.replace("\n", " ", 0) or line.count("error:") == 1
    assert str(topo) in line and obj in line and f"field '{field}'" in line and msg in line, line
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [topo]  # no temp files left either


def test_datastore_in_two_raid_groups(minimal_paths: tuple[Path, Path], tmp_path: Path) -> None:
    data = yaml.safe_load(minimal_paths[0].read_text())
    data["raid_groups"].append({"name": "RG-2", "datastores": ["DS-02"]})
    topo = _write(tmp_path, "t.yaml", data)
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(minimal_paths[1]), "-o", str(tmp_path / "o.json")]
    )
    assert res.exit_code == 1
    assert "raid_group 'RG-2'" in res.output and "already in raid_group 'RG-1'" in res.output


BAD_POLICY = [
    ("timezone", "Mars/Olympus", "timezone", "unknown IANA time zone"),
    ("window", {"start": "20:00", "end": "20:00"}, "window", "zero length"),
    ("throughput", {"mb_per_s": -1}, "throughput", "mb_per_s"),
    (
        "blackouts",
        [{"name": "b", "rrule": "FREQ=SOMETIMES", "duration": "1h"}],
        "blackout 'b'",
        "bad RRULE",
    ),
    (
        "blackouts",
        [{"name": "b", "rrule": "FREQ=DAILY", "duration": "soon"}],
        "blackout 'b'",
        "not a duration",
    ),
    (
        "blackouts",
        [
            {
                "name": "b",
                "scope": {"host": "esx99"},
                "start": "2026-12-01T21:00",
                "end": "2026-12-01T22:00",
            }
        ],
        "blackout 'b'",
        "unknown host 'esx99'",
    ),
    ("surprise", 1, "surprise", "unknown field"),
]


@pytest.mark.parametrize(("key", "value", "obj", "msg"), BAD_POLICY)
def test_bad_policy_one_line_error(
    minimal_paths: tuple[Path, Path], tmp_path: Path, key: str, value: object, obj: str, msg: str
) -> None:
    data = yaml.safe_load(minimal_paths[1].read_text())
    data[key] = value
    pol = _write(tmp_path, "policy.yaml", data)
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["plan", str(minimal_paths[0]), "-p", str(pol), "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert str(pol) in res.output and obj in res.output and msg in res.output, res.output
    assert not out.exists()


def test_missing_file_and_broken_yaml(tmp_path: Path, minimal_paths: tuple[Path, Path]) -> None:
    res = runner.invoke(
        app, ["plan", str(tmp_path / "nope.yaml"), "-p", str(minimal_paths[1]), "-o", "x.json"]
    )
    assert res.exit_code == 1 and "file not found" in res.output
    broken = tmp_path / "b.yaml"
    broken.write_text("vms: [\n")
    res = runner.invoke(app, ["plan", str(broken), "-p", str(minimal_paths[1]), "-o", "x.json"])
    assert res.exit_code == 1 and "not valid YAML" in res.output and "line" in res.output


def test_schedule_with_wrong_schema_version_is_refused(
    tmp_path: Path, minimal_paths: tuple[Path, Path]
) -> None:
    bad = tmp_path / "s.json"
    bad.write_text(json.dumps({"schema_version": "stagger.schedule/0", "jobs": []}))
    res = runner.invoke(app, ["show", str(bad)])
    assert res.exit_code == 1 and "schema_version" in res.output


@pytest.mark.parametrize("which", ["topology", "policy", "schedule", "infrastructure"])
def test_published_schemas_are_current(which: str) -> None:
    res = runner.invoke(app, ["schema", which])
    assert res.exit_code == 0
    committed = Path(__file__).resolve().parents[2] / "schemas" / f"{which}.schema.json"
    assert json.loads(res.output) == json.loads(committed.read_text()), (
        f"run: stagger schema {which} -o schemas/{which}.schema.json"
    )


def test_plan_applies_raid_map(tmp_path: Path) -> None:
    topo = _write(
        tmp_path,
        "t.yaml",
        {
            "hosts": [{"name": "esx01"}, {"name": "esx02"}],
            "datastores": [{"name": "DS-01"}, {"name": "DS-02"}],
            "vms": [
                {
                    "name": "a",
                    "host": "esx01",
                    "disks": [{"datastore": "DS-01", "size_gib": 351.5625}],
                },
                {
                    "name": "b",
                    "host": "esx02",
                    "disks": [{"datastore": "DS-02", "size_gib": 351.5625}],
                },
            ],
        },
    )
    pol = _write(
        tmp_path,
        "p.yaml",
        {
            "timezone": "UTC",
            "cycle": {"start": "2026-12-01"},
            "window": {"start": "20:00", "end": "06:00"},
            "throughput": {"mb_per_s": 100},
        },
    )
    rmap = _write(tmp_path, "raid.yaml", {"RG-1": ["DS-0*"]})
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["plan", str(topo), "-p", str(pol), "-o", str(out)])
    assert res.exit_code == 0 and json.loads(out.read_text())["makespan_min"] == 60
    res = runner.invoke(
        app, ["plan", str(topo), "-p", str(pol), "-o", str(out), "--raid-map", str(rmap)]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["makespan_min"] == 120  # one RAID group now serialises both jobs
    assert {tuple(j["raid_groups"]) for j in data["jobs"]} == {("RG-1",)}


def test_plan_summary_counts_vms_with_incrementals_at_one_clock_time(tmp_path: Path) -> None:
    """Two gold VMs on their own hosts: nothing stops every incremental starting at the
    window's start, so both VMs count; the schedule carries the same count."""
    from tests.factories import make_policy, make_topology
    from tests.tiered import GOLD

    topo = make_topology(
        vms=[
            {
                "name": f"sql{i}",
                "host": f"esx0{i + 1}",
                "tags": ["sql"],
                "disks": [{"datastore": f"DS-0{i + 1}", "size_gib": 50}],
            }
            for i in range(2)
        ]
    )
    policy = make_policy(cycle={"start": "2026-12-01", "nights": 7}, tiers=[GOLD])
    t = _write(tmp_path, "t.yaml", topo.model_dump(mode="json", exclude_none=True))
    p = _write(tmp_path, "p.yaml", policy.model_dump(mode="json", exclude_none=True))
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["plan", str(t), "-p", str(p), "-o", str(out), "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert "at one clock time: 2 of 2 VMs" in res.output
    solver = json.loads(out.read_text())["solver"]
    assert (solver["incremental_vms_one_clock"], solver["incremental_vms"]) == (2, 2)
