"""Comparing a keyword's latest window with the one before it, from hourly rollup rows (pure pandas)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import pandas as pd

from tiktrend.models import COUNTERS

SLICE: Final = ["region", "category", "modality", "keyword"]
WINDOWS: Final = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}


@dataclass(frozen=True)
class Window:
    """A named window length and the moment it ends (exclusive)."""

    name: str
    as_of: datetime

    @property
    def length(self) -> timedelta:
        return WINDOWS[self.name]

    @property
    def now_start(self) -> datetime:
        return self.as_of - self.length

    @property
    def before_start(self) -> datetime:
        return self.as_of - 2 * self.length


def parse_window(name: str) -> timedelta:
    """The length of a window name, with an error that lists the known ones."""
    try:
        return WINDOWS[name]
    except KeyError:
        raise ValueError(f"unknown window {name!r}: expected one of {', '.join(WINDOWS)}") from None


def compare_windows(buckets: pd.DataFrame, totals: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Per slice and keyword: videos, mentions, share and engagement in the now window and the one before.

    ``buckets`` holds hourly rollup rows (``bucket``, the slice columns, ``videos``, ``mentions``, counters)
    and ``totals`` the hourly bucket totals (``bucket``, ``region``, ``category``, ``videos``), both covering
    [before_start, as_of). The share of a window is the keyword's videos over all
    videos of the same slice in that window, so a rising overall volume does not look like growth.
    """
    now_start = _naive(window.now_start)
    frame = buckets.assign(is_now=buckets["bucket"] >= pd.Timestamp(now_start))
    # The late half of the now window shows whether usage is still climbing or has turned.
    late_start = now_start + window.length / 2
    frame = frame.assign(late=frame["bucket"] >= late_start)
    now = frame[frame["is_now"]]
    before = frame[~frame["is_now"]]
    now_sums = now.groupby(SLICE, sort=False)[["videos", "mentions", *COUNTERS]].sum()
    # One display per keyword, the spelling of most of its videos, so a slice never splits in two.
    spellings = frame.groupby([*SLICE, "display"], sort=False)["videos"].sum().reset_index()
    spellings = spellings.sort_values([*SLICE, "videos", "display"], ascending=[True] * 4 + [False, True])
    display = spellings.drop_duplicates(SLICE).set_index(SLICE)["display"]
    late = now[now["late"]].groupby(SLICE, sort=False)["videos"].sum().rename("videos_late")
    before_sums = (
        before.groupby(SLICE, sort=False)[["videos", "mentions"]]
        .sum()
        .rename(columns={"videos": "videos_before", "mentions": "mentions_before"})
    )
    result = (
        now_sums.rename(columns={"videos": "videos_now", "mentions": "mentions_now"})
        .join(display)
        .reset_index()
        .merge(before_sums.reset_index(), on=SLICE, how="left")
        .merge(late.reset_index(), on=SLICE, how="left")
    )
    result = result.merge(_slice_totals(totals, pd.Timestamp(now_start)), on=["region", "category"], how="left")
    for column in ("videos_before", "mentions_before", "videos_late"):
        result[column] = result[column].fillna(0)
    result["share_now"] = result["videos_now"] / result["total_now"].clip(lower=1)
    result["share_before"] = result["videos_before"] / result["total_before"].clip(lower=1)
    return result


def _slice_totals(totals: pd.DataFrame, now_start: pd.Timestamp) -> pd.DataFrame:
    """All videos of each (region, category) slice in the now and the before window."""
    is_now = totals["bucket"] >= now_start
    keys = ["region", "category"]
    now = totals[is_now].groupby(keys)["videos"].sum().rename("total_now")
    before = totals[~is_now].groupby(keys)["videos"].sum().rename("total_before")
    return pd.concat([now, before], axis=1).fillna(0).reset_index()


def _naive(value: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
