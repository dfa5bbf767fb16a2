"""Scores against events: precision, recall, F1, lead time, false-positive rate, precision@k and ROC.

Everything is per *keyword*: a keyword is flagged at a bucket when any of its slices (regions, categories)
is flagged there, with the highest score of its slices. Definitions (also in ``docs/detection.md``):

- an **alert** is the first flag of a keyword after ``cooldown`` unflagged buckets; it is *true* when the
  moment its bucket was known falls inside one of the keyword's event windows;
- **precision** = true alerts / alerts; **recall** = events flagged at least once inside their window;
  **F1** their harmonic mean; **lead** = event moment minus the first flag inside the window, in buckets;
- **false-positive rate** = keywords without any event that raised at least one alert / keywords without
  any event;
- **precision@k** = at each evaluated bucket, the share of the ``k`` highest-scoring flagged keywords that
  are inside an event window, averaged over the buckets that flag anything;
- **ROC** over keywords: a keyword with events scores its highest score inside its windows, one without
  scores its highest score over the whole evaluation; AUC is the Mann-Whitney statistic (ties count half).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tiktrend.trends.detectors import Scores
from tiktrend.trends.series import Bools, Floats, Series

NO_LAG = pd.Timedelta(0)
HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class KeywordScores:
    """Scores folded to one column per keyword: ``[bucket, keyword]``."""

    keywords: list[str]
    known_at: pd.DatetimeIndex  # when each bucket's data was complete (its end plus any lag)
    score: Floats
    decision: Bools


@dataclass
class Metrics:
    """The figures of one detector on one ground truth."""

    detector: str
    alerts: int = 0
    true_alerts: int = 0
    events: int = 0
    detected: int = 0
    precision: float = float("nan")
    recall: float = float("nan")
    f1: float = float("nan")
    lead_median: float = float("nan")
    lead_mean: float = float("nan")
    false_positive_rate: float = float("nan")
    precision_at_k: float = float("nan")
    k: int = 0
    auc: float = float("nan")
    generic_in_top_k: int = 0
    leads: list[float] = field(default_factory=list)
    roc_fpr: list[float] = field(default_factory=list)
    roc_tpr: list[float] = field(default_factory=list)
    top_k_keywords: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    false_alerts: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The scalar figures (what tables show)."""
        return {k: v for k, v in vars(self).items() if not isinstance(v, list) and k != "detector"} | {
            "detector": self.detector
        }


def fold_keywords(series: Series, scores: Scores, *, lag: pd.Timedelta = NO_LAG) -> KeywordScores:
    """One column per keyword: the highest score and any decision over its slices."""
    codes, names = pd.factorize(series.keys["keyword"], sort=True)
    n_buckets, n_words = series.n_buckets, len(names)
    score = np.full((n_buckets, n_words), -np.inf)
    decision = np.zeros((n_buckets, n_words), dtype=bool)
    rows = np.arange(n_buckets)[:, None]
    np.maximum.at(score, (rows, codes[None, :]), scores.score)
    np.logical_or.at(decision, (rows, codes[None, :]), scores.decision)
    known_at = series.buckets + series.step + lag
    return KeywordScores([str(n) for n in names], known_at, score, decision)


def truth_cells(folded: KeywordScores, events: pd.DataFrame) -> Bools:
    """``[bucket, keyword]``: whether the bucket was known inside one of the keyword's event windows."""
    cells = np.zeros(folded.score.shape, dtype=bool)
    column = {k: i for i, k in enumerate(folded.keywords)}
    known = folded.known_at.asi8
    for event in events.itertuples(index=False):
        i = column.get(str(event.keyword))
        if i is None:
            continue
        start, end = _stamp(event.window_start), _stamp(event.window_end)
        cells[:, i] |= (known >= start) & (known <= end)
    return cells


