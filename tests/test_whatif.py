"""What-if: change application, stable re-planning, diff, pins, drift."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from stagger.cli.whatif import parse_grow, parse_move_disk
from stagger.errors import InputError
from stagger.model.topology import VM
from stagger.planner import PlanOptions, plan
from stagger.validate import find_violations
from stagger.whatif import (
    Changes,
    apply_changes,
    diff_schedules,
    find_drift,
    replan,
)
from tests.factories import GIB_PER_HOUR, make_policy, make_topology

OPTS = PlanOptions(time_limit_s=5, workers=2)


def _at(day: int, hour: int, minute: int) -> datetime:
    """A December 2026 instant in the test policy's zone (whole datetimes, never "HH:MM"
    strings, which compare 20:00 and 02:00 the next morning the wrong way round)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=ZoneInfo("Europe/Berlin"))


def _vm(name: str, host: str, ds: str, hours: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "host": host,
        "disks": [{"datastore": ds, "size_gib": GIB_PER_HOUR * hours}],
    } | extra


def _estate() -> tuple[Any, Any]:
    # Window 20:00-06:00. DS-01 holds a (4 h) and b (5 h): 9 h of its 10 h. DS-02 holds c (2 h).
    topo = make_topology(
        hosts=[{"name": f"esx0{i}", "cluster": "C1"} for i in range(1, 5)],
        datastores=[{"name": "DS-01"}, {"name": "DS-02"}],
        vms=[
            _vm("a", "esx01", "DS-01", 4),
            _vm("b", "esx02", "DS-01", 5),
            _vm("c", "esx03", "DS-02", 2),
        ],
    )
    return topo, make_policy()


def test_adding_one_vm_moves_exactly_one_known_job() -> None:
    topo, pol = _estate()
    base = plan(topo, pol, OPTS).schedule
    old_c = base.job("c")
    assert old_c is not None and old_c.start == _at(1, 20, 0)
    # new (3 h, DS-02 like c) may only run 20:00-23:00 (a blackout on it from 23:00): it must
    # take c's slot, so c and only c moves; a and b share nothing with it.
    new = VM.model_validate(_vm("new", "esx04", "DS-02", 3))
    p2 = pol.model_copy(
        update={
            "blackouts": [
                type(pol)
                .model_validate(
                    pol.model_dump(mode="json")
                    | {
                        "blackouts": [
                            {
                                "name": "new-busy",
                                "scope": {"vm": "new"},
                                "start": "2026-12-01T23:00",
                                "end": "2026-12-02T06:00",
                            }
                        ]
                    }
                )
                .blackouts[0]
            ]
        }
    )
    t2, p2, said = apply_changes(topo, p2, Changes(add=[new]))
    assert said == [f"add new ({new.size_gib:,.0f} GiB on esx04)"]
    r = replan(t2, p2, base, OPTS)
    assert not r.schedule.unscheduled
    d = diff_schedules(base, r.schedule)
    assert [j.vm for j in d.added] == ["new"]
    assert [m.vm for m in d.moved] == ["c"]
    assert "new" in d.moved[0].why
    assert d.unchanged == 2
    assert r.stats.moved == 1
    assert not find_violations(r.schedule, t2, p2)


def test_unchanged_estate_keeps_every_job_and_is_deterministic() -> None:
    topo, pol = _estate()
    base = plan(topo, pol, OPTS).schedule
    r1 = replan(topo, pol, base, OPTS)
    r2 = replan(topo, pol, base, OPTS)
    assert r1.stats.moved == 0
    assert [(j.vm, j.start) for j in r1.schedule.jobs] == [(j.vm, j.start) for j in base.jobs]
    assert [(j.vm, j.start) for j in r1.schedule.jobs] == [
        (j.vm, j.start) for j in r2.schedule.jobs
    ]


def test_pin_is_kept_and_conflicting_pins_are_reported() -> None:
    topo, pol = _estate()
    base = plan(topo, pol, OPTS).schedule
    data = topo.model_dump(mode="json")
    data["vms"][2]["pin"] = "23:00"
    data["vms"].append(_vm("d", "esx04", "DS-02", 1, pin="23:30"))
    t2 = type(topo).model_validate(data)
    r = replan(t2, pol, base, OPTS)
    c = r.schedule.job("c")
    assert c is not None and c.start == _at(1, 23, 0)
    reasons = {u.vm: u.reason for u in r.schedule.unscheduled}
    assert list(reasons) == ["d"]
    assert "collides with pinned c" in reasons["d"] and "datastore DS-02" in reasons["d"]


def _with_late_blackout(pol: Any, vm: str) -> Any:
    """``pol`` plus a blackout on ``vm`` from 23:00 to the window's end."""
    data = pol.model_dump(mode="json")
    data["blackouts"] = [
        {
            "name": f"{vm}-busy",
            "scope": {"vm": vm},
            "start": "2026-12-01T23:00",
            "end": "2026-12-02T06:00",
        }
    ]
    return type(pol).model_validate(data)


