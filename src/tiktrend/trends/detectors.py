"""Growth detectors: configured in ``__init__`` (validated there), pure functions of window comparisons.

Only the baseline lives here for now: the original project's rule. Better detectors join it behind the
same API, and the backtest decides which is better.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class ThresholdDetector:
    """The original rule: growth ``(now - before) / before`` between consecutive windows, with minimums.

    Growth is measured on distinct videos; ``before`` is floored at ``before_floor`` so a keyword that
    appears from nothing has a finite growth equal to its count. A keyword is flagged when its growth
    reaches ``min_growth`` and its videos and engagement in the now window reach every minimum.
    """

    name = "threshold"

    def __init__(
        self,
        min_growth: float = 1.0,
        min_videos: int = 10,
        min_views: int = 0,
        min_likes: int = 0,
        min_comments: int = 0,
        min_shares: int = 0,
        before_floor: float = 1.0,
    ) -> None:
        for label, value in {
            "min_videos": min_videos,
            "min_views": min_views,
            "min_likes": min_likes,
            "min_comments": min_comments,
            "min_shares": min_shares,
        }.items():
            if value < 0:
                raise ValueError(f"{label} must be >= 0, not {value}")
        if before_floor <= 0:
            raise ValueError(f"before_floor must be > 0, not {before_floor}")
        self.min_growth = min_growth
        self.min_videos = min_videos
        self.min_views = min_views
        self.min_likes = min_likes
        self.min_comments = min_comments
        self.min_shares = min_shares
        self.before_floor = before_floor

    def params(self) -> dict[str, float]:
        """The configuration, as stored with each run."""
        return {k: float(v) for k, v in vars(self).items()}

    def score(self, compared: pd.DataFrame) -> pd.DataFrame:
        """Add ``growth``, ``score`` and ``decision`` columns to a :func:`compare_windows` frame."""
        before = np.maximum(compared["videos_before"].to_numpy(dtype=float), self.before_floor)
        growth = (
            compared["videos_now"].to_numpy(dtype=float) - compared["videos_before"].to_numpy(dtype=float)
        ) / before
        decision = (
            (growth >= self.min_growth)
            & (compared["videos_now"] >= self.min_videos)
            & (compared["views"].fillna(0) >= self.min_views)
            & (compared["likes"].fillna(0) >= self.min_likes)
            & (compared["comments"].fillna(0) >= self.min_comments)
            & (compared["shares"].fillna(0) >= self.min_shares)
        )
        return compared.assign(growth=growth, score=growth, decision=decision.to_numpy())