def judgeable(folded: KeywordScores, events: pd.DataFrame, evaluated: Bools) -> pd.DataFrame:
    """The events whose window holds at least one evaluated bucket."""
    known = folded.known_at.asi8[evaluated]
    if not len(known) or events.empty:
        return events.iloc[:0]
    starts = np.array([_stamp(v) for v in events["window_start"]])
    ends = np.array([_stamp(v) for v in events["window_end"]])
    first_after = np.searchsorted(known, starts, side="left")
    inside = (first_after < len(known)) & (known[np.minimum(first_after, len(known) - 1)] <= ends)
    return events[inside]


def alerts(decision: Bools, cooldown: int) -> Bools:
    """First flags after ``cooldown`` buckets without one (episode starts)."""
    flagged = decision.astype(np.int64)
    cumulative = np.vstack([np.zeros((1, flagged.shape[1]), dtype=np.int64), np.cumsum(flagged, axis=0)])
    ends = np.arange(len(decision))
    recent = cumulative[ends] - cumulative[np.maximum(ends - cooldown, 0)]
    result: Bools = decision & (recent == 0)
    return result


def evaluate(
    name: str,
    folded: KeywordScores,
    events: pd.DataFrame,
    *,
    evaluated: Bools,
    k: int = 10,
    cooldown: int = 24,
    step: pd.Timedelta = HOUR,
    is_generic: Callable[[str], bool] | None = None,
) -> Metrics:
    """Every figure of one detector's folded scores against ``events``, over the ``evaluated`` buckets.

    Only events whose window meets an evaluated bucket count: the others could not have been detected.
    """
    events = judgeable(folded, events, evaluated)
    truth = truth_cells(folded, events)
    decision = folded.decision & evaluated[:, None]
    metrics = Metrics(detector=name, k=k)
    _alert_figures(metrics, folded, alerts(folded.decision, cooldown) & evaluated[:, None], truth)
    _event_figures(metrics, folded, events, decision, step)
    metrics.f1 = _f1(metrics.precision, metrics.recall)
    _false_positive_rate(metrics, folded, events, decision, cooldown, evaluated)
    _precision_at_k(metrics, folded, decision, truth, k, is_generic)
    _roc(metrics, folded, events, truth, evaluated)
    return metrics


def _alert_figures(metrics: Metrics, folded: KeywordScores, raised: Bools, truth: Bools) -> None:
    metrics.alerts = int(raised.sum())
    metrics.true_alerts = int((raised & truth).sum())
    metrics.precision = metrics.true_alerts / metrics.alerts if metrics.alerts else float("nan")
    wrong = np.unique(np.nonzero(raised & ~truth)[1])
    metrics.false_alerts = [folded.keywords[i] for i in wrong]


def _event_figures(
    metrics: Metrics, folded: KeywordScores, events: pd.DataFrame, decision: Bools, step: pd.Timedelta
) -> None:
    column = {k: i for i, k in enumerate(folded.keywords)}
    known = folded.known_at.asi8
    metrics.events = len(events)
    for event in events.itertuples(index=False):
        i = column.get(str(event.keyword))
        inside = (known >= _stamp(event.window_start)) & (known <= _stamp(event.window_end))
        hits = np.nonzero(decision[:, i] & inside)[0] if i is not None else np.zeros(0, dtype=np.int64)
        if hits.size == 0:
            metrics.missed.append(str(event.keyword))
            continue
        metrics.detected += 1
        first = int(folded.known_at.asi8[hits[0]])
        metrics.leads.append((_stamp(event.moment) - first) / step.value)
    metrics.recall = metrics.detected / metrics.events if metrics.events else float("nan")
    if metrics.leads:
        metrics.lead_median = float(np.median(metrics.leads))
        metrics.lead_mean = float(np.mean(metrics.leads))


def _false_positive_rate(
    metrics: Metrics, folded: KeywordScores, events: pd.DataFrame, decision: Bools, cooldown: int, evaluated: Bools
) -> None:
    negative = ~np.isin(np.array(folded.keywords, dtype=object), events["keyword"].astype(str).to_numpy())
    if not negative.any():
        return
    raised = (alerts(folded.decision, cooldown) & evaluated[:, None]).any(axis=0)
    metrics.false_positive_rate = float((raised & negative).sum() / negative.sum())