def test_pinned_true_keeps_the_baseline_slot() -> None:
    topo, pol = _estate()
    base = plan(topo, pol, OPTS).schedule
    old_c = base.job("c")
    assert old_c is not None
    # new (3 h on DS-02, blocked from 23:00) fits only in c's slot 20:00-22:00.
    data = topo.model_dump(mode="json")
    data["vms"].append(_vm("new", "esx04", "DS-02", 3))
    p2 = _with_late_blackout(pol, "new")
    # Unpinned, c gives its slot to new: the case where the pin has something to keep.
    free = replan(type(topo).model_validate(data), p2, base, OPTS)
    moved_c = free.schedule.job("c")
    assert moved_c is not None and moved_c.start != old_c.start
    assert not free.schedule.unscheduled
    data["vms"][2]["pinned"] = True
    t2 = type(topo).model_validate(data)
    r = replan(t2, p2, base, OPTS)
    c = r.schedule.job("c")
    assert c is not None and c.start == old_c.start
    assert [u.vm for u in r.schedule.unscheduled] == ["new"]
    assert not find_violations(r.schedule, t2, p2)


def test_drift_after_simulated_vmotion_and_minimal_repair() -> None:
    topo, pol = _estate()
    base = plan(topo, pol, OPTS).schedule
    data = topo.model_dump(mode="json")
    data["vms"][2]["host"] = "esx01"  # DRS moved c next to a
    data["vms"][0]["disks"][0]["datastore"] = "DS-02"  # Storage vMotion of a's disk
    current = type(topo).model_validate(data)
    drift = {(d.vm, d.kind) for d in find_drift(base, current)}
    assert drift == {("c", "host"), ("a", "datastore")}
    assert find_violations(base, current, pol)  # the old jobs name the old host/datastore
    r = replan(current, pol, base, OPTS)
    assert not find_violations(r.schedule, current, pol)
    assert not r.schedule.unscheduled
    # Only jobs whose slot now collides move; b shares nothing with the drifted pair any more.
    assert "b" not in {m.vm for m in diff_schedules(base, r.schedule).moved}


def test_bad_references_are_input_errors() -> None:
    topo, pol = _estate()
    with pytest.raises(InputError, match="unknown VM 'zz'"):
        apply_changes(topo, pol, Changes(remove=["zz"]))
    with pytest.raises(InputError, match="unknown host 'esx99'"):
        apply_changes(topo, pol, Changes(move=[("a", "esx99")]))
    with pytest.raises(InputError, match="unknown datastore 'DS-99'"):
        apply_changes(topo, pol, Changes(move_disk=[("a", "0", "DS-99")]))
    with pytest.raises(InputError, match="no disk 'x'"):
        apply_changes(topo, pol, Changes(move_disk=[("a", "x", "DS-02")]))
    with pytest.raises(InputError, match="unknown policy setting"):
        apply_changes(topo, pol, Changes(settings=[("nosuch.thing", "1")]))
    with pytest.raises(InputError, match="is not VM:DISK=DATASTORE"):
        parse_move_disk("a=DS-01")


def test_changes_apply() -> None:
    topo, pol = _estate()
    t2, p2, _ = apply_changes(
        topo,
        pol,
        Changes(
            remove=["b"],
            move=[("a", "esx04")],
            move_disk=[("c", "DS-02", "DS-01")],
            settings=[("window.end", "07:00"), ("limits.per_host", "2")],
            grow_pct=10,
        ),
    )
    idx = t2.index()
    assert "b" not in idx.vms and idx.vms["a"].host == "esx04"
    assert idx.vms["c"].datastores == ["DS-01"]
    assert idx.vms["a"].size_gib == pytest.approx(GIB_PER_HOUR * 4 * 1.1, rel=1e-4)
    assert p2.window.end == time(7, 0) and p2.limits.per_host == 2
    assert parse_grow(["10%,20", "30"]) == [10.0, 20.0, 30.0]


def test_moved_job_names_the_blackouts_that_apply_to_it_only() -> None:
    """A new blackout on DS-02 covers c's old slot (20:00-22:00), so c moves for it. One on
    esx04 covers the same hours but applies to no VM (esx04 holds none): not c's reason."""
    topo, pol = _estate()
    base = plan(topo, pol, OPTS).schedule
    old_c = base.job("c")
    assert old_c is not None and old_c.start == _at(1, 20, 0)
    data = pol.model_dump(mode="json")
    data["blackouts"] = [
        {"name": name, "scope": scope, "start": "2026-12-01T20:00", "end": "2026-12-01T23:00"}
        for name, scope in (
            ("ds02-busy", {"datastore": "DS-02"}),
            ("esx04-busy", {"host": "esx04"}),
        )
    ]
    p2 = type(pol).model_validate(data)
    r = replan(topo, p2, base, OPTS)
    d = diff_schedules(base, r.schedule)
    assert [(m.vm, m.why) for m in d.moved] == [("c", "its old slot overlaps blackout 'ds02-busy'")]
    assert d.unchanged == 2
