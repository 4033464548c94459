"""explain names a proxy's or repository's rule when it is what conflicts (jobs with options:
an infrastructure file), and counts a job that may run elsewhere as free to."""

from __future__ import annotations

from stagger.instance import Instance, NightSlots
from stagger.solve.explain import explain_instance, explain_unscheduled
from tests.factories import make_policy, make_topology
from tests.solve.options_check import instance, job, option, resources

NIGHT = [NightSlots(0, 0, 12)]  # 12 slots of 30 minutes


def _two_on_one_proxy(alternative: bool) -> Instance:
    # a and b (7 slots each, 3h30) on their own hosts, both through proxy p (one task): 7 + 7
    # slots do not fit a 12-slot night. ``alternative``: b may also go through q.
    res = resources(("host", "h0", 1), ("host", "h1", 1), ("proxy", "p", 1), ("proxy", "q", 1))
    a = job("a", [0], [option(res, NIGHT, proxy="p", duration=7)])
    b_opts = [option(res, NIGHT, proxy="p", duration=7)]
    if alternative:
        b_opts.append(option(res, NIGHT, proxy="q", mode="nbd", duration=7))
    return instance(NIGHT, res, [a, job("b", [1], b_opts)])


def test_a_proxys_task_slots_are_named() -> None:
    why = explain_instance(_two_on_one_proxy(False), make_policy(), ["b"])
    assert why is not None
    assert [(r.kind, r.name) for r in why.rules] == [("window", "window"), ("capacity", "proxy p")]
    assert "proxy p needs 7 h over 1 nights for 2 jobs of 2 VMs" in why.summary
    assert "proxy p runs its jobs one at a time" in [r.text for r in why.rules]


def test_no_conflict_when_a_job_may_take_another_proxy() -> None:
    assert explain_instance(_two_on_one_proxy(True), make_policy(), ["b"]) is None


def test_a_repositorys_ingest_is_named() -> None:
    # Two 400 MB/s jobs into repo r (ingest 600 MB/s, 12 tasks), 7 slots each, on their own
    # hosts and proxies: they cannot overlap, and 14 slots do not fit 12.
    res = resources(
        ("host", "h0", 1), ("host", "h1", 1), ("proxy", "p0", 4), ("proxy", "p1", 4),
        ("repository", "r", 12), ("ingest", "r", 600),
    )  # fmt: skip
    jobs = [
        job(vm, [h], [option(res, NIGHT, proxy=p, duration=7, repository="r", ingest=400)])
        for vm, h, p in (("a", 0, "p0"), ("b", 1, "p1"))
    ]
    why = explain_instance(instance(NIGHT, res, jobs), make_policy(), ["a", "b"])
    assert why is not None
    assert [(r.kind, r.name) for r in why.rules] == [("window", "window"), ("capacity", "ingest r")]
    # 2 x 7 slots x 400 MB/s at 600 MB/s: 9.33 slots of 30 min = 4.7 h.
    assert "repository r ingest needs 4.7 h at its full 600 MB/s" in why.summary
    assert "repository r ingest takes 600 MB/s at most" in [r.text for r in why.rules]


def test_explain_unscheduled_explains_the_compiled_instance_it_is_given() -> None:
    # A compile here would not know the infrastructure: the caller passes its instance.
    inst = _two_on_one_proxy(False)
    why = explain_unscheduled(make_topology(), make_policy(), ["b"], compiled=inst)
    assert why is not None and ("capacity", "proxy p") in [(r.kind, r.name) for r in why.rules]
