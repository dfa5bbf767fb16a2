"""Keyword × bucket series as dense arrays, built from rollup rows (pure numpy / pandas, no store access).

Arrays are time-major, ``[bucket, key]``, so that one bucket (one row) is contiguous: detectors walk the
buckets in order and update every keyword at once. A key is one ``(region, category, modality, keyword)``
slice; its denominator is the total volume of its ``(region, category)`` bucket, because raw counts rise
and fall with the daily cycle and with how the data was collected, and only a share of that volume says
whether a keyword is growing.

Example::

    series = build_series(store.bucket_frame("hour", start, end), store.totals_frame("hour", start, end),
                          grain="hour", start=start, end=end)
    series.share()[-1]  # every keyword's share of its slice's videos in the latest hour
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]

KEY_COLUMNS: Final = ("region", "category", "modality", "keyword")
FREQUENCIES: Final = {"hour": "h", "day": "D"}
STEPS: Final = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1)}
GAINED: Final = ("views", "likes", "comments", "shares", "saves")


@dataclass(frozen=True)
class Column:
    """What one bucket brings for every key: the input of a detector's streaming ``update``."""

    bucket: pd.Timestamp
    videos: Floats  # distinct videos of each key in the bucket
    totals: Floats  # all videos of each key's (region, category) slice in the bucket
    gained: Floats | None = None  # views gained by each key's videos, observed during the bucket
    gained_totals: Floats | None = None  # views gained by all videos of the slice during the bucket
    step_nanos: int = 3_600_000_000_000  # the bucket's length (for phases of a daily or weekly cycle)

    def __len__(self) -> int:
        return len(self.videos)


@dataclass(frozen=True)
class Series:
    """Dense ``[bucket, key]`` arrays for one grain; ``totals`` is ``[bucket, slice]`` with ``key_slice``.

    ``views`` holds the rollups' engagement sums (the latest counters of each video, so they look ahead
    in a replay: use them for display and live minimums only); ``gained`` holds views *gained* between
    observations, attributed to the bucket of the observation, which is what was known at that time.
    """

    keys: pd.DataFrame  # one row per key: KEY_COLUMNS and display
    buckets: pd.DatetimeIndex  # bucket starts
    grain: str
    videos: Floats
    totals: Floats
    key_slice: Ints  # column of ``totals`` (and ``gained_totals``) for each key
    mentions: Floats | None = None
    views: Floats | None = None
    gained: Floats | None = None
    gained_totals: Floats | None = None

    @property
    def step(self) -> pd.Timedelta:
        """The length of one bucket."""
        return STEPS[self.grain]

    @property
    def n_buckets(self) -> int:
        return len(self.buckets)

    @property
    def n_keys(self) -> int:
        return len(self.keys)

    def column(self, t: int, keys: slice = slice(None)) -> Column:
        """Bucket ``t`` as a detector sees it (for the keys of ``keys`` only, when given)."""
        slices = self.key_slice[keys]
        gained = None if self.gained is None else self.gained[t, keys]
        gained_totals = None if self.gained_totals is None else self.gained_totals[t, slices]
        totals = self.totals[t, slices]
        return Column(self.buckets[t], self.videos[t, keys], totals, gained, gained_totals, int(self.step.value))

    def key_totals(self) -> Floats:
        """``[bucket, key]`` totals of each key's slice."""
        result: Floats = self.totals[:, self.key_slice]
        return result

    def share(self) -> Floats:
        """Each key's share of its slice's videos per bucket (0 where the slice is empty)."""
        totals = self.key_totals()
        result: Floats = np.divide(self.videos, totals, out=np.zeros_like(self.videos), where=totals > 0)
        return result

    def head(self, n: int) -> Series:
        """The first ``n`` buckets: what was known at the end of bucket ``n - 1``."""
        return replace(
            self,
            buckets=self.buckets[:n],
            videos=self.videos[:n],
            totals=self.totals[:n],
            mentions=None if self.mentions is None else self.mentions[:n],
            views=None if self.views is None else self.views[:n],
            gained=None if self.gained is None else self.gained[:n],
            gained_totals=None if self.gained_totals is None else self.gained_totals[:n],
        )

    def select(self, mask: Bools) -> Series:
        """Only the keys where ``mask`` is true (slices and totals are kept)."""
        return replace(
            self,
            keys=self.keys[mask].reset_index(drop=True),
            videos=self.videos[:, mask],
            key_slice=self.key_slice[mask],
            mentions=None if self.mentions is None else self.mentions[:, mask],
            views=None if self.views is None else self.views[:, mask],
            gained=None if self.gained is None else self.gained[:, mask],
        )


def bucket_index(grain: str, start: datetime, end: datetime) -> pd.DatetimeIndex:
    """Bucket starts of ``grain`` covering [start, end), with start floored to the grain."""
    if grain not in FREQUENCIES:
        raise ValueError(f"grain must be one of {', '.join(FREQUENCIES)}, not {grain!r}")
    freq = FREQUENCIES[grain]
    first = _naive(start).floor(freq)
    return pd.date_range(first, _naive(end), freq=freq, inclusive="left")


