"""A self-contained HTML Gantt page of the plan: no CDN, no fetch, works from a USB stick.

Built for a change board: summary figures, a night selector (one button per night with its job
count and how full its window is, or all nights side by side), lanes per ESXi host, datastore
or RAID group (switchable; a job on several datastores shows on each of their lanes), blackouts
shaded on the lanes they cover, window edges marked, a legend of the cluster colours, details
on hover, and under the Gantt a load chart: jobs running against the limit over time for the
whole estate and the busiest resources of the nights shown. Positions are minutes from each
night's window start, taken from the validated schedule; blackouts come from
:func:`stagger.calendar.blackout_intervals` and :func:`stagger.scope.affected_vms`.

A tiered schedule (several jobs per VM, each ``full`` or ``incremental``) adds, in a style
and a script of their own that a single-regime page does not carry (it stays byte for byte
what it was): each bar's level as a pattern (incrementals striped) *and* as text (``F``/``I``
before the name, level and tier in the tooltip), a legend of both, and a per-night chart of
full and incremental backup minutes (stacked bars with their numbers, the night's makespan and
job counts, and the same figures as a table) so an admin sees whether the week is balanced.

A schedule planned with an infrastructure file (``--infra``) adds two lane views, per backup
proxy and per repository (a job shows on the lane of its proxy and of its repository), and its
proxy, transport mode and repository in the tooltip. Like the tiered additions, they are
only on such a page: the JSON gains ``proxy``/``repository``/``mode`` per job, the select two
options, and the script (:func:`_infra_js`) two labels and two tooltip lines.

Names are data, never markup: the page embeds them with :func:`json_for_script` and the script
puts them into the page with ``textContent`` / ``setAttribute`` only (no ``innerHTML``), and
keeps lanes in a ``Map`` so that a host called ``__proto__`` or ``constructor`` is just a name.
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from collections.abc import Container
from datetime import datetime, timedelta
from typing import Any

from stagger.calendar import blackout_intervals
from stagger.errors import InvalidScheduleError
from stagger.exporters._common import (
    has_infrastructure,
    local,
    peak_concurrency,
    repeat_of,
    utc,
)
from stagger.exporters.options import ExportOptions
from stagger.fmt import use_amount
from stagger.model.schedule import Night, Schedule, ScheduledJob
from stagger.model.topology import TopologyIndex
from stagger.rules import ResourceRef, capacity, policy_limit
from stagger.scope import affected_vms
from stagger.tiers import is_tiered

NO_DATASTORE = "(no datastore)"
NO_RAID_GROUP = "(no RAID group)"
NO_CLUSTER = "(no cluster)"
NO_PROXY = "(no proxy)"
NO_REPOSITORY = "(no repository)"
# Resources drawn in the load chart per view (a night, or the whole cycle): enough to show
# where the plan is tight, few enough that the chart stays one screen.
LOAD_TOP = 5

# Characters that must not appear raw in a <script> block. The HTML tokenizer ends a script
# at "</script" and switches into its "escaped" states at "<!--" whatever JSON thinks, so "<"
# and ">" go out as \u escapes (the same characters to JSON.parse; outside strings JSON never
# holds them); "&" for pages read as XHTML; U+2028/2029 so the text is also a valid JS literal.
_SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def json_for_script(data: Any) -> str:
    """``data`` as JSON that can sit inside ``<script type="application/json">`` whatever its
    strings hold, and that ``JSON.parse`` reads back unchanged."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # One str.replace per character: each is a single C-level pass over the text.
    for char, escape in _SCRIPT_ESCAPES:
        text = text.replace(char, escape)
    return text


def _finite(x: float) -> float | None:
    """A number JSON.parse accepts (NaN/inf are not JSON): rounded, or None."""
    return round(x, 2) if math.isfinite(x) else None


def _minutes(a: datetime, b: datetime) -> float:
    return (utc(b) - utc(a)).total_seconds() / 60


def _ticks(schedule: Schedule, night: Night) -> list[list[Any]]:
    """Local quarter hours inside the window, as [minute offset, "HH:MM", local minute of day]
    (DST nights included: a repeated hour shows twice). The page picks which to label from its
    pixel width, by the minute of day, so that labels fall on round local times."""
    out: list[list[Any]] = []
    t = utc(night.window_start).replace(second=0, microsecond=0)
    if t < utc(night.window_start):
        t += timedelta(minutes=1)
    end = utc(night.window_end)
    # Every zone's offset is a whole number of quarter hours today, so after the first local
    # quarter hour the next ones are 15 minutes apart in UTC too.
    while t <= end and local(schedule, t).minute % 15:
        t += timedelta(minutes=1)
    while t <= end:
        lt = local(schedule, t)
        out.append(
            [round(_minutes(night.window_start, t), 2), f"{lt:%H:%M}", lt.hour * 60 + lt.minute]
        )
        t += timedelta(minutes=15)
    return out


def _steps(spans: list[tuple[float, float]]) -> list[list[float]]:
    """Jobs running over time as [[minute, count from then on], ...], starting [0, 0]; a job
    ending when another starts frees its place first (as the validator counts)."""
    events = sorted([(e, -1) for _, e in spans] + [(s, 1) for s, _ in spans])
    out: list[list[float]] = [[0, 0]]
    running = 0
    for t, d in events:
        running += d
        if out[-1][0] == t:
            out[-1][1] = running
        else:
            out.append([t, running])
    # Drop steps that do not change the count (a tie that cancelled out).
    return [p for i, p in enumerate(out) if i == 0 or p[1] != out[i - 1][1]]


_KIND_LABEL = {"host": "host", "datastore": "datastore", "raid_group": "RAID group"}


def _capacity(res: ResourceRef, idx: TopologyIndex, schedule: Schedule) -> int:
    policy = schedule.inputs.policy
    held: dict[str, Container[str]] = {
        "host": idx.hosts,
        "datastore": idx.datastores,
        "raid_group": idx.raid_groups,
    }
    # A schedule exported with --trust is not re-validated: its jobs may name objects its
    # topology lacks. The page still draws them, at the policy's limit for their kind.
    if res.name not in held[res.kind]:
        return policy_limit(res.kind, policy)
    return capacity(res, idx, policy)


def _resources(job: ScheduledJob) -> list[ResourceRef]:
    return (
        [ResourceRef("host", job.host)]
        + [ResourceRef("datastore", d) for d in job.datastores]
        + [ResourceRef("raid_group", g) for g in job.raid_groups]
    )


