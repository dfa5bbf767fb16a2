"""The dashboard's reads over a real store on both backends: several selected slices add up to what the query
layer answers for each slice, and every answer stays inside the filters."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit", reason="the dashboard extra (streamlit) is not installed")

from tiktrend import query
from tiktrend.collect.simulator import SimConfig
from tiktrend.dashboard import data
from tiktrend.dashboard.filters import Filters
from tiktrend.pipeline import run_pipeline
from tiktrend.settings import Settings
from tiktrend.store import ALL, open_store

SCENARIO = SimConfig(seed=5, hours=60, videos_per_hour=60, n_trends=4)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A store filled by one run of the pipeline on a small simulated feed, on each backend."""
    root = tmp_path_factory.mktemp(f"dashboard-data-{request.param}")
    schema = None
    if request.param == "duckdb":
        found = f"duckdb:///{root / 'tiktrend.duckdb'}"
    else:
        database: str = request.getfixturevalue("pg_database")
        schema = f"dashboard_{secrets.token_hex(4)}"
        _postgres(database, "CREATE SCHEMA {}", schema)
        found = f"{database}?options=-csearch_path%3D{schema}"
    store = open_store(found)
    try:
        run_pipeline(store, Settings(data_dir=root, database_url=found), simulation=SCENARIO)
    finally:
        store.close()
    yield found
    data.reader(found).close()
    if schema is not None:
        _postgres(database, "DROP SCHEMA IF EXISTS {} CASCADE", schema)


def _postgres(database: str, statement: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL(statement).format(psycopg.sql.Identifier(schema)))


@pytest.fixture(scope="module")
def whole(url: str) -> Filters:
    """No filter but the store's whole range of days."""
    choices = data.choices(url, data.version(url))
    return Filters(first_day=choices.first_day, last_day=choices.last_day, top_n=20)


def test_choices_are_what_the_store_holds(url: str) -> None:
    choices = data.choices(url, data.version(url))
    assert set(choices.regions) == set(SCENARIO.regions)
    assert choices.categories and ALL not in choices.categories
    assert choices.first_day == SCENARIO.start.date()
    assert choices.last_day is not None and choices.first_day < choices.last_day <= (SCENARIO.end.date())


def test_trends_of_several_regions_are_each_regions_best(url: str, whole: Filters) -> None:
    version = data.version(url)
    picked = replace(whole, regions=("US", "VN"), top_n=10)
    found = data.trends(url, version, picked, "1d", "threshold")
    assert not found.empty and len(found) <= 10
    assert set(found["region"]) <= {"US", "VN"}
    assert found["score"].is_monotonic_decreasing
    reader = data.reader(url)
    each = pd.concat(
        query.trends(reader, window="1d", detector="threshold", region=r, limit=10).rows for r in ("US", "VN")
    )
    best = each.sort_values(["score", "keyword"], ascending=[False, True]).head(10)
    assert list(found["keyword"]) == list(best["keyword"])


def test_sparklines_follow_each_trend_in_its_slice(url: str, whole: Filters) -> None:
    version = data.version(url)
    picked = replace(whole, regions=("US", "DE"), top_n=5)
    found = data.trends(url, version, picked, "1d", "threshold")
    lines = data.sparklines(url, version, found, picked)
    assert len(lines) == len(found)
    days = (picked.last_day - picked.first_day).days + 1  # type: ignore[operator]
    first = found.iloc[0]
    expected = query.keyword_series(
        data.reader(url),
        [first["keyword"]],
        grain="hour",
        start=picked.start,
        end=picked.end,
        region=first["region"],
        category=first["category"],
        modality=first["modality"],
    )
    assert lines[0] == expected["videos"].astype(float).tolist()
    assert all(len(line) == days * 24 for line in lines)


