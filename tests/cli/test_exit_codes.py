"""Exit codes are decided in one table (errors.ExitCode): no error shares "unscheduled"."""

from __future__ import annotations

import importlib
import pkgutil

import stagger
from stagger.errors import ExitCode, SourceError, StaggerError


def _all_error_classes() -> set[type[StaggerError]]:
    for mod in pkgutil.walk_packages(stagger.__path__, "stagger."):
        importlib.import_module(mod.name)
    found: set[type[StaggerError]] = set()
    todo: list[type[StaggerError]] = [StaggerError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_exits_with_a_code_of_the_table_never_unscheduled() -> None:
    # An error class exiting 2 (the removed InfeasibleError) could not be told from "planned
    # with unscheduled VMs" by a script.
    for cls in _all_error_classes():
        assert cls.exit_code in set(ExitCode), cls
        assert cls.exit_code not in (ExitCode.OK, ExitCode.UNSCHEDULED, ExitCode.USAGE), cls
        if issubclass(cls, SourceError):
            assert cls.exit_code == ExitCode.SOURCE, cls


def test_the_table_holds_the_documented_codes() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "BAD_INPUT": 1,
        "UNSCHEDULED": 2,
        "SOURCE": 3,
        "INVALID_SCHEDULE": 4,
        "USAGE": 64,
        "INTERRUPTED": 130,
    }
