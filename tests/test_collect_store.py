"""What collection adds to the store: every region a video was seen in (video_regions), the external trend
lists (external_trends), and a replay of the raw zone that rebuilds both."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from tiktrend.collect.collector import collect_trend_lists
from tiktrend.collect.sources.creative_center import CreativeCenter, TrendList
from tiktrend.collect.sources.http import HttpTransport, RetryPolicy
from tiktrend.collect.sources.replay import Canned, ReplayServer
from tiktrend.pipeline import ingest, replay
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

DATA = Path(__file__).parent / "data"


def reply_for(region: str, now_ms: int, tmp: Path, name: str) -> Path:
    """The web fixture as a reply seen at ``now_ms`` in ``region`` (--region on ingest)."""
    reply = json.loads((DATA / "web_item_list.json").read_text(encoding="utf-8"))
    reply["extra"]["now"] = now_ms
    path = tmp / name
    path.write_text(json.dumps(reply))
    return path


def test_every_region_a_video_was_seen_in(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = reply_for("US", 1757063129000, tmp_path, "us.json")
    later = reply_for("DE", 1757070329000, tmp_path, "de.json")  # two hours later, in Germany
    with DuckDBStore(settings.database_url) as store:
        ingest([first], store, settings, region="US")
        ingest([later], store, settings, region="DE")
        regions = store.snapshot("video_regions")
        videos = store.snapshot("videos").set_index("video_id")
    video = "7546151024322100301"
    seen = regions[regions["video_id"] == video].set_index("region")
    assert sorted(seen.index) == ["DE", "US"]
    assert seen.loc["US", "first_seen"] == datetime(2025, 9, 5, 9, 5, 29)
    assert seen.loc["DE", "last_seen"] == datetime(2025, 9, 5, 11, 5, 29)
    assert videos.loc[video, "region"] == "US"  # the video keeps its earliest region
    assert len(regions) == 6  # three videos, two regions each


def test_sightings_widen_and_loads_stay_idempotent(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    paths = [reply_for("US", ms, tmp_path, f"{ms}.json") for ms in (1757070329000, 1757063129000, 1757077529000)]
    with DuckDBStore(settings.database_url) as store:
        for path in paths:  # out of order
            ingest([path], store, settings, region="US")
        ingest(paths, store, settings, region="US")  # and again
        regions = store.snapshot("video_regions")
    assert len(regions) == 3
    row = regions.iloc[0]
    assert (row["first_seen"], row["last_seen"]) == (datetime(2025, 9, 5, 9, 5, 29), datetime(2025, 9, 5, 13, 5, 29))


def test_external_trends_upsert_and_read_back(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    listed = datetime(2025, 9, 5, 9, tzinfo=UTC)
    row = {
        "source": "creative_center",
        "kind": "hashtag",
        "region": "DE",
        "period_days": 7,
        "industry": "",
        "list_date": listed.date(),
        "keyword": "matchalatte",
        "name": "MatchaLatte",
        "item_id": "1644108936424453",
        "rank": 3,
        "rank_diff": 1,
        "is_new": False,
        "posts": 100,
        "views": 1000,
        "trend": "[]",
        "listed_at": listed,
    }
    with DuckDBStore(settings.database_url) as store:
        store.load_external_trends(pd.DataFrame([row]))
        store.load_external_trends(pd.DataFrame([{**row, "rank": 1, "posts": 120}]))  # read again later that day
        store.load_external_trends(pd.DataFrame([{**row, "list_date": datetime(2025, 9, 6).date()}]))
        frame = store.creative_center_frame(kind="hashtag", region="DE")
    assert list(frame["rank"]) == [1, 3] and list(frame["posts"]) == [120, 100]
    assert str(frame["listed_at"].dtype).startswith("datetime64")


def test_replay_rebuilds_trend_lists_and_regions(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    page = (DATA / "creative_center_sounds.json").read_bytes()
    with ReplayServer(lambda _request: Canned(200, page)) as server, DuckDBStore(settings.database_url) as store:
        transport = HttpTransport()
        source = CreativeCenter(transport, server.url)
        policy = RetryPolicy(attempts=2, base_s=0, cap_s=1, pause_s=0)
        collect_trend_lists(source, [TrendList("sound", "DE", 30)], 10, store, settings, policy=policy)
        transport.close()
        ingest([reply_for("US", 1757063129000, tmp_path, "us.json")], store, settings, region="US")
        before = {t: store.snapshot(t) for t in ("external_trends", "video_regions", "videos")}
    rebuilt = Settings(data_dir=settings.data_dir, database_url=f"duckdb:///{tmp_path / 'rebuilt.duckdb'}")
    with DuckDBStore(rebuilt.database_url) as store:
        replay(store, rebuilt)
        for table, frame in before.items():
            pd.testing.assert_frame_equal(store.snapshot(table), frame, obj=table)
    assert list(before["external_trends"]["period_days"]) == [30, 30]
