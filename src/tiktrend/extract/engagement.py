"""Engagement features per video observation, and velocities between a video's observations.

Rates are per view (None when views are unknown or zero): ``engagement_rate`` = (likes + comments + shares +
saves) / views, as in the original project; ``virality_index`` = shares / views; ``discussion_rate`` =
comments / views; ``save_rate`` = saves / views. Velocities are growth per hour since the video's previous
observation (``views_velocity``, ``engagement_velocity``), empty on its first observation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURE_COLUMNS = (
    "video_id",
    "observed_at",
    "engagement_total",
    "engagement_rate",
    "virality_index",
    "discussion_rate",
    "save_rate",
    "views_velocity",
    "engagement_velocity",
)
_PARTS = ("likes", "comments", "shares", "saves")


def engagement_features(videos: pd.DataFrame) -> pd.DataFrame:
    """One row of ``FEATURE_COLUMNS`` per (video, observation) of a videos frame, sorted by video and time."""
    frame = videos[["video_id", "observed_at", "views", *_PARTS]].copy()
    frame["video_id"] = frame["video_id"].astype(str)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    frame = frame.drop_duplicates(["video_id", "observed_at"], keep="last")
    frame = frame.sort_values(["video_id", "observed_at"], kind="stable").reset_index(drop=True)
    counts = frame[["views", *_PARTS]].apply(pd.to_numeric, errors="coerce").astype("float64")
    total = counts[list(_PARTS)].fillna(0).sum(axis=1)
    views = counts["views"].where(counts["views"] > 0)
    hours = frame.groupby("video_id")["observed_at"].diff().dt.total_seconds() / 3600
    hours = hours.where(hours > 0)
    out = pd.DataFrame(
        {
            "video_id": frame["video_id"],
            "observed_at": frame["observed_at"],
            "engagement_total": total,
            "engagement_rate": total / views,
            "virality_index": counts["shares"] / views,
            "discussion_rate": counts["comments"] / views,
            "save_rate": counts["saves"] / views,
            "views_velocity": counts.groupby(frame["video_id"])["views"].diff() / hours,
            "engagement_velocity": total.groupby(frame["video_id"]).diff() / hours,
        },
        columns=list(FEATURE_COLUMNS),
    )
    return out.replace([np.inf, -np.inf], np.nan)
