"""Fuzz every file loader, and everything downstream of an input that loads.

One *target* per loader (topology YAML/JSON, policy, RAID map YAML/CSV, schedule JSON,
RVTools CSV folder and xlsx). A target has real seed files (the bundled examples, RVTools
tabs and RAID maps generated from them, a schedule planned from them) and runs one input:

1. write the bytes to a file and call the loader;
2. if it loads: plan (greedy, for speed), render every export format, write the schedule
   JSON and read it back (``load_schedule`` + ``validate``), dump a topology as YAML and read
   it back.

The only acceptable failures are :class:`~stagger.errors.StaggerError` with one line per
problem (the CLI's documented exit codes 1-4). Anything else is a *crash*, keyed by a
signature (exception type and the innermost frame in stagger, or the frame that raised),
so that a thousand inputs hitting one bug count as one bug.

Inputs come from two mutators over the seeds, both driven by a ``random.Random`` so that
hypothesis (tests/fuzz/test_fuzz.py) and the long runner (benchmarks/fuzz.py) share them:
byte mutation (flips, inserts, deletes, splices of YAML/CSV tokens and hostile strings) and
structured mutation (parse the seed, replace/delete/add values with hostile ones, write it
back in the same format).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import random
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FIXED_NOW = datetime(2026, 11, 1, 12, 0)

# Values that broke loaders before, or might: controls, markup, huge and odd numbers,
# dates at the ends of the calendar, YAML specials.
HOSTILE_STRINGS = [
    "",
    " ",
    "a\nb",
    "a\r\nb",
    "\x00",
    "\x1b[31mred",
    "\x85",
    "\u2028",
    "\u202e",
    "[/x]",
    "[bold]",
    "<!--",
    "</script>",
    "'",
    '"',
    "\u2019",
    "$(id)",
    "`id`",
    "%",
    "#>",
    "=cmd",
    "@SUM(1)",
    "constructor",
    "__proto__",
    "x" * 1000,
    "Europe",
    "Europe/Berlin",
    "../../etc/passwd",
    "FREQ=SECONDLY",
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYHOUR=25",
    "FREQ=DAILY;COUNT=99999999999",
    "PT99999999999H",
    "99999999999d",
    "1h30m",
    "0m",
    "24:00",
    "23:59",
    "0001-01-01",
    "9999-12-31",
    "2026-12-01T22:00+01:00",
    "2026-12-01T22:00",
    "2001-02-30",
    "1e308",
    "-1",
    "naa.*",
    "*",
    "[",
    "DS-01",
    "esx01",
    "RG-1",
    "vm-1",
    "\ud800",
]
HOSTILE_VALUES: list[Any] = [
    *HOSTILE_STRINGS,
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**63,
    10**400,
    0.0,
    -0.0,
    1e-300,
    1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    [],
    {},
    [None],
    {"name": None},
    [{"a": 1}],
]
TOKENS = [
    b"\n",
    b"\r\n",
    b" ",
    b"  ",
    b"- ",
    b": ",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b";",
    b'"',
    b"'",
    b"&a ",
    b"*a",
    b"!!",
    b"!!python/object:os.system ",
    b"!!timestamp ",
    b"!!binary ",
    b"!!set ",
    b"<<: ",
    b"? ",
    b"|",
    b">",
    b"#",
    b"%YAML 1.1\n",
    b"---\n",
    b"...\n",
    b"\t",
    b"\x00",
    b"\x85",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xa8",
    b"9" * 5000,
    b"1e308",
    b".inf",
    b".nan",
    b"null",
    b"~",
    b"true",
    b"0x7fffffffffffffff",
    b"2147483648",
    b"0001-01-01",
    b"9999-12-31T23:59:59",
    b"2026-12-01T22:00+01:00",
    b"FREQ=SECONDLY",
    b"BYSETPOS=-1",
]


@dataclass
class Outcome:
    loaded: bool = False
    """The loader accepted the input (then the pipeline ran)."""
    refused: str | None = None
    """The first line of a StaggerError, if the input was refused (anywhere)."""
    crash: str | None = None
    """A crash signature, if something other than a one-line StaggerError came out."""
    detail: str = ""


@dataclass
class Target:
    name: str
    suffix: str
    """File suffix, or "/" for a folder of CSV tabs."""
    seeds: Callable[[], list[bytes]]
    load: Callable[[Path], Callable[[], None]]
    """Load the file at the path; return what exercises everything downstream of it."""
    fmt: str = "yaml"
    """yaml, json, csv, csvdir or xlsx: how the structured mutator parses and writes seeds."""
    extra: dict[str, Any] = field(default_factory=dict)


# --- seeds -----------------------------------------------------------------------------------


@cache
def _minimal_topology_data() -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / "minimal" / "topology.yaml").read_text())
    assert isinstance(data, dict)
    return data


@cache
def _plain_policy_text() -> str:
    """The minimal policy without scoped blackouts: any estate can be planned under it."""
    data = yaml.safe_load((EXAMPLES / "minimal" / "policy.yaml").read_text())
    data["blackouts"] = [b for b in data["blackouts"] if b.get("scope") in (None, "global")] + [
        {"name": "global-1", "rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "duration": "15m"}
    ]
    return yaml.safe_dump(data, sort_keys=False)


def _read(path: Path) -> bytes:
    return path.read_bytes()


def topology_seeds() -> list[bytes]:
    return [
        _read(EXAMPLES / "minimal" / "topology.yaml"),
        _read(EXAMPLES / "estate" / "topology.yaml"),
    ]


def topology_json_seeds() -> list[bytes]:
    return [json.dumps(_minimal_topology_data(), default=str, indent=1).encode()]


def _tiered_policy_text() -> str:
    """The tiered policy of docs/tiers.md: every tier field, every full form."""
    docs = (EXAMPLES.parent / "docs" / "tiers.md").read_text()
    return docs.split("```yaml\n", 1)[1].split("```", 1)[0]


def policy_seeds() -> list[bytes]:
    return [
        _read(EXAMPLES / "minimal" / "policy.yaml"),
        _plain_policy_text().encode(),
        _tiered_policy_text().encode(),
    ]


def raidmap_yaml_seeds() -> list[bytes]:
    return [
        b"raid_groups:\n  RG-A: [naa.600a098038303600000000001, DS-02]\n",
        b"raid_groups:\n  RG-A:\n    members: ['DS-0[1-2]']\n    max_jobs: 2\n  RG-B: [naa.*]\n",
    ]


def raidmap_csv_seeds() -> list[bytes]:
    return [
        b"# array pools\nraid_group,member\nRG-A,naa.600a098038303600000000001\nRG-B,DS-02\n",
        b"\xef\xbb\xbfraid_group,member\r\nRG-A,DS-*\r\n",
    ]


@cache
def schedule_seed() -> bytes:
    from stagger.planner import PlanOptions, plan
    from stagger.sources.yamlfile import load_inputs

    topo, pol = load_inputs(
        EXAMPLES / "minimal" / "topology.yaml", EXAMPLES / "minimal" / "policy.yaml"
    )
    result = plan(topo, pol, PlanOptions(solver="greedy"))
    return result.schedule.model_dump_json(indent=1).encode()


def schedule_seeds() -> list[bytes]:
    return [schedule_seed()]


INFO = [
    "VM",
    "Powerstate",
    "Template",
    "Host",
    "Cluster",
    "Datacenter",
    "Provisioned MiB",
    "In Use MiB",
    "Path",
    "VM ID",
    "VM UUID",
    "VI SDK Server",
    "Folder",
]
DISK = ["VM", "Disk", "Capacity MiB", "Path", "VM ID", "VI SDK Server"]
DATASTORE = ["Name", "Capacity MiB", "Address", "VI SDK Server"]
HOST = ["Host", "Cluster", "Datacenter", "VI SDK Server"]


RVTOOLS_SEED_VMS = 12
"""VMs of the estate example in the RVTools seed: enough for every column shape (several
disks and datastores per VM, 7 hosts, 15 datastores), small enough that an input that
loads is planned and exported in ~50 ms: the loader's throughput, not the seed's size,
finds bugs."""


@cache
def rvtools_tabs() -> dict[str, list[list[Any]]]:
    """RVTools tabs for the bundled estate example (the real export's shape: the server
    spelt with a scheme in vInfo/vHost, without in vDisk, empty in vDatastore)."""
    data = yaml.safe_load((EXAMPLES / "estate" / "topology.yaml").read_text())
    cluster_of = {h["name"]: h.get("cluster", "") for h in data["hosts"]}
    info, disk = [INFO], [DISK]
    for n, vm in enumerate(data["vms"][:RVTOOLS_SEED_VMS]):
        size_mib = sum(d["size_gib"] for d in vm["disks"]) * 1024
        first = vm["disks"][0].get("datastore", "DS-01")
        info.append(
            [
                vm["name"],
                "poweredOn",
                "False",
                vm["host"],
                cluster_of.get(vm["host"], ""),
                "DC1",
                round(size_mib),
                round(size_mib / 2),
                f"[{first}] {vm['name']}/{vm['name']}.vmx",
                f"vm-{n + 1}",
                f"4210{n:04d}-0000-0000-0000-000000000000",
                "https://vc1.example.com",
                "prod",
            ]
        )
        for i, d in enumerate(vm["disks"]):
            disk.append(
                [
                    vm["name"],
                    f"Hard disk {i + 1}",
                    round(d["size_gib"] * 1024),
                    f"[{d.get('datastore', 'DS-01')}] {vm['name']}/{vm['name']}_{i}.vmdk",
                    f"vm-{n + 1}",
                    "vc1.example.com",
                ]
            )
    stores = [DATASTORE] + [
        [d["name"], round(d.get("capacity_gib", 1024) * 1024), d.get("naa", ""), ""]
        for d in data["datastores"]
    ]
    hosts = [HOST] + [
        [h["name"], h.get("cluster", ""), "DC1", "https://vc1.example.com"] for h in data["hosts"]
    ]
    return {"vInfo": info, "vDisk": disk, "vDatastore": stores, "vHost": hosts}


def _csv_bytes(rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8-sig", "surrogatepass")


@cache
def rvtools_csv_seeds() -> list[bytes]:
    """A folder of tabs, packed as one JSON document {tab: csv text} (unpacked by run)."""
    tabs = rvtools_tabs()
    packed = {name: _csv_bytes(rows).decode("utf-8") for name, rows in tabs.items()}
    return [json.dumps(packed).encode()]


def xlsx_bytes(tabs: dict[str, list[list[Any]]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in tabs.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append([_cell_value(v) for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _cell_value(v: Any) -> Any:
    # openpyxl refuses what a cell cannot hold; keep the hostile value as text then.
    if v is None or isinstance(v, bool | int | float | datetime):
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53:
            return str(v)
        return v
    if isinstance(v, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return ILLEGAL_CHARACTERS_RE.sub("?", v)[:32767]
    return str(v)


@cache
def rvtools_xlsx_seeds() -> list[bytes]:
    # Cached: openpyxl stamps the save time into the file, and hypothesis needs the same
    # seed bytes every time it replays an input.
    return [xlsx_bytes(rvtools_tabs())]


# --- running one input -----------------------------------------------------------------------


def _plain_policy() -> Any:
    from stagger.model.policy import Policy

    return Policy.model_validate(yaml.safe_load(_plain_policy_text()))


def exercise(topo: Any, pol: Any, workdir: Path) -> None:
    """Plan (greedy), every export, and read-backs of the schedule and the topology.

    Skipped when this process already ran the same topology and policy through it without
    a crash: everything here is deterministic (greedy solver, fixed clock), so a second run
    could only repeat the first one's result. Most mutations of a large seed change bytes
    the loader drops or normalises; the loader itself still runs on every input."""
    from stagger.exporters.jsoncsv import schedule_csv, write_json
    from stagger.exporters.registry import ExportOptions, formats, render
    from stagger.model.topology import Topology
    from stagger.planner import PlanOptions, plan
    from stagger.sources.yamlfile import dump_yaml, load_schedule, parse_model
    from stagger.validate import validate

    key = hashlib.sha256(
        topo.model_dump_json().encode("utf-8", "surrogatepass")
        + b"\0"
        + pol.model_dump_json().encode("utf-8", "surrogatepass")
    ).digest()
    if key in _EXERCISED:
        return
    # The C loader where PyYAML has it: the read-back checks stagger's dump, not PyYAML's
    # pure-Python parser, which would be most of the time spent here.
    again = parse_model(Topology, yaml.load(dump_yaml(topo), Loader=_CLoader), "topology read-back")
    if again != topo:
        raise AssertionError("topology changed through dump_yaml + load")
    result = plan(topo, pol, PlanOptions(solver="greedy", time_limit_s=5))
    sched = result.schedule
    for name in formats():
        render(sched, name, ExportOptions(now=FIXED_NOW))
    for name in PER_VM_FORMATS:
        render(sched, name, ExportOptions(now=FIXED_NOW, per_vm=True))
    schedule_csv(sched)
    out = workdir / "plan.json"
    write_json(sched, out)
    back = load_schedule(out)
    validate(back, file=str(out))
    _EXERCISED.add(key)


PER_VM_FORMATS = ("veeam", "bacula")
"""The exporters that read ``ExportOptions.per_vm`` (one job per VM): rendered both ways."""

_EXERCISED: set[bytes] = set()
"""Topology + policy digests that went through :func:`exercise` without a crash."""


def _write_input(target: Target, data: bytes, workdir: Path) -> Path:
    if target.fmt == "csvdir":
        folder = workdir / "rv"
        folder.mkdir()
        try:
            packed = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            packed = None
        if isinstance(packed, dict):
            for name, text in packed.items():
                if isinstance(name, str) and isinstance(text, str):
                    safe = "".join(c for c in name if c.isalnum())[:20] or "x"
                    (folder / f"RVTools_tab{safe}.csv").write_bytes(
                        text.encode("utf-8", "surrogatepass")
                    )
        else:  # not a packed folder any more: one raw CSV tab
            (folder / "RVTools_tabvInfo.csv").write_bytes(data)
        return folder
    path = workdir / f"input{target.suffix}"
    path.write_bytes(data)
    return path


def signature(exc: BaseException) -> str:
    """Exception type plus the innermost stagger frame (or the raising frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/stagger/" in f.filename.replace("\\", "/")]
    frame = ours[-1] if ours else (frames[-1] if frames else None)
    where = ""
    if frame is not None:
        short = frame.filename.replace("\\", "/")
        short = short[short.rfind("/stagger/") + 1 :] if "/stagger/" in short else Path(short).name
        where = f" at {short}:{frame.lineno} ({frame.name})"
    return f"{type(exc).__name__}{where}"


def run_input(target: Target, data: bytes) -> Outcome:
    """Run one input through the target; classify the result."""
    from stagger.errors import StaggerError

    with tempfile.TemporaryDirectory(prefix="stagger-fuzz-") as tmp:
        workdir = Path(tmp)
        out = Outcome()
        try:
            path = _write_input(target, data, workdir)
            downstream = target.load(path)
            out.loaded = True
            downstream()
        except StaggerError as exc:
            lines = exc.lines()
            out.refused = lines[0] if lines else "(empty)"
            bad = [ln for ln in lines if "\n" in ln or "\r" in ln or not ln.strip()]
            if bad or "\n" in str(exc):
                out.crash = f"multi-line error from {type(exc).__name__}"
                out.detail = repr(lines[:3])
        except RecursionError as exc:
            out.crash = signature(exc)
            out.detail = "RecursionError"
        except Exception as exc:
            out.crash = signature(exc)
            out.detail = f"{type(exc).__name__}: {str(exc)[:300]}"
        return out


# --- the targets -----------------------------------------------------------------------------


Downstream = Callable[[], None]


def _run_topology(path: Path) -> Downstream:
    from stagger.sources.yamlfile import load_topology

    topo = load_topology(path)
    return lambda: exercise(topo, _plain_policy(), path.parent)


def _run_policy(path: Path) -> Downstream:
    from stagger.cycle import cycle_jobs
    from stagger.sources.yamlfile import load_topology, with_policy
    from stagger.tiers import tier_warnings

    topo = load_topology(EXAMPLES / "minimal" / "topology.yaml")
    topo, pol = with_policy(topo, path)
    tier_warnings(pol, topo)
    cycle_jobs(topo, pol)  # the jobs of the cycle of any policy that loads
    return lambda: exercise(topo, pol, path.parent)


def _run_raidmap(path: Path) -> Downstream:
    from stagger.sources.raidmap import apply_raid_map_file
    from stagger.sources.yamlfile import load_topology

    topo = load_topology(EXAMPLES / "minimal" / "topology.yaml")
    result = apply_raid_map_file(topo, path)
    return lambda: exercise(result.topology, _plain_policy(), path.parent)


def _run_schedule(path: Path) -> Downstream:
    from stagger.exporters.registry import ExportOptions, formats, render
    from stagger.sources.yamlfile import load_schedule
    from stagger.validate import validate

    sched = load_schedule(path)

    def downstream() -> None:
        validate(sched, file=str(path))
        for name in formats():
            render(sched, name, ExportOptions(now=FIXED_NOW))

    return downstream


def _run_rvtools(path: Path) -> Downstream:
    from stagger.sources.rvtools import load_rvtools

    inv = load_rvtools(path)
    for w in inv.warnings:
        if "\n" in w or "\r" in w:
            raise AssertionError(f"multi-line warning {w[:80]!r}")
    return lambda: exercise(inv.topology, _plain_policy(), path.parent)


def infrastructure_seeds() -> list[bytes]:
    return [_read(EXAMPLES / "infra" / "infrastructure.yaml")]


def _run_infrastructure(path: Path) -> Downstream:
    from stagger.infrastructure import check_infrastructure
    from stagger.sources.yamlfile import load_infrastructure, load_inputs

    infra = load_infrastructure(path)
    topo, pol = load_inputs(
        EXAMPLES / "estate" / "topology.yaml", EXAMPLES / "estate" / "policy.yaml"
    )

    def downstream() -> None:
        # Not planned yet: the checks against an estate are what reads the file.
        report = check_infrastructure(infra, topo, pol, infra_file=str(path))
        for line in report.warnings + list(report.unreached.values()):
            if "\n" in line or "\r" in line:
                raise AssertionError(f"multi-line line {line[:80]!r}")
        for err in report.errors:
            for line in err.lines():
                if "\n" in line or "\r" in line:
                    raise AssertionError(f"multi-line error {line[:80]!r}")

    return downstream


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("topology", ".yaml", topology_seeds, _run_topology),
        Target("topology-json", ".json", topology_json_seeds, _run_topology, fmt="json"),
        Target("policy", ".yaml", policy_seeds, _run_policy),
        Target("raidmap-yaml", ".yaml", raidmap_yaml_seeds, _run_raidmap),
        Target("raidmap-csv", ".csv", raidmap_csv_seeds, _run_raidmap, fmt="csv"),
        Target("schedule", ".json", schedule_seeds, _run_schedule, fmt="json"),
        Target("rvtools-csv", "/", rvtools_csv_seeds, _run_rvtools, fmt="csvdir"),
        Target("rvtools-xlsx", ".xlsx", rvtools_xlsx_seeds, _run_rvtools, fmt="xlsx"),
        Target("infrastructure", ".yaml", infrastructure_seeds, _run_infrastructure),
    )
}