def _load(
    schedule: Schedule,
    idx: TopologyIndex,
    spans: dict[int, list[tuple[ScheduledJob, float, float]]],
) -> tuple[dict[int, list[dict[str, Any]]], list[dict[str, Any]]]:
    """The busiest resources per night and over the cycle, with their step profiles.

    Busiest = most job minutes per unit of capacity (a RAID group taking 3 jobs at once with
    6 h of jobs is as loaded as a host taking 1 with 2 h), ties by peak, then by name."""
    nights = [n.index for n in schedule.nights]
    per: dict[ResourceRef, dict[int, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for n, items in spans.items():
        for job, s, e in items:
            for r in _resources(job):
                per[r][n].append((s, e))
    caps = {r: _capacity(r, idx, schedule) for r in per}
    steps = {r: {n: _steps(v) for n, v in by_n.items()} for r, by_n in per.items()}
    busy = {r: {n: sum(e - s for s, e in v) for n, v in by_n.items()} for r, by_n in per.items()}
    peak = {r: {n: max(c for _, c in p) for n, p in by_n.items()} for r, by_n in steps.items()}

    def row(r: ResourceRef, on: list[int]) -> dict[str, Any]:
        return {
            "kind": r.kind,
            "label": _KIND_LABEL[r.kind],
            "name": r.name,
            "cap": caps[r],
            "busy": round(sum(busy[r].get(n, 0) for n in on)),
            "peak": max(peak[r].get(n, 0) for n in on),
            "steps": [steps[r].get(n, [[0, 0]]) for n in on],
        }

    def top(on: list[int]) -> list[dict[str, Any]]:
        def key(r: ResourceRef) -> tuple[float, float, str, str]:
            b = sum(busy[r].get(n, 0) for n in on)
            p = max(peak[r].get(n, 0) for n in on)
            return (-b / caps[r], -p / caps[r], r.kind, r.name)

        used = [r for r in per if any(n in per[r] for n in on)]
        return [row(r, on) for r in sorted(used, key=key)[:LOAD_TOP]]

    return {n: top([n]) for n in nights}, top(nights)


def page_data(schedule: Schedule) -> dict[str, Any]:
    s = schedule
    topo, pol = s.inputs.topology, s.inputs.policy
    idx = topo.index()
    by_index = {n.index: n for n in s.nights}
    # The validator refuses this too; a page built with --trust must still not crash on it.
    lost = [j for j in s.jobs if j.night not in by_index]
    if lost:
        raise InvalidScheduleError(
            [
                f"job {j.vm!r} is on night {j.night}, which is not among the schedule's nights"
                for j in lost
            ]
        )
    spans: dict[int, list[tuple[ScheduledJob, float, float]]] = defaultdict(list)
    jobs = []
    for j in sorted(s.jobs, key=lambda j: (utc(j.start), j.vm)):
        n = by_index[j.night]
        start, end = _minutes(n.window_start, j.start), _minutes(n.window_start, j.end)
        spans[j.night].append((j, start, end))
        jobs.append(
            {
                "vm": j.vm,
                # The name vCenter knows, when the plan had to disambiguate it (for people
                # matching the page to the vSphere client).
                "vcenter_name": j.vm_display_name or "",
                "moref": j.vm_moref or "",
                "host": j.host,
                "cluster": j.cluster or NO_CLUSTER,
                "datastore": j.datastores or [NO_DATASTORE],
                "raid_group": j.raid_groups or [NO_RAID_GROUP],
                "n": j.night,
                "s": round(start, 2),
                "e": round(end, 2),
                "start": f"{local(s, j.start):%a %Y-%m-%d %H:%M}",
                "end": f"{local(s, j.end):%H:%M}",
                "dur": j.duration_min,
                "gib": _finite(round(j.size_gib, 1)),
            }
        )
    tiered = is_tiered(s)
    if tiered:
        for j, row in zip(sorted(s.jobs, key=lambda j: (utc(j.start), j.vm)), jobs, strict=True):
            row["level"] = j.level or "full"
            row["tier"] = j.tier or ""
    infra = has_infrastructure(s)
    if infra:
        for j, row in zip(sorted(s.jobs, key=lambda j: (utc(j.start), j.vm)), jobs, strict=True):
            row["proxy"] = [j.proxy or NO_PROXY]
            row["repository"] = [j.repository or NO_REPOSITORY]
            row["mode"] = j.mode or "-"
    night_top, cycle_top = _load(s, idx, spans)
    cap_all = pol.limits.concurrent_jobs
    nights = []
    for n in s.nights:
        mine = spans.get(n.index, [])
        last = max((e for _, _, e in mine), default=0.0)
        nights.append(
            {
                "i": n.index,
                "day": f"{local(s, n.window_start):%a %d %b}",
                "label": f"night {n.index}: {local(s, n.window_start):%a %d %b %H:%M}"
                f" - {local(s, n.window_end):%a %H:%M}",
                "open": f"{local(s, n.window_start):%H:%M}",
                "close": f"{local(s, n.window_end):%H:%M}",
                "len": round(_minutes(n.window_start, n.window_end), 2),
                "ticks": _ticks(s, n),
                "jobs": len(mine),
                "last": round(last, 2),
                "busy": round(sum(e - b for _, b, e in mine)),
                "all": _steps([(b, e) for _, b, e in mine]),
                "top": night_top[n.index],
            }
        )
    blackouts = []
    for b in pol.blackouts:
        vms = affected_vms(b, idx)
        lanes = {
            "host": sorted({idx.vms[v].host for v in vms if v in idx.vms}),
            "datastore": sorted({d for v in vms if v in idx.vms for d in idx.vms[v].datastores}),
            "raid_group": sorted(
                {g for v in vms if v in idx.vms for g in idx.raid_groups_of(idx.vms[v])}
            ),
        }
        if infra:  # a blackout covers hosts and datastores, no proxy or repository lane
            lanes |= {"proxy": [], "repository": []}
        scope = "global" if b.scope == "global" else f"{b.scope.kind} {b.scope.target}"
        for iv in blackout_intervals(b, pol):
            for n in s.nights:
                lo, hi = max(iv.start, utc(n.window_start)), min(iv.end, utc(n.window_end))
                if lo >= hi:
                    continue
                blackouts.append(
                    {
                        "name": b.name,
                        "scope": scope,
                        "global": b.scope == "global",
                        "lanes": lanes,
                        "n": n.index,
                        "s": round(_minutes(n.window_start, lo), 2),
                        "e": round(_minutes(n.window_start, hi), 2),
                        "when": f"{local(s, iv.start):%a %d %b %H:%M}-{local(s, iv.end):%H:%M}",
                    }
                )
    data: dict[str, Any] = {
        "title": f"Backup plan from {s.cycle_start}",
        "tz": s.timezone,
        "nights": nights,
        "jobs": jobs,
        "clusters": sorted({j["cluster"] for j in jobs}),
        "blackouts": blackouts,
        "cap_all": cap_all,
        "cycle_top": cycle_top,
        "unscheduled": [{"vm": u.vm, "reason": u.reason} for u in s.unscheduled],
        "summary": {
            "jobs": len(s.jobs),
            "unscheduled": len(s.unscheduled),
            "nights": len(s.nights),
            "repeat": repeat_of(s),
            "window": f"{pol.window.start:%H:%M}-{pol.window.end:%H:%M}",
            "makespan": s.makespan_min,
            "lower_bound": s.lower_bound_min,
            "gap": s.gap_text(),
            "peak": peak_concurrency(s),
            "solver": f"{s.solver.name} {s.solver.status}",
            "limits": pol.limits.model_dump(),
        },
        "bottlenecks": s.bottlenecks,
        "utilisation": [
            {
                "kind": u.kind,
                "name": u.name,
                "jobs": u.jobs,
                "busy": use_amount(u.kind, u.busy_min),
                "free": use_amount(u.kind, u.free_min),
                "pct": _finite(u.utilisation_pct),
            }
            for u in s.utilisation[:12]
        ],
    }
    if tiered:
        data["levels"] = [_night_levels(s, n) for n in s.nights]
    return data


def _night_levels(schedule: Schedule, night: Night) -> dict[str, Any]:
    """One night's load by level for the per-night chart: job counts and backup minutes of
    its fulls and incrementals, and its makespan (as the schedule records it)."""
    mine = [j for j in schedule.jobs if j.night == night.index]
    full = [j.duration_min for j in mine if j.level != "incremental"]
    inc = [j.duration_min for j in mine if j.level == "incremental"]
    return {
        "i": night.index,
        "day": f"{local(schedule, night.window_start):%a %d %b}",
        "jobs": len(mine),
        "fulls": len(full),
        "incrementals": len(inc),
        "full_min": sum(full),
        "inc_min": sum(inc),
        "makespan": night.makespan_min,
    }


_CSS = """
*{box-sizing:border-box}
:root{--label:170px;--ink:#1d2430;--muted:#5b6678;--line:#dde2ea;--open:#2f6f3e;--close:#9b2c2c}
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0;color:var(--ink);background:#f4f6f9}
header{padding:10px 18px;background:#1f3a5f;color:#fff;display:flex;align-items:baseline;gap:16px;
 flex-wrap:wrap}
header h1{margin:0;font-size:18px;font-weight:600}
header .sub{opacity:.85;font-size:12px}
main{padding:10px 18px}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:8px}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:5px 12px;min-width:100px}
.card b{display:block;font-size:16px}
.card span{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.card.bad b{color:var(--close)}
.nights{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}
.nbtn{font:inherit;text-align:left;background:#fff;border:1px solid var(--line);border-radius:6px;
 padding:4px 9px 6px;min-width:96px;cursor:pointer;color:var(--ink)}
.nbtn b{display:block;font-size:13px}
.nbtn span{display:block;font-size:11px;color:var(--muted);white-space:nowrap}
.nbtn .meter{display:block;height:4px;background:#e6e9ef;border-radius:2px;margin-top:3px;
 overflow:hidden}
.nbtn .fill{display:block;height:100%;background:#3b6ea8}
.nbtn[aria-pressed="true"]{border-color:#1f3a5f;box-shadow:inset 0 0 0 1px #1f3a5f;background:#eaf0f8}
.nbtn:focus-visible{outline:2px solid #1f3a5f}
.controls{margin:4px 0 6px;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.controls label{font-weight:600}
.legend{display:flex;gap:4px 12px;align-items:center;flex-wrap:wrap;font-size:12px;color:var(--muted)}
.legend .lg{max-width:190px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sw{display:inline-block;width:14px;height:10px;vertical-align:middle;margin-right:4px;
 border-radius:2px}
.sw.edgeo{background:var(--open)}.sw.edgec{background:var(--close)}
.sw.hatch{background:repeating-linear-gradient(45deg,rgba(120,120,120,.5) 0 3px,
 rgba(120,120,120,.15) 3px 6px)}
.sw.cap{height:0;border-top:2px dashed var(--close);border-radius:0}
.sw.area{background:#9db6d6}
#chart,#loadchart{background:#fff;border:1px solid var(--line);border-radius:6px;overflow:auto;
 position:relative}
#chart{max-height:max(260px,calc(100vh - 470px))}
#loadchart{margin-top:6px}
.grid{position:relative}
.axis,.lane,.lrow{display:flex}
.lane{border-bottom:1px solid #eef0f4;content-visibility:auto}
.lane:nth-child(odd) .track{background:rgba(31,58,95,.025)}
.axis{position:sticky;top:0;background:#fff;z-index:3;height:40px;border-bottom:1px solid #c9d0db}
.name{flex:0 0 var(--label);width:var(--label);padding:3px 8px;font-weight:600;white-space:nowrap;
 overflow:hidden;text-overflow:ellipsis;position:sticky;left:0;background:#fff;z-index:2;
 border-right:1px solid #c9d0db}
.axis .name{color:var(--muted);font-size:12px;padding-top:20px}
.track{position:relative;flex:0 0 auto}
.overlay{position:absolute;top:40px;bottom:0;z-index:0;pointer-events:none}
.nband{position:absolute;top:0;bottom:0;background:#fbfcfd}
.nlabel{position:absolute;top:3px;font-size:11px;font-weight:600;white-space:nowrap;overflow:hidden;
 text-overflow:ellipsis;padding-left:4px}
.tick{position:absolute;bottom:0;height:6px;border-left:1px solid #9aa5b5}
.tlabel{position:absolute;bottom:6px;font-size:10.5px;color:var(--muted);transform:translateX(-50%);
 white-space:nowrap}
.gridline{position:absolute;top:0;bottom:0;border-left:1px dashed #e3e7ee}
.edge{position:absolute;top:0;bottom:0;width:0}
.edge.open{border-left:2px solid var(--open)}
.edge.close{border-left:2px solid var(--close)}
.blackout{position:absolute;top:0;bottom:0;
 background:repeating-linear-gradient(45deg,rgba(120,120,120,.28) 0 5px,
  rgba(120,120,120,.10) 5px 10px)}
.bar{position:absolute;height:16px;border-radius:3px;color:#fff;font-size:10px;line-height:16px;
 padding:0 3px;white-space:nowrap;overflow:hidden;z-index:1;cursor:default;
 box-shadow:inset 0 0 0 1px rgba(0,0,0,.18)}
.bar:hover{outline:2px solid #111;z-index:4}
.lrow{border-bottom:1px solid #eef0f4}
.lrow .name{font-weight:400;line-height:1.2;padding:2px 8px}
.lrow .name b{display:block;overflow:hidden;text-overflow:ellipsis}
.lrow .name small{color:var(--muted);font-size:10.5px}
.lhead .name{color:var(--muted);text-transform:uppercase;font-size:11px;letter-spacing:.04em}
.lhead .track{font-size:11px;color:var(--muted);padding:3px 8px;justify-content:flex-start}
.lband{fill:#fbfcfd}
.larea{fill:#9db6d6;stroke:#3b6ea8;stroke-width:1}
.lcap{stroke:var(--close);stroke-width:1.5;stroke-dasharray:4 3}
.lover{fill:var(--close)}
#tip{position:fixed;display:none;background:#1d2430;color:#fff;padding:6px 9px;border-radius:5px;
 font-size:12px;pointer-events:none;z-index:10;max-width:420px;overflow-wrap:anywhere;
 box-shadow:0 2px 8px rgba(0,0,0,.3)}
#tip .k{color:#aab4c4;margin-right:4px}
.lower{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
section{margin-top:12px;max-width:100%}
h2{font-size:14px;margin:6px 0}
table{border-collapse:collapse;background:#fff}
td,th{border:1px solid var(--line);padding:3px 8px;text-align:left;max-width:520px;
 overflow-wrap:anywhere}
td.num{text-align:right}
.none{color:var(--muted)}
.warn{color:var(--close)}
"""  # noqa: E501

# The page's two scripts (the plan view, and the levels of a tiered plan) each run in their
# own closure; both build DOM and SVG nodes from data and format minutes the same way.
_DOM_HELPERS_JS = r"""  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function hm(m) {
    m = Math.round(m);
    return Math.floor(m / 60) + "h" + ("0" + (m % 60)).slice(-2) + "m";
  }
"""

_JS = (
    r"""
(function () {
  "use strict";
  // Every name below is data: it reaches the page through textContent / setAttribute only.
  var D = JSON.parse(document.getElementById("plan-data").textContent);
  var ROW = 20, GAP = 26, PAD = 16, TICK_LABEL_PX = 54, LOAD_H = 30;
  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#3b6ea8", "#c2703d", "#4f8f5b", "#8a5fa8", "#b8474d", "#3d8f8f", "#8f7a3d",
                 "#5a6b8c", "#a8578a", "#6b8f3d", "#2f5f8f", "#a0603a"];
  var MODE_LABEL = {host: "ESXi host", datastore: "datastore", raid_group: "RAID group"};
  var zoom = 1;
  var sel = null;  // null: all nights side by side; else the index of the night shown

"""
    + _DOM_HELPERS_JS
    + r"""  var byNight = new Map();
  D.nights.forEach(function (n) { byNight.set(n.i, n); });
  var colourOf = new Map();
  D.clusters.forEach(function (c, i) {
    colourOf.set(c, i < PALETTE.length ? PALETTE[i] : "hsl(" + Math.round(i * 137.508) % 360 + ",42%,40%)");
  });

  // Summary cards
  var S = D.summary;
  [["jobs planned", S.jobs], ["unscheduled", S.unscheduled, S.unscheduled > 0],
   ["nights", S.nights + " (" + S.repeat + ")"], ["window", S.window + " " + D.tz],
   ["makespan", hm(S.makespan)], ["lower bound", hm(S.lower_bound)],
   ["gap", S.gap],
   ["peak at once", S.peak + (D.cap_all ? " of " + D.cap_all : "")], ["solver", S.solver]
  ].forEach(function (c) {
    var card = el("div", c[2] ? "card bad" : "card");
    card.appendChild(el("span", null, c[0]));
    card.appendChild(el("b", null, c[1]));
    document.getElementById("cards").appendChild(card);
  });

  // Night selector: one button per night (job count, and how far into its window the last
  // job ends), plus all nights side by side.
  var nightsBox = document.getElementById("nights");
  function nightButton(key, title, sub, fill, tip) {
    var b = el("button", "nbtn");
    b.type = "button";
    b.setAttribute("data-night", key);
    b.appendChild(el("b", null, title));
    b.appendChild(el("span", null, sub));
    var meter = el("i", "meter"), bar = el("i", "fill");
    bar.style.width = Math.max(0, Math.min(100, fill)).toFixed(1) + "%";
    meter.appendChild(bar);
    b.appendChild(meter);
    b.title = tip;
    b.addEventListener("click", function () { select(key === "all" ? null : Number(key)); });
    nightsBox.appendChild(b);
  }
  var longest = 1;
  D.nights.forEach(function (n) { longest = Math.max(longest, n.len); });
  nightButton("all", "All nights", S.jobs + " jobs", S.makespan / longest * 100,
              "all nights side by side; the bar shows the longest night");
  D.nights.forEach(function (n) {
    nightButton(String(n.i), n.day, "night " + n.i + " \u00b7 " + n.jobs + " jobs", n.last / n.len * 100,
                n.label + ": " + n.jobs + " jobs, the last ends " + hm(n.last) + " after the window opens (window " + hm(n.len) + ")");
  });
  nightsBox.hidden = D.nights.length < 2;  // one night: nothing to choose
  function select(k) {
    sel = k;
    Array.prototype.forEach.call(nightsBox.children, function (b) {
      var key = b.getAttribute("data-night");
      b.setAttribute("aria-pressed", String(k === null ? key === "all" : key === String(k)));
    });
    render();
  }
  function order() { return [null].concat(D.nights.map(function (n) { return n.i; })); }
  document.addEventListener("keydown", function (ev) {
    if (ev.target && /^(SELECT|INPUT|TEXTAREA)$/.test(ev.target.tagName)) return;
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    var o = order(), p = o.indexOf(sel) + (ev.key === "ArrowRight" ? 1 : -1);
    if (p >= 0 && p < o.length) { select(o[p]); ev.preventDefault(); }
  });

  // Legend: cluster colours, then the marks.
  var legend = document.getElementById("legend"), SHOWN = 14;
  D.clusters.slice(0, SHOWN).forEach(function (c) {
    var item = el("span", "lg"), sw = el("i", "sw");
    sw.style.background = colourOf.get(c);
    item.appendChild(sw);
    item.appendChild(document.createTextNode(c));
    item.title = "cluster " + c;
    legend.appendChild(item);
  });
  if (D.clusters.length > SHOWN) legend.appendChild(el("span", null, "+" + (D.clusters.length - SHOWN) + " more clusters (hover a bar)"));
  [["edgeo", "window opens"], ["edgec", "window closes"], ["hatch", "blackout"]].forEach(function (m) {
    var item = el("span", "lg");
    item.appendChild(el("i", "sw " + m[0]));
    item.appendChild(document.createTextNode(m[1]));
    legend.appendChild(item);
  });

  var measure = document.createElement("canvas").getContext("2d");
  function labelWidth(texts) {
    measure.font = "600 13px " + getComputedStyle(document.body).fontFamily;
    var w = 0;
    texts.forEach(function (t) { w = Math.max(w, measure.measureText(t).width); });
    return Math.round(Math.min(300, Math.max(130, w + 22)));
  }
  function geometry(vis, labelW) {
    var total = 0;
    vis.forEach(function (n) { total += n.len; });
    var avail = document.getElementById("chart").clientWidth - labelW - 2 * PAD - GAP * (vis.length - 1) - 2;
    var ppm = Math.max(vis.length > 1 ? 0.3 : 0.5, avail / Math.max(total, 1)) * zoom;
    var xs = new Map(), x = PAD;
    vis.forEach(function (n) { xs.set(n.i, x); x += n.len * ppm + GAP; });
    return {ppm: ppm, xs: xs, width: x - GAP + PAD};
  }
  // Label every STEP minutes of local time, the smallest step whose labels are TICK_LABEL_PX apart.
  function tickStep(ppm) {
    var steps = [15, 30, 60, 120, 180, 240, 360, 720];
    for (var i = 0; i < steps.length; i++) if (steps[i] * ppm >= TICK_LABEL_PX) return steps[i];
    return 1440;
  }
  var collator = new Intl.Collator(undefined, {numeric: true});  // esx2 before esx10
  function lanesOf(mode) {
    var lanes = new Map();  // a Map: lane names like "__proto__" are keys like any other
    function lane(k) { if (!lanes.has(k)) lanes.set(k, []); return lanes.get(k); }
    D.jobs.forEach(function (j, i) {
      (mode === "host" ? [j.host] : j[mode]).forEach(function (k) { lane(k).push(i); });
    });
    D.blackouts.forEach(function (b) { if (!b.global) b.lanes[mode].forEach(lane); });
    return lanes;
  }

  function render() {
    var mode = document.getElementById("mode").value;
    var vis = sel === null ? D.nights : [byNight.get(sel)];
    var shown = new Set(vis.map(function (n) { return n.i; }));
    // Lanes come from the whole cycle so that rows stay put when another night is chosen.
    var lanes = lanesOf(mode);
    var names = Array.from(lanes.keys()).sort(collator.compare);
    var loads = loadRows(vis);
    var labelW = labelWidth(names.concat(loads.map(function (r) { return r.title; }), [MODE_LABEL[mode]]));
    document.documentElement.style.setProperty("--label", labelW + "px");
    var g = geometry(vis, labelW), step = tickStep(g.ppm);
    var grid = document.getElementById("grid");
    grid.textContent = "";
    grid.style.width = labelW + g.width + "px";

    var axis = el("div", "axis"), at = el("div", "track");
    axis.appendChild(el("div", "name", MODE_LABEL[mode]));
    at.style.width = g.width + "px";
    var ov = el("div", "overlay");
    ov.style.left = labelW + "px";
    ov.style.width = g.width + "px";
    vis.forEach(function (n, p) {
      var x0 = g.xs.get(n.i), w = n.len * g.ppm;
      var nl = el("div", "nlabel", vis.length > 1 ? "night " + n.i + " \u00b7 " + n.day : n.label);
      nl.style.left = x0 + "px";
      nl.style.maxWidth = w + "px";
      nl.title = n.label + " (window opens " + n.open + ", closes " + n.close + ")";
      at.appendChild(nl);
      var band = el("div", "nband");
      band.style.left = x0 + "px";
      band.style.width = w + "px";
      ov.appendChild(band);
      n.ticks.forEach(function (t) {
        if (t[2] % step) return;
        var x = x0 + t[0] * g.ppm;
        var line = el("div", "gridline");
        line.style.left = x + "px";
        ov.appendChild(line);
        var mark = el("div", "tick");
        mark.style.left = x + "px";
        at.appendChild(mark);
        // The next night's opening label wins over this night's closing one.
        if (p < vis.length - 1 && t[0] * g.ppm > w - 18) return;
        var lab = el("div", "tlabel", t[1]);
        lab.style.left = x + "px";
        at.appendChild(lab);
      });
      [["open", x0, "window opens " + n.open], ["close", x0 + w - 2, "window closes " + n.close]].forEach(function (e) {
        var edge = el("div", "edge " + e[0]);
        edge.style.left = e[1] + "px";
        edge.title = e[2];
        ov.appendChild(edge);
      });
    });
    axis.appendChild(at);
    grid.appendChild(axis);
    grid.appendChild(ov);

    // Blackouts per lane, looked up once (a global one shades every lane).
    var shade = new Map(), everywhere = [];
    D.blackouts.forEach(function (b) {
      if (!shown.has(b.n)) return;
      if (b.global) { everywhere.push(b); return; }
      b.lanes[mode].forEach(function (k) {
        if (!shade.has(k)) shade.set(k, []);
        shade.get(k).push(b);
      });
    });
    var bars = 0;
    names.forEach(function (k) {
      var mine = lanes.get(k).filter(function (i) { return shown.has(D.jobs[i].n); }).sort(function (a, b) {
        return D.jobs[a].n - D.jobs[b].n || D.jobs[a].s - D.jobs[b].s;
      });
      var rowEnd = [], rows = [];  // stack overlapping jobs of a lane (limits above 1)
      mine.forEach(function (i) {
        var j = D.jobs[i], key = j.n * 1e6 + j.s, r = 0;
        while (r < rowEnd.length && rowEnd[r] > key + 1e-6) r++;
        rowEnd[r] = j.n * 1e6 + j.e;
        rows.push(r);
      });
      var lane = el("div", "lane"), label = el("div", "name", k), track = el("div", "track");
      lane.setAttribute("data-lane", k);
      label.title = k;
      lane.appendChild(label);
      track.style.width = g.width + "px";
      var laneH = Math.max(1, rowEnd.length) * ROW + 4;
      track.style.height = laneH + "px";
      // Lanes out of view skip layout and paint (content-visibility): a 1,000-lane page lays
      // out only what is on screen; the size below stands in for the rest.
      lane.style.containIntrinsicSize = labelW + g.width + "px " + (laneH + 1) + "px";
      everywhere.concat(shade.get(k) || []).forEach(function (b) {
        var box = el("div", "blackout");
        box.style.left = g.xs.get(b.n) + b.s * g.ppm + "px";
        box.style.width = Math.max(1, (b.e - b.s) * g.ppm) + "px";
        box.title = "blackout " + b.name + " (" + b.scope + "): " + b.when;
        track.appendChild(box);
      });
      mine.forEach(function (i, r) {
        var j = D.jobs[i], bar = el("div", "bar", j.vm);
        bar.setAttribute("data-vm", j.vm);
        bar.setAttribute("data-i", String(i));
        bar.style.left = g.xs.get(j.n) + j.s * g.ppm + "px";
        bar.style.width = Math.max(2, (j.e - j.s) * g.ppm) + "px";
        bar.style.top = 2 + rows[r] * ROW + "px";
        bar.style.background = colourOf.get(j.cluster);
        track.appendChild(bar);
        bars++;
      });
      lane.appendChild(track);
      grid.appendChild(lane);
    });
    declutter(at);
    renderLoad(vis, loads, g, labelW);
    document.getElementById("lanecount").textContent = names.length + " lanes, " + bars + " bars" +
      (sel === null ? "" : " (night " + sel + ")");
  }

  // Hide any hour label that would touch the one before it (measured, so fonts cannot break it).
  function declutter(axisTrack) {
    var labels = Array.prototype.slice.call(axisTrack.querySelectorAll(".tlabel"));
    var boxes = labels.map(function (l) { return l.getBoundingClientRect(); });
    var order = labels.map(function (_, i) { return i; }).sort(function (a, b) { return boxes[a].left - boxes[b].left; });
    var right = -Infinity;
    order.forEach(function (i) {
      if (boxes[i].left < right + 4) labels[i].remove();
      else right = boxes[i].right;
    });
  }

  // Load chart rows: all jobs against the proxy slots, then the busiest resources of the view.
  function loadRows(vis) {
    var all = {label: "all jobs", name: "", cap: D.cap_all, steps: vis.map(function (n) { return n.all; })};
    all.peak = 0;
    all.busy = 0;
    vis.forEach(function (n) {
      all.busy += n.busy;
      n.all.forEach(function (p) { all.peak = Math.max(all.peak, p[1]); });
    });
    var rows = [all].concat(sel === null ? D.cycle_top : byNight.get(sel).top);
    rows.forEach(function (r) { r.title = r.name ? r.label + " " + r.name : r.label; });
    return rows;
  }
  var loadView = null;  // what renderLoad drew last (rows, nights, geometry), for the readout
  function renderLoad(vis, rows, g, labelW) {
    loadView = {vis: vis, rows: rows, g: g};
    var box = document.getElementById("loadgrid");
    box.textContent = "";
    box.style.width = labelW + g.width + "px";
    var head = el("div", "lrow lhead");
    head.appendChild(el("div", "name", "load"));
    var ht = el("div", "track legend");
    ht.appendChild(el("span", null, "jobs running over time for all jobs and the " + (rows.length - 1) +
      " busiest resources " + (sel === null ? "of the cycle" : "of night " + sel) + " (most job time per unit of limit)"));
    [["area", "jobs running"], ["cap", "limit"]].forEach(function (m) {
      var item = el("span", "lg");
      item.appendChild(el("i", "sw " + m[0]));
      item.appendChild(document.createTextNode(m[1]));
      ht.appendChild(item);
    });
    ht.style.width = g.width + "px";
    head.appendChild(ht);
    box.appendChild(head);
    rows.forEach(function (r, ri) {
      var row = el("div", "lrow"), label = el("div", "name");
      row.setAttribute("data-resource", r.title);
      row.setAttribute("data-r", String(ri));
      label.appendChild(el("b", null, r.title));
      label.appendChild(el("small", null, (r.cap ? "limit " + r.cap : "no limit") + " \u00b7 peak " + r.peak));
      label.title = r.title + ": " + hm(r.busy) + " of jobs" + (r.cap ? ", at most " + r.cap + " at once" : "");
      row.appendChild(label);
      var track = el("div", "track"), H = LOAD_H, top = Math.max(r.cap || 0, r.peak, 1);
      var s = svg("svg", {width: g.width, height: H});
      var t = svg("title", {});
      t.textContent = r.title + ": peak " + r.peak + (r.cap ? " of " + r.cap : "");
      s.appendChild(t);
      function y(c) { return H - 2 - c / top * (H - 8); }
      vis.forEach(function (n, p) {
        var x0 = g.xs.get(n.i), w = n.len * g.ppm, steps = r.steps[p] || [[0, 0]];
        s.appendChild(svg("rect", {x: x0, y: 0, width: w, height: H, "class": "lband"}));
        var d = "M" + x0 + " " + y(0), prev = y(0);
        steps.forEach(function (pt) {
          var x = x0 + pt[0] * g.ppm, yy = y(pt[1]);
          d += "L" + x + " " + prev + "L" + x + " " + yy;
          prev = yy;
          if (r.cap && pt[1] > r.cap) {
            s.appendChild(svg("rect", {x: x, y: y(pt[1]), width: 3, height: y(r.cap) - y(pt[1]), "class": "lover"}));
          }
        });
        d += "L" + (x0 + w) + " " + prev + "L" + (x0 + w) + " " + y(0) + "Z";
        s.appendChild(svg("path", {d: d, "class": "larea"}));
        if (r.cap) s.appendChild(svg("line", {x1: x0, x2: x0 + w, y1: y(r.cap), y2: y(r.cap), "class": "lcap"}));
      });
      track.style.width = g.width + "px";
      track.appendChild(s);
      row.appendChild(track);
      box.appendChild(row);
    });
  }

  // The Gantt and the load chart scroll sideways together.
  var chart = document.getElementById("chart"), loadChart = document.getElementById("loadchart"), syncing = false;
  [[chart, loadChart], [loadChart, chart]].forEach(function (pair) {
    pair[0].addEventListener("scroll", function () {
      if (syncing) { syncing = false; return; }
      if (pair[1].scrollLeft !== pair[0].scrollLeft) { syncing = true; pair[1].scrollLeft = pair[0].scrollLeft; }
    });
  });

  var tip = document.getElementById("tip");
  function tipLine(key, value) {
    var line = el("div");
    line.appendChild(el("span", "k", key));
    line.appendChild(document.createTextNode(value));
    tip.appendChild(line);
  }
  document.getElementById("grid").addEventListener("mousemove", function (ev) {
    var bar = ev.target.closest ? ev.target.closest(".bar") : null;
    if (!bar) { tip.style.display = "none"; return; }
    var j = D.jobs[Number(bar.getAttribute("data-i"))];
    tip.textContent = "";
    tip.appendChild(el("b", null, j.vm));
    if (j.vcenter_name && j.vcenter_name !== j.vm) tipLine("in vCenter", j.vcenter_name + (j.moref ? " (" + j.moref + ")" : ""));
    tipLine("when", j.start + " - " + j.end + " (" + j.dur + " min, night " + j.n + ")");
    tipLine("host", j.host + " (" + j.cluster + ")");
    tipLine("datastores", j.datastore.join(", "));
    tipLine("RAID", j.raid_group.join(", "));
    tipLine("size", (j.gib === null ? "?" : j.gib) + " GiB");
    placeTip(ev);
  });
  function placeTip(ev) {
    tip.style.display = "block";
    tip.style.left = Math.max(0, Math.min(ev.clientX + 14, window.innerWidth - 430)) + "px";
    tip.style.top = Math.min(ev.clientY + 14, window.innerHeight - tip.offsetHeight - 4) + "px";
  }
  // Local clock time at minute m of night n, from its quarter-hour ticks (right across DST).
  function clock(n, m) {
    var t = null;
    n.ticks.forEach(function (k) { if (k[0] <= m) t = k; });
    if (t === null) return hm(m) + " after the window opens";
    var mins = (t[2] + Math.floor(m - t[0])) % 1440;
    return ("0" + Math.floor(mins / 60)).slice(-2) + ":" + ("0" + (mins % 60)).slice(-2);
  }
  // Load chart readout: jobs running at the pointer's time against the limit.
  document.getElementById("loadgrid").addEventListener("mousemove", function (ev) {
    var row = ev.target.closest ? ev.target.closest(".lrow[data-r]") : null;
    var chartSvg = row ? row.querySelector("svg") : null;
    if (!chartSvg || !loadView) { tip.style.display = "none"; return; }
    var r = loadView.rows[Number(row.getAttribute("data-r"))], g = loadView.g, hit = null;
    var x = ev.clientX - chartSvg.getBoundingClientRect().left;
    loadView.vis.forEach(function (n, p) {
      var x0 = g.xs.get(n.i);
      if (x >= x0 && x <= x0 + n.len * g.ppm) hit = {n: n, p: p, m: (x - x0) / g.ppm};
    });
    if (hit === null) { tip.style.display = "none"; return; }
    var running = 0;
    (r.steps[hit.p] || []).forEach(function (pt) { if (pt[0] <= hit.m) running = pt[1]; });
    tip.textContent = "";
    tip.appendChild(el("b", null, r.title));
    tipLine("at", clock(hit.n, hit.m) + ", night " + hit.n.i + " (" + hit.n.day + ")");
    tipLine("running", running + (r.cap ? " of " + r.cap : ""));
    placeTip(ev);
  });
  document.getElementById("loadgrid").addEventListener("mouseleave", function () { tip.style.display = "none"; });
  document.getElementById("grid").addEventListener("mouseleave", function () { tip.style.display = "none"; });
  document.getElementById("mode").addEventListener("change", render);
  document.getElementById("zin").addEventListener("click", function () { zoom *= 1.5; render(); });
  document.getElementById("zout").addEventListener("click", function () { zoom = Math.max(0.25, zoom / 1.5); render(); });
  document.getElementById("zfit").addEventListener("click", function () { zoom = 1; render(); });
  window.addEventListener("resize", render);

  function table(head, rows, numeric) {
    var t = el("table"), tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    t.appendChild(tr);
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c, i) { row.appendChild(el("td", numeric && numeric.indexOf(i) >= 0 ? "num" : null, c)); });
      t.appendChild(row);
    });
    return t;
  }
  function fill(id, node) { document.getElementById(id).appendChild(node); }
  fill("unscheduled", D.unscheduled.length
    ? table(["VM", "reason"], D.unscheduled.map(function (x) { return [x.vm, x.reason]; }))
    : el("p", "none", "none: every VM that needs a backup is planned."));
  if (D.bottlenecks.length) {
    var ul = el("ul");
    D.bottlenecks.forEach(function (b) { ul.appendChild(el("li", "warn", b)); });
    fill("bottlenecks", ul);
  } else {
    fill("bottlenecks", el("p", "none", "none reported."));
  }
  fill("util", D.utilisation.length ? table(["resource", "jobs", "backup time", "free window", "use"], D.utilisation.map(function (r) {
    return [(MODE_LABEL[r.kind] || r.kind) + " " + r.name, r.jobs, r.busy, r.free,
            r.pct === null ? "n/a" : r.pct.toFixed(0) + " %"];
  }), [1, 2, 3, 4]) : el("p", "none", "not recorded in this schedule."));

  // First view: #night-N or #all in the address; else all nights when they fit side by side,
  // else the first night with jobs.
  var hash = /^#night-(\d+)$/.exec(location.hash), first = null;
  if (hash && byNight.has(Number(hash[1]))) first = Number(hash[1]);
  else if (location.hash !== "#all" && D.nights.length > 3) {
    var busy = D.nights.filter(function (n) { return n.jobs > 0; });
    first = (busy.length ? busy[0] : D.nights[0]).i;
  }
  if (D.nights.length === 0) first = null;
  select(first);
  document.body.setAttribute("data-rendered", "1");
})();
"""  # noqa: E501
)


# Only on a tiered page (see the module docstring): a single-regime page stays as it was.
_LEVELS_CSS = """
.bar[data-level="incremental"]{background-image:repeating-linear-gradient(135deg,
 rgba(255,255,255,.42) 0 3px,rgba(255,255,255,0) 3px 7px)!important}
.bar[data-level]::before{font-weight:700;margin-right:3px}
.bar[data-level="full"]::before{content:"F"}
.bar[data-level="incremental"]::before{content:"I"}
.sw.lfull{background:#3b6ea8}
.sw.linc{background:#3b6ea8 repeating-linear-gradient(135deg,rgba(255,255,255,.42) 0 3px,
 rgba(255,255,255,0) 3px 7px)}
#levels{margin-top:10px}
#levelchart .lvrow{display:flex;align-items:center;gap:8px;margin:2px 0}
#levelchart .lvname{flex:0 0 150px;width:150px;font-weight:600;white-space:nowrap;overflow:hidden}
#levelchart svg{flex:0 0 auto;background:#fff;border:1px solid var(--line)}
#levelchart .lvtext{font-size:12px;color:var(--muted);white-space:nowrap}
.lvfull{fill:#1f3a5f}
.lvinc{fill:#9db6d6}
.sw.lvkfull{background:#1f3a5f}.sw.lvkinc{background:#9db6d6}
.sw.lvkspan{width:0;border-left:2px solid var(--close);border-radius:0}
.lvspan{stroke:var(--close);stroke-width:2}
"""

_LEVELS_JS = (
    r"""
(function () {
  "use strict";
  // Levels of a tiered plan: names stay data (textContent / setAttribute only).
  var D = JSON.parse(document.getElementById("plan-data").textContent);
  var SVG = "http://www.w3.org/2000/svg", W = 520, H = 16;
  var WORD = {full: "full", incremental: "incremental"};
"""
    + _DOM_HELPERS_JS
    + r"""  // Each bar's level as a pattern (CSS on data-level) and as text (an F/I mark, the label).
  function mark() {
    Array.prototype.forEach.call(document.querySelectorAll("#grid .bar:not([data-level])"), function (bar) {
      var j = D.jobs[Number(bar.getAttribute("data-i"))];
      bar.setAttribute("data-level", j.level);
      bar.setAttribute("aria-label", j.vm + ", " + WORD[j.level] + (j.tier ? ", tier " + j.tier : ""));
    });
  }
  mark();
  new MutationObserver(mark).observe(document.getElementById("grid"), {childList: true, subtree: true});
  var legend = document.getElementById("legend");
  [["lfull", "F full backup (solid)"], ["linc", "I incremental (striped)"]].forEach(function (m) {
    var item = el("span", "lg");
    item.setAttribute("data-level-legend", m[0]);
    item.appendChild(el("i", "sw " + m[0]));
    item.appendChild(document.createTextNode(m[1]));
    legend.appendChild(item);
  });
  // The Gantt's tooltip (written by the page's own handler, registered first) gets the level.
  var tip = document.getElementById("tip");
  document.getElementById("grid").addEventListener("mousemove", function (ev) {
    var bar = ev.target.closest ? ev.target.closest(".bar") : null;
    if (!bar) return;
    var j = D.jobs[Number(bar.getAttribute("data-i"))];
    [["level", WORD[j.level]], ["tier", j.tier || "none (single regime)"]].forEach(function (kv) {
      var line = el("div");
      line.appendChild(el("span", "k", kv[0]));
      line.appendChild(document.createTextNode(kv[1]));
      tip.appendChild(line);
    });
  });
  // Per-night load: full and incremental backup minutes stacked, the makespan as a mark.
  var box = document.getElementById("levelchart"), top = 1;
  D.levels.forEach(function (n) { top = Math.max(top, n.full_min + n.inc_min, n.makespan); });
  top *= 1.05;  // room for the longest night's makespan mark inside the frame
  var key = el("div", "legend");
  [["lvkfull", "minutes of full backups"], ["lvkinc", "minutes of incremental backups"],
   ["lvkspan", "makespan (window opens to last job's end)"]].forEach(function (m) {
    var item = el("span");
    item.appendChild(el("i", "sw " + m[0]));
    item.appendChild(document.createTextNode(m[1]));
    key.appendChild(item);
  });
  box.appendChild(key);
  D.levels.forEach(function (n) {
    var row = el("div", "lvrow");
    row.setAttribute("data-night", String(n.i));
    row.appendChild(el("span", "lvname", "night " + n.i + " " + n.day));
    var s = svg("svg", {width: W, height: H, role: "img"});
    var fw = n.full_min / top * W, iw = n.inc_min / top * W;
    var t = svg("title", {});
    t.textContent = "night " + n.i + ": " + n.full_min + " min full, " + n.inc_min + " min incremental, makespan " + hm(n.makespan);
    s.appendChild(t);
    s.appendChild(svg("rect", {x: 0, y: 2, width: fw, height: H - 4, "class": "lvfull", "data-min": n.full_min}));
    s.appendChild(svg("rect", {x: fw, y: 2, width: iw, height: H - 4, "class": "lvinc", "data-min": n.inc_min}));
    var mx = Math.min(W - 1, n.makespan / top * W);
    s.appendChild(svg("line", {x1: mx, x2: mx, y1: 0, y2: H, "class": "lvspan", "data-min": n.makespan}));
    row.appendChild(s);
    row.appendChild(el("span", "lvtext", n.jobs + " jobs (" + n.fulls + " full, " + n.incrementals + " incremental) \u00b7 full " +
      n.full_min + " min + incremental " + n.inc_min + " min \u00b7 makespan " + hm(n.makespan)));
    box.appendChild(row);
  });
  var t = el("table"), head = el("tr");
  ["night", "jobs", "fulls", "incrementals", "full min", "incremental min", "makespan"].forEach(function (h) {
    head.appendChild(el("th", null, h));
  });
  t.appendChild(head);
  D.levels.forEach(function (n) {
    var tr = el("tr");
    [n.i + " " + n.day, n.jobs, n.fulls, n.incrementals, n.full_min, n.inc_min, hm(n.makespan)].forEach(function (c, i) {
      tr.appendChild(el("td", i ? "num" : null, c));
    });
    t.appendChild(tr);
  });
  box.appendChild(t);
  document.body.setAttribute("data-levels-rendered", "1");
})();
"""  # noqa: E501
)


_INFRA_MODE_OPTIONS = (
    '<option value="proxy">backup proxy</option><option value="repository">repository</option>'
)


def _infra_js() -> str:
    """The page script for a plan with an infrastructure file: lane labels for the proxy
    and repository views, the job's proxy, mode and repository in its tooltip."""
    labels = (
        'var MODE_LABEL = {host: "ESXi host", datastore: "datastore", raid_group: "RAID group"};'
    )
    tip = '    tipLine("RAID", j.raid_group.join(", "));\n'
    assert _JS.count(labels) == 1 and _JS.count(tip) == 1
    return _JS.replace(
        labels,
        labels[:-2] + ', proxy: "backup proxy", repository: "repository"};',
    ).replace(
        tip,
        tip
        + '    tipLine("proxy", j.proxy.join(", ") + " (" + j.mode + ")");\n'
        + '    tipLine("repository", j.repository.join(", "));\n',
    )


def render(schedule: Schedule, options: ExportOptions) -> str:
    data = page_data(schedule)
    infra = has_infrastructure(schedule)
    script = _infra_js() if infra else _JS
    mode_options = _INFRA_MODE_OPTIONS if infra else ""
    payload = json_for_script(data)
    tiered = "levels" in data
    levels_css = f"\n<style>{_LEVELS_CSS}</style>" if tiered else ""
    levels_section = (
        '\n<section id="levels"><h2>Per night: full and incremental backup time</h2>'
        '<div id="levelchart"></div></section>'
        if tiered
        else ""
    )
    levels_js = f"\n<script>{_LEVELS_JS}</script>" if tiered else ""
    title = html.escape(f"stagger: {data['title']}")
    sub = html.escape(
        f"{len(schedule.jobs)} jobs, {len(schedule.nights)} night(s), time zone"
        f" {schedule.timezone}; generated by stagger from a validated schedule"
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{title}</title>
<style>{_CSS}</style>{levels_css}
</head>
<body>
<header><h1>{title}</h1><div class="sub">{sub}</div></header>
<main>
<div class="cards" id="cards"></div>
<div class="nights" id="nights" role="group" aria-label="nights (left/right arrow keys)"></div>
<div class="controls">
<label for="mode">Lanes</label>
<select id="mode"><option value="host" selected>ESXi host</option><option value="datastore">datastore</option><option value="raid_group">RAID group</option>{mode_options}</select>
<button id="zout" type="button">zoom -</button><button id="zfit" type="button">fit</button><button id="zin" type="button">zoom +</button>
<span id="lanecount" class="legend"></span>
<span class="legend" id="legend" aria-label="bar colour = cluster"></span>
</div>
<div id="chart"><div class="grid" id="grid"></div></div>
<div id="loadchart"><div class="grid" id="loadgrid"></div></div>{levels_section}
<div class="lower">
<section><h2>Unscheduled VMs</h2><div id="unscheduled"></div></section>
<section><h2>Bottlenecks</h2><div id="bottlenecks"></div></section>
<section><h2>Busiest resources over the cycle</h2><div id="util"></div></section>
</div>
</main>
<div id="tip" role="tooltip"></div>
<script id="plan-data" type="application/json">{payload}</script>
<script>{script}</script>{levels_js}
</body>
</html>
"""  # noqa: E501
