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
    # Each stored row in reach may reach further back (a row stored without a first detection only by its own
    # as_of), so widen until nothing changes: as many rounds as the longest such chain, two for carried rows.
    keyed = ranked[SLICE].assign(_row=range(len(ranked)), first=ranked["first_detected_at"].to_numpy())
    candidates = keyed.merge(earlier[[*SLICE, "as_of", "first"]].rename(columns={"first": "seen_first"}), on=SLICE)
    firsts = keyed.set_index("_row")["first"]
    while not candidates.empty:
        reach = firsts.reindex(candidates["_row"]).to_numpy() - pd.Timedelta(tolerance)
        inside = candidates[candidates["as_of"].to_numpy() >= reach]
        best = inside.groupby("_row")["seen_first"].min().reindex(firsts.index)
        moved = firsts.mask(best < firsts, best)
        if moved.equals(firsts):
            break
        firsts = moved
    return ranked.assign(first_detected_at=_utc(pd.Series(firsts.to_numpy(), index=ranked.index)))


def _utc(values: pd.Series) -> pd.Series:
    """Timestamps as UTC without a zone (naive ones are taken as UTC already), the stores' convention."""
    return pd.to_datetime(values, utc=True).dt.tz_localize(None).astype("datetime64[us]")
