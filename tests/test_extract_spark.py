"""The Spark engine gives the pandas engine's mentions, row for row, on the shared real data (one session)."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tiktrend.extract.keywords import extract_mentions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pyspark") is None or shutil.which("java") is None,
    reason="the optional extra 'spark' (pyspark) or a Java runtime is not installed",
)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from tiktrend.extract.spark import spark_session

    session = spark_session("local[2]", app="tiktrend-test", partitions=4)
    yield session
    session.stop()


def shared_videos() -> pd.DataFrame:
    """Seed sample observations (repeated videos included) and the VN CSV, as extraction input."""
    seed, vn = SHARED / "seed_trending_sample.json", SHARED / "vn_videos_2025.csv"
    if not seed.exists() or not vn.exists():
        pytest.skip(f"shared samples are not present under {SHARED}")
    rows = [
        {
            "video_id": item["id"],
            "caption": item.get("caption"),
            "hashtags": [],
            "music_title": (item.get("music") or {}).get("title"),
            "music_author": (item.get("music") or {}).get("author"),
            "music_original": None,
        }
        for item in json.loads(seed.read_text(encoding="utf-8"))
    ]
    with vn.open(encoding="utf-8-sig", newline="") as handle:
        rows += [
            {
                "video_id": row["vid_id"],
                "caption": row["vid_caption"],
                "hashtags": [tag.strip() for tag in row["vid_hashtags"].split(",") if tag.strip()],
                "music_title": row["music_title"] or None,
                "music_author": row["music_authorName"] or None,
                "music_original": {"True": True, "False": False}.get(row["music_originality"]),
            }
            for row in csv.DictReader(handle)
        ]
    return pd.DataFrame(rows)


def test_spark_and_pandas_give_identical_mentions_on_the_shared_data(spark: Any) -> None:
    from tiktrend.extract.spark import extract_mentions_spark

    videos = shared_videos()
    expected = extract_mentions(videos)
    got = extract_mentions_spark(spark, videos, partitions=4)
    assert len(expected) > 50_000
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False)


def test_spark_handles_repeated_observations_and_missing_values(spark: Any) -> None:
    from tiktrend.extract.spark import extract_mentions_spark

    videos = pd.DataFrame(
        {
            "video_id": ["7", "8", "7", "7"],
            "caption": ["Cute kitten #cat", None, "cute kitten and puppy #cat", "Cute kitten #cat"],
            "hashtags": [["Cat"], None, ["Cat"], ["Cat"]],
            "music_title": ["Song", None, "Song", "Song"],
            "music_author": [None, None, None, None],
            "music_original": [None, True, None, None],
        }
    )
    pd.testing.assert_frame_equal(
        extract_mentions_spark(spark, videos, partitions=3), extract_mentions(videos), check_dtype=False
    )
