"""The pre-backup audit on a hand-made topology with one of each problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stagger.audit import AuditSettings, audit
from stagger.model.topology import VM, Datastore, Disk, Host, RaidGroup, Snapshot, Topology

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
    assert len(report.failing(["any"])) == len(report.findings)
    no_rg = audit(_topo(), now=NOW, settings=AuditSettings(check_raid_groups=False))
    assert no_rg.counts["no_raid_group"] == 0
