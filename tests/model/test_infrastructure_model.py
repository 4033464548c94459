"""The infrastructure file's fields and cross-field checks: one line each, naming the file,
the object and the field (stagger.model.infrastructure through the YAML loader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stagger.errors import InputError
from stagger.sources.yamlfile import load_infrastructure
from tests.factories import EXAMPLES

EXAMPLE = EXAMPLES / "infra" / "infrastructure.yaml"


def _data() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def _refusal(tmp_path: Path, data: object) -> list[str]:
    path = tmp_path / "i.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(InputError) as err:
        load_infrastructure(path)
    lines = err.value.lines()
    for line in lines:
        assert line.startswith(f"{path}: ") and "\n" not in line, line
    return [line.removeprefix(f"{path}: ") for line in lines]


def test_example_loads() -> None:
    infra = load_infrastructure(EXAMPLE)
    assert [p.name for p in infra.proxies] == ["prx-a1", "prx-b1", "prx-san", "prx-any"]
    assert infra.proxies[3].reaches is None
    assert infra.transport.rate("nbd") is not None
    assert [r.name for r in infra.repositories] == ["repo-1", "repo-2"]


def _edit(path: list[Any], value: Any) -> dict[str, Any]:
    data = _data()
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["proxies", 1, "name"], "prx-a1", "proxy 'prx-a1': field 'name': duplicate proxy name"),
        (
            ["repositories", 1, "name"],
            "repo-1",
            "repository 'repo-1': field 'name': duplicate repository name",
        ),
        (["proxies", 0, "max_tasks"], 0, "proxy 'prx-a1': field 'max_tasks': "),
        (["proxies", 0, "modes"], [], "proxy 'prx-a1': field 'modes': "),
        (["proxies", 0, "modes"], ["hotadd", "tape"], "proxy 'prx-a1': field 'modes[1]': "),
        (["proxies", 0, "reaches"], {}, "proxy 'prx-a1': field 'reaches': "),
        (
            ["proxies", 0, "reaches"],
            {"clustr": "X"},
            "unknown field 'clustr' in proxy 'prx-a1', reaches (did you mean 'cluster'?)",
        ),
        (["repositories", 0, "ingest_mb_per_s"], 0, "repository 'repo-1': field 'ingest_mb_per_s'"),
        (["repositories", 0, "max_tasks"], 0, "repository 'repo-1': field 'max_tasks'"),
        (["transport", "nbd", "mb_per_s"], -1, "transport: field 'nbd.mb_per_s': "),
        (["transport", "tape"], {"mb_per_s": 1}, "unknown field 'tape' in transport"),
        (["proxies", 0, "name"], "a\nb", "proxy 'a\\nb': field 'name': "),
    ],
)
def test_bad_field_is_one_line(tmp_path: Path, path: list[Any], value: Any, expected: str) -> None:
    lines = _refusal(tmp_path, _edit(path, value))
    assert any(line.startswith(expected) for line in lines), lines


def test_mode_with_no_rate(tmp_path: Path) -> None:
    data = _data()
    del data["transport"]["san"]
    assert _refusal(tmp_path, data) == [
        "proxy 'prx-san': field 'modes': mode 'san' with no rate (add transport: {san:"
        " {mb_per_s: N}})"
    ]


def test_a_mode_listed_twice(tmp_path: Path) -> None:
    lines = _refusal(tmp_path, _edit(["proxies", 0, "modes"], ["nbd", "nbd"]))
    assert lines == ["proxy 'prx-a1': field 'modes': a mode is listed twice"]


def test_no_proxies(tmp_path: Path) -> None:
    lines = _refusal(tmp_path, _edit(["proxies"], []))
    assert any("proxies" in line for line in lines)
