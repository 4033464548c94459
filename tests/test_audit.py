"""The pre-backup audit on a hand-made topology with one of each problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagger.audit import AuditSettings, audit, parse_fail_on
from stagger.cli import app
from stagger.model.topology import VM, Datastore, Disk, Host, RaidGroup, Snapshot, Topology
from tests.sources.rvtools_fixture import Shape, usfq_export, write_csvs

runner = CliRunner()
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _topo() -> Topology:
    def vm(name: str, **kw: object) -> VM:
        kw.setdefault("disks", [Disk(datastore="DS1", size_gib=10)])
        return VM(name=name, host="esx1", **kw)  # type: ignore[arg-type]

    return Topology(
        hosts=[Host(name="esx1")],
        datastores=[Datastore(name="DS1"), Datastore(name="DS2"), Datastore(name="DS3")],
        raid_groups=[RaidGroup(name="RG", datastores=["DS1", "DS2"])],
        vms=[
            vm("clean", tools="ok", power_state="on"),
            vm(
                "old-snap",
                snapshots=[Snapshot(name="s", created=NOW - timedelta(days=10), size_gib=1)],
            ),
            vm(
                "new-snap",
                snapshots=[Snapshot(name="s", created=NOW - timedelta(days=1), size_gib=1)],
            ),
            vm("big-snap", snapshots=[Snapshot(name="s", created=NOW, size_gib=120)]),
            vm("consol", consolidation_needed=True),
            vm("tools-off", tools="not_running", power_state="on"),
            vm("tools-off-vm-off", tools="not_running", power_state="off"),
            vm("no-tools", tools="not_installed"),
            vm("tools-old", tools="old"),
            vm(
                "spread",
                disks=[Disk(datastore="DS1", size_gib=1), Disk(datastore="DS2", size_gib=1)],
            ),
            vm("unknown-ds", disks=[Disk(size_gib=1)]),
            vm("template", template=True, consolidation_needed=True),
        ],
    )


def test_each_check_fires_once_on_its_vm() -> None:
    report = audit(_topo(), now=NOW)
    got = {(f.check, f.object) for f in report.findings}
    assert got == {
        ("snapshot_old", "vm 'old-snap'"),
        ("snapshot_large", "vm 'big-snap'"),
        ("consolidation", "vm 'consol'"),
        ("tools_not_running", "vm 'tools-off'"),
        ("tools_not_installed", "vm 'no-tools'"),
        ("tools_old", "vm 'tools-old'"),
        ("multi_datastore", "vm 'spread'"),
        ("no_datastore", "vm 'unknown-ds'"),
        ("no_raid_group", "datastore 'DS3'"),
    }
    assert report.vms == 11  # the template is not backed up
    assert sum(report.counts.values()) == len(report.findings)


def test_thresholds_and_fail_on() -> None:
    report = audit(
        _topo(), now=NOW, settings=AuditSettings(snapshot_age_days=0.5, snapshot_size_gib=500)
    )
    assert {f.object for f in report.findings if f.check == "snapshot_old"} == {
        "vm 'old-snap'",
        "vm 'new-snap'",
    }
    assert not [f for f in report.findings if f.check == "snapshot_large"]
    assert [f.object for f in report.failing(["consolidation"])] == ["vm 'consol'"]
    assert len(report.failing(["info"])) == len(report.findings)
    no_rg = audit(_topo(), now=NOW, settings=AuditSettings(check_raid_groups=False))
    assert no_rg.counts["no_raid_group"] == 0


def test_fail_on_takes_a_severity_and_info_findings_do_not_fail_it() -> None:
    spread = Topology(
        hosts=[Host(name="esx1")],
        datastores=[Datastore(name="DS1"), Datastore(name="DS2")],
        vms=[
            VM(
                name="spread",
                host="esx1",
                disks=[Disk(datastore="DS1", size_gib=1), Disk(datastore="DS2", size_gib=1)],
            )
        ],
    )
    report = audit(spread, now=NOW, settings=AuditSettings(check_raid_groups=False))
    assert [(f.check, f.severity) for f in report.findings] == [("multi_datastore", "info")]
    assert report.failing(["warning"]) == []
    assert report.failing(["error"]) == []
    assert report.failing(["any"]) == []  # any problem: info findings are facts, not problems
    assert len(report.failing(["info"])) == 1
    assert len(report.failing(["multi_datastore"])) == 1  # a check named explicitly
    full = audit(_topo(), now=NOW)
    by_sev = {s: {f.severity for f in full.failing([s])} for s in ("info", "warning", "error")}
    assert by_sev == {
        "info": {"info", "warning", "error"},
        "warning": {"warning", "error"},
        "error": {"error"},
    }
    assert {f.check for f in full.failing(["error", "tools_old"])} == {
        "snapshot_old",
        "snapshot_large",
        "consolidation",
        "tools_old",
    }
    with pytest.raises(ValueError, match="unknown check or severity 'critical'"):
        parse_fail_on(["critical"])


def test_rows_that_matched_no_vm_make_the_audit_incomplete() -> None:
    class Cov:
        def __init__(self, rows: int, matched: int, missing: bool = False) -> None:
            self.rows, self.matched, self.missing = rows, matched, missing

    clean = Topology(
        hosts=[Host(name="esx1")],
        datastores=[Datastore(name="DS1")],
        vms=[VM(name="a", host="esx1", disks=[Disk(datastore="DS1", size_gib=1)], tools="ok")],
    )
    off = AuditSettings(check_raid_groups=False)
    ok = audit(clean, now=NOW, settings=off, joins={"vSnapshot": Cov(3, 3), "vTools": Cov(1, 1)})
    assert ok.findings == []
    gaps = audit(
        clean,
        now=NOW,
        settings=off,
        joins={"vSnapshot": Cov(198, 0), "vTools": Cov(5, 4), "vDisk": Cov(2, 1)},
    )
    got = {(f.object, f.severity) for f in gaps.findings}
    assert got == {
        ("tab 'vSnapshot'", "error"),  # the unread rows may hold old snapshots
        ("tab 'vTools'", "warning"),
        ("tab 'vDisk'", "warning"),  # feeds info/warning checks: at least warning
    }
    assert gaps.counts["source_incomplete"] == 3
    assert len(gaps.failing(["warning"])) == 3 and len(gaps.failing(["error"])) == 1
    (no_tab,) = audit(clean, now=NOW, settings=off, joins={"vSnapshot": Cov(0, 0, True)}).findings
    assert no_tab.severity == "error" and "missing" in no_tab.detail


def test_cli_fail_on_severity(tmp_path: Path) -> None:
    # Multi-datastore VMs (info) and no snapshots: no problem at warning level.
    tabs, _ = usfq_export(Shape(vms=6, disk_rows=9, snapshot_vms=0, snapshot_rows=0))
    folder = write_csvs(tmp_path / "rv", tabs)
    base = ["audit", "--rvtools", str(folder)]
    res = runner.invoke(app, [*base, "--fail-on", "warning"])
    assert res.exit_code == 0, res.output
    assert "multi_datastore" in res.output
    assert runner.invoke(app, [*base, "--fail-on", "any"]).exit_code == 0
    assert runner.invoke(app, [*base, "--fail-on", "info"]).exit_code == 2
    assert runner.invoke(app, [*base, "--fail-on", "multi_datastore"]).exit_code == 2
    bad = runner.invoke(app, [*base, "--fail-on", "critical"])
    assert bad.exit_code == 1 and "unknown check or severity 'critical'" in bad.output


def test_cli_audit_is_not_clean_over_unjoined_rows(tmp_path: Path) -> None:
    tabs, _ = usfq_export(Shape(vms=6, disk_rows=9, snapshot_vms=2, snapshot_rows=3))
    for row in tabs["vSnapshot"][1:]:
        row[0], row[-3], row[-2], row[-1] = "ghost", "vm-999", "", "elsewhere"
    folder = write_csvs(tmp_path / "rv", tabs)
    res = runner.invoke(app, ["audit", "--rvtools", str(folder), "--json", "--fail-on", "error"])
    assert res.exit_code == 2
    report = json.loads(res.stdout)
    assert report["counts"]["source_incomplete"] == 1
    assert report["counts"]["snapshot_old"] == 0  # nothing joined: the finding above says so
