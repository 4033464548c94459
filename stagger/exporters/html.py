"""A self-contained HTML Gantt page of the plan: no CDN, no fetch, works from a USB stick.

Lanes per ESXi host, datastore or RAID group (switchable), one bar per job (a job on several
datastores shows on each of their lanes), blackouts shaded on the lanes they cover, window
edges marked, details on hover, the unscheduled VMs and the summary figures. Positions are
minutes from each night's window start, taken from the validated schedule; blackouts come
from :func:`stagger.calendar.blackout_intervals` and :func:`stagger.scope.affected_vms`.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from typing import Any

from stagger.calendar import blackout_intervals
from stagger.exporters._common import local, peak_concurrency, repeat_of, utc
from stagger.exporters.registry import ExportOptions
from stagger.model.schedule import Night, Schedule
from stagger.scope import affected_vms

NO_DATASTORE = "(no datastore)"
NO_RAID_GROUP = "(no RAID group)"


def _minutes(a: datetime, b: datetime) -> float:
    return (utc(b) - utc(a)).total_seconds() / 60


def _ticks(schedule: Schedule, night: Night) -> list[list[Any]]:
    """Local full hours inside the window, as [minute offset, "HH:MM"] (DST nights included)."""
    out: list[list[Any]] = []
    t = utc(night.window_start).replace(second=0, microsecond=0)
    t += timedelta(minutes=(-t.minute) % 15)
    end = utc(night.window_end)
    while t <= end:
        lt = local(schedule, t)
        if lt.minute == 0:
            out.append([round(_minutes(night.window_start, t), 2), f"{lt:%H:%M}"])
        t += timedelta(minutes=15)
    return out


def page_data(schedule: Schedule) -> dict[str, Any]:
    s = schedule
    topo, pol = s.inputs.topology, s.inputs.policy
    idx = topo.index()
    nights = [
        {
            "i": n.index,
            "label": f"night {n.index}: {local(s, n.window_start):%a %d %b %H:%M}"
            f" - {local(s, n.window_end):%a %H:%M}",
            "open": f"{local(s, n.window_start):%H:%M}",
            "close": f"{local(s, n.window_end):%H:%M}",
            "len": round(_minutes(n.window_start, n.window_end), 2),
            "ticks": _ticks(s, n),
        }
        for n in s.nights
    ]
    by_index = {n.index: n for n in s.nights}
    jobs = []
    for j in sorted(s.jobs, key=lambda j: (utc(j.start), j.vm)):
        n = by_index[j.night]
        jobs.append(
            {
                "vm": j.vm,
                "host": j.host,
                "cluster": j.cluster or "",
                "datastore": j.datastores or [NO_DATASTORE],
                "raid_group": j.raid_groups or [NO_RAID_GROUP],
                "n": j.night,
                "s": round(_minutes(n.window_start, j.start), 2),
                "e": round(_minutes(n.window_start, j.end), 2),
                "start": f"{local(s, j.start):%a %Y-%m-%d %H:%M}",
                "end": f"{local(s, j.end):%H:%M}",
                "dur": j.duration_min,
                "gib": round(j.size_gib, 1),
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
    return {
        "title": f"Backup plan from {s.cycle_start}",
        "tz": s.timezone,
        "nights": nights,
        "jobs": jobs,
        "blackouts": blackouts,
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
        "utilisation": [u.model_dump() for u in s.utilisation[:12]],
    }


_CSS = """
*{box-sizing:border-box}
body{font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0;color:#1d2430;background:#f6f7f9}
header{padding:12px 18px;background:#1f3a5f;color:#fff}
header h1{margin:0;font-size:18px;font-weight:600}
header .sub{opacity:.85;font-size:12px}
main{padding:12px 18px}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:10px}
.card{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:6px 12px;min-width:110px}
.card b{display:block;font-size:17px}
.card span{font-size:11px;color:#5b6678;text-transform:uppercase;letter-spacing:.04em}
.controls{margin:8px 0;display:flex;gap:14px;align-items:center;flex-wrap:wrap}
.controls label{font-weight:600}
.legend{display:flex;gap:12px;align-items:center;font-size:12px;color:#5b6678}
.sw{display:inline-block;width:14px;height:10px;vertical-align:middle;margin-right:4px;
 border-radius:2px}
#chart{background:#fff;border:1px solid #dde2ea;border-radius:6px;overflow-x:auto;
 position:relative}
.grid{position:relative}
.axis,.lane{display:flex;border-bottom:1px solid #eef0f4}
.axis{position:sticky;top:0;background:#fff;z-index:3;height:38px;border-bottom:1px solid #c9d0db}
.name{flex:0 0 170px;width:170px;padding:3px 8px;font-weight:600;white-space:nowrap;
 overflow:hidden;text-overflow:ellipsis;position:sticky;left:0;background:#fff;z-index:2;
 border-right:1px solid #c9d0db}
.track{position:relative;flex:0 0 auto}
.night{position:absolute;top:0;bottom:0;border-left:2px solid #2f6f3e;
 border-right:2px solid #9b2c2c;background:#fbfcfd}
.nlabel{position:absolute;top:1px;left:4px;font-size:11px;font-weight:600;white-space:nowrap}
.tick{position:absolute;bottom:0;height:8px;border-left:1px solid #9aa5b5}
.tlabel{position:absolute;bottom:7px;font-size:10px;color:#5b6678;transform:translateX(-50%)}
.gridline{position:absolute;top:0;bottom:0;border-left:1px dashed #e6e9ef}
.edge{position:absolute;top:0;bottom:0;width:0;z-index:1}
.edge.open{border-left:2px solid #2f6f3e}
.edge.close{border-left:2px solid #9b2c2c}
.blackout{position:absolute;top:0;bottom:0;z-index:0;
 background:repeating-linear-gradient(45deg,rgba(120,120,120,.28) 0 5px,
  rgba(120,120,120,.10) 5px 10px)}
.bar{position:absolute;height:16px;border-radius:3px;color:#fff;font-size:10px;line-height:16px;
 padding:0 3px;white-space:nowrap;overflow:hidden;z-index:1;cursor:default;
 box-shadow:inset 0 0 0 1px rgba(0,0,0,.18)}
.bar:hover{outline:2px solid #111;z-index:4}
#tip{position:fixed;display:none;background:#1d2430;color:#fff;padding:6px 9px;border-radius:5px;
 font-size:12px;pointer-events:none;z-index:10;max-width:360px;box-shadow:0 2px 8px rgba(0,0,0,.3)}
section{margin-top:14px}
h2{font-size:15px;margin:6px 0}
table{border-collapse:collapse;background:#fff}
td,th{border:1px solid #dde2ea;padding:3px 8px;text-align:left}
.none{color:#5b6678}
.warn{color:#9b2c2c}
"""

_JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("plan-data").textContent);
  var GAP = 24, ROW = 19, LABEL = 170;
  var zoom = 1;
  var palette = ["#3b6ea8", "#c2703d", "#4f8f5b", "#8a5fa8", "#b8474d", "#3d8f8f", "#8f7a3d",
                 "#5a6b8c", "#a8578a", "#6b8f3d"];
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function hm(m) { m = Math.round(m); return Math.floor(m / 60) + "h" + ("0" + (m % 60)).slice(-2) + "m"; }
  var clusters = [];
  D.jobs.forEach(function (j) { if (clusters.indexOf(j.cluster) < 0) clusters.push(j.cluster); });
  function colour(j) { return palette[clusters.indexOf(j.cluster) % palette.length]; }

  // Summary cards
  var S = D.summary, cards = [
    ["jobs planned", S.jobs], ["unscheduled", S.unscheduled], ["nights", S.nights + " (" + S.repeat + ")"],
    ["window", S.window + " " + D.tz], ["makespan", hm(S.makespan)], ["lower bound", hm(S.lower_bound)],
    ["gap", S.gap], ["peak at once", S.peak], ["solver", S.solver]];
  document.getElementById("cards").innerHTML = cards.map(function (c) {
    return '<div class="card"><span>' + esc(c[0]) + "</span><b>" + esc(c[1]) + "</b></div>";
  }).join("");

  function pxPerMin() {
    var total = 0;
    D.nights.forEach(function (n) { total += n.len; });
    var avail = Math.max(600, document.getElementById("chart").clientWidth - LABEL - GAP * D.nights.length - 4);
    return Math.max(0.35, avail / Math.max(total, 1)) * zoom;
  }
  function nightX(ppm) {
    var xs = {}, x = 28;
    D.nights.forEach(function (n) { xs[n.i] = x; x += n.len * ppm + GAP; });
    return {xs: xs, width: x};
  }

  function render() {
    var mode = document.getElementById("mode").value;
    var ppm = pxPerMin(), nx = nightX(ppm), width = nx.width;
    var lanes = {}, names = [];
    D.jobs.forEach(function (j) {
      var keys = mode === "host" ? [j.host] : j[mode];
      keys.forEach(function (k) {
        if (!lanes[k]) { lanes[k] = []; names.push(k); }
        lanes[k].push(j);
      });
    });
    D.blackouts.forEach(function (b) {
      if (b.global) return;
      b.lanes[mode].forEach(function (k) { if (!lanes[k]) { lanes[k] = []; names.push(k); } });
    });
    names.sort(function (a, b) { return a.localeCompare(b, undefined, {numeric: true}); });
    var out = [];
    // Axis
    var ax = '<div class="axis"><div class="name">' + esc(mode.replace("_", " ")) + '</div><div class="track" style="width:' + width + 'px">';
    D.nights.forEach(function (n) {
      var x0 = nx.xs[n.i];
      ax += '<div class="nlabel" style="left:' + x0 + 'px" title="window opens ' + esc(n.open) + ', closes ' + esc(n.close) + '">' + esc(n.label) + "</div>";
      n.ticks.forEach(function (t) {
        var x = x0 + t[0] * ppm;
        ax += '<div class="tick" style="left:' + x + 'px"></div><div class="tlabel" style="left:' + x + 'px">' + esc(t[1]) + "</div>";
      });
    });
    out.push(ax + "</div></div>");
    names.forEach(function (k) {
      var js = lanes[k].slice().sort(function (a, b) { return a.n - b.n || a.s - b.s; });
      var rowEnd = [], rows = [];
      js.forEach(function (j) {
        var key = j.n * 1e6 + j.s, r = 0;
        while (r < rowEnd.length && rowEnd[r] > key + 1e-6) r++;
        rowEnd[r] = j.n * 1e6 + j.e; rows.push(r);
      });
      var h = Math.max(1, rowEnd.length) * ROW + 4;
      var html = '<div class="lane" data-lane="' + esc(k) + '"><div class="name" title="' + esc(k) + '">' + esc(k) + '</div><div class="track" style="width:' + width + "px;height:" + h + 'px">';
      D.nights.forEach(function (n) {
        var x0 = nx.xs[n.i], w = n.len * ppm;
        html += '<div class="night" style="left:' + x0 + "px;width:" + w + 'px"></div>';
        n.ticks.forEach(function (t) { html += '<div class="gridline" style="left:' + (x0 + t[0] * ppm) + 'px"></div>'; });
        html += '<div class="edge open" style="left:' + x0 + 'px" title="window opens ' + esc(n.open) + '"></div>';
        html += '<div class="edge close" style="left:' + (x0 + w - 2) + 'px" title="window closes ' + esc(n.close) + '"></div>';
      });
      D.blackouts.forEach(function (b) {
        if (!b.global && b.lanes[mode].indexOf(k) < 0) return;
        var x = nx.xs[b.n] + b.s * ppm, w = Math.max(1, (b.e - b.s) * ppm);
        html += '<div class="blackout" style="left:' + x + "px;width:" + w + 'px" title="blackout ' + esc(b.name) + " (" + esc(b.scope) + "): " + esc(b.when) + '"></div>';
      });
      js.forEach(function (j, i) {
        var x = nx.xs[j.n] + j.s * ppm, w = Math.max(2, (j.e - j.s) * ppm);
        html += '<div class="bar" data-vm="' + esc(j.vm) + '" data-i="' + D.jobs.indexOf(j) + '" style="left:' + x + "px;width:" + w + "px;top:" + (2 + rows[i] * ROW) + "px;background:" + colour(j) + '">' + esc(j.vm) + "</div>";
      });
      out.push(html + "</div></div>");
    });
    document.getElementById("grid").innerHTML = out.join("");
    document.getElementById("lanecount").textContent = names.length + " lanes";
  }

  var tip = document.getElementById("tip");
  document.getElementById("grid").addEventListener("mousemove", function (ev) {
    var bar = ev.target.closest ? ev.target.closest(".bar") : null;
    if (!bar) { tip.style.display = "none"; return; }
    var j = D.jobs[+bar.getAttribute("data-i")];
    tip.innerHTML = "<b>" + esc(j.vm) + "</b><br>" + esc(j.start) + " - " + esc(j.end) + " (" + j.dur + " min, night " + j.n + ")" +
      "<br>host " + esc(j.host) + (j.cluster ? " (" + esc(j.cluster) + ")" : "") +
      "<br>datastores " + esc(j.datastore.join(", ")) + "<br>RAID " + esc(j.raid_group.join(", ")) +
      "<br>" + j.gib + " GiB";
    tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - 370) + "px";
    tip.style.top = (ev.clientY + 14) + "px";
  });
  document.getElementById("grid").addEventListener("mouseleave", function () { tip.style.display = "none"; });
  document.getElementById("mode").addEventListener("change", render);
  document.getElementById("zin").addEventListener("click", function () { zoom *= 1.5; render(); });
  document.getElementById("zout").addEventListener("click", function () { zoom = Math.max(0.25, zoom / 1.5); render(); });
  window.addEventListener("resize", render);

  // Unscheduled, bottlenecks, utilisation
  var u = document.getElementById("unscheduled");
  u.innerHTML = D.unscheduled.length ? "<table><tr><th>VM</th><th>reason</th></tr>" + D.unscheduled.map(function (x) {
    return "<tr><td>" + esc(x.vm) + "</td><td>" + esc(x.reason) + "</td></tr>";
  }).join("") + "</table>" : '<p class="none">none: every VM that needs a backup is planned.</p>';
  document.getElementById("bottlenecks").innerHTML = D.bottlenecks.length ? "<ul>" + D.bottlenecks.map(function (b) {
    return '<li class="warn">' + esc(b) + "</li>";
  }).join("") + "</ul>" : '<p class="none">none reported.</p>';
  document.getElementById("util").innerHTML = "<table><tr><th>resource</th><th>jobs</th><th>backup time</th><th>free window</th><th>use</th></tr>" +
    D.utilisation.map(function (r) {
      return "<tr><td>" + esc(r.kind.replace("_", " ") + " " + r.name) + "</td><td>" + r.jobs + "</td><td>" + hm(r.busy_min) + "</td><td>" + hm(r.free_min) + "</td><td>" + r.utilisation_pct.toFixed(0) + " %</td></tr>";
    }).join("") + "</table>";
  render();
  document.body.setAttribute("data-rendered", "1");
})();
"""  # noqa: E501


def render(schedule: Schedule, options: ExportOptions) -> str:
    data = page_data(schedule)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    payload = payload.replace("</", "<\\/").replace("<!--", "<\\!--")
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
<style>{_CSS}</style>
</head>
<body>
<header><h1>{title}</h1><div class="sub">{sub}</div></header>
<main>
<div class="cards" id="cards"></div>
<div class="controls">
<label for="mode">Lanes</label>
<select id="mode"><option value="host" selected>ESXi host</option><option value="datastore">datastore</option><option value="raid_group">RAID group</option></select>
<button id="zout" type="button">zoom -</button><button id="zin" type="button">zoom +</button>
<span id="lanecount" class="legend"></span>
<span class="legend"><span><i class="sw" style="background:#2f6f3e"></i>window opens</span><span><i class="sw" style="background:#9b2c2c"></i>window closes</span><span><i class="sw blackout" style="position:static;display:inline-block"></i>blackout</span><span>bar colour = cluster; hover a bar for details</span></span>
</div>
<div id="chart"><div class="grid" id="grid"></div></div>
<section><h2>Unscheduled VMs</h2><div id="unscheduled"></div></section>
<section><h2>Bottlenecks</h2><div id="bottlenecks"></div></section>
<section><h2>Busiest resources</h2><div id="util"></div></section>
</main>
<div id="tip"></div>
<script id="plan-data" type="application/json">{payload}</script>
<script>{_JS}</script>
</body>
</html>
"""  # noqa: E501
