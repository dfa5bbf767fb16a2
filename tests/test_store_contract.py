"""DuckDB and PostgreSQL side by side: the same pipeline into each, then every query must answer the same."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from tiktrend.collect.simulator import SimConfig
from tiktrend.models import MODALITIES
from tiktrend.pipeline import run_pipeline
from tiktrend.settings import Settings
from tiktrend.store import ALL, DATA_TABLES, GRAINS, Store, open_store

SCENARIO = SimConfig(seed=11, hours=60, videos_per_hour=50, n_trends=4)


@dataclass
class Pair:
    duckdb: Store
    postgres: Store

    def both(self, ask: Callable[[Store], object]) -> tuple[object, object]:
        return ask(self.duckdb), ask(self.postgres)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Pair]:
    """The simulated scenario run through the whole pipeline once into each backend."""
    import psycopg

    schema = "contract"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    stores = Pair(
        open_store(f"duckdb:///{tmp_path_factory.mktemp('duck') / 'contract.duckdb'}"),
        open_store(f"{pg_database}?options=-csearch_path%3D{schema}"),
    )
    for name, store in (("duckdb", stores.duckdb), ("postgres", stores.postgres)):
        settings = Settings(data_dir=tmp_path_factory.mktemp(name))
        run_pipeline(store, settings, simulation=SCENARIO)
    yield stores
    stores.duckdb.close()
    stores.postgres.close()


def assert_same(answers: tuple[object, object], what: str) -> None:
    duck, pg = answers
    if isinstance(duck, pd.DataFrame):
        assert isinstance(pg, pd.DataFrame)
        assert len(duck) > 0 or what.startswith("empty"), f"{what}: the scenario should give rows"
        pd.testing.assert_frame_equal(pg, duck, obj=what)
    else:
        assert pg == duck, what


@pytest.mark.parametrize("table", [*DATA_TABLES, "keyword_top"])
def test_every_table_holds_the_same_rows(pair: Pair, table: str) -> None:
    duck, pg = pair.both(lambda s: s.snapshot(table))
    assert isinstance(duck, pd.DataFrame) and isinstance(pg, pd.DataFrame)
    if table == "trends":  # each backend's own run produced them
        duck, pg = duck.drop(columns="run_id"), pg.drop(columns="run_id")
    if table != "quarantine":
        assert len(duck) > 0
    pd.testing.assert_frame_equal(pg, duck, obj=table)


def test_run_logs_match_in_shape(pair: Pair) -> None:
    duck, pg = pair.both(lambda s: s.table_counts())
    assert duck == pg
    metrics = pair.both(lambda s: s.snapshot("pipeline_metrics").drop(columns=["run_id"]))
    duck_m, pg_m = (m[~m["metric"].eq("seconds")].reset_index(drop=True) for m in metrics)
    pd.testing.assert_frame_equal(pg_m, duck_m)


def test_time_range(pair: Pair) -> None:
    assert_same(pair.both(lambda s: s.time_range()), "time_range")


def _span(pair: Pair) -> tuple[pd.Timestamp, pd.Timestamp]:
    span = pair.duckdb.time_range()
    assert span is not None
    return pd.Timestamp(span[0]).floor("D"), pd.Timestamp(span[1]).ceil("D")


@pytest.mark.parametrize("grain", list(GRAINS))
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"include_generic": True},
        {"region": ALL, "category": ALL, "modality": ALL},
        {"region": "US"},
        {"region": "VN", "category": ALL},
        {"modality": "hashtag"},
        {"category": "food", "modality": ALL},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all",
)
def test_bucket_frames(pair: Pair, grain: str, filters: dict[str, object]) -> None:
    start, end = _span(pair)
    assert_same(pair.both(lambda s: s.bucket_frame(grain, start, end, **filters)), f"bucket_frame {filters}")


def test_bucket_frame_of_a_window_inside_the_data(pair: Pair) -> None:
    start, _ = _span(pair)
    window = (start + timedelta(hours=30), start + timedelta(hours=37))
    assert_same(pair.both(lambda s: s.bucket_frame("hour", *window, region="US")), "bucket_frame window")


@pytest.mark.parametrize("grain", list(GRAINS))
def test_totals_frames(pair: Pair, grain: str) -> None:
    start, end = _span(pair)
    assert_same(pair.both(lambda s: s.totals_frame(grain, start, end)), f"totals_frame {grain}")


@pytest.mark.parametrize("filters", [{}, {"region": "US", "modality": ALL}, {"include_generic": True}])
def test_velocity_frames(pair: Pair, filters: dict[str, object]) -> None:
    start, end = _span(pair)
    assert_same(pair.both(lambda s: s.velocity_frame("hour", start, end, **filters)), f"velocity_frame {filters}")
    assert_same(pair.both(lambda s: s.velocity_totals_frame("day", start, end)), "velocity_totals_frame")


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"window": "1d"},
        {"window": "1d", "limit": 5},
        {"window": "1d", "region": "US"},
        {"window": "1d", "modality": "hashtag"},
        {"detector": "threshold"},
    ],
    ids=lambda q: ",".join(f"{k}={v}" for k, v in q.items()) or "default",
)
def test_top_trends(pair: Pair, query: dict[str, object]) -> None:
    duck, pg = pair.both(lambda s: s.top_trends(**query).drop(columns="run_id"))
    assert_same((duck, pg), f"top_trends {query}")


def test_empty_answers_agree(pair: Pair) -> None:
    far = pd.Timestamp("2001-01-01")
    for modality in MODALITIES[:2]:
        answers = pair.both(lambda s, m=modality: s.bucket_frame("hour", far, far + timedelta(days=1), modality=m))
        assert_same(answers, "empty bucket_frame")
    assert_same(pair.both(lambda s: s.top_trends(window="7d")), "empty top_trends")


def test_incremental_rollups_equal_a_rebuild(pair: Pair) -> None:
    from tiktrend.store.postgres import PostgresStore

    assert isinstance(pair.postgres, PostgresStore)
    before = {t: pair.postgres.snapshot(t) for t in ("keyword_buckets", "bucket_totals")}
    pair.postgres.rebuild_rollups()
    for table, frame in before.items():
        pd.testing.assert_frame_equal(pair.postgres.snapshot(table), frame, obj=table)


def test_fresh_stores_are_empty_alike(tmp_path: Path, pg_schema_url: Callable[[], str]) -> None:
    with open_store(f"duckdb:///{tmp_path / 'e.duckdb'}") as duck, open_store(pg_schema_url()) as pg:
        assert duck.time_range() is None and pg.time_range() is None
        assert duck.refresh_rollups() == pg.refresh_rollups() == 0
        for table in DATA_TABLES:
            pd.testing.assert_frame_equal(pg.snapshot(table), duck.snapshot(table), obj=table)


def test_video_regions(pair: Pair) -> None:
    assert_same(pair.both(lambda s: s.snapshot("video_regions")), "video_regions")


def test_example_videos(pair: Pair) -> None:
    start, end = _span(pair)
    top = pair.duckdb.top_trends(window="1d", limit=5)["keyword"].tolist()
    for region in (None, "US", ALL):
        answers = pair.both(lambda s, r=region: s.example_videos(top, start, end, region=r, limit=3))
        assert_same(answers, f"example_videos {region}")


def test_external_trend_lists(pair: Pair) -> None:
    listed = pd.DataFrame(
        {
            "source": "creative_center",
            "kind": ["hashtag", "hashtag", "sound"],
            "region": ["US", "US", "VN"],
            "period_days": 7,
            "industry": "",
            "list_date": ["2025-06-01", "2025-06-02", "2025-06-01"],
            "keyword": ["matcha", "matcha", "song a"],
            "name": ["Matcha", "Matcha", "Song A"],
            "item_id": [None, None, "123"],
            "rank": [3, 1, 2],
            "rank_diff": [None, 2, None],
            "is_new": [True, False, None],
            "posts": [100, 250, None],
            "views": [10_000, 90_000, None],
            "trend": [None, "up", None],
            "listed_at": pd.to_datetime(["2025-06-01 08:00", "2025-06-02 08:00", "2025-06-01 09:00"], utc=True),
        }
    )
    assert pair.both(lambda s: s.load_external_trends(listed)) == (3, 3)
    assert_same(pair.both(lambda s: s.creative_center_frame()), "creative_center_frame")
    assert_same(pair.both(lambda s: s.creative_center_frame(kind="sound", region="VN")), "by kind")
    assert_same(pair.both(lambda s: s.snapshot("external_trends")), "external_trends")


@pytest.mark.parametrize(
    "query",
    [
        {"region": None, "limit": None},
        {"region": None, "category": None, "limit": None},
        {"modality": None, "limit": 9},
    ],
    ids=["every-region", "every-region-and-category", "every-modality"],
)
def test_top_trends_across_slices(pair: Pair, query: dict[str, object]) -> None:
    duck, pg = pair.both(lambda s: s.top_trends(window="1d", **query).drop(columns="run_id"))
    assert isinstance(duck, pd.DataFrame)
    if "region" in query:
        assert duck["region"].nunique() > 1  # every region's slice, in one answer
    assert_same((duck, pg), f"top_trends {query}")


def test_trend_examples_history_and_choice(pair: Pair) -> None:
    top = pair.duckdb.top_trends(window="1d", region=None, limit=None)
    as_of = pd.Timestamp(top["as_of"].iloc[0]).to_pydatetime()
    assert_same(pair.both(lambda s: s.select_examples(top, as_of - timedelta(days=1), as_of, limit=3)), "examples")
    chosen = pair.duckdb.select_examples(top, as_of - timedelta(days=1), as_of, limit=2)
    assert (chosen.groupby(["region", "category", "modality", "keyword"]).size() <= 2).all()
    for region in (None, "US"):
        answers = pair.both(
            lambda s, r=region: s.trend_examples(as_of=as_of, time_window="1d", detector="threshold", region=r)
        )
        assert_same(answers, f"trend_examples {region}")
    keywords = sorted(set(top["keyword"]))
    history = pair.both(
        lambda s: s.trend_history(
            time_window="1d", detector="threshold", keywords=keywords, start=as_of - timedelta(days=3), end=as_of
        )
    )
    assert_same(history, "empty trend_history before the only detection")
    history = pair.both(
        lambda s: s.trend_history(
            time_window="1d", detector="threshold", keywords=keywords[:3], start=as_of, end=as_of + timedelta(hours=1)
        )
    )
    assert_same(history, "trend_history")


def test_series_detections_carried_over_earlier_ones_agree(pair: Pair) -> None:
    from tiktrend.pipeline import detect_series
    from tiktrend.trends.detectors import PoissonDetector

    span = pair.duckdb.time_range()
    assert span is not None
    end = pd.Timestamp(span[1]).ceil("h").to_pydatetime()
    for hours in (6, 3, 0):
        found = pair.both(
            lambda s, h=hours: detect_series(
                s, f"series-{h}", PoissonDetector(min_z=4.0), grain="hour", as_of=end - timedelta(hours=h)
            )
        )
        duck, pg = found
        pd.testing.assert_frame_equal(pg.trends, duck.trends)  # type: ignore[attr-defined]
        pd.testing.assert_frame_equal(pg.examples, duck.examples)  # type: ignore[attr-defined]
    assert not duck.trends.empty  # type: ignore[attr-defined]
    for table in ("trends", "trend_examples"):
        stored = pair.both(lambda s, t=table: s.snapshot(t))
        duck_t, pg_t = (f.drop(columns="run_id", errors="ignore") for f in stored)  # type: ignore[attr-defined]
        pd.testing.assert_frame_equal(pg_t, duck_t, obj=table)
