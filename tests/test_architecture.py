"""The import graph of docs/architecture.md, checked: a lower layer never imports a higher one.

The contracts live in pyproject.toml ([tool.importlinter]); `lint-imports` (import-linter)
checks them here so that CI runs them with the suite. The second test plants a forbidden
import in a copy of the package and checks that the contracts catch it: a contract that
cannot fail checks nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} missing: pip install -e '.[test]' (import-linter)")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_contracts_are_kept() -> None:
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "planted"),
    [
        ("stagger/model/schedule.py", "import stagger.cli.app"),  # model -> cli: upward
        ("stagger/instance.py", "import stagger.exporters.html"),  # instance -> exporters
        ("stagger/validate.py", "import stagger.solve.greedy"),  # the validator -> slots
        ("stagger/simulate.py", "import stagger.instance"),  # the simulator -> slots
        ("stagger/planner.py", "import stagger.sources.yamlfile"),  # library -> a loader
        ("stagger/exporters/options.py", "import stagger.exporters.registry"),  # a cycle
    ],
)
def test_a_planted_bad_import_breaks_a_contract(tmp_path: Path, module: str, planted: str) -> None:
    shutil.copytree(
        ROOT / "stagger", tmp_path / "stagger", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    run = _lint(tmp_path)
    assert run.returncode != 0, run.stdout
    assert "BROKEN" in run.stdout and planted.rsplit(".", 1)[-1] in run.stdout