def test_region_and_category_totals_add_up_over_the_selection(url: str, whole: Filters) -> None:
    version = data.version(url)
    reader = data.reader(url)
    everything = data.by_region(url, version, whole)
    direct = query.regions(reader, start=whole.start, end=whole.end)
    assert everything.set_index("region")["videos"].to_dict() == direct.set_index("region")["videos"].to_dict()
    categories = tuple(sorted(query.categories(reader)["category"])[:2])
    picked = replace(whole, regions=("US", "VN"), categories=categories)
    some = data.by_region(url, version, picked).set_index("region")
    assert set(some.index) <= {"US", "VN"}
    for region in some.index:
        parts = [query.regions(reader, start=whole.start, end=whole.end, category=c) for c in categories]
        expected = sum(int(p.set_index("region")["videos"].get(region, 0)) for p in parts)
        assert int(some.loc[region, "videos"]) == expected
    per_category = data.by_category(url, version, picked)
    assert set(per_category["category"]) <= set(categories)
    assert int(per_category["videos"].sum()) == int(some["videos"].sum())


def test_keyword_evidence_adds_the_selected_regions(url: str, whole: Filters) -> None:
    version = data.version(url)
    reader = data.reader(url)
    keyword = str(data.top_keywords(url, version, whole)["keyword"].iloc[0])
    picked = replace(whole, regions=("US", "VN"))
    evidence = data.keyword_evidence(url, version, keyword, picked)
    assert evidence.found
    grain = data.grain_of(picked)
    expected = sum(
        int(
            query.keyword_series(reader, [keyword], grain=grain, start=picked.start, end=picked.end, region=r)[
                "videos"
            ].sum()
        )
        for r in ("US", "VN")
    )
    assert int(evidence.series["videos"].sum()) == expected
    assert set(evidence.regions["region"]) <= {"US", "VN"}
    assert not evidence.examples.empty
    assert set(evidence.examples["region"]) <= {"US", "VN"}
    assert evidence.examples["views"].is_monotonic_decreasing
    for link, author, video in zip(
        evidence.examples["link"], evidence.examples["author"], evidence.examples["video_id"], strict=True
    ):
        assert link == f"https://www.tiktok.com/@{author}/video/{video}"


def test_the_modality_filter_narrows_the_keywords_and_their_videos(url: str, whole: Filters) -> None:
    version = data.version(url)
    picked = replace(whole, modalities=("music",))
    top = data.top_keywords(url, version, picked)
    assert set(top["modality"]) == {"music"}
    evidence = data.keyword_evidence(url, version, str(top["keyword"].iloc[0]), picked)
    assert set(evidence.modalities["modality"]) == {"music"}
    assert all("music" in str(m).split(",") for m in evidence.examples["modalities"])


def test_pipeline_health_reads_the_run_log(url: str) -> None:
    version = data.version(url)
    runs = data.runs(url, version, 5)
    assert list(runs["status"]) == ["ok"]
    figures = data.run_figures(url, version, 5)
    assert {"records_read", "records_accepted", "records_quarantined"} <= set(figures.volumes["metric"])
    assert set(figures.timings["stage"]) >= {"rollup", "detect"}
    assert data.quarantine(url, version).empty


def test_a_missing_store_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(data.StoreMissing):
        data.reader(f"duckdb:///{tmp_path / 'none.duckdb'}")


def test_days_outside_the_data_give_empty_answers_not_errors(url: str, whole: Filters) -> None:
    version = data.version(url)
    far = replace(whole, first_day=date(2001, 1, 1), last_day=date(2001, 1, 2))
    assert data.top_keywords(url, version, far).empty
    assert data.by_region(url, version, far).empty
    assert not data.keyword_evidence(url, version, "anything", far).found


def test_keyword_evidence_says_where_it_trends(url: str, whole: Filters) -> None:
    version = data.version(url)
    best = data.trends(url, version, whole, "1d", "threshold").iloc[0]
    evidence = data.keyword_evidence(url, version, str(best["keyword"]), replace(whole, regions=("US",)))
    ranked = evidence.trends
    assert set(ranked["region"]) <= {"US", ALL}
    everywhere = ranked[(ranked["time_window"] == "1d") & (ranked["detector"] == "threshold")]
    everywhere = everywhere[(everywhere[["region", "category", "modality"]] == ALL).all(axis=1)]
    assert list(everywhere["rank"]) == [int(best["rank"])]


