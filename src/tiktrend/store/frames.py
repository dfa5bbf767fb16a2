"""Turning a loaded chunk into the rows every backend upserts: one per video, per observation, per mention.

Both backends call :func:`prepare_batch`, so the merge rules inside one chunk are the same code everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tiktrend.models import COUNTERS, MENTION_COLUMNS

STATIC_COLUMNS: Final = (
    "author",
    "author_followers",
    "region",
    "category",
    "created_at",
    "caption",
    "hashtags",
    "music_id",
    "music_title",
    "music_author",
    "music_original",
    "duration_s",
    "language",
    "cover_url",
    "video_url",
    "source",
)
# The column order of the ``videos`` table in every backend.
VIDEO_TABLE_COLUMNS: Final = (
    "video_id",
    *STATIC_COLUMNS[:5],
    "posted_at",
    *STATIC_COLUMNS[5:],
    "first_seen",
    "last_seen",
    *COUNTERS,
)
STATS_COLUMNS: Final = ("video_id", "observed_at", *COUNTERS)
MENTION_KEY: Final = ["video_id", "keyword", "modality"]


@dataclass(frozen=True)
class Batch:
    """One chunk, folded: ``videos`` (one row per video), ``stats`` (per observation), ``mentions`` (deduplicated)."""

    videos: pd.DataFrame
    stats: pd.DataFrame
    mentions: pd.DataFrame


def utc_naive(series: pd.Series) -> pd.Series:
    """Timestamps as UTC without a zone, in microseconds (how every store keeps them)."""
    values = pd.to_datetime(series, utc=True)
    return values.dt.tz_convert(UTC).dt.tz_localize(None).astype("datetime64[us]")


_TEXT_COLUMNS: Final = (
    "video_id",
    "author",
    "region",
    "category",
    "caption",
    "music_id",
    "music_title",
    "music_author",
    "language",
    "cover_url",
    "video_url",
    "source",
)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Column types as the tables have them, whatever pandas inferred (an all-missing column is float)."""
    for column in (*COUNTERS, "author_followers"):
        if column in frame:
            # Nullable integers: a missing counter stays NULL and large ones keep every digit.
            frame[column] = frame[column].astype("Int64")
    for column in _TEXT_COLUMNS:
        if column in frame and frame[column].dtype.kind == "f":
            frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if "music_original" in frame:
        frame["music_original"] = frame["music_original"].astype("boolean")
    if "duration_s" in frame:
        frame["duration_s"] = frame["duration_s"].astype("float64")
    return frame


def fold_videos(observations: pd.DataFrame, *, one_per_video: bool | None = None) -> pd.DataFrame:
    """One row per video: attributes of its earliest observation, counters of its latest.

    ``one_per_video``: whether each video is observed once (found out here when not given).
    """
    if one_per_video is None:
        one_per_video = bool(observations["video_id"].is_unique)
    if one_per_video:
        # The common case, one observation per video in a chunk: nothing to fold, so nothing to sort (rows
        # keep the chunk's order; every reader orders its results itself).
        frame = observations[["video_id", *STATIC_COLUMNS, *COUNTERS]].reset_index(drop=True)
        frame["first_seen"] = frame["last_seen"] = observations["observed_at"].to_numpy()
        missing = frame["hashtags"].isna().to_numpy()
        if missing.any():
            frame["hashtags"] = [[] if gap else tags for gap, tags in zip(missing, frame["hashtags"], strict=True)]
    else:
        obs = observations.sort_values(["video_id", "observed_at"], kind="stable")
        grouped = obs.groupby("video_id", sort=True)
        # groupby().first() skips missing values per column: exactly "earliest, gaps filled by later".
        frame = grouped[list(STATIC_COLUMNS)].first()
        with_tags = obs[[_has_items(t) for t in obs["hashtags"]]]
        tags = with_tags.groupby("video_id", sort=True)["hashtags"].first()
        frame["hashtags"] = [tags.get(video_id, []) for video_id in frame.index]
        frame = frame.join(grouped[list(COUNTERS)].last())
        frame["first_seen"] = grouped["observed_at"].min()
        frame["last_seen"] = grouped["observed_at"].max()
        frame = frame.reset_index()
    frame["posted_at"] = frame["created_at"].fillna(frame["first_seen"])
    return _typed(frame[list(VIDEO_TABLE_COLUMNS)])


def _has_items(tags: object) -> bool:
    return tags is not None and not isinstance(tags, float) and len(tags) > 0  # type: ignore[arg-type]


def is_in(values: pd.Series, allowed: pd.Series | list[str]) -> np.ndarray:
    """``values.isin(allowed)`` for strings, in Arrow (pandas 3 converts each value to a scalar first)."""
    found = pc.is_in(pa.array(values, type=pa.string()), value_set=pa.array(allowed, type=pa.string()))
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def fold_stats(observations: pd.DataFrame, *, one_per_video: bool = False) -> pd.DataFrame:
    """One row per (video, observation time), the larger counter when a source repeats a moment.

    ``one_per_video``: the caller knows each video is observed once, so no moment can repeat.
    """
    stats = observations[list(STATS_COLUMNS)]
    if one_per_video or not stats.duplicated(["video_id", "observed_at"]).any():
        return _typed(stats.reset_index(drop=True))
    return _typed(stats.groupby(["video_id", "observed_at"], as_index=False)[list(COUNTERS)].max())


def dedup_mentions(mentions: pd.DataFrame) -> pd.DataFrame:
    """One row per (video_id, keyword, modality): on a repeat, the larger weight, then the smaller spelling.

    The same rule as between loads when observations tie. Rows are kept in the chunk's order; only the keys
    that repeat are sorted.
    """
    if mentions.empty:
        return mentions
    repeated = mentions.duplicated(MENTION_KEY, keep=False).to_numpy()
    if not repeated.any():
        return mentions
    order = [*MENTION_KEY, "weight", "display"]
    ties = mentions[repeated].sort_values(order, ascending=[True, True, True, False, True], kind="stable")
    keep = ~repeated
    keep[mentions.index.get_indexer(ties.drop_duplicates(MENTION_KEY).index)] = True
    return mentions[keep]


def prepare_batch(videos: pd.DataFrame, mentions: pd.DataFrame) -> Batch:
    """Fold a chunk of observations (``VIDEO_COLUMNS``) and mentions (``MENTION_COLUMNS``) into rows to upsert.

    Mentions of videos that are not in the chunk are dropped: a mention is always loaded with its video.
    """
    observations = videos.copy()
    for column in ("observed_at", "created_at"):
        observations[column] = utc_naive(observations[column])
    one_per_video = bool(observations["video_id"].is_unique)
    folded = fold_videos(observations, one_per_video=one_per_video)
    batch_mentions = mentions.reindex(columns=list(MENTION_COLUMNS)).astype({"weight": "float64", "is_generic": "bool"})
    if batch_mentions.empty:  # an empty frame's columns carry no type; the stores need strings there
        batch_mentions = batch_mentions.astype({c: "str" for c in ("video_id", "keyword", "display", "modality")})
    batch_mentions = dedup_mentions(batch_mentions.reset_index(drop=True))
    batch_mentions = batch_mentions[is_in(batch_mentions["video_id"], folded["video_id"])]
    stats = fold_stats(observations, one_per_video=one_per_video)
    return Batch(folded, stats, batch_mentions.reset_index(drop=True))
