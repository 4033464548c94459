"""YAML/JSON loading: round trips and one-line errors, property-tested with hypothesis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.errors import InputError
from stagger.model.topology import Topology
from stagger.sources.yamlfile import dump_yaml, load_policy, load_topology, parse_model

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)


@st.composite
def topologies(draw: st.DrawFn) -> dict[str, Any]:
    hosts = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    stores = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    vms = draw(st.lists(names, min_size=0, max_size=6, unique=True))
    return {
        "hosts": [{"name": h} for h in hosts],
        "datastores": [{"name": d} for d in stores],
        "vms": [
            {
                "name": v,
                "host": draw(st.sampled_from(hosts)),
                "disks": [
                    {
                        "datastore": draw(st.sampled_from(stores)),
                        "size_gib": draw(st.floats(0.01, 1e5, allow_nan=False)),
                    }
                ],
                "tags": draw(st.lists(names, max_size=2)),
            }
            for v in vms
        ],
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=topologies(), as_json=st.booleans())
def test_round_trip_through_yaml_and_json(
    tmp_path: Path, data: dict[str, Any], as_json: bool
) -> None:
    path = tmp_path / ("t.json" if as_json else "t.yaml")
    path.write_text(json.dumps(data) if as_json else yaml.safe_dump(data))
    topo = load_topology(path)
    again = tmp_path / "again.yaml"
    again.write_text(dump_yaml(topo))
    assert load_topology(again) == topo


@settings(max_examples=80, deadline=None)
@given(
    data=topologies(),
    path=st.sampled_from(["vms", "hosts", "datastores"]),
    junk=st.one_of(
        st.integers(), st.text(max_size=5), st.none(), st.lists(st.integers(), max_size=2)
    ),
    key=st.sampled_from(["name", "host", "disks", "size_gib", "bogus"]),
)
def test_corrupted_input_is_an_input_error_never_a_crash(
    data: dict[str, Any], path: str, junk: object, key: str
) -> None:
    if not data[path]:
        return
    data[path][0][key] = junk
    try:
        parse_model(Topology, data, "t.yaml")
    except InputError as exc:
        text = str(exc)
        assert text.startswith("t.yaml: ") and "\n" not in text


def test_error_names_object_by_name(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "hosts": [{"name": "esx01"}],
                "datastores": [{"name": "DS"}],
                "vms": [
                    {"name": "ok", "host": "esx01", "disks": [{"datastore": "DS", "size_gib": 1}]},
                    {
                        "name": "sql01",
                        "host": "esx01",
                        "disks": [{"datastore": "DS", "size_gib": -5}],
                    },
                ],
            }
        )
    )
    with pytest.raises(InputError) as err:
        load_topology(p)
    assert str(err.value) == (
        f"{p}: vm 'sql01': field 'disks[0].size_gib': Input should be greater than 0"
    )


def test_policy_from_issue_loads(minimal_paths: tuple[Path, Path]) -> None:
    policy = load_policy(minimal_paths[1])
    assert [b.name for b in policy.blackouts] == ["av-scan", "payroll", "patch-esx01"]
    assert policy.blackouts[1].duration is not None
    assert policy.blackouts[1].duration.total_seconds() == 36000


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    p = tmp_path / "e.yaml"
    p.write_text("")
    with pytest.raises(InputError, match="file is empty"):
        load_topology(p)
    p.write_text("- a\n- b\n")
    with pytest.raises(InputError, match="expected a mapping"):
        load_topology(p)
