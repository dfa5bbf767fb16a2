"""From scored window comparisons to ranked, explained trends (the rows of the ``trends`` table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from tiktrend.models import COUNTERS
from tiktrend.trends.detectors import Scores
from tiktrend.trends.series import Series
from tiktrend.trends.windows import SLICE

TREND_COLUMNS = (
    "as_of",
    "time_window",
    "detector",
    "region",
    "category",
    "modality",
    "keyword",
    "display",
    "rank",
    "score",
    "growth",
    "videos_now",
    "videos_before",
    "mentions_now",
    "mentions_before",
    "share_now",
    "share_before",
    *COUNTERS,
    "stage",
    "explanation",
    "first_detected_at",
)


def lifecycle_stage(row: pd.Series) -> str:
    """Emerging (from nothing), rising, peaking (the late half of the window is below the early half), fading."""
    if row["growth"] < 0:
        return "fading"
    if row["videos_before"] == 0:
        return "emerging"
    early = row["videos_now"] - row["videos_late"]
    return "peaking" if row["videos_late"] < early else "rising"


def explain(row: pd.Series, window: str) -> str:
    """One sentence of evidence a person can check."""
    views = row["views"] if pd.notna(row["views"]) else 0
    return (
        f"{int(row['videos_now'])} videos in the last {window} vs {int(row['videos_before'])} in the {window} "
        f"before ({row['growth']:+.0%}); {row['share_now']:.2%} of the slice's videos, "
        f"was {row['share_before']:.2%}; {int(views):,} views"
    )


def rank_trends(scored: pd.DataFrame, *, as_of: datetime, window: str, detector: str) -> pd.DataFrame:
    """Flagged keywords ranked per slice by score, then videos, then keyword (deterministic)."""
    flagged = scored[scored["decision"]].copy()
    if flagged.empty:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    flagged = flagged.sort_values(
        [*SLICE[:3], "score", "videos_now", "keyword"], ascending=[True, True, True, False, False, True]
    )
    flagged["rank"] = flagged.groupby(SLICE[:3], sort=False).cumcount() + 1
    flagged["stage"] = flagged.apply(lifecycle_stage, axis=1)
    flagged["explanation"] = flagged.apply(explain, axis=1, window=window)
    flagged["as_of"] = pd.Timestamp(as_of)
    # Flagged by this run; history.carry_first_detection moves it back along earlier stored detections.
    flagged["first_detected_at"] = flagged["as_of"]
    flagged["time_window"] = window
    flagged["detector"] = detector
    for column in ("videos_now", "videos_before"):
        flagged[column] = flagged[column].astype("int64")
    for column in COUNTERS:
        flagged[column] = flagged[column].fillna(0).astype("int64")
    return flagged[list(TREND_COLUMNS)].reset_index(drop=True)


# ---- series detectors (poisson, zscore, velocity, ensemble) -------------------------------------------


def rank_series(
    series: Series,
    scores: Scores,
    *,
    detector: str,
    window: int,
    cooldown: int | None = None,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """Keys flagged in the last bucket, ranked per slice by score, with ``TREND_COLUMNS`` and evidence.

    ``window`` buckets make "now" (and the same number before them make "before"); the first detection is
    the start of the current run of flags, allowing gaps of ``cooldown`` buckets (default: ``window``).
    """
    t = series.n_buckets - 1
    if t < 0:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    flagged = np.nonzero(scores.decision[t])[0]
    if flagged.size == 0:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    now = _window_sum(series.videos, t, window)[flagged]
    before = _window_sum(series.videos, t - window, window)[flagged]
    totals = series.key_totals()
    total_now = _window_sum(totals, t, window)[flagged]
    total_before = _window_sum(totals, t - window, window)[flagged]
    share_now = np.divide(now, total_now, out=np.zeros_like(now), where=total_now > 0)
    share_before = np.divide(before, total_before, out=np.zeros_like(before), where=total_before > 0)
    # Growth of the share of volume (raw counts rise with the volume); from nothing, it is the video count.
    growth = np.where(share_before > 0, share_now / np.where(share_before > 0, share_before, 1) - 1, now)
    late = _window_sum(series.videos, t, max(window // 2, 1))[flagged]
    frame = (
        series.keys.iloc[flagged]
        .reset_index(drop=True)
        .assign(
            score=scores.score[t, flagged].astype(float),
            growth=growth,
            videos_now=now,
            videos_before=before,
            videos_late=late,
            share_now=share_now,
            share_before=share_before,
        )
    )
    frame["mentions_now"] = _window_sum(series.mentions, t, window)[flagged] if series.mentions is not None else now
    frame["mentions_before"] = (
        _window_sum(series.mentions, t - window, window)[flagged] if series.mentions is not None else before
    )
    frame["views"] = _window_sum(series.views, t, window)[flagged] if series.views is not None else 0
    for column in COUNTERS[1:]:
        frame[column] = 0
    first = first_detection(scores.decision[:, flagged], cooldown if cooldown is not None else window)
    # The end of the bucket of the first flag: the moment the detector knew.
    frame["first_detected_at"] = series.buckets[first] + series.step
    evidence = {name: values[t, flagged] for name, values in scores.evidence.items()}
    frame["explanation"] = [
        _series_explanation(row, {k: float(v[i]) for k, v in evidence.items()}, window, series.grain)
        for i, row in enumerate(frame.itertuples(index=False))
    ]
    frame["stage"] = [_series_stage(row, window) for row in frame.itertuples(index=False)]
    frame = frame.sort_values(
        [*SLICE[:3], "score", "videos_now", "keyword"], ascending=[True, True, True, False, False, True]
    )
    frame["rank"] = frame.groupby(SLICE[:3], sort=False).cumcount() + 1
    frame["as_of"] = pd.Timestamp(as_of) if as_of is not None else series.buckets[t] + series.step
    frame["time_window"] = GRAIN_WINDOWS[series.grain]
    frame["detector"] = detector
    for column in ("videos_now", "videos_before", *COUNTERS):
        frame[column] = frame[column].fillna(0).round().astype("int64")
    return frame[list(TREND_COLUMNS)].reset_index(drop=True)


GRAIN_WINDOWS = {"hour": "1h", "day": "1d"}


def first_detection(decision: np.ndarray, cooldown: int) -> np.ndarray:
    """Per column, the first bucket of the run of flags that reaches the last bucket (gaps <= cooldown)."""
    n = len(decision)
    first = np.full(decision.shape[1], n - 1)
    gap = np.zeros(decision.shape[1], dtype=np.int64)
    alive = np.ones(decision.shape[1], dtype=bool)
    for t in range(n - 1, -1, -1):
        hit = decision[t] & alive
        first[hit] = t
        gap = np.where(decision[t], 0, gap + 1)
        alive &= gap <= cooldown
        if not alive.any():
            break
    return first


def _window_sum(values: np.ndarray | None, end: int, window: int) -> np.ndarray:
    """Sum of the ``window`` rows ending at row ``end`` (inclusive); rows before 0 count as 0."""
    if values is None:
        raise ValueError("no values")
    start = max(end - window + 1, 0)
    if end < 0:
        return np.zeros(values.shape[1])
    result: np.ndarray = values[start : end + 1].sum(axis=0).astype(float)
    return result


def _series_stage(row: Any, window: int) -> str:
    """Emerging (nothing before), rising, peaking (the late half of the window is below the early half), fading."""
    if row.videos_before == 0:
        return "emerging"
    if row.growth < 0:
        return "fading"
    early = row.videos_now - row.videos_late
    # Per bucket, the late half of the window against the early half.
    half = max(window // 2, 1)
    slowing = window > 1 and row.videos_late * (window - half) < early * half
    return "peaking" if slowing else "rising"


def _series_explanation(row: Any, evidence: dict[str, float], window: int, grain: str) -> str:
    """One sentence with the figures: videos now and before, share, what the detector saw."""
    unit = "h" if grain == "hour" else "d"
    parts = [
        f"{int(row.videos_now)} videos in the last {window}{unit} vs {int(row.videos_before)} before",
        f"{row.share_now:.2%} of the slice's videos (was {row.share_before:.2%})",
    ]
    if "expected" in evidence:
        parts.append(f"{evidence['expected']:.1f} expected from its usual share ({evidence.get('ratio', 0):.1f}x)")
    if "mean" in evidence and "std" in evidence:
        parts.append(f"usual share {evidence['mean']:.2%} +/- {evidence['std']:.2%}")
    if "votes" in evidence:
        parts.append(f"{int(evidence['votes'])} detectors agree")
    parts.append(f"score {row.score:.1f}")
    return "; ".join(parts)


SIDE_BY = ("region", "category")
# Short stage names keep a table of several slices within a terminal's width.
STAGE_MARKS = {"emerging": "new", "rising": "up", "peaking": "peak", "fading": "down"}


def side_by_side(trends: pd.DataFrame, by: str, limit: int) -> pd.DataFrame:
    """One row per keyword, one column per ``by`` value (region or category) holding "score stage" there.

    ``trends`` are ranked rows of one detection whose other slice columns are fixed; keywords are ordered by
    their best score in any slice (top ``limit``). ``first_detected_at`` is the earliest first detection of
    the keyword in any slice and ``first_in`` the slice it was in (``*`` is the all-slices row).
    """
    if by not in SIDE_BY:
        raise ValueError(f"unknown --by {by!r}: expected one of {', '.join(SIDE_BY)}")
    slices = sorted(set(trends[by]), key=lambda value: (value != "*", value))
    columns = ["keyword", "display", "best", "first_detected_at", "first_in", *slices]
    if trends.empty:
        return pd.DataFrame(columns=columns)
    marks = [f"{s:.3g} {STAGE_MARKS.get(g, g)}" for s, g in zip(trends["score"], trends["stage"], strict=True)]
    frame = trends.assign(cell=marks)
    cells = frame.pivot_table(index="keyword", columns=by, values="cell", aggfunc="first").reindex(columns=slices)
    first = frame.sort_values(["first_detected_at", by]).drop_duplicates("keyword").set_index("keyword")
    best = frame.sort_values(["score", by], ascending=[False, True]).drop_duplicates("keyword").set_index("keyword")
    table = pd.DataFrame(
        {
            "display": best["display"],
            "best": best["score"],
            "first_detected_at": first["first_detected_at"],
            "first_in": first[by],
        }
    ).join(cells.fillna(""))
    table = table.reset_index().sort_values(["best", "keyword"], ascending=[False, True]).head(limit)
    return table[columns].reset_index(drop=True)
