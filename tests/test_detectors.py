"""Window comparison and the threshold baseline, on hand-built hourly rollup rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tiktrend.trends.detectors import ThresholdDetector
from tiktrend.trends.rank import TREND_COLUMNS, rank_trends
from tiktrend.trends.windows import Window, compare_windows, parse_window

AS_OF = datetime(2025, 6, 3, tzinfo=UTC)


def hourly(keyword: str, counts: list[int], region: str = "*", views: int = 100) -> list[dict[str, object]]:
    """One rollup row per hour ending at AS_OF, oldest first."""
    start = pd.Timestamp(AS_OF).tz_localize(None) - pd.Timedelta(hours=len(counts))
    return [
        {
            "bucket": start + pd.Timedelta(hours=i), "keyword": keyword, "display": keyword.title(),
            "region": region, "category": "*", "modality": "*", "videos": n, "mentions": float(n),
            "views": views * n, "likes": n, "comments": n, "shares": n, "saves": n,
        }
        for i, n in enumerate(counts)
        if n
    ]  # fmt: skip


def totals(per_hour: int, hours: int = 48, region: str = "*") -> pd.DataFrame:
    start = pd.Timestamp(AS_OF).tz_localize(None) - pd.Timedelta(hours=hours)
    return pd.DataFrame(
        {"bucket": [start + pd.Timedelta(hours=i) for i in range(hours)], "region": region, "category": "*",
         "videos": per_hour}
    )  # fmt: skip


def test_compare_windows_sums_each_side_and_measures_share() -> None:
    rows = hourly("dance", [1] * 24 + [3] * 24) + hourly("cake", [2] * 24 + [2] * 24)
    compared = compare_windows(pd.DataFrame(rows), totals(100), Window("1d", AS_OF)).set_index("keyword")
    assert compared.loc["dance", "videos_now"] == 72
    assert compared.loc["dance", "videos_before"] == 24
    assert compared.loc["dance", "share_now"] == pytest.approx(72 / 2400)
    assert compared.loc["cake", "share_before"] == pytest.approx(48 / 2400)


def test_a_keyword_with_no_history_has_zero_before() -> None:
    rows = hourly("new", [0] * 24 + [2] * 24)
    compared = compare_windows(pd.DataFrame(rows), totals(50), Window("1d", AS_OF))
    assert compared.iloc[0]["videos_before"] == 0


def test_threshold_growth_and_minimums() -> None:
    rows = hourly("dance", [1] * 24 + [3] * 24) + hourly("flat", [2] * 48) + hourly("tiny", [0] * 47 + [3])
    compared = compare_windows(pd.DataFrame(rows), totals(100), Window("1d", AS_OF))
    scored = ThresholdDetector(min_growth=1.0, min_videos=5).score(compared).set_index("keyword")
    assert scored.loc["dance", "growth"] == pytest.approx(2.0)
    assert scored.loc["dance", "decision"]
    assert not scored.loc["flat", "decision"]  # no growth
    assert not scored.loc["tiny", "decision"]  # grew from nothing but below min_videos
    assert scored.loc["tiny", "growth"] == pytest.approx(3.0)  # before floored at 1
    strict = ThresholdDetector(min_growth=1.0, min_views=10**9).score(compared)
    assert not strict["decision"].any()


@pytest.mark.parametrize(
    "kwargs", [{"min_videos": -1}, {"min_views": -5}, {"before_floor": 0}], ids=["videos", "views", "floor"]
)
def test_detector_rejects_bad_configuration(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ThresholdDetector(**kwargs)  # type: ignore[arg-type]


def test_ranking_is_per_slice_deterministic_and_explained() -> None:
    rows = (
        hourly("dance", [1] * 24 + [4] * 24)
        + hourly("cake", [1] * 24 + [2] * 24)
        + hourly("dance", [0] * 24 + [1] * 12 + [0] * 12, region="US")
        + hourly("cake", [1] * 24 + [6] * 12 + [1] * 12, region="US")
    )
    window = Window("1d", AS_OF)
    compared = compare_windows(pd.DataFrame(rows), pd.concat([totals(100), totals(40, region="US")]), window)
    scored = ThresholdDetector(min_videos=5).score(compared)
    ranked = rank_trends(scored, as_of=AS_OF, window="1d", detector="threshold")
    assert list(ranked.columns) == list(TREND_COLUMNS)
    everywhere = ranked[ranked["region"] == "*"]
    assert list(everywhere["keyword"]) == ["dance", "cake"]
    assert list(everywhere["rank"]) == [1, 2]
    us = ranked[ranked["region"] == "US"].set_index("keyword")
    assert us.loc["cake", "stage"] == "peaking"  # the late half of the day is below the early half
    assert "84 videos in the last 1d vs 24" in us.loc["cake", "explanation"]
    assert us.loc["dance", "stage"] == "emerging"  # nothing the day before
    assert list(us.index) == ["dance", "cake"]  # growth 12 (from nothing) before growth 2.5


def test_window_names_are_validated() -> None:
    assert parse_window("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="expected one of 1h, 1d, 7d"):
        parse_window("2w")
