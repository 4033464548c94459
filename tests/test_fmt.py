"""How amounts are shown: durations, and a repository's ingest as data."""

from __future__ import annotations

from stagger.fmt import data_volume, hm, use_amount


def test_hm_rounds_up() -> None:
    assert hm(60.2) == "1h01m"
    assert hm(575) == "9h35m"


def test_data_volume_decimal_units() -> None:
    assert data_volume(40) == "40 MB"
    assert data_volume(850_000) == "850.0 GB"
    assert data_volume(2_100_000) == "2.1 TB"


def test_an_ingest_row_is_data_not_time() -> None:
    # 2 jobs x 60 min at 400 MB/s = 48,000 MB/s x min = 2.88 TB; task rows stay time.
    assert use_amount("ingest", 48_000) == "2.9 TB"
    assert use_amount("proxy", 120) == "2h00m"
