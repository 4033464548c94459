"""The weekly load profile page, opened in Debian's headless Chromium (see browser.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from browser import CHROMIUM, run_page
from hypothesis import given
from hypothesis import strategies as st

from stagger.busyhours import CPU, DISK_LATENCY, Series, Settings, detect
from stagger.exporters.busyprofile import render_profile, text

HOSTILE = [
    "<img src=x onerror=\"document.title='pwned'\">",
    "esx'01\" & <b>bold</b>",
    "</svg><script>document.title='pwned'</script>",
    "__proto__",
]
UTC_ZONE = ZoneInfo("UTC")


def _series(name: str, busy_hour: int) -> list[Series]:
    monday = datetime(2026, 11, 2, tzinfo=UTC)
    cpu, lat = [], []
    for i in range(1, 2 * 168 + 1):
        end = monday + timedelta(hours=i)
        hot = (i - 1) % 168 == busy_hour
        cpu.append((end, 95.0 if hot else 20.0))
        lat.append((end, 3.0))
    return [Series("host", name, CPU, 3600, cpu), Series("host", name, DISK_LATENCY, 3600, lat)]


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_profile_page_shows_names_as_text_and_marks_busy_hours(tmp_path: Path) -> None:
    series = [s for i, name in enumerate(HOSTILE) for s in _series(name, 25 + i)]
    settings = Settings(tz=UTC_ZONE)
    profiles, found = detect(series, settings)
    page = tmp_path / "profile.html"
    page.write_text(
        render_profile(profiles, found, source="vc<1>", timezone="UTC", settings=settings),
        encoding="utf-8",
    )
    run = run_page(
        page,
        expressions={
            "title": "document.title",
            "names": "Array.from(document.querySelectorAll('h3 .name')).map(n=>n.textContent)",
            "busy": "document.querySelectorAll('rect[data-busy]').length",
            "cells": "document.querySelectorAll('svg rect').length",
            "scripts": "document.scripts.length",
            "imgs": "document.images.length",
            "rows": "Array.from(document.querySelectorAll('table tr')).slice(1)"
            ".map(r=>[r.cells[1].textContent, r.cells[2].textContent])",
        },
    )
    assert run.errors == [] and run.requests == [page.resolve().as_uri()]
    assert run.values["title"] == "stagger busy hours"
    assert run.values["scripts"] == 0 and run.values["imgs"] == 0
    assert sorted(run.values["names"]) == sorted(HOSTILE * 2)  # CPU and latency per host
    assert run.values["cells"] == len(profiles) * 168
    assert run.values["busy"] == len(HOSTILE)  # one busy CPU hour each, latency never
    assert sorted(run.values["rows"]) == sorted(
        [name, f"Tue {1 + i:02d}:00 for 1h"] for i, name in enumerate(HOSTILE)
    )


@given(st.text())
def test_text_escapes_every_markup_character(value: str) -> None:
    out = text(value)
    assert not set("<>\"'") & set(out)
    assert (
        out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
        == value
    )
