"""`stagger show` columns and filters, `whatif` wording, per-format export options (CliRunner)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stagger.cli import app

runner = CliRunner()


@pytest.fixture
def planned(minimal_paths: tuple[Path, Path], tmp_path: Path) -> Path:
    topo, policy = minimal_paths
    out = tmp_path / "s.json"
    args = ["plan", str(topo), "-p", str(policy), "-o", str(out), "--solver", "greedy"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return out


def _rows(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("│")]


def test_show_has_night_and_date_columns(planned: Path) -> None:
    res = runner.invoke(app, ["show", str(planned)])
    assert res.exit_code == 0, res.output
    header = next(ln for ln in res.output.splitlines() if "vm" in ln and "host" in ln)
    assert "night" in header and "date" in header
    rows = [r for r in _rows(res.output) if "sql01" in r or "web01" in r]
    assert len(rows) == 2 and all("Tue 01 Dec" in r for r in rows), res.output


@pytest.mark.parametrize(
    ("args", "shown", "hidden"),
    [
        (["--host", "esx02"], "web01", "sql01"),
        (["--datastore", "DS-01"], "sql01", "web01"),
        (["--raid-group", "RG-1"], "sql01", None),
        (["--cluster", "PROD-A"], "web01", None),
        (["--vm", "sql01"], "sql01", "web01"),
        (["--night", "0"], "web01", None),
    ],
)
def test_show_filters(planned: Path, args: list[str], shown: str, hidden: str | None) -> None:
    res = runner.invoke(app, ["show", str(planned), *args])
    assert res.exit_code == 0, res.output
    text = "\n".join(_rows(res.output))
    assert shown in text and (hidden is None or hidden not in text)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--host", "esx99"], "--host"),
        (["--datastore", "DS-99"], "--datastore"),
        (["--raid-group", "RG-9"], "--raid-group"),
        (["--cluster", "PROD-B"], "--cluster"),
        (["--vm", "nope"], "--vm"),
        (["--night", "3"], "--night"),
    ],
)
def test_show_filter_matching_nothing_is_an_error(
    planned: Path, args: list[str], option: str
) -> None:
    res = runner.invoke(app, ["show", str(planned), *args])
    assert res.exit_code == 1, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and option in lines[0] and "matches no job" in lines[0]


def test_show_filters_that_exclude_each_other(planned: Path) -> None:
    res = runner.invoke(app, ["show", str(planned), "--host", "esx01", "--vm", "web01"])
    assert res.exit_code == 1 and "no job matches all of" in res.output


def test_whatif_says_unscheduled_not_removed(
    minimal_paths: tuple[Path, Path], planned: Path
) -> None:
    topo, policy = minimal_paths
    res = runner.invoke(
        app, ["whatif", str(topo), "-p", str(policy), "-b", str(planned), "--grow", "1000"]
    )
    assert res.exit_code == 2, res.output
    said = " ".join(res.output.split())  # the console wraps long lines
    assert "0 removed" in said and "1 unscheduled" in said
    assert "removed sql01" not in said
    assert "unscheduled sql01" in said and "had a job in the baseline" in said
    res = runner.invoke(
        app, ["whatif", str(topo), "-p", str(policy), "-b", str(planned), "--remove", "web01"]
    )
    assert res.exit_code == 0 and "1 removed" in res.output and "removed web01" in res.output


@pytest.mark.parametrize("grow", ["-5", "5,-1", "nan", "inf"])
def test_whatif_refuses_negative_growth(
    minimal_paths: tuple[Path, Path], planned: Path, grow: str
) -> None:
    topo, policy = minimal_paths
    res = runner.invoke(
        app, ["whatif", str(topo), "-p", str(policy), "-b", str(planned), f"--grow={grow}"]
    )
    assert res.exit_code == 1 and "--grow" in res.output, res.output


@pytest.mark.parametrize(
    ("fmt", "args", "option"),
    [
        ("veeam", ["--standalone"], "--standalone"),
        ("md", ["--per-vm"], "--per-vm"),
        ("bacula", ["--utc"], "--utc"),
        ("ics", ["--command", "echo {vm}"], "--command"),
        ("bacula", ["--workdir", "/srv/bacula"], "--workdir"),
    ],
)
def test_export_refuses_options_the_format_lacks(
    planned: Path, fmt: str, args: list[str], option: str
) -> None:
    out = planned.parent / "out.txt"
    res = runner.invoke(app, ["export", str(planned), "-f", fmt, *args, "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert option in res.output and not out.exists()


def test_whatif_growth_table_refuses_outputs(
    minimal_paths: tuple[Path, Path], planned: Path
) -> None:
    topo, policy = minimal_paths
    out = planned.parent / "new.json"
    args = ["whatif", str(topo), "-p", str(policy), "-b", str(planned), "--grow", "10,20"]
    res = runner.invoke(app, [*args, "-o", str(out)])
    assert res.exit_code == 1 and "single --grow step" in res.output, res.output
    assert not out.exists()


def test_error_line_quoting_markup_is_text(planned: Path) -> None:
    """A filter value (or a name) in an error line is printed as text, not as Rich markup."""
    res = runner.invoke(app, ["show", str(planned), "--vm", "[/x][bold]"])
    assert res.exit_code == 1, res.output
    assert "'[/x][bold]' matches no job" in res.output
