"""The hand-chosen mutants of benchmarks/mutation.py: one broken rule each, and its tests.

A mutant's ``old`` text must occur exactly once in its file; when the code moves, the run
reports it *stale* (update it here rather than dropping it).
"""

from __future__ import annotations

from benchmarks.mutation import Mutant

Q = "stagger/exporters/quoting.py"
QT = ("tests/exporters/test_quoting.py",)
V = "stagger/validate.py"
VT = ("tests/test_validate.py",)
R = "stagger/sources/rvtools.py"
RT = ("tests/sources/test_rvtools.py",)
ST = "tests/solve/test_stability.py"
PT = ("tests/test_planner.py", "tests/solve/test_claims.py")

MUTANTS: list[Mutant] = [
    # --- quoting: each target language's one function ---------------------------------
    Mutant(
        "shell: a quote inside a name not closed and reopened",
        Q,
        """text.replace("'", "'\\\\''")""",
        """text.replace("'", "\\\\'")""",
        QT,
    ),
    Mutant(
        "cron: % left raw (cron makes it a newline)",
        Q,
        """return "\\\\%".join(shell_quote(part) for part in text.split("%"))""",
        """return shell_quote(text)""",
        QT,
    ),
    Mutant(
        "powershell: curly single quotes not doubled",
        Q,
        '''PS_SINGLE_QUOTES = "'\\u2018\\u2019\\u201a\\u201b"''',
        '''PS_SINGLE_QUOTES = "'"''',
        QT,
    ),
    Mutant(
        "bacula: backslash not escaped",
        Q,
        """return text.replace("\\\\", "\\\\\\\\").replace('"', '\\\\"')""",
        """return text.replace('"', '\\\\"')""",
        QT,
    ),
    Mutant(
        "markdown: pipe not escaped",
        Q,
        """_MD_PUNCT = re.compile(r"([!-/:-@\\[-`{-~])")""",
        """_MD_PUNCT = re.compile(r"([!-/:-@\\[-`{])")""",
        QT,
    ),
    Mutant(
        "csv: a leading @ not made inert",
        Q,
        """_CSV_TRIGGERS = ("=", "+", "-", "@", """,
        """_CSV_TRIGGERS = ("=", "+", "-", """,
        QT,
    ),
    Mutant(
        "slug: a kept name may look like a hashed one",
        Q,
        """len(name) <= SLUG_MAX and not _HASHED.search(name):""",
        """len(name) <= SLUG_MAX:""",
        QT,
    ),
    Mutant(
        "visible: bidirectional overrides and other format characters passed through",
        "stagger/errors.py",
        '    return bool(_UNSAFE.match(ch)) or unicodedata.category(ch) == "Cf"',
        """    return bool(_UNSAFE.match(ch))""",
        (*QT, "tests/exporters/test_hostile.py"),
    ),
    # --- loaders ---------------------------------------------------------------------------
    Mutant(
        "yaml: duplicate keys accepted (the last one silently wins)",
        "stagger/sources/reading.py",
        """                if key in seen:
                    raise""",
        """                if key in seen and False:
                    raise""",
        ("tests/sources/test_yamlfile.py", "tests/sources/test_hostile_inputs.py"),
    ),
    Mutant(
        "rvtools: the port is part of the vCenter's name",
        "stagger/sources/rvtools.py",
        """    elif s.count(":") == 1:
        s = s.split(":", 1)[0]""",
        """    elif s.count(":") == 2:
        s = s.split(":", 1)[0]""",
        ("tests/sources/test_rvtools.py",),
    ),
    # --- solvers: each CP-SAT family, the weights, the bound --------------------------------
    Mutant(
        "cpsat: a resource of capacity c holds c + 1 jobs",
        "stagger/solve/blocks.py",
        """[u for _, _, u in occupied], capacity)""",
        """[u for _, _, u in occupied], capacity + 1)""",
        ("tests/solve/test_blocks.py", "tests/solve/test_cpsat_families.py"),
    ),
    Mutant(
        "cpsat: a single-slot resource not limited at all",
        "stagger/solve/blocks.py",
        """    if capacity == 1:
        m.add_no_overlap([*intervals, *fixed])""",
        """    if capacity == 1:
        pass""",
        ("tests/solve/test_blocks.py", "tests/solve/test_cpsat_families.py"),
    ),
    Mutant(
        "weights: a goal's weight does not outweigh the goal below at its largest",
        "stagger/solve/blocks.py",
        """            weight *= largest + 1""",
        """            weight *= largest""",
        ("tests/solve/test_blocks.py", "tests/solve/test_stability.py"),
    ),
    Mutant(
        "bound: Hall's condition ignored",
        "stagger/solve/bounds.py",
        """    hall, why = hall_bound(inst, best)
    if hall > best:""",
        """    hall, why = hall_bound(inst, best)
    if False:""",
        ("tests/solve/test_claims.py", "tests/test_planner.py"),
    ),
    Mutant(
        "bound: a resource's capacity counted once too often",
        "stagger/solve/bounds.py",
        """        fits = cap * free >= load
        bound = int(np.searchsorted(cs * cap, load, side="left")) if fits else len(cs)""",
        """        fits = (cap + 1) * free >= load
        bound = int(np.searchsorted(cs * (cap + 1), load, side="left")) if fits else len(cs)""",
        (
            "tests/solve/test_bounds.py",
            "tests/solve/test_claims.py",
            "tests/solve/test_exact_crosscheck.py",
        ),
    ),
    # --- audit -------------------------------------------------------------------------
    Mutant(
        "audit: a snapshot exactly over the age limit not reported",
        "stagger/audit.py",
        """                if age > s.snapshot_age_days:""",
        """                if age > s.snapshot_age_days + 1:""",
        ("tests/test_audit.py",),
    ),
    Mutant(
        "audit: large snapshots never reported",
        "stagger/audit.py",
        """            if snap.size_gib is not None and snap.size_gib > s.snapshot_size_gib:""",
        """            if snap.size_gib is not None and snap.size_gib < 0:""",
        ("tests/test_audit.py",),
    ),
    # --- issue 12: the rules reshaped into rules.py / validate.py / instance.py ---------------
    # validator
    Mutant(
        "validate: a job marked night 1 that lies in night 0 not reported",
        V,
        """        elif occ.index != job.night:""",
        """        elif occ.index > job.night:""",
        VT,
    ),
    Mutant(
        "validate: a job for an excluded VM or a template not reported",
        V,
        """        if not needs_job(vm):
            out.append(f"job {job.vm}: VM is excluded""",
        """        if False:
            out.append(f"job {job.vm}: VM is excluded""",
        VT,
    ),
    Mutant(
        "validate: a job's datastores compared by count only",
        V,
        """    if set(job.datastores) != set(datastores):""",
        """    if len(job.datastores) != len(datastores):""",
        VT,
    ),
    Mutant(
        "validate: a resource holds one job over its capacity unreported",
        V,
        """            if len(running) > capacity and not over:""",
        """            if len(running) > capacity + 1 and not over:""",
        VT,
    ),
    Mutant(
        "validate claims: a lower bound above the makespan accepted",
        V,
        """        if bound > span:
            out.append(""",
        """        if False:
            out.append(""",
        VT,
    ),
    Mutant(
        "validate claims: OPTIMAL with a gap accepted",
        V,
        """        if schedule.solver.status == "OPTIMAL" and schedule.gap_pct > 0:""",
        """        if schedule.solver.status == "OPTIMAL" and schedule.gap_pct > 100:""",
        VT,
    ),
    Mutant(
        "validate claims: a gap that disagrees with makespan and bound accepted",
        V,
        """            if abs(schedule.gap_pct - gap) > 0.011:
                out.append(
                    f"gap_pct""",
        """            if False:
                out.append(
                    f"gap_pct""",
        VT,
    ),
    # compiler
    Mutant(
        "instance: an off-grid blackout's start rounded inward (up)",
        "stagger/instance.py",
        """                lo = n.start + math.floor(""",
        """                lo = n.start + math.ceil(""",
        ("tests/test_instance.py",),
    ),
    Mutant(
        "instance: an off-grid blackout's end rounded inward (down)",
        "stagger/instance.py",
        """                hi = n.start + math.ceil(""",
        """                hi = n.start + math.floor(""",
        ("tests/test_instance.py",),
    ),
    Mutant(
        "instance: pinned: true ignored",
        "stagger/instance.py",
        """if baseline_starts and vm.pinned else None""",
        """if False else None""",
        (
            "tests/test_instance.py",
            f"{ST}::test_pinned_true_holds_a_vm_that_would_move_if_unpinned",
        ),
    ),
    # rules
    Mutant(
        "rules: a datastore's own max_jobs dropped (the policy's limit used)",
        "stagger/rules.py",
        """        return idx.datastores[res.name].max_jobs or policy_limit(res.kind, policy)""",
        """        return policy_limit(res.kind, policy)""",
        ("tests/test_rules.py", "tests/test_instance.py", *VT),
    ),
    Mutant(
        "rules: a job's RAID groups dropped from its resources",
        "stagger/rules.py",
        """    out += [ResourceRef("raid_group", g) for g in idx.raid_groups_of(vm)]""",
        """    out += []""",
        ("tests/test_rules.py", "tests/test_instance.py", *VT),
    ),
    # stability and explain
    Mutant(
        "stability: total shift weighted above the moved jobs",
        "stagger/solve/baseline.py",
        """        g.add("moved", sum(moved), len(moved))
        if with_shift:
            g.add("shift", sum(shifts), sum(shift_reach))""",
        """        if with_shift:
            g.add("shift", sum(shifts), sum(shift_reach))
        g.add("moved", sum(moved), len(moved))""",
        (f"{ST}::test_fewer_moved_jobs_beat_less_total_shift",),
    ),
    Mutant(
        "explain: the deletion filter skipped (the first conflict set kept as is)",
        "stagger/solve/explain.py",
        """    for key in sorted(core):
        trial = core - {key}""",
        """    for key in sorted(core)[:0]:
        trial = core - {key}""",
        ("tests/solve/test_explain.py",),
    ),
    # exporters, loaders, calendar
    Mutant(
        "markdown: the end column shows the start",
        "stagger/exporters/markdown.py",
        """{local(s, j.end):%H:%M}""",
        """{local(s, j.start):%H:%M}""",
        ("tests/exporters/test_markdown.py",),
    ),
    Mutant(
        "rvtools: a semicolon never taken as the delimiter",
        R,
        """    counts = {d: header.count(d) for d in (",", ";", "\\t")}""",
        """    counts = {d: header.count(d) for d in (",", "\\t")}""",
        RT,
    ),
    Mutant(
        "rvtools: a decimal comma read as a thousands separator",
        R,
        """.replace(",", ".") if decimal == "," else""",
        """.replace(",", ".") if False else""",
        RT,
    ),
    Mutant(
        "rvtools: Windows-1252 text decoded as Latin-1",
        R,
        """        encodings = ("utf-8-sig", "cp1252")""",
        """        encodings = ("utf-8-sig", "latin-1")""",
        RT,
    ),
    Mutant(
        "calendar: an RRULE's zone-aware dtstart not converted to the policy's zone",
        "stagger/calendar.py",
        """        anchor = anchor.astimezone(policy.tz).replace(tzinfo=None)""",
        """        anchor = anchor.replace(tzinfo=None)""",
        ("tests/test_calendar.py",),
    ),
    # planner
    Mutant(
        "planner: the lower bound clamped to the makespan again",
        "stagger/planner.py",
        """    lb = max(bound.makespan, proven_makespan)""",
        """    lb = min(max(bound.makespan, proven_makespan), makespan)""",
        PT,
    ),
    Mutant(
        "planner: a bound above a complete plan's makespan not reported (BoundViolation)",
        "stagger/planner.py",
        """    if not sol.dropped and inst.jobs and lb > makespan:""",
        """    if False:""",
        PT,
    ),
]
