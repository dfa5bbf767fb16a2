"""The detector API on series: configuration checks, streaming and batch agreement on every prefix, and the
behaviour each detector promises on hand-built series."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tiktrend.trends.detectors import (
    DETECTORS,
    EnsembleDetector,
    PoissonDetector,
    ThresholdDetector,
    VelocityDetector,
    ZScoreDetector,
    make_detector,
    poisson_z,
)
from tiktrend.trends.series import Series, series_from_arrays

SMALL: dict[str, dict[str, Any]] = {
    "threshold": {"window": 4, "min_videos": 3},
    "poisson": {"window": 2, "half_life": 8.0, "warmup": 4, "min_z": 2.5, "min_videos": 3},
    "zscore": {"window": 2, "half_life": 8.0, "warmup": 8, "min_z": 2.5, "min_videos": 3},
    "velocity": {"window": 2, "half_life": 8.0, "warmup": 8, "min_z": 2.0, "min_videos": 3, "min_std": 0.3},
}


def small(name: str) -> Any:
    if name == "ensemble":
        return EnsembleDetector([small("poisson"), small("zscore"), small("velocity")], min_votes=2)
    return DETECTORS[name](**SMALL[name])


def noisy_series(seed: int = 0, buckets: int = 60, keys: int = 7) -> Series:
    """Background keys with a daily-ish rhythm, one burst, plus engagement gains."""
    rng = np.random.default_rng(seed)
    rhythm = 1 + 0.6 * np.sin(np.arange(buckets) * 2 * np.pi / 24)
    rates = rng.uniform(0.5, 6, keys)
    counts = rng.poisson(rates[None, :] * rhythm[:, None]).astype(float)
    counts[40:48, 0] += np.array([3, 6, 12, 20, 30, 20, 12, 6])  # key 0 bursts
    counts[10:15, 1] = 0  # key 1 goes quiet for a while
    totals = counts.sum(axis=1) + rng.poisson(200 * rhythm)
    series = series_from_arrays(counts, totals)
    gained = counts * rng.lognormal(5, 0.3, counts.shape)
    gained_totals = gained.sum(axis=1, keepdims=True) + rng.lognormal(10, 0.3, (buckets, 1))
    return Series(
        keys=series.keys,
        buckets=series.buckets,
        grain=series.grain,
        videos=series.videos,
        totals=series.totals,
        key_slice=series.key_slice,
        gained=gained,
        gained_totals=gained_totals,
    )


@pytest.mark.parametrize("name", list(DETECTORS))
def test_streaming_and_batch_agree_on_every_prefix(name: str) -> None:
    series = noisy_series()
    detector = small(name)
    full = detector.score_series(series)
    for t in range(series.n_buckets):
        step = detector.update(series.column(t))
        np.testing.assert_allclose(step.score, full.score[t], rtol=1e-9, atol=1e-12, err_msg=f"bucket {t}")
        np.testing.assert_array_equal(step.decision, full.decision[t], err_msg=f"bucket {t}")
        for key, values in full.evidence.items():
            np.testing.assert_allclose(step.evidence[key], values[t], rtol=1e-9, atol=1e-12)
        # A batch over the prefix ends where the stream is: nothing after bucket t was read.
        prefix = small(name).score_series(series.head(t + 1))
        np.testing.assert_allclose(prefix.score[-1], full.score[t], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(prefix.decision[-1], full.decision[t])


@pytest.mark.parametrize("name", list(DETECTORS))
def test_batch_scoring_leaves_the_streaming_state_alone(name: str) -> None:
    series = noisy_series(seed=1)
    detector = small(name)
    first = [detector.update(series.column(t)).score for t in range(10)]
    detector.score_series(series)  # must not reset or advance the stream
    step = detector.update(series.column(10))
    reference = small(name)
    for t in range(10):
        np.testing.assert_allclose(reference.update(series.column(t)).score, first[t])
    np.testing.assert_allclose(reference.update(series.column(10)).score, step.score)
    detector.reset()
    np.testing.assert_allclose(detector.update(series.column(0)).score, first[0])


@pytest.mark.parametrize("name", ["poisson", "zscore", "velocity", "ensemble"])
def test_the_burst_is_flagged_before_its_peak_and_quiet_keys_are_not(name: str) -> None:
    series = noisy_series()
    scores = small(name).score_series(series)
    flagged = np.nonzero(scores.decision[:, 0])[0]
    assert flagged.size and flagged[0] < 44, flagged  # the burst peaks at bucket 44
    assert not scores.decision[:40, 0].any()
    assert scores.decision[:, 1:].mean() <= 0.02  # the background stays (almost) silent


def test_threshold_on_a_series_is_the_original_rule() -> None:
    counts = np.zeros((8, 2))
    counts[:, 0] = [1, 1, 1, 1, 3, 3, 3, 3]  # doubles and more from one window to the next
    counts[:, 1] = [2] * 8
    scores = ThresholdDetector(window=4, min_videos=10, min_growth=1.0).score_series(series_from_arrays(counts))
    assert scores.evidence["now"][-1].tolist() == [12, 8]
    assert scores.evidence["before"][-1].tolist() == [4, 8]
    assert scores.score[-1].tolist() == [2.0, 0.0]
    assert scores.decision[-1].tolist() == [True, False]
    assert not scores.decision[:-1].any()  # two whole windows are needed before anything is compared


def test_cycle_correction_ignores_the_daily_rhythm_that_raw_counts_follow() -> None:
    hours = np.arange(24 * 5)
    rhythm = 1 + 0.9 * np.sin(hours * 2 * np.pi / 24)
    counts = np.round(40 * rhythm)[:, None] * np.array([[0.2, 0.1]])  # shares never change
    totals = np.round(2000 * rhythm)
    series = series_from_arrays(counts, totals)
    corrected = PoissonDetector(window=2, half_life=24, min_videos=3, min_ratio=1.5, min_z=2.5).score_series(series)
    plain = PoissonDetector(
        window=2, half_life=24, min_videos=3, min_ratio=1.5, min_z=2.5, correction="none"
    ).score_series(series)
    assert not corrected.decision.any()
    assert plain.decision.any()  # every rising morning looks like a burst to raw counts


def test_a_collection_surge_is_not_growth_when_measured_as_share() -> None:
    volume = np.r_[np.full(30, 100.0), np.full(30, 400.0)]  # the crawler got four times more videos
    counts = (volume * 0.05)[:, None]
    series = series_from_arrays(counts, volume)
    for name in ("poisson", "zscore"):
        assert not small(name).score_series(series).decision.any(), name
    assert ThresholdDetector(window=4, min_videos=3).score_series(series).decision.any()  # the baseline is fooled


def test_velocity_needs_engagement_gains() -> None:
    with pytest.raises(ValueError, match="engagement velocities"):
        VelocityDetector().score_series(series_from_arrays(np.ones((5, 2))))


def test_poisson_z_is_zero_below_expectation_and_grows_with_surprise() -> None:
    z = poisson_z(np.array([0.0, 2.0, 5.0, 10.0, 20.0]), np.full(5, 5.0))
    assert z[0] == z[1] == z[2] == 0
    assert 0 < z[3] < z[4]
    assert z[4] == pytest.approx(np.sqrt(2 * (20 * np.log(4) - 15)))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("poisson", {"window": 0}),
        ("poisson", {"min_ratio": 0.5}),
        ("poisson", {"half_life": 0}),
        ("zscore", {"min_expected": 0}),
        ("velocity", {"min_std": 0}),
        ("threshold", {"window": 0}),
        ("ensemble", {"min_votes": 5}),
        ("ensemble", {"members": []}),
    ],
)
def test_configuration_is_validated_in_init(name: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        DETECTORS[name](**kwargs)


def test_registry_knows_grains_and_reports_parameters() -> None:
    assert make_detector("threshold", "day").params()["window"] == 1
    assert make_detector("poisson", "hour").params()["window"] == 8
    ensemble = make_detector("ensemble", "hour")
    assert ensemble.params()["members"] == ["poisson", "zscore"]
    assert "ZScoreDetector(window=8" in repr(ZScoreDetector())
    with pytest.raises(ValueError, match="unknown detector 'magic'"):
        make_detector("magic")
    with pytest.raises(ValueError, match="on a series, threshold applies"):
        ThresholdDetector(min_views=10).score_series(series_from_arrays(np.ones((3, 1))))


def test_series_from_arrays_makes_relative_shares() -> None:
    series = series_from_arrays(np.array([[1.0, 3.0], [0.0, 0.0]]))
    assert series.share().tolist() == [[0.25, 0.75], [0.0, 0.0]]
    assert list(series.keys["keyword"]) == ["k0", "k1"]
    assert isinstance(series.buckets, pd.DatetimeIndex)
