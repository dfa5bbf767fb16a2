"""Backtest metrics on hand-built scores, labels from hand-built series, and a replay on a small simulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tiktrend.backtest.evaluate import alerts, auc, evaluate, fold_keywords, roc_curve, tpr_at_fpr
from tiktrend.backtest.labels import future_events, planted_events, top_k_membership
from tiktrend.backtest.replay import Truth, evaluated_buckets, replay, run_backtest
from tiktrend.backtest.sources import store_backtest
from tiktrend.collect.simulator import SimConfig, planted_trends, write_simulation
from tiktrend.extract.generic import is_generic
from tiktrend.pipeline import ingest, load_series, rollup
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore
from tiktrend.trends.detectors import Scores, default_detectors
from tiktrend.trends.series import series_from_arrays

HOUR = pd.Timedelta(hours=1)


def test_alerts_are_episode_starts() -> None:
    decision = np.array([[0, 1, 1, 0, 0, 0, 1, 1, 0, 1]], dtype=bool).T
    assert np.nonzero(alerts(decision, cooldown=2)[:, 0])[0].tolist() == [1, 6]
    assert np.nonzero(alerts(decision, cooldown=0)[:, 0])[0].tolist() == [1, 2, 6, 7, 9]


def test_metrics_on_hand_built_scores() -> None:
    # Three keywords over 10 hours: "trend" peaks at 8:00 and is flagged at 3:00 and 4:00 (known at 4:00 and 5:00),
    # "noise" is flagged once at 6:00, "quiet" never; "missed" is a planted trend never seen.
    series = series_from_arrays(np.ones((10, 3)), names=["trend", "noise", "quiet"])
    score = np.zeros((10, 3))
    score[3:5, 0] = [5, 6]
    score[6, 1] = 4
    score[:, 2] = 1
    scores = Scores(score, score >= 4)
    start = series.buckets[0]
    events = pd.DataFrame(
        {
            "keyword": ["trend", "missed"],
            "moment": [start + 8 * HOUR, start + 5 * HOUR],
            "window_start": pd.Timestamp.min,
            "window_end": [start + 9 * HOUR, start + 6 * HOUR],
            "source": "planted",
            "detail": "",
        }
    )
    metrics = evaluate(
        "x", fold_keywords(series, scores), events, evaluated=np.ones(10, dtype=bool), k=1, cooldown=2, step=HOUR
    )
    assert (metrics.alerts, metrics.true_alerts) == (2, 1)
    assert metrics.precision == 0.5
    assert metrics.recall == 0.5 and metrics.missed == ["missed"]
    assert metrics.f1 == pytest.approx(0.5)
    assert metrics.leads == [4.0]  # peak 8:00, first flag known at 4:00
    assert metrics.false_positive_rate == 0.5  # "noise" alerted, "quiet" did not
    assert metrics.precision_at_k == pytest.approx(2 / 3)  # hours 3 and 4 right, hour 6 wrong
    assert metrics.false_alerts == ["noise"]
    # ROC: "trend" (6) and the unseen "missed" (-inf) against "noise" (4) and "quiet" (1).
    assert metrics.auc == pytest.approx(0.5)


def test_roc_and_auc_agree_and_handle_ties() -> None:
    positives, negatives = np.array([3.0, 2.0, 2.0]), np.array([2.0, 1.0])
    fpr, tpr = roc_curve(positives, negatives)
    assert fpr.tolist() == [0, 0, 0.5, 1.0] and tpr.tolist() == [0, 1 / 3, 1.0, 1.0]
    assert auc(positives, negatives) == pytest.approx(5 / 6)  # 3 beats both, each 2 beats 1 and ties 2
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc(positives, negatives))
    assert tpr_at_fpr(fpr, tpr, 0.0) == pytest.approx(1 / 3)
    assert tpr_at_fpr(fpr, tpr, 0.5) == 1.0


def test_future_labels_mark_entries_into_the_top_k() -> None:
    counts = np.zeros((12, 4))
    counts[:, 0] = 10  # always on top: never "enters"
    counts[:, 1] = 5
    counts[8:, 2] = 20  # jumps to the top at bucket 8
    counts[:, 3] = 1
    series = series_from_arrays(counts, np.full(12, 100.0), grain="day")
    member = top_k_membership(series, k=2, rank_window=1)
    assert member[0].tolist() == [True, True, False, False]
    assert member[8].tolist() == [True, False, True, False]
    events = future_events(series, k=2, horizon=3, rank_window=1, memory=4)
    assert events["keyword"].tolist() == ["k2"]
    entry = series.buckets[8] + pd.Timedelta(days=1)
    assert events["moment"].iloc[0] == entry
    assert events["window_start"].iloc[0] == entry - pd.Timedelta(days=3)


def test_planted_events_read_the_simulators_truth() -> None:
    config = SimConfig(seed=5, hours=48, n_trends=2)
    truth = pd.DataFrame([vars(t) for t in planted_trends(config)])
    events = planted_events(truth, grace=pd.Timedelta(hours=6))
    assert len(events) == 2
    assert (events["window_end"] - events["moment"] == pd.Timedelta(hours=6)).all()


@pytest.fixture(scope="module")
def small_simulation(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, pd.DataFrame]:
    root: Path = tmp_path_factory.mktemp("sim")
    config = SimConfig(seed=11, hours=72, videos_per_hour=150, n_trends=6)
    settings = Settings(data_dir=root)
    out = write_simulation(config, settings.sim_dir)
    with DuckDBStore(settings.database_url) as store:
        ingest([out.feed_path], store, settings, source="simulator")
        rollup(store)
        series = load_series(store, grain="hour", end=config.end)
    truth = pd.DataFrame([vars(t) for t in planted_trends(config)])
    return series, truth


def test_replay_on_a_small_simulation_beats_the_baseline(small_simulation: tuple[object, pd.DataFrame]) -> None:
    series, truth = small_simulation
    events = planted_events(truth, grace=pd.Timedelta(hours=24))
    result = run_backtest(
        series,  # type: ignore[arg-type]
        default_detectors("hour"),
        [Truth("planted", events, evaluated_buckets(series))],  # type: ignore[arg-type]
        title="small",
        is_generic=is_generic,
    )
    table = result.table("planted")
    assert list(table.index) == ["threshold", "poisson", "zscore", "velocity", "ensemble"]
    assert (table["generic_in_top_k"] == 0).all()
    best = result.best("planted")
    assert best != "threshold"
    assert table.loc[best, "f1"] > table.loc["threshold", "f1"]
    assert table.loc[best, "precision"] >= 0.9 and table.loc[best, "recall"] >= 0.6


def test_the_replay_is_the_batch(small_simulation: tuple[object, pd.DataFrame]) -> None:
    series, _ = small_simulation
    for detector in default_detectors("hour", ["poisson", "threshold"]):
        streamed = replay(detector, series)  # type: ignore[arg-type]
        batch = detector.score_series(series)  # type: ignore[arg-type]
        np.testing.assert_allclose(streamed.score, batch.score)
        np.testing.assert_array_equal(streamed.decision, batch.decision)


def test_creative_center_lists_become_ground_truth(tmp_path: Path) -> None:
    config = SimConfig(seed=12, hours=48, videos_per_hour=40, n_trends=2)
    settings = Settings(data_dir=tmp_path / "data")
    out = write_simulation(config, settings.sim_dir)
    trend = planted_trends(config)[-1]
    listed = pd.DataFrame(
        [
            {
                "source": "creative_center", "kind": "hashtag", "region": "US", "period_days": 7, "industry": "",
                "list_date": trend.peak.date(), "keyword": trend.keyword, "name": trend.display, "item_id": None,
                "rank": 1, "rank_diff": None, "is_new": True, "posts": 100, "views": 1000, "trend": None,
                "listed_at": trend.peak,
            }
        ]
    )  # fmt: skip
    with DuckDBStore(settings.database_url) as store:
        ingest([out.feed_path], store, settings, source="simulator")
        rollup(store)
        without = store_backtest(store, grain="hour", future=None, truth_csv=out.truth_path)
        assert [t.name for t in without.truths] == ["planted"]
        assert any("No Creative Center" in n or "no list" in n for n in without.notes)
        store.load_external_trends(listed)
        result = store_backtest(store, grain="hour", future=None, truth_csv=out.truth_path)
    assert [t.name for t in result.truths] == ["planted", "creative_center"]
    events = result.truths[1].events
    assert events["keyword"].tolist() == [trend.keyword]
    assert result.table("creative_center").loc["poisson", "events"] == 1
