"""Write every output of a run all-or-none: temporaries next to the targets, then renames.

:class:`OutputSet` collects the rendered outputs of one command (schedule JSON, CSV, every
export), checks every target before anything is written (the parent is an existing folder,
the target is not a folder, no target twice), writes each to a temporary file in its target's
folder and only then renames them over the targets. Any failure removes the temporaries and
puts back the files that were already replaced, so a run leaves either all of its outputs or
none. A missing parent folder is an error, never created silently.

Temporaries are named ``.{target}.{pid}.{random}.stagger-tmp``: a run that was killed (SIGKILL,
power loss) leaves at most such files, never a partial target, and the next run that writes to
that folder removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stagger.errors import InputError

TEMP_SUFFIX = ".stagger-tmp"
_TEMP_NAME = re.compile(r"^\..*\.(?P<pid>\d+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + r"$")


class OutputPathError(InputError):
    """An output cannot be written where it was asked for (exit 1, nothing written)."""


def _shown(path: Path) -> str:
    # repr-style quoting keeps the error on one line whatever the path holds.
    return ascii(str(path))


def check_target(path: str | Path) -> Path:
    """Refuse a target we cannot write: missing or non-folder parent, a folder as target."""
    target = Path(path)
    parent = target.parent
    if not parent.exists():
        raise OutputPathError(f"output {_shown(target)}: folder {_shown(parent)} does not exist")
    if not parent.is_dir():
        raise OutputPathError(f"output {_shown(target)}: {_shown(parent)} is not a folder")
    if target.is_dir():
        raise OutputPathError(f"output {_shown(target)} is a folder")
    return target


def _temp_path(target: Path) -> Path:
    return target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's live process (or not a pid at all): leave its file
    return True


def clean_leftovers(folder: str | Path) -> int:
    """Remove temporaries that killed stagger runs left in ``folder``; returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if m is None or _alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed += 1
    return removed


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(target: Path, data: bytes) -> Path:
    tmp = _temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies, as open()
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _os_error_line(target: Path, exc: OSError) -> str:
    return f"cannot write output {_shown(target)}: {exc.strerror or exc}"


@dataclass
class OutputSet:
    """The outputs of one run, written all-or-none by :meth:`commit`."""

    items: list[tuple[Path, bytes]] = field(default_factory=list)
    leftovers_removed: int = 0

    def add_text(self, path: str | Path, text: str) -> None:
        self.add_bytes(path, text.encode("utf-8"))

    def add_bytes(self, path: str | Path, data: bytes) -> None:
        self.items.append((Path(path), data))

    def check(self, paths: list[Path] | None = None) -> None:
        """Refuse bad targets (of the added items, or of ``paths`` before they are rendered)."""
        targets = [p for p, _ in self.items] if paths is None else paths
        seen: dict[Path, Path] = {}
        for p in targets:
            check_target(p)
            key = p.parent.resolve() / p.name
            if key in seen:
                raise OutputPathError(
                    f"output {_shown(p)} is asked for twice (also as {_shown(seen[key])})"
                )
            seen[key] = p

    def commit(self) -> None:
        """Write every item to a temporary, then rename all; on any failure, undo everything."""
        self.check()
        for folder in {p.parent for p, _ in self.items}:
            self.leftovers_removed += clean_leftovers(folder)
        temps: list[tuple[Path, Path]] = []
        try:
            for target, data in self.items:
                try:
                    temps.append((target, _write_temp(target, data)))
                except OSError as exc:
                    raise OutputPathError(_os_error_line(target, exc)) from None
            self._rename_all(temps)
        finally:
            for _, tmp in temps:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    @staticmethod
    def _rename_all(temps: list[tuple[Path, Path]]) -> None:
        # Keep a hard link to each file a rename replaces, so that a failing later rename can
        # put the earlier targets back as they were.
        done: list[tuple[Path, Path | None]] = []
        try:
            for target, tmp in temps:
                backup: Path | None = None
                if target.exists():
                    backup = _temp_path(target)
                    try:
                        os.link(target, backup)
                    except OSError:
                        backup = None  # no hard links here: cannot restore this one
                try:
                    os.replace(tmp, target)
                except OSError as exc:
                    if backup is not None:
                        os.unlink(backup)
                    raise OutputPathError(_os_error_line(target, exc)) from None
                done.append((target, backup))
        except BaseException:
            for target, backup in reversed(done):
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, target)
                    else:
                        os.unlink(target)
            raise
        for _, backup in done:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)
        for folder in {t.parent for t, _ in temps}:
            _fsync_dir(folder)


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """One output, streamed: a temporary in the target's folder renamed over it at the end."""
    target = check_target(path)
    clean_leftovers(target.parent)
    tmp = _temp_path(target)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise OutputPathError(_os_error_line(target, exc)) from None
    try:
        with os.fdopen(
            fd,
            mode,
            encoding=None if "b" in mode else encoding,
            newline="" if "b" not in mode else None,
        ) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputPathError(_os_error_line(target, exc)) from None
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
