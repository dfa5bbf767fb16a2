"""Storing one detection's ranked trends with their first detection time and top example videos.

Both detection paths (``pipeline.detect`` for the window rule, ``pipeline.detect_series`` for series
detectors) end here, so the ``trends`` and ``trend_examples`` tables mean the same whichever wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from tiktrend.store import Store
from tiktrend.trends.history import carry_first_detection

EXAMPLES = 3  # example videos kept per trend


@dataclass
class RecordedTrends:
    """What was stored: the trends (``first_detected_at`` carried), their examples, trend rows changed."""

    trends: pd.DataFrame
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)
    rows_changed: int = 0


def record_trends(
    store: Store,
    ranked: pd.DataFrame,
    run_id: str,
    *,
    window_start: datetime,
    tolerance: timedelta,
    examples: int = EXAMPLES,
) -> RecordedTrends:
    """Carry first detections back along stored ones, choose example videos, store both; one detection.

    ``ranked`` holds the rows of one ``(as_of, time_window, detector)``; ``window_start`` is where its "now"
    window began (examples are videos posted in [window_start, as_of)); ``tolerance`` is the longest gap
    between two flags of the same run of flags.
    """
    if ranked.empty:
        return RecordedTrends(ranked)
    as_of = pd.Timestamp(ranked["as_of"].iloc[0]).to_pydatetime()
    first = pd.Timestamp(pd.to_datetime(ranked["first_detected_at"]).min()).to_pydatetime()
    stored = store.trend_history(
        time_window=str(ranked["time_window"].iloc[0]),
        detector=str(ranked["detector"].iloc[0]),
        keywords=sorted(set(ranked["keyword"])),
        start=first - tolerance,
        end=as_of,
    )
    trends = carry_first_detection(ranked, stored, tolerance)
    chosen = pd.DataFrame()
    if examples > 0:
        chosen = store.select_examples(trends, window_start, as_of, limit=examples)
        chosen = chosen.assign(
            as_of=pd.Timestamp(as_of), time_window=trends["time_window"].iloc[0], detector=trends["detector"].iloc[0]
        )
    changed = store.save_trends(trends, run_id, chosen if examples > 0 else None)
    shown = store.trend_examples(
        as_of=as_of, time_window=str(trends["time_window"].iloc[0]), detector=str(trends["detector"].iloc[0])
    )
    return RecordedTrends(trends, shown, changed)