def build_series(
    rows: pd.DataFrame,
    totals: pd.DataFrame,
    *,
    grain: str,
    start: datetime,
    end: datetime,
    gained: pd.DataFrame | None = None,
    gained_totals: pd.DataFrame | None = None,
    include_generic: bool = False,
) -> Series:
    """Dense series from rollup rows (``Store.bucket_frame``) and totals (``Store.totals_frame``).

    ``gained`` and ``gained_totals`` are the optional engagement velocities (``Store.velocity_frame``).
    Generic reach tags are left out unless ``include_generic``: they ride on every video and say nothing.
    """
    buckets = bucket_index(grain, start, end)
    if not include_generic and "is_generic" in rows.columns:
        rows = rows[~rows["is_generic"].astype(bool)]
    rows = rows[(rows["bucket"] >= buckets[0]) & (rows["bucket"] < _naive(end))] if len(buckets) else rows.iloc[:0]
    keys = _keys(rows)
    slices = keys[["region", "category"]].drop_duplicates().reset_index(drop=True)
    key_slice = _positions(keys[["region", "category"]], slices)
    t_rows = _bucket_positions(rows["bucket"], buckets)
    k_rows = _positions(rows[list(KEY_COLUMNS)], keys[list(KEY_COLUMNS)])
    shape = (len(buckets), len(keys))
    series = Series(
        keys=keys,
        buckets=buckets,
        grain=grain,
        videos=_dense(shape, t_rows, k_rows, rows["videos"]),
        totals=_slice_dense(totals, "videos", buckets, slices),
        key_slice=key_slice,
        mentions=_dense(shape, t_rows, k_rows, rows["mentions"]) if "mentions" in rows else None,
        views=_dense(shape, t_rows, k_rows, rows["views"].fillna(0)) if "views" in rows else None,
    )
    if gained is None or gained_totals is None:
        return series
    inside = gained[(gained["bucket"] >= buckets[0]) & (gained["bucket"] < _naive(end))] if len(buckets) else gained
    k_gained = _positions(inside[list(KEY_COLUMNS)], keys[list(KEY_COLUMNS)])
    known = k_gained >= 0  # engagement of a key without rollup rows in the range cannot be scored
    t_gained = _bucket_positions(inside["bucket"], buckets)
    return replace(
        series,
        gained=_dense(shape, t_gained[known], k_gained[known], inside["views"].to_numpy()[known]),
        gained_totals=_slice_dense(gained_totals, "views", buckets, slices),
    )


def series_from_arrays(
    values: Floats,
    totals: Floats | None = None,
    *,
    names: list[str] | None = None,
    start: datetime = datetime(2025, 1, 1),
    grain: str = "hour",
) -> Series:
    """A one-slice series from a ``[bucket, key]`` array (tests, benchmarks, external CSVs).

    Without ``totals`` every bucket's total is the sum over keys (at least 1), so shares are relative.
    A float32 array stays float32 (the detectors' own type: no conversion per bucket).
    """
    values = values if values.dtype == np.float32 else np.asarray(values, dtype=np.float64)
    n_buckets, n_keys = values.shape
    if totals is None:
        totals = np.maximum(values.sum(axis=1), 1.0)
    names = names if names is not None else [f"k{i}" for i in range(n_keys)]
    keys = pd.DataFrame({"region": "*", "category": "*", "modality": "*", "keyword": names, "display": names})
    freq = FREQUENCIES[grain]
    return Series(
        keys=keys,
        buckets=pd.date_range(_naive(start), periods=n_buckets, freq=freq),
        grain=grain,
        videos=values,
        totals=np.asarray(totals, dtype=values.dtype).reshape(n_buckets, 1),
        key_slice=np.zeros(n_keys, dtype=np.int64),
    )


def _keys(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per key, sorted, with the spelling most of its videos use."""
    columns = list(KEY_COLUMNS)
    if rows.empty:
        return pd.DataFrame(columns=[*columns, "display"])
    displays = rows.assign(display=rows["display"].replace("", np.nan).fillna(rows["keyword"]))
    spellings = displays.groupby([*columns, "display"], sort=False)["videos"].sum().reset_index()
    spellings = spellings.sort_values([*columns, "videos", "display"], ascending=[True] * 4 + [False, True])
    return spellings.drop_duplicates(columns)[[*columns, "display"]].reset_index(drop=True)


def _positions(frame: pd.DataFrame, reference: pd.DataFrame) -> Ints:
    """Row position of each row of ``frame`` in ``reference`` (same columns), -1 when absent."""
    if frame.empty:
        return np.zeros(0, dtype=np.int64)
    index = pd.MultiIndex.from_frame(reference.astype(str)) if len(reference.columns) > 1 else None
    if index is None:
        positions = pd.Index(reference.iloc[:, 0].astype(str)).get_indexer(pd.Index(frame.iloc[:, 0].astype(str)))
    else:
        positions = index.get_indexer(pd.MultiIndex.from_frame(frame.astype(str)))
    return np.asarray(positions, dtype=np.int64)


def _bucket_positions(stamps: pd.Series, buckets: pd.DatetimeIndex) -> Ints:
    positions = buckets.get_indexer(pd.DatetimeIndex(stamps))
    if (positions < 0).any():
        raise ValueError("rows hold buckets that are not on the grain's boundaries")
    return np.asarray(positions, dtype=np.int64)


def _dense(shape: tuple[int, int], t: Ints, k: Ints, values: object) -> Floats:
    out = np.zeros(shape, dtype=np.float64)
    np.add.at(out, (t, k), np.asarray(values, dtype=np.float64))
    return out


def _slice_dense(totals: pd.DataFrame, column: str, buckets: pd.DatetimeIndex, slices: pd.DataFrame) -> Floats:
    out = np.zeros((len(buckets), len(slices)), dtype=np.float64)
    if totals.empty or slices.empty or not len(buckets):
        return out
    inside = totals[(totals["bucket"] >= buckets[0]) & (totals["bucket"] <= buckets[-1])]
    s = _positions(inside[["region", "category"]], slices)
    keep = s >= 0
    t = _bucket_positions(inside["bucket"][keep], buckets)
    np.add.at(out, (t, s[keep]), inside[column].to_numpy(dtype=np.float64)[keep])
    return out


def _naive(value: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
