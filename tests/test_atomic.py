"""stagger.atomic: all-or-none output sets, leftovers of killed runs, SIGKILL mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stagger import atomic
from stagger.atomic import TEMP_SUFFIX, OutputPathError, OutputSet, clean_leftovers


def test_failing_rename_restores_earlier_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the second rename fails after the first target was replaced."""
    first, second = tmp_path / "a.json", tmp_path / "b.csv"
    first.write_text("old a")
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src: object, dst: object) -> None:
        if str(dst) == str(second):
            raise OSError(28, "No space left on device")
        calls["n"] += 1
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic.os, "replace", flaky)
    outputs = OutputSet()
    outputs.add_text(first, "new a")
    outputs.add_text(second, "new b")
    with pytest.raises(OutputPathError, match="No space left"):
        outputs.commit()
    monkeypatch.undo()
    assert calls["n"] >= 2  # a.json was replaced, then put back
    assert first.read_text() == "old a" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_new_target_removed_when_a_later_one_fails(tmp_path: Path) -> None:
    outputs = OutputSet()
    outputs.add_text(tmp_path / "a.json", "a")
    outputs.add_text(Path("/proc") / "stagger-cannot-exist.txt", "b")
    with pytest.raises(OutputPathError, match="cannot write output"):
        outputs.commit()
    assert list(tmp_path.iterdir()) == []


def test_missing_parent_is_an_error_not_created(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="does not exist"):
        atomic.write_text_atomic(tmp_path / "no" / "where.txt", "x")
    assert list(tmp_path.iterdir()) == []


_WRITER = """
import sys, time
from stagger.atomic import atomic_open
with atomic_open(sys.argv[1]) as fh:
    fh.write("partial " * 10000)
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def test_sigkill_mid_write_leaves_no_partial_target_and_next_run_cleans(tmp_path: Path) -> None:
    target = tmp_path / "schedule.json"
    target.write_text("the previous plan")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert target.read_text() == "the previous plan"
    temps = [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]
    assert len(temps) == 1 and str(proc.pid) in temps[0].name
    assert clean_leftovers(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["schedule.json"]


_KINDS = ["new", "existing", "parent is a file", "target is a folder", "missing parent", "proc"]
_NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=30,
).filter(lambda n: n not in (".", "..") and len(n.encode()) < 200)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(_NAMES, st.sampled_from(_KINDS), st.binary(max_size=200)),
        min_size=1,
        max_size=5,
        unique_by=lambda t: t[0],
    )
)
def test_output_set_is_all_or_none(outputs: list[tuple[str, str, bytes]]) -> None:
    """Whatever the names and whichever outputs are bad, a commit writes all or nothing and
    leaves no temporary behind."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a-file").write_bytes(b"")
        (root / "folder").mkdir()
        batch = OutputSet()
        before: dict[Path, bytes | None] = {}
        for i, (name, kind, data) in enumerate(outputs):
            target = {
                "new": root / "folder" / name,
                "existing": root / "folder" / name,
                "parent is a file": root / "a-file" / name,
                "target is a folder": root / f"dir{i}",
                "missing parent": root / "missing" / name,
                "proc": Path("/proc") / f"stagger-{i}-{os.getpid()}",
            }[kind]
            if kind == "existing":
                target.write_bytes(b"old " + data)
            if kind == "target is a folder":
                target.mkdir()
            before[target] = target.read_bytes() if target.is_file() else None
            batch.add_bytes(target, data)
        good = all(kind in ("new", "existing") for _, kind, _ in outputs)
        if good:
            batch.commit()
        else:
            with pytest.raises(OutputPathError):
                batch.commit()
        for (target, old), (_, _, data) in zip(before.items(), outputs, strict=True):
            now = target.read_bytes() if target.is_file() else None
            assert now == (data if good else old)
        # An output may itself be named "*.stagger-tmp" (hypothesis found ".stagger-tmp"):
        # it is no temporary.
        leftovers = [p for p in root.rglob("*") if p.name.endswith(TEMP_SUFFIX) and p not in before]
        assert leftovers == [] and not (root / "missing").exists()
