"""Loading infrastructure.yaml (stagger.sources.yamlfile.load_infrastructure): round trips,
and every corruption or hostile name is one InputError line naming the file, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagger.errors import InputError
from stagger.model.infrastructure import TRANSPORT_MODES, Infrastructure
from stagger.model.parse import parse_model
from stagger.sources.yamlfile import dump_yaml, load_infrastructure

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)
rates = st.floats(0.5, 1e5, allow_nan=False)


@st.composite
def infrastructures(draw: st.DrawFn) -> dict[str, Any]:
    modes = draw(st.lists(st.sampled_from(TRANSPORT_MODES), min_size=1, max_size=3, unique=True))
    proxies = []
    for name in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
        proxy: dict[str, Any] = {
            "name": name,
            "max_tasks": draw(st.integers(1, 64)),
            "modes": draw(st.lists(st.sampled_from(modes), min_size=1, unique=True)),
        }
        reach = draw(
            st.dictionaries(st.sampled_from(["cluster", "host", "datastore", "tag"]), names)
        )
        if reach:
            proxy["reaches"] = reach
        proxies.append(proxy)
    return {
        "proxies": proxies,
        "transport": {m: {"mb_per_s": draw(rates)} for m in modes},
        "repositories": [
            {"name": n, "max_tasks": draw(st.integers(1, 64)), "ingest_mb_per_s": draw(rates)}
            for n in draw(st.lists(names, max_size=3, unique=True))
        ],
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=infrastructures(), as_json=st.booleans())
def test_round_trip_through_yaml_and_json(
    tmp_path: Path, data: dict[str, Any], as_json: bool
) -> None:
    path = tmp_path / ("i.json" if as_json else "i.yaml")
    path.write_text(json.dumps(data) if as_json else yaml.safe_dump(data))
    infra = load_infrastructure(path)
    again = tmp_path / "again.yaml"
    again.write_text(dump_yaml(infra))
    assert load_infrastructure(again) == infra


@settings(max_examples=150, deadline=None)
@given(
    data=infrastructures(),
    where=st.sampled_from(["proxies", "repositories", "transport"]),
    key=st.sampled_from(["name", "max_tasks", "modes", "reaches", "ingest_mb_per_s", "bogus"]),
    junk=st.one_of(
        st.integers(-5, 5),
        st.text(max_size=5),
        st.none(),
        st.floats(),
        st.lists(st.text(max_size=3), max_size=2),
        st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
    ),
)
def test_corrupted_input_is_an_input_error_never_a_crash(
    data: dict[str, Any], where: str, key: str, junk: object
) -> None:
    if where == "transport":
        data["transport"][key] = junk
    elif data[where]:
        data[where][0][key] = junk
    try:
        parse_model(Infrastructure, data, "i.yaml")
    except InputError as exc:
        for line in exc.lines():
            assert line.startswith("i.yaml: ") and "\n" not in line, line


@settings(max_examples=100, deadline=None)
@given(name=st.text(min_size=1, max_size=30))
def test_any_name_loads_or_is_refused_on_one_escaped_line(name: str) -> None:
    data = {
        "proxies": [
            {"name": name, "max_tasks": 1, "modes": ["nbd"]},
            {"name": name, "max_tasks": 1, "modes": ["nbd"]},
        ],
        "transport": {"nbd": {"mb_per_s": 100}},
    }
    try:
        parse_model(Infrastructure, data, "i.yaml")
    except InputError as exc:
        lines = exc.lines()
        assert lines and all(line.startswith("i.yaml: proxy ") for line in lines), lines
        assert all("\n" not in line and "\r" not in line and "\x1b" not in line for line in lines)
    else:  # pragma: no cover - a duplicate name is always refused
        raise AssertionError("duplicate proxy names were accepted")
