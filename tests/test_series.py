"""Series from a real DuckDB store: counts, shares, filters, generic tags, and velocities from video_stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tiktrend.extract.keywords import extract_mentions
from tiktrend.models import Video
from tiktrend.pipeline import videos_frame
from tiktrend.store.duckdb import DuckDBStore
from tiktrend.trends.series import bucket_index, build_series

START = datetime(2025, 6, 2, tzinfo=UTC)


def video(vid: str, hour: int, tags: list[str], region: str = "US", seen: float = 1.0, views: int = 100) -> dict:
    posted = START + timedelta(hours=hour, minutes=5)
    return {
        "video_id": vid, "observed_at": posted + timedelta(hours=seen), "created_at": posted, "region": region,
        "category": "food", "caption": "", "hashtags": tags, "views": views, "likes": views // 10,
        "comments": 1, "shares": 1, "saves": 1, "source": "test",
    }  # fmt: skip


def load(store: DuckDBStore, rows: list[dict]) -> None:
    frame = videos_frame([Video(**row) for row in rows])
    store.load_batch(frame, extract_mentions(frame))
    store.refresh_rollups()


def series_of(store: DuckDBStore, **filters: str | None) -> object:
    end = START + timedelta(hours=4)
    return build_series(
        store.bucket_frame("hour", START, end, **filters),
        store.totals_frame("hour", START, end),
        gained=store.velocity_frame("hour", START, end, **filters),
        gained_totals=store.velocity_totals_frame("hour", START, end),
        grain="hour",
        start=START,
        end=end,
    )


def test_counts_shares_and_generic_tags(store: DuckDBStore) -> None:
    load(
        store,
        [
            video("a1", 0, ["cloudbread", "fyp"]),
            video("a2", 0, ["pizza", "fyp"]),
            video("a3", 1, ["cloudbread", "fyp"]),
            video("a4", 1, ["cloudbread"], region="VN"),
            video("a5", 2, ["pizza"], region="VN"),
        ],
    )
    series = series_of(store, category="*", modality="*")
    keys = series.keys.set_index(["region", "keyword"])
    assert "fyp" not in set(series.keys["keyword"])  # generic reach tags stay out by default
    everywhere = keys.index.get_loc(("*", "cloudbread"))
    assert series.videos[:, everywhere].tolist() == [1, 2, 0, 0]
    assert series.share()[:, everywhere].tolist() == [0.5, 1.0, 0.0, 0.0]
    us = keys.index.get_loc(("US", "cloudbread"))
    assert series.share()[:, us].tolist() == [0.5, 1.0, 0.0, 0.0]  # a3 is the only US video in hour 1
    vn_only = series_of(store, region="VN", category="*", modality="*")
    assert set(vn_only.keys["region"]) == {"VN"}
    end = START + timedelta(hours=4)
    generic = build_series(
        store.bucket_frame("hour", START, end, include_generic=True),
        store.totals_frame("hour", START, end),
        grain="hour",
        start=START,
        end=end,
        include_generic=True,
    )
    assert "fyp" in set(generic.keys["keyword"])


def test_velocities_count_what_each_observation_added_when_it_was_seen(store: DuckDBStore) -> None:
    first = video("b1", 0, ["cloudbread"], seen=0.5, views=100)
    later = {**first, "observed_at": START + timedelta(hours=2, minutes=30), "views": 350}
    other = video("b2", 1, ["pizza"], seen=0.5, views=40)
    load(store, [first, later, other])
    series = series_of(store, region="*", category="*", modality="*")
    k = list(series.keys["keyword"]).index("cloudbread")
    assert series.gained is not None and series.gained_totals is not None
    assert series.gained[:, k].tolist() == [100, 0, 250, 0]  # gained in the hour it was observed
    assert series.gained_totals[:, 0].tolist() == [100, 40, 250, 0]
    # The observation at 02:30 is unknown to a replay that stops at 02:00.
    early = store.velocity_frame("hour", START, START + timedelta(hours=2), region="*", category="*", modality="*")
    assert early[early["keyword"] == "cloudbread"]["views"].sum() == 100


def test_buckets_follow_the_grain() -> None:
    index = bucket_index("day", START + timedelta(hours=5), START + timedelta(days=2))
    assert list(index) == [pd.Timestamp("2025-06-02"), pd.Timestamp("2025-06-03")]
    with pytest.raises(ValueError, match="grain must be one of"):
        bucket_index("week", START, START)
    assert np.all(np.diff(bucket_index("hour", START, START + timedelta(hours=3)).asi8) > 0)
