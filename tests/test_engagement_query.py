"""Engagement features read from the store (query.video_engagement) equal extract/engagement.py's on the same data.

The observations are loaded into a DuckDB file and a PostgreSQL schema; both stores must give what
``engagement_features`` computes from the frame the load was given, gaps (unknown and zero views) included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tiktrend.extract.engagement import FEATURE_COLUMNS, engagement_features
from tiktrend.models import Video
from tiktrend.pipeline import videos_frame
from tiktrend.query.queries import video_engagement
from tiktrend.store import Store, open_store

START = datetime(2025, 6, 1, tzinfo=UTC)


def _observations() -> pd.DataFrame:
    """Twelve videos seen three to five times at uneven gaps, with missing, zero and growing counters."""
    rng = np.random.default_rng(3)
    videos = []
    for number in range(12):
        seen = START + timedelta(minutes=int(rng.integers(0, 600)))
        views = int(rng.integers(0, 5_000))
        for _ in range(int(rng.integers(3, 6))):
            counts = {name: int(views * rng.uniform(0, 0.2)) for name in ("likes", "comments", "shares", "saves")}
            if rng.random() < 0.2:
                counts["shares"] = None  # a source that does not report shares
            videos.append(
                Video(
                    video_id=f"v{number}",
                    observed_at=seen,
                    source="test",
                    views=None if number == 0 else (0 if number == 1 else views),
                    **counts,
                )
            )
            seen += timedelta(minutes=int(rng.integers(20, 300)))
            views += int(rng.integers(0, 20_000))
    return videos_frame(videos)


def _loaded(url: str, frame: pd.DataFrame) -> Store:
    store = open_store(url)
    store.load_batch(frame, pd.DataFrame(columns=["video_id", "keyword", "display", "modality", "weight"]))
    return store


def _expected(frame: pd.DataFrame) -> pd.DataFrame:
    expected = engagement_features(frame)
    expected["observed_at"] = expected["observed_at"].dt.tz_localize(None)
    return expected


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert tuple(got.columns) == FEATURE_COLUMNS
    got = got.assign(observed_at=pd.to_datetime(got["observed_at"]).astype("datetime64[us]"))
    expected = expected.assign(observed_at=expected["observed_at"].astype("datetime64[us]"))
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), rtol=1e-9)


@pytest.fixture
def stores(tmp_path: Path, pg_schema_url: Callable[[], str]) -> Iterator[dict[str, Store]]:
    frame = _observations()
    urls = {"duckdb": f"duckdb:///{tmp_path / 'e.duckdb'}", "postgres": pg_schema_url()}
    opened = {name: _loaded(url, frame) for name, url in urls.items()}
    yield opened
    for store in opened.values():
        store.close()


def test_both_stores_give_the_features_extraction_computes(stores: dict[str, Store]) -> None:
    frame = _observations()
    expected = _expected(frame)
    assert expected["views_velocity"].notna().sum() > 10 and expected["engagement_rate"].isna().sum() > 3
    for store in stores.values():
        _same(video_engagement(store), expected)


def test_filters_keep_the_velocity_of_the_first_observation_kept(stores: dict[str, Store]) -> None:
    expected = _expected(_observations())
    later = expected[(expected["video_id"].isin(["v3", "v7"])) & (expected["observed_at"] >= datetime(2025, 6, 1, 8))]
    assert later["views_velocity"].notna().any()
    for store in stores.values():
        got = video_engagement(store, video_ids=["v3", "v7"], start=datetime(2025, 6, 1, 8, tzinfo=UTC))
        _same(got, later)
        assert video_engagement(store, video_ids=[]).empty
        assert len(video_engagement(store, limit=5, offset=2)) == 5


def test_the_api_serves_a_videos_engagement_from_both_stores(stores: dict[str, Store], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tiktrend.api import create_app
    from tiktrend.settings import Settings

    expected = _expected(_observations())
    expected = expected[expected["video_id"] == "v10"]
    for name, store in stores.items():
        app = create_app(Settings(data_dir=tmp_path / name, database_url=store.url), reader=store)
        with TestClient(app) as client:
            answer = client.get("/videos/v10/engagement")
            assert answer.status_code == 200, answer.text
            items = pd.DataFrame(answer.json()["items"])
            assert client.get("/videos/nope/engagement").status_code == 404
            assert client.get("/videos/bad id!/engagement").status_code == 422
        got = items.assign(observed_at=pd.to_datetime(items["observed_at"]).dt.tz_localize(None))
        _same(got.astype({c: "float64" for c in FEATURE_COLUMNS[2:]}), expected)
