"""The query layer on DuckDB and PostgreSQL over the same simulated data: the same answers, and the right ones."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from filled_stores import Filled, filled_stores
from tiktrend import query
from tiktrend.query import CursorError, DuckDBReader, Reader, StoreBusy
from tiktrend.store import ALL, open_store


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Filled:
    return filled_stores(tmp_path_factory, pg_database)


@dataclass
class Pair:
    duckdb: Reader
    postgres: Reader

    def both(self, ask: Callable[[Reader], Any]) -> tuple[Any, Any]:
        return ask(self.duckdb), ask(self.postgres)


@pytest.fixture(scope="module")
def pair(filled: Filled) -> Iterator[Pair]:
    readers = Pair(query.open_reader(filled.duckdb), query.open_reader(filled.postgres))
    yield readers
    readers.duckdb.close()
    readers.postgres.close()


def same(answers: tuple[Any, Any], what: str, *, rows: bool = True) -> pd.DataFrame:
    """Both backends' frames are equal (and, unless told otherwise, not empty); returns DuckDB's."""
    duck, pg = answers
    if rows:
        assert len(duck) > 0, f"{what}: the scenario should give rows"
    # Each backend's own run made its trends; a column added by a migration may sit elsewhere in PostgreSQL.
    duck, pg = duck.drop(columns=["run_id"], errors="ignore"), pg.drop(columns=["run_id"], errors="ignore")
    assert set(pg.columns) == set(duck.columns), what
    pd.testing.assert_frame_equal(pg[list(duck.columns)], duck, obj=what)
    return duck


def a_trending_keyword(pair: Pair) -> str:
    return str(query.trends(pair.duckdb, window="1d", limit=1).rows["keyword"].iloc[0])


def mentions_with_videos(reader: Reader) -> pd.DataFrame:
    mentions, videos = reader.read("SELECT * FROM keyword_mentions"), reader.read("SELECT * FROM videos")
    return mentions.merge(videos.drop(columns=["region", "category", "posted_at"]), on="video_id")


# ---- trends and paging ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [{}, {"window": "1d"}, {"window": "1h", "detector": "poisson"}, {"region": "VN"}, {"modality": "hashtag"}],
)
def test_trends_agree(pair: Pair, filters: dict[str, Any]) -> None:
    duck, pg = pair.both(lambda r: query.trends(r, limit=30, **filters))
    same((duck.rows, pg.rows), f"trends {filters}")
    assert duck.next_cursor == pg.next_cursor and duck.snapshot == pg.snapshot


def test_trends_hold_the_latest_detection_of_each_window(pair: Pair) -> None:
    rows = query.trends(pair.duckdb, limit=10_000).rows
    scopes = query.trend_scopes(pair.duckdb)
    for scope in scopes.itertuples():
        got = rows[(rows["time_window"] == scope.time_window) & (rows["detector"] == scope.detector)]
        assert set(got["as_of"]) <= {scope.as_of}


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_pages_chain_to_the_whole_list(pair: Pair, backend: str) -> None:
    reader = getattr(pair, backend)
    whole = query.trends(reader, limit=10_000).rows
    assert len(whole) > 25
    pages, cursor = [], None
    while True:
        page = query.trends(reader, limit=7, cursor=cursor)
        pages.append(page.rows)
        cursor = page.next_cursor
        if cursor is None:
            break
    pd.testing.assert_frame_equal(pd.concat(pages, ignore_index=True), whole)


def test_a_cursor_keeps_its_detections_when_a_new_one_arrives(filled: Filled, tmp_path_factory: Any) -> None:
    # A copy of the DuckDB store, so the shared fixture stays as it was.
    import shutil

    path = tmp_path_factory.mktemp("cursor") / "copy.duckdb"
    shutil.copy(filled.duckdb.removeprefix("duckdb:///"), path)
    store = open_store(f"duckdb:///{path}")
    try:
        first = query.trends(store, window="1d", limit=5)
        later = store.snapshot("trends")
        later = later[later["time_window"] == "1d"].copy()
        later["as_of"] = later["as_of"] + pd.Timedelta(hours=1)
        later["keyword"] = "zz_new_" + later["keyword"]
        store.save_trends(later.drop(columns=["run_id"]), "later-run")
        second = query.trends(store, window="1d", limit=5, cursor=first.next_cursor)
        fresh = query.trends(store, window="1d", limit=5)
    finally:
        store.close()
    assert not second.rows["keyword"].str.startswith("zz_new_").any()
    assert set(second.rows["as_of"]) == set(first.rows["as_of"])
    assert fresh.rows["keyword"].str.startswith("zz_new_").all()


def test_cursors_are_checked(pair: Pair) -> None:
    page = query.trends(pair.duckdb, limit=3)
    assert page.next_cursor is not None
    with pytest.raises(CursorError, match="other filters"):
        query.trends(pair.duckdb, limit=3, region="VN", cursor=page.next_cursor)
    with pytest.raises(CursorError, match="not one this API returned"):
        query.trends(pair.duckdb, limit=3, cursor="bm90IGEgY3Vyc29y")


# ---- keywords ------------------------------------------------------------------------------------------------


def test_keyword_series_equal_the_rollup_view(pair: Pair, filled: Filled) -> None:
    keyword = a_trending_keyword(pair)
    series = same(pair.both(lambda r: query.keyword_series(r, [keyword], grain="hour")), "series")
    start, end = series["bucket"].min(), series["bucket"].max() + pd.Timedelta(hours=1)
    view = pair.duckdb.read(
        "SELECT * FROM keyword_buckets WHERE grain = 'hour' AND keyword = $k AND region = '*' AND category = '*' "
        "AND modality = '*' AND bucket >= $start ORDER BY bucket",
        {"k": keyword, "start": start},
    ).set_index("bucket")
    got = series[series["videos"] > 0].set_index("bucket")
    assert list(got.index) == list(view.index)
    assert (got["videos"] == view["videos"]).all()
    assert got["share"].to_numpy() == pytest.approx(view["share"].to_numpy())
    # Dense: every hour of the span, zeros between mentions.
    assert len(series) == len(pd.date_range(start, end, freq="h", inclusive="left"))


def test_many_keywords_in_one_series_query(pair: Pair) -> None:
    now = query.trending_now(pair.duckdb, window="1d", limit=8, points=24)
    assert len(now.trends) > 0
    assert set(now.series["keyword"]) == set(now.trends["keyword"])
    assert now.series.groupby("keyword").size().eq(24).all()
    duck, pg = pair.both(lambda r: query.trending_now(r, window="1d", limit=8, points=24))
    same((duck.series, pg.series), "sparklines")


def test_keyword_detail(pair: Pair, filled: Filled) -> None:
    keyword = a_trending_keyword(pair)
    duck, pg = pair.both(lambda r: query.keyword_detail(r, keyword, grain="day", start=None))
    for part in ("series", "modalities", "regions", "categories", "examples", "trends"):
        same((getattr(duck, part), getattr(pg, part)), f"detail {part}")
    assert duck.totals == pg.totals and duck.found
    raw = mentions_with_videos(pair.duckdb)
    raw = raw[(raw["keyword"] == keyword) & (raw["posted_at"] >= duck.start) & (raw["posted_at"] < duck.end)]
    assert duck.totals["videos"] == raw["video_id"].nunique()
    per_modality = raw.groupby("modality")["video_id"].nunique().sort_index()
    assert duck.modalities.set_index("modality")["videos"].sort_index().to_dict() == per_modality.to_dict()
    assert duck.examples["views"].is_monotonic_decreasing
    assert set(duck.examples["video_id"]) <= set(raw["video_id"])


@pytest.mark.parametrize("sliced", [False, True], ids=["all", "one-region"])
def test_example_videos_are_the_most_viewed_of_the_days_asked(pair: Pair, sliced: bool) -> None:
    keyword = a_trending_keyword(pair)
    raw = mentions_with_videos(pair.duckdb)
    raw = raw[raw["keyword"] == keyword]
    region = str(raw["region"].mode().iloc[0]) if sliced else ALL
    first, last = raw["posted_at"].min(), raw["posted_at"].max()
    start, end = first + (last - first) / 3, last - (last - first) / 3  # mid-day bounds: whole days are read
    answers = pair.both(lambda r: query.example_videos(r, keyword, start=start, end=end, region=region, limit=7))
    duck = same(answers, "example videos")
    days = raw[(raw["posted_at"] >= start.floor("D")) & (raw["posted_at"] < end.ceil("D"))]
    days = days[days["region"] == region] if sliced else days
    expected = days.drop_duplicates("video_id").sort_values(
        ["views", "video_id"], ascending=[False, True], na_position="last"
    )
    assert list(duck["video_id"]) == list(expected["video_id"].head(7))
    modalities = days.groupby("video_id")["modality"].agg(lambda m: ",".join(sorted(m)))
    assert list(duck["modalities"]) == list(modalities[duck["video_id"]])
    with pytest.raises(ValueError, match="limit must be between 0 and 20"):
        query.example_videos(pair.duckdb, keyword, limit=21)


def test_an_unknown_keyword_is_empty_not_an_error(pair: Pair) -> None:
    detail = query.keyword_detail(pair.postgres, "no-such-keyword-anywhere")
    assert not detail.found and detail.series["videos"].sum() == 0 and detail.examples.empty


# ---- the original's rankings ---------------------------------------------------------------------------------


def test_top_keywords_by_engagement_equal_a_recomputation(pair: Pair, filled: Filled) -> None:
    top = same(pair.both(lambda r: query.top_keywords(r, top=15)), "top keywords")
    raw = mentions_with_videos(pair.duckdb)
    raw = raw[~raw.groupby("keyword")["is_generic"].transform("any")]
    per_video = raw.drop_duplicates(["keyword", "video_id"])
    parts = per_video[["likes", "comments", "shares", "saves"]].fillna(0).sum(axis=1)
    expected = per_video.assign(engagement=parts).groupby("keyword")["engagement"].sum()
    expected = expected.sort_values(ascending=False, kind="stable")
    assert list(top["engagement_total"]) == list(expected.head(15).astype("int64"))
    assert set(top["modality"]) <= {"hashtag", "caption", "music", "emoji", "transcript", "ocr"}
    assert top["engagement_rate"].between(0, 10).all()


@pytest.mark.parametrize(
    "filters",
    [
        {"regions": ["VN", "US"]},
        {"categories": ["food"], "modalities": ["hashtag", "music"]},
        {"sort": "views", "top": 5},
    ],
)
def test_top_keywords_filters_agree(pair: Pair, filters: dict[str, Any]) -> None:
    same(pair.both(lambda r: query.top_keywords(r, **filters)), f"top keywords {filters}")


def test_top_keywords_in_a_date_range(pair: Pair) -> None:
    last = query.latest_bucket(pair.duckdb, "day")
    assert last is not None
    day = same(pair.both(lambda r: query.top_keywords(r, start=last, end=last + timedelta(days=1))), "day")
    hours = query.top_keywords(pair.duckdb, start=last, end=last + timedelta(hours=6))
    assert day["videos"].sum() >= hours["videos"].sum() > 0


def test_regions_and_categories(pair: Pair, filled: Filled) -> None:
    regions = same(pair.both(query.regions), "regions")
    categories = same(pair.both(lambda r: query.categories(r, region="VN")), "categories of VN")
    stored = pair.duckdb.read("SELECT * FROM videos")
    assert regions.set_index("region")["videos"].to_dict() == stored.groupby("region").size().to_dict()
    assert categories["videos"].sum() == (stored["region"] == "VN").sum()
    assert ALL not in set(regions["region"]) | set(categories["category"])


def test_videos(pair: Pair) -> None:
    keyword = a_trending_keyword(pair)
    found = same(pair.both(lambda r: query.videos(r, keyword=keyword, limit=10)), "videos of a keyword")
    assert found["views"].is_monotonic_decreasing
    page2 = same(pair.both(lambda r: query.videos(r, region="VN", sort="likes", limit=5, offset=5)), "page 2")
    assert (page2["region"] == "VN").all()
    with pytest.raises(ValueError, match="sort must be one of"):
        query.videos(pair.duckdb, sort="video_id; DROP TABLE videos")


# ---- the pipeline's log --------------------------------------------------------------------------------------


def test_runs_metrics_quarantine_and_health(pair: Pair) -> None:
    duck, pg = pair.both(query.runs)
    assert list(duck.columns) == list(pg.columns) and len(duck) == len(pg) >= 1
    assert set(duck["status"]) == {"ok"} or "running" in set(duck["status"])
    metrics = pair.both(query.pipeline_metrics)
    stages = [set(m["stage"]) for m in metrics]
    assert stages[0] == stages[1] >= {"ingest", "rollup", "detect"}
    same(pair.both(query.quarantine_summary), "empty quarantine", rows=False)
    health = pair.both(query.health)
    assert health[0].backend == "duckdb" and health[1].backend == "postgresql"
    assert health[0].latest_bucket == health[1].latest_bucket is not None
    assert health[0].counts["trends"] == health[1].counts["trends"] > 0
    assert health[0].schema_version >= 1 and health[1].schema_version >= 1
    known = query.known_values(pair.duckdb)
    assert known == query.known_values(pair.postgres)
    assert "VN" in known.regions and "1d" in known.windows and "poisson" in known.detectors


# ---- the read-only DuckDB reader -----------------------------------------------------------------------------

_HOLD_FILE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("open", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_the_reader_releases_the_file_for_a_pipeline(filled: Filled, tmp_path: Any) -> None:
    import shutil

    path = tmp_path / "copy.duckdb"
    shutil.copy(filled.duckdb.removeprefix("duckdb:///"), path)
    reader = DuckDBReader(f"duckdb:///{path}", hold_s=0.2)
    try:
        assert len(query.trends(reader, limit=3).rows) == 3
        time.sleep(0.6)  # idle past the hold: the file is free for a writer
        writer = subprocess.Popen([sys.executable, "-c", _HOLD_FILE, str(path), "3"], stdout=subprocess.PIPE)
        assert writer.stdout is not None and writer.stdout.readline().strip() == b"open"
        with pytest.raises(StoreBusy, match="being written by another process"):
            query.trends(reader, limit=3)
        writer.wait(timeout=30)
        assert len(query.trends(reader, limit=3).rows) == 3  # readable again once the writer is gone
    finally:
        reader.close()


def test_a_missing_duckdb_file_says_what_to_do(tmp_path: Any) -> None:
    with pytest.raises(query.StoreBusy.__mro__[1], match="tiktrend run"):
        DuckDBReader(f"duckdb:///{tmp_path / 'absent.duckdb'}")


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_reads_from_many_threads_at_once(pair: Pair, backend: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    reader = getattr(pair, backend)
    keyword = a_trending_keyword(pair)
    expected = query.keyword_series(reader, [keyword], grain="day")

    def ask(_: int) -> pd.DataFrame:
        return query.keyword_series(reader, [keyword], grain="day")

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(ask, range(48)))
    for answer in answers:
        pd.testing.assert_frame_equal(answer, expected)
