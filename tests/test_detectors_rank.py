"""Ranking and explaining what a series detector flags, and `tiktrend trends --detector` end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tiktrend.cli import app
from tiktrend.collect.simulator import SimConfig
from tiktrend.pipeline import detect_series, run_pipeline
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore
from tiktrend.trends.detectors import PoissonDetector, Scores
from tiktrend.trends.rank import TREND_COLUMNS, first_detection, rank_series
from tiktrend.trends.series import series_from_arrays


def test_first_detection_follows_the_current_run_of_flags() -> None:
    decision = np.array([[1, 0, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=bool)
    assert first_detection(decision, cooldown=1).tolist() == [0, 2, 1]  # gaps of one bucket are bridged
    assert first_detection(decision, cooldown=0).tolist() == [4, 2, 3]


def test_rank_series_orders_explains_and_stages() -> None:
    counts = np.zeros((12, 3))
    counts[:, 0] = [0] * 8 + [2, 4, 6, 8]  # emerging: nothing in the window before
    counts[:, 1] = [1] * 4 + [2] * 4 + [4, 6, 3, 1]  # grew, but the late half is below the early half
    counts[:, 2] = 3  # flat: not flagged
    series = series_from_arrays(counts, np.full(12, 100.0), names=["new", "peak", "flat"])
    decision = np.zeros((12, 3), dtype=bool)
    decision[9:, 0] = True
    decision[8:, 1] = True
    score = np.zeros((12, 3))
    score[-1] = [9.0, 5.0, 0.0]
    scores = Scores(score, decision, {"expected": np.ones((12, 3)), "ratio": counts})
    ranked = rank_series(series, scores, detector="poisson", window=4)
    assert list(ranked.columns) == list(TREND_COLUMNS)
    assert list(ranked["keyword"]) == ["new", "peak"] and list(ranked["rank"]) == [1, 2]
    new, peak = ranked.iloc[0], ranked.iloc[1]
    assert (new["videos_now"], new["videos_before"], new["stage"]) == (20, 0, "emerging")
    assert peak["stage"] == "peaking"  # 4 then 6 early, 3 then 1 late
    assert peak["share_now"] == pytest.approx(14 / 400) and peak["share_before"] == pytest.approx(8 / 400)
    assert new["first_detected_at"] == series.buckets[9] + pd.Timedelta(hours=1)
    assert "20 videos in the last 4h vs 0 before" in new["explanation"]


@pytest.fixture(scope="module")
def simulated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rank")
    settings = Settings(data_dir=root / "data")
    with DuckDBStore(settings.database_url) as store:
        run_pipeline(store, settings, simulation=SimConfig(seed=3, hours=72, videos_per_hour=150, n_trends=6))
    return root / "data"


def test_detect_series_stores_ranked_trends_with_examples(simulated_store: Path) -> None:
    settings = Settings(data_dir=simulated_store)
    with DuckDBStore(settings.database_url) as store:
        found = detect_series(store, "test-run", PoissonDetector(min_z=5.0), grain="hour")
        assert not found.trends.empty
        stored = store.top_trends(detector="poisson", limit=50)
        assert set(stored["keyword"]) == set(found.trends[found.trends["region"] == "*"]["keyword"])
        assert set(found.examples["keyword"]) <= set(found.trends["keyword"])
        per_trend = found.examples.groupby(["region", "category", "modality", "keyword"]).size()
        assert (per_trend <= 3).all() and len(per_trend) == len(found.trends)  # every trend has its own videos
        again = detect_series(store, "test-run-2", PoissonDetector(min_z=5.0), grain="hour")
        assert again.rows_changed == 0  # the same data at the same moment stores nothing new


def test_cli_trends_with_a_series_detector(simulated_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTREND_DATA_DIR", str(simulated_store))
    monkeypatch.delenv("TIKTREND_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    invoke: Callable[..., object] = CliRunner().invoke
    result = invoke(app, ["trends", "--detector", "zscore", "--limit", "5"])
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    output: str = result.output  # type: ignore[attr-defined]
    assert "Trending now (zscore, hour buckets)" in output
    assert "stage" in output and "since" in output
    result = invoke(app, ["trends", "--detector", "nope"])
    assert result.exit_code == 2 and "unknown detector 'nope'" in result.output  # type: ignore[attr-defined]
