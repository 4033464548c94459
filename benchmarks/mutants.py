"""The hand-chosen mutants of benchmarks/mutation.py: one broken rule each, and its tests.

A mutant's ``old`` text must occur exactly once in its file; when the code moves, the run
reports it *stale* (update it here rather than dropping it).
"""

from __future__ import annotations

from benchmarks.mutation import Mutant

Q = "stagger/exporters/quoting.py"
QT = ("tests/exporters/test_quoting.py",)

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
        ("tests/solve/test_claims.py", "tests/solve/test_exact_crosscheck.py"),
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
]