# --- mutators --------------------------------------------------------------------------------


def mutate_bytes(data: bytes, rng: random.Random, rounds: int | None = None) -> bytes:
    """A few random byte-level edits: flips, inserts, deletes, token splices, duplication."""
    buf = bytearray(data)
    # Mostly one or two edits: most inputs should still parse, so that the checks after
    # parsing (models, references, planning, exports) get exercised too.
    for _ in range(rounds if rounds is not None else rng.choice([1, 1, 1, 2, 2, 3, 6])):
        op = rng.randrange(7)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and buf:
            n = rng.randint(1, 32)
            del buf[pos : pos + n]
        elif op == 3 and buf:
            i = rng.randrange(len(buf))
            n = rng.randint(1, 64)
            buf[pos:pos] = buf[i : i + n]
        elif op == 4:
            s = rng.choice(HOSTILE_STRINGS).encode("utf-8", "surrogatepass")
            buf[pos:pos] = s
        elif op == 5 and buf:
            i = rng.randrange(len(buf))
            buf[i] = rng.randrange(256)
        else:  # replace a line with another line of the input
            lines = bytes(buf).split(b"\n")
            if len(lines) > 1:
                a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[a] = lines[b]
                buf = bytearray(b"\n".join(lines))
    return bytes(buf)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def mutate_data(data: Any, rng: random.Random) -> Any:
    """Structured edits of parsed data: hostile values, deletions, additions, duplicates."""
    data = copy.deepcopy(data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = _paths(data)
        path = rng.choice(paths)
        if not path:
            continue
        parent = _get(data, path[:-1])
        key = path[-1]
        op = rng.randrange(7)
        if op == 0:
            parent[key] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif op <= 2:  # a value from elsewhere in the same document: often still valid
            other = rng.choice(paths)
            if other[: len(path)] != path:
                parent[key] = copy.deepcopy(_get(data, other))
        elif op == 3:
            del parent[key]
        elif op == 4:
            if isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            else:
                parent[
                    rng.choice(
                        ["nmae", "dsks", "extra", "pin", "dtstart", str(key) + "s", str(key)[:-1]]
                    )
                ] = copy.deepcopy(parent[key])
        else:
            value = parent[key]
            if isinstance(value, str):
                parent[key] = value + rng.choice(HOSTILE_STRINGS)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                parent[key] = rng.choice([value * 10**6, -value, value + 0.5, str(value)])
    return data


def _dump(data: Any, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(data, default=str).encode("utf-8", "surrogatepass")
    try:  # libyaml's emitter: the pure-Python one was most of the harness's own time
        text = yaml.dump(data, Dumper=_CDumper, allow_unicode=True, sort_keys=False)
    except UnicodeEncodeError:  # a lone surrogate: only the pure-Python emitter writes it
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return text.encode("utf-8", "surrogatepass")


_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@cache
def _parsed_seed(seed: bytes, fmt: str) -> Any:
    """A seed parsed once (mutate_data edits a deep copy)."""
    if fmt == "yaml":
        return yaml.load(seed, Loader=_CLoader)
    return json.loads(seed)


def mutate_structured(target: Target, seed: bytes, rng: random.Random) -> bytes:
    """Parse the seed the way its format is, edit it, write it back."""
    if target.fmt in ("yaml", "json"):
        return _dump(mutate_data(_parsed_seed(seed, target.fmt), rng), target.fmt)
    if target.fmt == "csv":
        rows = list(csv.reader(io.StringIO(seed.decode("utf-8-sig"))))
        rows = mutate_data(rows, rng)
        return _csv_bytes([r if isinstance(r, list) else [r] for r in rows])
    tabs = copy.deepcopy(rvtools_tabs())
    name = rng.choice(list(tabs))
    tabs[name] = [
        r if isinstance(r, list) else [r] for r in mutate_data(tabs[name], rng) if r is not None
    ]
    if target.fmt == "csvdir":
        packed = {n: _csv_bytes(rows).decode("utf-8", "surrogatepass") for n, rows in tabs.items()}
        return json.dumps(packed).encode()
    return xlsx_bytes(tabs)


def mutate_xlsx_member(seed: bytes, rng: random.Random) -> bytes:
    """Byte-mutate one XML part of the workbook and zip it again (a corrupted sheet)."""
    src = zipfile.ZipFile(io.BytesIO(seed))
    names = src.namelist()
    victim = rng.choice([n for n in names if n.endswith(".xml")] or names)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for n in names:
            body = src.read(n)
            dst.writestr(n, mutate_bytes(body, rng) if n == victim else body)
    return out.getvalue()


def make_input(target: Target, rng: random.Random) -> bytes:
    """One fuzz input for ``target``: a seed through a randomly chosen mutator."""
    seed = rng.choice(target.seeds())
    mode = rng.randrange(3)
    if mode == 0:
        return mutate_structured(target, seed, rng)
    if target.fmt == "xlsx" and mode == 1:
        return mutate_xlsx_member(seed, rng)
    return mutate_bytes(seed, rng)
