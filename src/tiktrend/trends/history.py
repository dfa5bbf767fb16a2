"""A trend's first detection time across runs: the current run of flags, extended by earlier stored detections."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from tiktrend.trends.windows import SLICE


def carry_first_detection(ranked: pd.DataFrame, stored: pd.DataFrame, tolerance: timedelta) -> pd.DataFrame:
    """``ranked`` with each ``first_detected_at`` moved back along earlier detections of the same run of flags.

    ``ranked`` holds one detection (one ``as_of``) whose ``first_detected_at`` is the start of the run of
    flags the detection itself could see; ``stored`` holds earlier detections of the same detector and
    window (``SLICE`` columns, ``as_of``, ``first_detected_at``, which may be missing on rows stored before it
    existed). A stored detection of the same key made before ``as_of`` and at most ``tolerance`` before the
    first detection belongs to the same run of flags, so its own first detection (itself carried the same
    way when it was made) is this one's too. Only detections before ``as_of`` count: a re-run of the same
    moment gives the same answer.
    """
    ranked = ranked.assign(first_detected_at=_utc(ranked["first_detected_at"]))
    if ranked.empty or stored.empty:
        return ranked
    as_of = _utc(ranked["as_of"]).iloc[0]
    seen = stored.assign(as_of=_utc(stored["as_of"]), first=_utc(stored["first_detected_at"]))
    earlier = seen[seen["as_of"] < as_of].assign(first=lambda f: f["first"].fillna(f["as_of"]))
    if earlier.empty:
        return ranked
    # Newest first: each one in reach may reach further back, and the first one out of reach ends the walk.
    history = {
        key: list(zip(group["as_of"], group["first"], strict=True))
        for key, group in earlier.sort_values("as_of", ascending=False).groupby(SLICE, sort=False)
    }
    firsts = []
    for key, first in zip(ranked[SLICE].itertuples(index=False, name=None), ranked["first_detected_at"], strict=True):
        first = pd.Timestamp(first)
        for seen_at, seen_first in history.get(key, []):
            if seen_at < first - tolerance:
                break
            first = min(first, seen_first)
        firsts.append(first)
    return ranked.assign(first_detected_at=_utc(pd.Series(firsts, index=ranked.index)))


def _utc(values: pd.Series) -> pd.Series:
    """Timestamps as UTC without a zone (naive ones are taken as UTC already), the stores' convention."""
    return pd.to_datetime(values, utc=True).dt.tz_localize(None).astype("datetime64[us]")
