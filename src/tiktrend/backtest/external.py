"""Detectors on any labelled set of series: a long CSV ``series_id,t,value`` and ``series_id,label[,onset_t]``.

Each series is one key; its denominator is the sum of all series at the same ``t`` (so a share-based
detector measures growth relative to everything else in the file). A series is scored by its highest
score over time, up to and including ``onset_t`` when the labels give one (detecting a trend after it
became one does not count). The ROC over series gives the AUC and the true-positive rate at 1%, 5% and
10% false-positive rate, the figures Nikolov and Shah report for Twitter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tiktrend.backtest.evaluate import auc, roc_curve, tpr_at_fpr
from tiktrend.trends.detectors import Detector
from tiktrend.trends.series import Series, series_from_arrays

FPR_LEVELS = (0.01, 0.05, 0.10)


@dataclass
class ExternalResult:
    """ROC figures of each detector on a labelled set of series."""

    series: int
    positives: int
    buckets: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per detector: AUC, TPR at each FPR level, and detections before onset."""
        return pd.DataFrame(self.rows).set_index("detector") if self.rows else pd.DataFrame()


def read_series_csv(path: Path) -> pd.DataFrame:
    """A long frame ``series_id, t, value`` (t numeric or a timestamp), with a clear error on other shapes."""
    frame = pd.read_csv(path)
    _require(frame, ("series_id", "t", "value"), path)
    frame["series_id"] = frame["series_id"].astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="raise").astype(float)
    return frame


def read_labels_csv(path: Path) -> pd.DataFrame:
    """``series_id, label`` (1/0, true/false, trend/non-trend) and an optional ``onset_t``."""
    frame = pd.read_csv(path)
    _require(frame, ("series_id", "label"), path)
    frame["series_id"] = frame["series_id"].astype(str)
    text = frame["label"].astype(str).str.strip().str.lower()
    positive = {"1", "true", "yes", "trend", "positive", "1.0"}
    negative = {"0", "false", "no", "non-trend", "nontrend", "negative", "0.0"}
    unknown = sorted(set(text) - positive - negative)
    if unknown:
        raise ValueError(f"{path}: labels must be 1/0, true/false or trend/non-trend, found {unknown[:5]}")
    frame["label"] = text.isin(positive)
    return frame


def build_external_series(values: pd.DataFrame) -> tuple[Series, list[str], pd.Index]:
    """One key per series over the union of ``t`` (missing values are 0), in the order of the ids."""
    times = _times(values["t"])
    frame = values.assign(t=times)
    wide = frame.pivot_table(index="t", columns="series_id", values="value", aggfunc="sum", fill_value=0.0)
    wide = wide.sort_index()
    ids = [str(c) for c in wide.columns]
    grain = "day" if _is_daily(wide.index) else "hour"
    start = wide.index[0] if isinstance(wide.index, pd.DatetimeIndex) else pd.Timestamp("2000-01-01")
    series = series_from_arrays(wide.to_numpy(dtype=float), names=ids, start=start, grain=grain)
    return series, ids, wide.index


def evaluate_external(values: pd.DataFrame, labels: pd.DataFrame, detectors: Sequence[Detector[Any]]) -> ExternalResult:
    """Score every series with every detector and measure the ROC against the labels."""
    series, ids, times = build_external_series(values)
    labelled = labels.drop_duplicates("series_id").set_index("series_id").reindex(ids)
    missing = labelled["label"].isna()
    if missing.all():
        raise ValueError("no series of the values file has a label")
    keep = ~missing.to_numpy()
    positive = labelled["label"].fillna(False).to_numpy(dtype=bool)
    until = _onset_rows(labelled, times)
    result = ExternalResult(series=int(keep.sum()), positives=int((positive & keep).sum()), buckets=series.n_buckets)
    for detector in detectors:
        try:
            scores = detector.score_series(series)
        except ValueError as exc:  # e.g. velocity without engagement
            result.skipped[detector.name] = str(exc)
            continue
        rows = np.arange(series.n_buckets)[:, None]
        allowed = rows <= until[None, :]
        best = np.where(allowed, scores.score, -np.inf).max(axis=0, initial=-np.inf)
        flagged: np.ndarray = np.asarray((scores.decision & allowed).any(axis=0))
        pos, neg = best[keep & positive], best[keep & ~positive]
        fpr, tpr = roc_curve(pos, neg)
        row: dict[str, Any] = {"detector": detector.name, "auc": auc(pos, neg)}
        for level in FPR_LEVELS:
            row[f"tpr@{level:.0%}"] = tpr_at_fpr(fpr, tpr, level)
        row["flagged trends"] = float(flagged[keep & positive].mean()) if pos.size else float("nan")
        row["flagged non-trends"] = float(flagged[keep & ~positive].mean()) if neg.size else float("nan")
        result.rows.append(row)
    return result


def _onset_rows(labelled: pd.DataFrame, times: pd.Index) -> np.ndarray:
    """For each series, the last row that may count: its onset's row, or the last row."""
    last = len(times) - 1
    if "onset_t" not in labelled or labelled["onset_t"].isna().all():
        return np.full(len(labelled), last)
    rows = np.full(len(labelled), last)
    given = labelled["onset_t"].notna().to_numpy()
    onsets = _times(labelled["onset_t"][given])
    # The row of the last step at or before the onset (-1: the onset precedes every step, nothing counts).
    rows[given] = np.clip(np.searchsorted(np.asarray(times), np.asarray(onsets), side="right") - 1, -1, last)
    return rows


def _times(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric
    stamps = pd.to_datetime(values, utc=True, errors="raise")
    return stamps.dt.tz_convert("UTC").dt.tz_localize(None)


def _is_daily(index: pd.Index) -> bool:
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return False
    return bool(pd.Series(index).diff().median() >= pd.Timedelta(days=1))


def _require(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise ValueError(f"{path}: missing column(s) {', '.join(absent)}; expected {', '.join(columns)}")
