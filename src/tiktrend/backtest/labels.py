"""Ground truth as *events*: a keyword, the moment it trended, and the window in which flagging it is right.

Three sources give events:

- the simulator's planted trends (:func:`planted_events`): the moment is the trend's peak; flagging it any
  time before the peak, or up to ``grace`` after it, is right;
- future-based labels on real data (:func:`future_events`): a keyword *enters* the top ``k`` by share of
  volume at bucket ``e`` (it was not there in the ``memory`` buckets before); flagging it within
  ``horizon`` buckets before ``e`` (or up to ``grace`` after) is right;
- Creative Center trend lists (:func:`listed_events`): a keyword is listed at a moment; the window is the
  ``horizon`` before it.

Every function is pure: frames and series in, an ``EVENT_COLUMNS`` frame out.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from tiktrend.trends.series import Series

EVENT_COLUMNS: Final = ("keyword", "moment", "window_start", "window_end", "source", "detail")


def planted_events(truth: pd.DataFrame, *, grace: pd.Timedelta) -> pd.DataFrame:
    """Events of planted trends (the simulator's ``ground_truth-*.csv`` columns): right until peak + grace."""
    frame = truth.copy()
    peak = _naive(frame["peak"])
    return pd.DataFrame(
        {
            "keyword": frame["keyword"].astype(str),
            "moment": peak,
            "window_start": pd.Timestamp.min,
            "window_end": peak + grace,
            "source": "planted",
            "detail": [
                f"{k} trend in {r}, onset {o}"
                for k, r, o in zip(frame["kind"], frame["region"], frame["onset"], strict=True)
            ],
        },
        columns=list(EVENT_COLUMNS),
    )


def top_k_membership(series: Series, *, k: int, rank_window: int) -> np.ndarray:
    """``[bucket, key]``: whether a key is among the ``k`` largest shares of its slice, over a trailing window.

    The share over ``rank_window`` buckets (not one) keeps a single busy hour from reordering the list.
    """
    videos = _trailing_sum(series.videos, rank_window)
    totals = _trailing_sum(series.key_totals(), rank_window)
    share = np.divide(videos, totals, out=np.zeros_like(videos), where=totals > 0)
    member = np.zeros(share.shape, dtype=bool)
    slices = series.key_slice
    for s in np.unique(slices):
        columns = np.nonzero(slices == s)[0]
        if len(columns) <= k:
            member[:, columns] = share[:, columns] > 0
            continue
        part = share[:, columns]
        # The k-th largest share per bucket; ties at the edge all count, a share of 0 never does.
        kth = -np.partition(-part, k - 1, axis=1)[:, k - 1 : k]
        member[:, columns] = (part >= kth) & (part > 0)
    return member


def future_events(
    series: Series,
    *,
    k: int = 20,
    horizon: int = 3,
    rank_window: int = 3,
    memory: int = 7,
    grace: int = 1,
    min_videos: int = 5,
) -> pd.DataFrame:
    """Keywords entering the top ``k`` by share of volume, with the ``horizon`` before entry as their window.

    An entry at bucket ``e`` needs ``memory`` buckets of history in which the key was never in the top k,
    so a keyword that is always popular never counts as starting to trend, and ``min_videos`` videos over
    the ranking window, so that in a thin bucket three videos do not make a trend. Bucket counts are in
    the series' grain; windows are returned as times (the end of each bucket, when it was known).
    """
    for label, value in {"k": k, "horizon": horizon, "rank_window": rank_window, "memory": memory}.items():
        if value < 1:
            raise ValueError(f"{label} must be >= 1, not {value}")
    member = top_k_membership(series, k=k, rank_window=rank_window)
    before = _trailing_sum(member.astype(np.float64), memory)
    shifted = np.vstack([np.zeros((1, series.n_keys)), before[:-1]])
    entered = member & (shifted == 0) & (_trailing_sum(series.videos, rank_window) >= min_videos)
    entered[: memory + rank_window - 1] = False  # not enough history to know it was absent
    t, key = np.nonzero(entered)
    step = series.step
    ends = series.buckets + step
    keys = series.keys.iloc[key]
    moment = ends[t]
    return pd.DataFrame(
        {
            "keyword": keys["keyword"].to_numpy(),
            "moment": moment,
            "window_start": moment - horizon * step,
            "window_end": moment + grace * step,
            "source": "future",
            "detail": [f"enters the top {k} of {r}/{c}" for r, c in zip(keys["region"], keys["category"], strict=True)],
        },
        columns=list(EVENT_COLUMNS),
    )


def listed_events(lists: pd.DataFrame, *, horizon: pd.Timedelta, grace: pd.Timedelta) -> pd.DataFrame:
    """Events from Creative Center lists (``keyword``, ``listed_at``; ``region`` and ``rank`` when present).

    A keyword's first listing is its moment: flagging it in the ``horizon`` before is right.
    """
    if lists.empty:
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    first = lists.assign(listed_at=_naive(lists["listed_at"])).sort_values("listed_at").drop_duplicates("keyword")
    moment = first["listed_at"]
    regions = first["region"] if "region" in first else pd.Series("*", index=first.index)
    return pd.DataFrame(
        {
            "keyword": first["keyword"].astype(str).to_numpy(),
            "moment": moment.to_numpy(),
            "window_start": (moment - horizon).to_numpy(),
            "window_end": (moment + grace).to_numpy(),
            "source": "creative_center",
            "detail": [f"listed in {r}" for r in regions],
        },
        columns=list(EVENT_COLUMNS),
    )


def _trailing_sum(values: np.ndarray, window: int) -> np.ndarray:
    cumulative = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    ends = np.arange(1, len(values) + 1)
    result: np.ndarray = cumulative[ends] - cumulative[np.maximum(ends - window, 0)]
    return result


def _naive(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None)