def _videos_with_a_mention_in(url: str, by: str, modality: str, filters: Filters) -> dict[str, int]:
    """Videos per region or category that mention anything in ``modality``, counted by a join of our own."""
    assert filters.start is not None and filters.end is not None
    statement = f"""
        SELECT v.{by} AS name, count(DISTINCT v.video_id) AS videos
        FROM videos v JOIN keyword_mentions m ON m.video_id = v.video_id
        WHERE m.modality = $modality AND v.posted_at >= $start AND v.posted_at < $end
        GROUP BY v.{by}
    """
    params = {
        "modality": modality,
        "start": filters.start.replace(tzinfo=None),
        "end": filters.end.replace(tzinfo=None),
    }
    found = data.reader(url).read(statement, params)
    return {str(name): int(videos) for name, videos in zip(found["name"], found["videos"], strict=True)}


@pytest.mark.parametrize("by", ["region", "category"])
def test_a_modality_filter_changes_the_region_and_category_totals(url: str, whole: Filters, by: str) -> None:
    version = data.version(url)
    ask = data.by_region if by == "region" else data.by_category
    everything = ask(url, version, whole).set_index(by)["videos"].to_dict()
    for modality in ("caption", "emoji"):  # the simulator writes a caption or an emoji in some videos only
        picked = replace(whole, modalities=(modality,))
        narrowed = ask(url, version, picked).set_index(by)["videos"].to_dict()
        assert narrowed == _videos_with_a_mention_in(url, by, modality, whole)
        assert all(videos <= everything[name] for name, videos in narrowed.items())
        assert sum(narrowed.values()) < sum(everything.values()), f"the {modality} filter changed no total"
    # Every simulated video has a sound: its totals read from the videos equal the rollups' totals of all videos.
    music = ask(url, version, replace(whole, modalities=("music",)))
    assert _videos_with_a_mention_in(url, by, "music", whole) == everything
    assert music.set_index(by)["videos"].to_dict() == everything
    assert int(music["views"].sum()) == int(ask(url, version, whole)["views"].sum())


def test_modality_totals_count_each_video_once_in_regions_and_categories(url: str, whole: Filters) -> None:
    version = data.version(url)
    categories = tuple(sorted(data.by_category(url, version, whole)["category"])[:2])
    picked = replace(whole, regions=("US", "VN"), categories=categories, modalities=("caption", "emoji"))
    regions = data.by_region(url, version, picked)
    per_category = data.by_category(url, version, picked)
    assert set(regions["region"]) <= {"US", "VN"} and set(per_category["category"]) <= set(categories)
    assert int(regions["videos"].sum()) == int(per_category["videos"].sum()) > 0
    assert int(regions["views"].sum()) == int(per_category["views"].sum())
    emoji_only = data.by_region(url, version, replace(picked, modalities=("emoji",)))
    assert int(emoji_only["videos"].sum()) < int(regions["videos"].sum())


def test_the_keyword_regions_follow_the_modality_filter(url: str, whole: Filters) -> None:
    version = data.version(url)
    picked = replace(whole, modalities=("music",))
    keyword = str(data.top_keywords(url, version, picked)["keyword"].iloc[0])
    evidence = data.keyword_evidence(url, version, keyword, picked)
    shown = evidence.regions.set_index("region")["videos"].to_dict()
    reader = data.reader(url)
    for region, videos in shown.items():
        series = query.keyword_series(
            reader, [keyword], grain="day", start=picked.start, end=picked.end, region=region, modality="music"
        )
        assert videos == int(series["videos"].sum())
    assert sum(shown.values()) == int(evidence.series["videos"].sum())


def test_the_top_n_filter_bounds_the_region_and_category_totals(url: str, whole: Filters) -> None:
    version = data.version(url)
    for ask in (data.by_region, data.by_category):
        every = ask(url, version, whole)
        top = ask(url, version, replace(whole, top_n=2))
        assert len(every) > 2 and list(top["videos"]) == list(every["videos"].head(2))
