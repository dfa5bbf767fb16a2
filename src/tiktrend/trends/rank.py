"""From scored window comparisons to ranked, explained trends (the rows of the ``trends`` table)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from tiktrend.models import COUNTERS
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
    flagged["time_window"] = window
    flagged["detector"] = detector
    for column in ("videos_now", "videos_before"):
        flagged[column] = flagged[column].astype("int64")
    for column in COUNTERS:
        flagged[column] = flagged[column].fillna(0).astype("int64")
    return flagged[list(TREND_COLUMNS)].reset_index(drop=True)
