"""The weekly load profile per resource as one small self-contained HTML page (inline SVG).

One heat map per resource and counter: 7 rows (Mon..Sun) x 24 local hours, each cell shaded by
its percentile load relative to the threshold and outlined when the hour is busy; hovering a
cell shows its figures. No script, no external resource. Every name and figure goes through
:func:`text` (``html.escape`` with quotes), the only way text reaches the page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from stagger.busyhours import DAY_NAMES, BusyPeriod, Profile, Settings, evidence_text

CELL = 16
LEFT = 40
TOP = 18


def text(value: object) -> str:
    """Any value as HTML text or attribute content (element and attribute safe)."""
    return html.escape(str(value), quote=True)


def _fill(level: float, threshold: float) -> str:
    """Green below half the threshold, through yellow, to red at 1.5 x the threshold."""
    ratio = level / threshold if threshold > 0 else 1.0
    r = max(0.0, min(1.0, ratio / 1.5))
    red = int(255 * min(1.0, 2 * r))
    green = int(255 * min(1.0, 2 * (1 - r)))
    return f"rgb({red},{green},80)"


def _heatmap(p: Profile) -> str:
    width = LEFT + 24 * CELL + 4
    height = TOP + 7 * CELL + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' role="img" aria-label="{text(f"{p.kind} {p.name} {p.counter.key}")}">'
    ]
    for h in range(0, 24, 3):
        parts.append(f'<text x="{LEFT + h * CELL + 2}" y="{TOP - 5}" font-size="10">{h:02d}</text>')
    for d, day in enumerate(DAY_NAMES):
        parts.append(f'<text x="2" y="{TOP + d * CELL + 12}" font-size="10">{day}</text>')
        for h in range(24):
            hour = d * 24 + h
            x, y = LEFT + h * CELL, TOP + d * CELL
            load = p.hours.get(hour)
            if load is None:
                parts.append(
                    f'<rect x="{x}" y="{y}" width="{CELL - 1}" height="{CELL - 1}" fill="#eee">'
                    f"<title>{day} {h:02d}:00 no samples</title></rect>"
                )
                continue
            busy = hour in p.busy
            stroke = ' stroke="#000" stroke-width="2" data-busy="1"' if busy else ""
            tip = (
                f"{day} {h:02d}:00 p{p.percentile:g} {load.level:.1f} {p.counter.unit}"
                f" (threshold {p.threshold:g}), over in {load.weeks_over}/{load.weeks_seen}"
                f" weeks{' BUSY' if busy else ''}"
            )
            parts.append(
                f'<rect x="{x}" y="{y}" width="{CELL - 1}" height="{CELL - 1}"'
                f' fill="{_fill(load.level, p.threshold)}"{stroke}'
                f' data-hour="{hour}">'
                f"<title>{text(tip)}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def render_profile(
    profiles: Sequence[Profile],
    found: Sequence[BusyPeriod],
    *,
    source: str,
    timezone: str,
    settings: Settings,
) -> str:
    rows = []
    for b in found:
        ev = "; ".join(evidence_text(e) for e in b.evidence)
        rows.append(
            f"<tr><td>{text(b.kind)}</td><td>{text(b.name)}</td><td>{text(b.label)}</td>"
            f"<td>{text(ev)}</td></tr>"
        )
    sections = []
    for p in sorted(profiles, key=lambda p: (p.kind, p.name, p.counter.key)):
        sections.append(
            f'<section class="profile"><h3>{text(p.kind)} <span class="name">{text(p.name)}'
            f"</span> &middot; {text(p.counter.key)} ({text(p.counter.unit)}, threshold"
            f" {text(f'{p.threshold:g}')}, {text(p.samples)} samples)</h3>{_heatmap(p)}</section>"
        )
    table = (
        "<table><tr><th>kind</th><th>resource</th><th>busy</th><th>evidence</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p>No recurring busy hours found.</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>stagger busy hours</title><style>"
        "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "section{display:inline-block;margin:0 1em 1em 0;vertical-align:top}"
        "h3{font-size:12px;margin:0 0 2px}"
        "</style></head><body>"
        f"<h1>Weekly load profile</h1><p>Source {text(source)}; local hours in"
        f" {text(timezone)}; p{text(f'{settings.percentile:g}')} per hour of the week; busy"
        f" when over the threshold in more than {text(f'{settings.min_share:.0%}')} of at"
        f" least {text(settings.min_weeks)} weeks.</p>"
        f"<h2>Busy periods ({len(found)})</h2>{table}"
        f"<h2>Profiles ({len(profiles)})</h2>{''.join(sections)}"
        "</body></html>\n"
    )
