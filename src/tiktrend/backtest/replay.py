"""Replay a series bucket by bucket through each detector and measure it against ground truth (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tiktrend.backtest.evaluate import NO_LAG, Metrics, evaluate, fold_keywords
from tiktrend.trends.detectors import Detector, Scores
from tiktrend.trends.series import Series


@dataclass
class Truth:
    """One ground truth: its events and the buckets over which flags can be judged against it."""

    name: str
    events: pd.DataFrame
    evaluated: np.ndarray  # [bucket] bool
    note: str = ""


@dataclass
class BacktestResult:
    """Every detector's figures on every ground truth of one history, with what is needed to report them."""

    title: str
    grain: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    n_keys: int
    n_keywords: int
    settings: dict[str, Any]
    detectors: dict[str, dict[str, Any]]  # name -> parameters
    truths: list[Truth] = field(default_factory=list)
    metrics: dict[str, list[Metrics]] = field(default_factory=dict)  # truth name -> one per detector
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def table(self, truth: str) -> pd.DataFrame:
        """The figures of every detector on one ground truth, one row per detector."""
        return pd.DataFrame([m.summary() for m in self.metrics[truth]]).set_index("detector")

    def best(self, truth: str, by: str = "f1") -> str:
        """The detector with the highest ``by`` on ``truth`` (ties: the first in order)."""
        table = self.table(truth)
        return str(table[by].fillna(-1).idxmax())


def replay(detector: Detector[Any], series: Series) -> Scores:
    """Feed the series to ``detector.update`` one bucket at a time, as a live run would have seen it."""
    detector.reset()
    steps = [detector.update(series.column(t)) for t in range(series.n_buckets)]
    detector.reset()
    if not steps:
        empty = np.zeros((0, series.n_keys))
        return Scores(empty, empty.astype(bool), {})
    evidence = {name: np.vstack([s.evidence[name] for s in steps]) for name in steps[0].evidence}
    return Scores(np.vstack([s.score for s in steps]), np.vstack([s.decision for s in steps]), evidence)


def run_backtest(
    series: Series,
    detectors: Sequence[Detector[Any]],
    truths: Sequence[Truth],
    *,
    title: str,
    k: int = 10,
    cooldown: int = 24,
    lag: pd.Timedelta = NO_LAG,
    is_generic: Callable[[str], bool] | None = None,
    settings: dict[str, Any] | None = None,
    clock: Callable[[], float] | None = None,
) -> BacktestResult:
    """Replay ``series`` through every detector and evaluate each on every ground truth."""
    names = [
        d.name if d.name not in [e.name for e in detectors[:i]] else f"{d.name}#{i}" for i, d in enumerate(detectors)
    ]
    result = BacktestResult(
        title=title,
        grain=series.grain,
        start=pd.Timestamp(series.buckets[0]) if series.n_buckets else None,
        end=pd.Timestamp(series.buckets[-1]) + series.step if series.n_buckets else None,
        n_keys=series.n_keys,
        n_keywords=int(series.keys["keyword"].nunique()),
        settings={"k": k, "cooldown": cooldown, "lag_minutes": lag / pd.Timedelta(minutes=1), **(settings or {})},
        detectors={name: d.params() for name, d in zip(names, detectors, strict=True)},
        truths=list(truths),
    )
    for truth in truths:
        result.metrics[truth.name] = []
    for name, detector in zip(names, detectors, strict=True):
        started = clock() if clock else 0.0
        scores = replay(detector, series)
        if clock:
            result.seconds[name] = clock() - started
        folded = fold_keywords(series, scores, lag=lag)
        for truth in truths:
            metrics = evaluate(
                name,
                folded,
                truth.events,
                evaluated=truth.evaluated,
                k=k,
                cooldown=cooldown,
                step=series.step,
                is_generic=is_generic,
            )
            result.metrics[truth.name].append(metrics)
    return result


def evaluated_buckets(series: Series, *, skip_first: int = 0, skip_last: int = 0) -> np.ndarray:
    """Which buckets count: all but the first ``skip_first`` (warm-up) and the last ``skip_last``
    (future labels cannot judge a flag whose horizon runs past the data)."""
    mask = np.ones(series.n_buckets, dtype=bool)
    mask[: max(skip_first, 0)] = False
    if skip_last > 0:
        mask[-skip_last:] = False
    return mask
