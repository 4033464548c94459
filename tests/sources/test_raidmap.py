"""RAID-group maps (YAML and CSV, globs on names and naa ids) applied to a topology."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stagger.errors import InputError
from stagger.model.topology import VM, Datastore, Disk, Host, Topology
from stagger.sources.raidmap import RaidEntry, apply_raid_map, apply_raid_map_file


def _topo(n: int = 6) -> Topology:
    dss = [
        Datastore(
            name=f"PROD-VMFS-{i:02d}",
            naa=f"naa.600a0b800000000{i:x}",
            extents=[f"naa.600a0b800000000{i:x}"],
        )
        for i in range(n)
    ] + [Datastore(name="LEGACY", extents=["naa.6000aaaa0001", "naa.6000aaaa0002"])]
    return Topology(
        hosts=[Host(name="esx1")],
        datastores=dss,
        vms=[VM(name="a", host="esx1", disks=[Disk(datastore="LEGACY", size_gib=10)])],
    )


def test_yaml_globs_names_and_naa(tmp_path: Path) -> None:
    f = tmp_path / "raid.yaml"
    f.write_text(
        "raid_groups:\n"
        "  RG-A: ['PROD-VMFS-0[0-2]']\n"
        "  RG-B: {members: ['naa.600a0b8000000003', 'naa.600a0b8000000004'], max_jobs: 2}\n"
        "  RG-C: ['naa.6000AAAA0002']\n"
        "  RG-D: ['NOPE-*']\n"
    )
    res = apply_raid_map_file(_topo(), f)
    groups = {g.name: g for g in res.topology.raid_groups}
    assert groups["RG-A"].datastores == ["PROD-VMFS-00", "PROD-VMFS-01", "PROD-VMFS-02"]
    assert (
        groups["RG-B"].datastores == ["PROD-VMFS-03", "PROD-VMFS-04"]
        and groups["RG-B"].max_jobs == 2
    )
    assert groups["RG-C"].datastores == ["LEGACY"]  # second extent, case-insensitive
    assert "RG-D" not in groups
    assert res.unmapped == ["PROD-VMFS-05"]
    assert res.unused_members == ["RG-D: NOPE-*"]
    assert res.topology.index().raid_groups_of(res.topology.vms[0]) == ["RG-C"]


def test_csv(tmp_path: Path) -> None:
    f = tmp_path / "raid.csv"
    f.write_text("# storage team export\nraid_group,member\nRG1,PROD-VMFS-*\nRG2,LEGACY\n")
    res = apply_raid_map_file(_topo(3), f)
    assert {g.name: len(g.datastores) for g in res.topology.raid_groups} == {"RG1": 3, "RG2": 1}
    assert res.unmapped == []


def test_datastore_in_two_groups_is_an_error() -> None:
    with pytest.raises(InputError, match="matched by raid groups 'A' and 'B'"):
        apply_raid_map(_topo(), [RaidEntry("A", ["PROD-*"]), RaidEntry("B", ["PROD-VMFS-01"])])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("raid_groups: []\n", "expected a mapping"),
        ("raid_groups:\n  A: []\n", "non-empty list"),
        ("raid_groups:\n  A: {members: [x], max_jobs: 0}\n", "max_jobs"),
        ("raid_groups:\n  A: {memberz: [x]}\n", "unknown field"),
        ("raid_groups: [\n", "not valid YAML"),
    ],
)
def test_bad_yaml(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "raid.yaml"
    f.write_text(text)
    with pytest.raises(InputError, match=match):
        apply_raid_map_file(_topo(), f)


@given(st.lists(st.sets(st.integers(0, 5), max_size=4), min_size=1, max_size=4))
def test_mapping_is_a_partition(groups: list[set[int]]) -> None:
    topo = _topo()
    entries = [
        RaidEntry(f"G{i}", [f"PROD-VMFS-{d:02d}" for d in sorted(g)] or ["none"])
        for i, g in enumerate(groups)
    ]
    overlapping = any(groups[i] & groups[j] for i in range(len(groups)) for j in range(i))
    if overlapping:
        with pytest.raises(InputError):
            apply_raid_map(topo, entries)
        return
    res = apply_raid_map(topo, entries)
    mapped = {ds for g in res.topology.raid_groups for ds in g.datastores}
    assert mapped | set(res.unmapped) == {d.name for d in topo.datastores}
    assert not mapped & set(res.unmapped)
