"""Names reach the terminal only as text (issue 11 §1): the hostile estate planned, exported
and shown through the CLI. Rich markup in a name (``[/x]``) is shown, not parsed (it raised
a MarkupError after the schedule was written); no escape sequence reaches the terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from stagger.cli import app
from stagger.cli.app import console
from stagger.cli.text import as_text
from tests.hostile import hostile_estate

# Anything a terminal would act on: C0 except tab/newline, DEL, C1 (CSI, OSC, ...).
TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _write_estate(tmp_path: Path) -> tuple[Path, Path]:
    topo, pol = hostile_estate()
    t, p = tmp_path / "topology.yaml", tmp_path / "policy.yaml"
    t.write_text(yaml.safe_dump(topo.model_dump(mode="json", exclude_none=True)), "utf-8")
    p.write_text(yaml.safe_dump(pol.model_dump(mode="json", exclude_none=True)), "utf-8")
    return t, p


def _clean(output: str) -> None:
    assert not TERMINAL_CONTROLS.search(output), repr(TERMINAL_CONTROLS.search(output))
    assert "Traceback" not in output


def test_plan_export_show_the_hostile_estate(tmp_path: Path, monkeypatch: Any) -> None:
    topo, pol = _write_estate(tmp_path)
    out = tmp_path / "plan.json"
    exports = [f"{fmt}:{tmp_path / ('plan.' + fmt)}" for fmt in ("bacula", "veeam", "cron")]
    exports += [f"{fmt}:{tmp_path / ('plan.' + fmt)}" for fmt in ("ics", "md", "html")]
    runner = CliRunner()
    args = ["plan", str(topo), "-p", str(pol), "-o", str(out), "--solver", "greedy"]
    for spec in exports:
        args += ["--export", spec]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output  # planned, one VM (oversized) unscheduled
    assert res.exception is None or isinstance(res.exception, SystemExit)
    _clean(res.output)
    assert "huge’+$(id)+’ #> [/x]" in res.output  # the markup is shown as text
    for spec in exports:
        assert Path(spec.split(":", 1)[1]).stat().st_size > 0
    res = runner.invoke(app, ["show", str(out)])
    assert res.exit_code == 0, res.output
    _clean(res.output)
    # A terminal wide enough that the VM's name is on one line of the table.
    monkeypatch.setattr(console, "width", 400)
    res = runner.invoke(app, ["show", str(out), "--vm", "[bold]bold[/bold]"])
    assert res.exit_code == 0, res.output
    _clean(res.output)
    assert "[bold]bold[/bold]" in res.output  # markup shown as text
    res = runner.invoke(app, ["validate", str(topo), str(pol), str(out)])
    assert res.exit_code == 0, res.output
    _clean(res.output)
    res = runner.invoke(app, ["export", str(out), "-f", "md", "-o", "-"])
    assert res.exit_code == 0, res.output
    _clean(res.output)


@pytest.mark.parametrize(
    "name",
    [
        "\x1b]0;pwned\x07[/x]",  # OSC: sets the terminal title
        "\x1b[2J\x1b[31mred",  # CSI: clears the screen
        "a\x9b31mb\x9d0;t\x9c",  # C1 CSI / OSC / ST
        "a\nb[/x]",
    ],
)
def test_a_refused_name_is_shown_escaped(tmp_path: Path, name: str) -> None:
    """The loader refuses the name; the error line names it without passing a control
    character (or markup) to the terminal."""
    topo, pol = _write_estate(tmp_path)
    data = yaml.safe_load(topo.read_text("utf-8"))
    data["vms"][0]["name"] = name
    topo.write_text(json.dumps(data), "utf-8")
    res = CliRunner().invoke(
        app, ["plan", str(topo), "-p", str(pol), "-o", str(tmp_path / "o.json")]
    )
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    _clean(res.output)
    assert len(res.output.strip().splitlines()) == 1  # one line, whatever the name holds
    assert not (tmp_path / "o.json").exists()


def test_shown_escapes_markup_and_controls() -> None:
    assert as_text("[/x] [bold]b") == "\\[/x] \\[bold]b"
    assert as_text("\x1b]0;t\x07") == "\\x1b]0;t\\x07"
    assert as_text("a\u202eb") == "a\\u202eb"
    assert as_text("plain") == "plain"
