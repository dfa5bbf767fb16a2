"""First detection time and example videos of stored trends: the rule, both detection paths, re-runs, layouts."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tiktrend.cli import app
from tiktrend.collect.simulator import SimConfig
from tiktrend.pipeline import default_as_of, detect, detect_series, run_pipeline
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore
from tiktrend.store.schema import DUCKDB_SCHEMA_VERSION
from tiktrend.trends.detectors import PoissonDetector, ThresholdDetector
from tiktrend.trends.history import carry_first_detection
from tiktrend.trends.rank import side_by_side

H = timedelta(hours=1)
T = pd.Timestamp("2025-06-01 12:00")
KEY = {"region": "US", "category": "*", "modality": "*", "keyword": "matcha"}


def ranked(first: pd.Timestamp, as_of: pd.Timestamp = T, **key: str) -> pd.DataFrame:
    return pd.DataFrame([{**KEY, **key, "as_of": as_of, "first_detected_at": first}])


def stored(*rows: tuple[pd.Timestamp, pd.Timestamp | None], **key: str) -> pd.DataFrame:
    return pd.DataFrame([{**KEY, **key, "as_of": a, "first_detected_at": f} for a, f in rows])


def carried(now: pd.DataFrame, before: pd.DataFrame, tolerance: timedelta = 2 * H) -> pd.Timestamp:
    return pd.Timestamp(carry_first_detection(now, before, tolerance)["first_detected_at"].iloc[0])


# ---- the rule -----------------------------------------------------------------------------------------------


def test_a_stored_detection_inside_the_run_of_flags_carries_its_first_detection() -> None:
    assert carried(ranked(T - 3 * H), stored((T - 4 * H, T - 9 * H))) == T - 9 * H
    # each stored row already carries its own past: the newest one in reach is enough
    assert carried(ranked(T), stored((T - H, T - 20 * H), (T - 30 * H, T - 40 * H))) == T - 20 * H


def test_a_gap_longer_than_the_tolerance_starts_a_new_run() -> None:
    assert carried(ranked(T), stored((T - 3 * H, T - 9 * H))) == T
    assert carried(ranked(T), stored((T - 3 * H, T - 9 * H)), tolerance=3 * H) == T - 9 * H


def test_rows_stored_before_first_detection_existed_count_from_their_own_moment() -> None:
    # NULL first detection (an older row): its as_of is the earliest known, and the walk goes on from there
    assert carried(ranked(T), stored((T - H, None), (T - 2 * H, None), (T - 3 * H, T - 5 * H))) == T - 5 * H


def test_only_earlier_detections_of_the_same_key_count() -> None:
    assert carried(ranked(T), stored((T, T - 9 * H), (T + H, T - 9 * H))) == T  # a re-run, a later run
    assert carried(ranked(T), stored((T - H, T - 9 * H), region="VN")) == T
    assert carried(ranked(T), stored((T - H, T - 9 * H), keyword="cake")) == T
    assert carried(ranked(T), stored()) == T  # an empty history changes nothing
    assert carried(ranked(T), pd.DataFrame(columns=[*KEY, "as_of", "first_detected_at"])) == T


def test_many_keys_at_once_agree_with_a_walk_back_through_each_history() -> None:
    rng = np.random.default_rng(4)
    keys = [f"k{i}" for i in range(40)]
    now = pd.DataFrame(
        {**KEY, "keyword": keys, "as_of": T, "first_detected_at": T - pd.to_timedelta(rng.integers(0, 6, 40), "h")}
    )
    rows = []
    for key in keys:
        for back in sorted(rng.choice(np.arange(1, 60), size=int(rng.integers(0, 12)), replace=False)):
            first = None if rng.random() < 0.3 else T - (back + int(rng.integers(0, 5))) * H
            rows.append({**KEY, "keyword": key, "as_of": T - int(back) * H, "first_detected_at": first})
    history = pd.DataFrame(rows)
    got = carry_first_detection(now, history, 3 * H).set_index("keyword")["first_detected_at"]
    moved = (got.to_numpy() < now["first_detected_at"].to_numpy()).sum()
    assert 10 < moved < 40  # many carried back, some not: the case is not trivial either way
    for key, first in zip(now["keyword"], now["first_detected_at"], strict=True):
        mine = history[history["keyword"] == key].sort_values("as_of", ascending=False)
        for seen_at, seen_first in zip(mine["as_of"], mine["first_detected_at"], strict=True):
            if seen_at < first - 3 * H:
                break
            first = min(first, seen_at if pd.isna(seen_first) else seen_first)
        assert got[key] == first, key


def test_zone_aware_and_naive_moments_compare_as_utc() -> None:
    now = ranked(pd.Timestamp("2025-06-01 14:00", tz="Europe/Berlin"), as_of=pd.Timestamp(T, tz=UTC))
    assert carried(now, stored((T - H, T - 9 * H))) == T - 9 * H


# ---- both detection paths over a simulated store ------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("records")
    settings = Settings(data_dir=root / "data")
    with DuckDBStore(settings.database_url) as store:
        run_pipeline(
            store, settings, windows=("1d",), simulation=SimConfig(seed=5, hours=72, videos_per_hour=150, n_trends=6)
        )
    return Path(settings.database_url.removeprefix("duckdb:///"))


@pytest.fixture
def store(simulated: Path, tmp_path: Path) -> DuckDBStore:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(simulated, copy)
    opened = DuckDBStore(f"duckdb:///{copy}")
    opened.con.execute("DELETE FROM trends")
    opened.con.execute("DELETE FROM trend_examples")
    return opened


def trends_at(store: DuckDBStore, as_of: datetime, detector: str = "threshold") -> pd.DataFrame:
    frame = store.snapshot("trends")
    return frame[(frame["as_of"] == pd.Timestamp(as_of).tz_localize(None)) & (frame["detector"] == detector)]


def test_threshold_first_detection_follows_earlier_runs_and_a_rerun_gives_the_same(store: DuckDBStore) -> None:
    end = default_as_of(store)
    assert end is not None
    rule = ThresholdDetector(min_videos=5)
    for hour in (3, 2, 1, 0):
        detect(store, f"run-{hour}", windows=["1d"], detector=rule, as_of=end - hour * H)
    final = trends_at(store, end).set_index(["region", "category", "modality", "keyword"])
    assert not final.empty
    previous = trends_at(store, end - H).set_index(final.index.names)
    both = final.index.intersection(previous.index)
    assert len(both) > 0  # trends that keep going from one hour to the next
    # flagged an hour ago too (within the 1-day tolerance): the same run of flags, the same first detection
    assert (final.loc[both, "first_detected_at"] == previous.loc[both, "first_detected_at"]).all()
    assert (final.loc[both, "first_detected_at"] <= pd.Timestamp(end - 3 * H).tz_localize(None)).any()
    new = final.index.difference(previous.index)
    assert (final.loc[new, "first_detected_at"] >= pd.Timestamp(end - 3 * H).tz_localize(None)).all()
    kept = store.snapshot("trends")
    again = detect(store, "rerun", windows=["1d"], detector=rule, as_of=end)
    assert again.rows_changed == 0
    pd.testing.assert_frame_equal(store.snapshot("trends"), kept)  # same values, first runs kept


def test_examples_are_the_most_viewed_videos_of_the_trend_in_its_window(store: DuckDBStore) -> None:
    end = default_as_of(store)
    assert end is not None
    detect(store, "run", windows=["1d"], detector=ThresholdDetector(min_videos=5), as_of=end)
    trends = trends_at(store, end)
    examples = store.snapshot("trend_examples")
    assert set(examples["as_of"]) == {pd.Timestamp(end).tz_localize(None)}
    naive_end = pd.Timestamp(end).tz_localize(None)
    for trend in trends.head(8).itertuples(index=False):
        mine = examples[(examples["keyword"] == trend.keyword) & (examples["region"] == trend.region)]
        mine = mine[(mine["category"] == trend.category) & (mine["modality"] == trend.modality)]
        candidates = store.con.execute(
            """SELECT DISTINCT m.video_id, coalesce((SELECT max(views) FROM video_stats s
                   WHERE s.video_id = m.video_id AND s.observed_at < $end), 0) AS views
               FROM keyword_mentions m WHERE m.keyword = $keyword AND m.posted_at >= $start AND m.posted_at < $end
                 AND ($region = '*' OR m.region = $region) AND ($category = '*' OR m.category = $category)
                 AND ($modality = '*' OR m.modality = $modality)
               ORDER BY views DESC, video_id LIMIT 3""",
            {
                "keyword": trend.keyword,
                "start": naive_end - timedelta(days=1),
                "end": naive_end,
                "region": trend.region,
                "category": trend.category,
                "modality": trend.modality,
            },
        ).fetchall()
        assert list(mine["rank"]) == list(range(1, len(candidates) + 1))
        assert list(zip(mine["video_id"], mine["views"], strict=True)) == candidates
        assert len(candidates) == min(3, int(trend.videos_now))
    shown = store.trend_examples(as_of=end, time_window="1d", detector="threshold", region="*")
    assert {"author", "caption", "video_url"} <= set(shown.columns) and shown["author"].notna().all()
    detect(store, "rerun", windows=["1d"], detector=ThresholdDetector(min_videos=5), as_of=end)
    pd.testing.assert_frame_equal(store.snapshot("trend_examples"), examples)


def test_series_first_detection_is_the_first_moment_the_detector_flagged(store: DuckDBStore) -> None:
    poisson = PoissonDetector(min_z=5.0)
    found = detect_series(store, "now", poisson, grain="hour", region="*")
    assert not found.trends.empty and found.as_of is not None
    trend = found.trends.sort_values(["first_detected_at", "keyword"]).iloc[-1]
    first = pd.Timestamp(trend["first_detected_at"]).tz_localize(UTC).to_pydatetime()
    assert first < found.as_of
    # what a run at each of those moments saw: not flagged the hour before, flagged then, since then
    before = detect_series(store, "before", poisson, grain="hour", region="*", as_of=first - H)
    assert trend["keyword"] not in set(before.trends["keyword"])
    at = detect_series(store, "at", poisson, grain="hour", region="*", as_of=first)
    row = at.trends[at.trends["keyword"] == trend["keyword"]].iloc[0]
    assert row["first_detected_at"] == trend["first_detected_at"] == first.replace(tzinfo=None)
    again = detect_series(store, "again", poisson, grain="hour", region="*")
    assert again.rows_changed == 0
    pd.testing.assert_frame_equal(again.trends, found.trends)
    per_trend = again.examples.groupby(["region", "category", "modality", "keyword"]).size()
    assert len(per_trend) == len(found.trends) and (per_trend <= 3).all()


# ---- layouts ------------------------------------------------------------------------------------------------


def test_a_version_1_duckdb_file_gets_first_detection_and_examples(tmp_path: Path) -> None:
    path = tmp_path / "v1.duckdb"
    row = {
        "as_of": T, "time_window": "1d", "detector": "threshold", "region": "*", "category": "*",
        "modality": "*", "keyword": "dance", "display": "Dance", "rank": 1, "score": 2.0, "growth": 2.0,
        "videos_now": 9, "videos_before": 3, "mentions_now": 9.0, "mentions_before": 3.0, "share_now": 0.1,
        "share_before": 0.05, "views": 1, "likes": 1, "comments": 1, "shares": 1, "saves": 1,
        "stage": "rising", "explanation": "x",
    }  # fmt: skip
    with DuckDBStore(f"duckdb:///{path}") as store:
        store.save_trends(pd.DataFrame([row]), "old-run")
    with duckdb.connect(str(path)) as con:  # what version 1 wrote
        con.execute("DROP TABLE trend_examples")
        con.execute("ALTER TABLE trends DROP COLUMN first_detected_at")
        con.execute("DELETE FROM tiktrend_schema WHERE version > 1")
    with DuckDBStore(f"duckdb:///{path}") as store:
        assert store.layout_version() == DUCKDB_SCHEMA_VERSION
        old = store.snapshot("trends")
        assert len(old) == 1 and pd.isna(old.iloc[0]["first_detected_at"])
        later = {**row, "as_of": T + H, "first_detected_at": T + H}
        store.save_trends(pd.DataFrame([later]), "new-run", _examples(T + H))
        history = store.trend_history(time_window="1d", detector="threshold", keywords=["dance"], start=T, end=T + H)
        assert list(history["as_of"]) == [T] and history["first_detected_at"].isna().all()
        assert list(store.snapshot("trend_examples")["video_id"]) == ["v1", "v2"]
        store.save_trends(pd.DataFrame([later]), "new-run")  # no examples given: the scope has none
        assert store.snapshot("trend_examples").empty


def _examples(as_of: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            **{k: [v, v] for k, v in {"region": "*", "category": "*", "modality": "*", "keyword": "dance"}.items()},
            "as_of": as_of,
            "time_window": "1d",
            "detector": "threshold",
            "rank": [1, 2],
            "video_id": ["v1", "v2"],
            "views": [10, 5],
        }
    )


# ---- slices side by side ------------------------------------------------------------------------------------


def test_side_by_side_puts_each_keyword_on_one_row_and_each_slice_in_a_column() -> None:
    rows = [
        ("*", "matcha", 9.0, "rising", T - 5 * H),
        ("US", "matcha", 7.25, "peaking", T - 5 * H),
        ("VN", "matcha", 4.0, "emerging", T - 8 * H),
        ("VN", "phở", 12.0, "fading", T - H),
        ("US", "cake", 2.0, "rising", T),
    ]
    trends = pd.DataFrame(
        [
            {"region": r, "category": "*", "modality": "*", "keyword": k, "display": k.title(), "score": s,
             "stage": g, "first_detected_at": f}
            for r, k, s, g, f in rows
        ]
    )  # fmt: skip
    table = side_by_side(trends, "region", limit=2)
    assert list(table.columns) == ["keyword", "display", "best", "first_detected_at", "first_in", "*", "US", "VN"]
    assert list(table["keyword"]) == ["phở", "matcha"]  # by best score in any region; cake is cut by the limit
    matcha = table.set_index("keyword").loc["matcha"]
    assert (matcha["*"], matcha["US"], matcha["VN"]) == ("9 up", "7.25 peak", "4 new")
    assert (matcha["first_detected_at"], matcha["first_in"]) == (T - 8 * H, "VN")  # Vietnam saw it first
    assert table.set_index("keyword").loc["phở", "US"] == ""
    with pytest.raises(ValueError, match="unknown --by 'modality'"):
        side_by_side(trends, "modality", limit=2)


def test_cli_trends_shows_first_detection_examples_and_slices_side_by_side(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(simulated, data / simulated.name)
    monkeypatch.setenv("TIKTREND_DATA_DIR", str(data))
    monkeypatch.delenv("TIKTREND_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    result = runner.invoke(app, ["trends", "--window", "1d", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "since" in result.output and "first flagged" in result.output and " views  @" in result.output
    with DuckDBStore(f"duckdb:///{data / simulated.name}") as store:
        top = store.top_trends(window="1d", limit=1).iloc[0]
        regions = sorted(set(store.top_trends(window="1d", region=None, limit=None)["region"]) - {"*"})
    assert f"{pd.Timestamp(top['first_detected_at']):%m-%d %H:%M}" in result.output
    result = runner.invoke(app, ["trends", "--window", "1d", "--by", "region", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "regions side by side" in result.output and str(top["display"]) in result.output
    header = next(line for line in result.output.splitlines() if "keyword" in line)
    assert all(region in header for region in regions) and "all" in header
    result = runner.invoke(app, ["trends", "--detector", "poisson", "--by", "category", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "poisson (hour buckets), categories side by side" in result.output
    result = runner.invoke(app, ["trends", "--by", "modality"])
    assert result.exit_code == 2 and "unknown --by 'modality'" in result.output