def _precision_at_k(
    metrics: Metrics,
    folded: KeywordScores,
    decision: Bools,
    truth: Bools,
    k: int,
    is_generic: Callable[[str], bool] | None,
) -> None:
    precisions = []
    shown: set[int] = set()
    for t in np.nonzero(decision.any(axis=1))[0]:
        flagged = np.nonzero(decision[t])[0]
        top = flagged[np.argsort(-folded.score[t, flagged], kind="stable")[:k]]
        precisions.append(float(truth[t, top].mean()))
        shown.update(top.tolist())
    metrics.precision_at_k = float(np.mean(precisions)) if precisions else float("nan")
    metrics.top_k_keywords = sorted(folded.keywords[i] for i in shown)
    if is_generic is not None:
        metrics.generic_in_top_k = sum(bool(is_generic(word)) for word in metrics.top_k_keywords)


def _roc(metrics: Metrics, folded: KeywordScores, events: pd.DataFrame, truth: Bools, evaluated: Bools) -> None:
    scores = np.where(evaluated[:, None], folded.score, -np.inf)
    positive_words = set(events["keyword"].astype(str))
    is_positive = np.array([w in positive_words for w in folded.keywords], dtype=bool)
    inside = np.where(truth, scores, -np.inf).max(axis=0, initial=-np.inf)
    overall = scores.max(axis=0, initial=-np.inf)
    positives = inside[is_positive]
    # Events whose keyword never appeared cannot be scored: they sit at the bottom.
    unseen = len(positive_words - set(folded.keywords))
    positives = np.r_[positives, np.full(unseen, -np.inf)]
    negatives = overall[~is_positive]
    fpr, tpr = roc_curve(positives, negatives)
    metrics.roc_fpr, metrics.roc_tpr = fpr.tolist(), tpr.tolist()
    metrics.auc = auc(positives, negatives)


def roc_curve(positives: Floats, negatives: Floats) -> tuple[Floats, Floats]:
    """False- and true-positive rates at every threshold, from (0, 0) to (1, 1)."""
    if not len(positives) or not len(negatives):
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    values = _finite(np.r_[positives, negatives])
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    order = np.argsort(-values, kind="stable")
    values, labels = values[order], labels[order]
    # One point per distinct threshold: the last index of each run of equal scores.
    last = np.r_[np.nonzero(np.diff(values))[0], len(values) - 1]
    tpr = np.cumsum(labels)[last] / len(positives)
    fpr = np.cumsum(1 - labels)[last] / len(negatives)
    return np.r_[0.0, fpr], np.r_[0.0, tpr]


def auc(positives: Floats, negatives: Floats) -> float:
    """Probability that a positive outscores a negative (ties count half): the area under the ROC curve."""
    if not len(positives) or not len(negatives):
        return float("nan")
    ranks = pd.Series(_finite(np.r_[positives, negatives])).rank(method="average").to_numpy()
    rank_sum = ranks[: len(positives)].sum()
    u = rank_sum - len(positives) * (len(positives) + 1) / 2
    return float(u / (len(positives) * len(negatives)))


def _finite(values: Floats) -> Floats:
    """Unscored (-inf) values tie below every score."""
    finite = values[np.isfinite(values)]
    floor = (finite.min() if finite.size else 0.0) - 1.0
    result: Floats = np.where(np.isfinite(values), values, floor)
    return result


def tpr_at_fpr(fpr: Floats, tpr: Floats, level: float) -> float:
    """The best true-positive rate reachable without exceeding false-positive rate ``level``."""
    allowed = np.asarray(fpr) <= level + 1e-12
    return float(np.asarray(tpr)[allowed].max()) if allowed.any() else 0.0


def _f1(precision: float, recall: float) -> float:
    if np.isnan(precision) or np.isnan(recall) or precision + recall == 0:
        return 0.0 if not (np.isnan(precision) and np.isnan(recall)) else float("nan")
    return 2 * precision * recall / (precision + recall)


def _stamp(value: Any) -> int:
    stamp = pd.Timestamp(str(value)) if isinstance(value, str) else pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.as_unit("ns").value)
