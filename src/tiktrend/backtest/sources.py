"""Where a backtest's history and ground truth come from: a fresh simulation, or a store (the I/O edge).

The replay and the figures (:mod:`tiktrend.backtest.replay`, :mod:`tiktrend.backtest.evaluate`) are pure;
the functions here read a store (through the ``Store`` protocol) or write a simulation, then call them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tiktrend.backtest.labels import future_events, listed_events, planted_events
from tiktrend.backtest.replay import BacktestResult, Truth, evaluated_buckets, run_backtest
from tiktrend.extract.generic import is_generic
from tiktrend.pipeline import ingest, load_series, rollup
from tiktrend.settings import Settings
from tiktrend.store import Store
from tiktrend.trends.detectors import Detector, default_detectors
from tiktrend.trends.series import STEPS, Series

# Alert cooldown per grain: a keyword flagged again within a day (hourly) or three days (daily) is the same alert.
COOLDOWN = {"hour": 24, "day": 3}


@dataclass(frozen=True)
class FutureLabels:
    """How future-based labels are drawn: entering the top ``k`` by share within ``horizon`` buckets."""

    k: int = 20
    horizon: int = 3
    rank_window: int = 3
    memory: int = 7
    grace: int = 1
    min_videos: int = 5


def simulation_backtest(
    config: Any,
    work_dir: Path,
    *,
    detectors: Sequence[Detector[Any]] | None = None,
    k: int = 20,
    grace_hours: int = 24,
) -> BacktestResult:
    """Simulate ``config`` into ``work_dir`` (a DuckDB file and the raw zone), and backtest on its planted trends."""
    from tiktrend.collect.simulator import planted_trends, write_simulation
    from tiktrend.store.duckdb import DuckDBStore

    settings = Settings(data_dir=work_dir)
    output = write_simulation(config, settings.sim_dir)
    with DuckDBStore(settings.database_url, checkpoint_mb=settings.duckdb_checkpoint_mb) as store:
        ingest([output.feed_path], store, settings, source="simulator")
        rollup(store)
        series = load_series(store, grain="hour", start=config.start, end=config.end)
    truth = pd.DataFrame([vars(t) for t in planted_trends(config)])
    events = planted_events(truth, grace=pd.Timedelta(hours=grace_hours))
    note = (
        f"{len(events)} trends planted by the simulator (seed {config.seed}, {config.hours} h, "
        f"{config.videos_per_hour:g} videos/h); a flag is right from the start until {grace_hours} h after the peak, "
        "and lead is counted to the peak."
    )
    planted = Truth("planted", events, evaluated_buckets(series), note)
    return run_backtest(
        series,
        detectors or default_detectors("hour"),
        [planted],
        title=f"Backtest on the simulator (seed {config.seed})",
        k=k,
        cooldown=COOLDOWN["hour"],
        is_generic=is_generic,
        settings={"source": "simulator", "seed": config.seed, "hours": config.hours},
        clock=time.perf_counter,
    )


def store_backtest(
    store: Store,
    *,
    grain: str = "day",
    detectors: Sequence[Detector[Any]] | None = None,
    region: str | None = None,
    future: FutureLabels | None = FutureLabels(),
    truth_csv: Path | None = None,
    k: int = 20,
    since: datetime | None = None,
    title: str = "Backtest on stored history",
) -> BacktestResult:
    """Backtest on what a store holds: future-based labels, planted truth from a CSV, Creative Center lists.

    With ``since``, only buckets from that day on are judged (the replay still starts at the beginning, so
    the detectors' baselines are warm): parameters chosen on the history before it are then tested on data
    they never saw.
    """
    series = load_series(store, grain=grain, region=region)
    judged = _judged_from(series, since)
    step = STEPS[grain]
    truths: list[Truth] = []
    notes: list[str] = []
    if future is not None:
        events = future_events(
            series,
            k=future.k,
            horizon=future.horizon,
            rank_window=future.rank_window,
            memory=future.memory,
            grace=future.grace,
            min_videos=future.min_videos,
        )
        skip = future.memory + future.rank_window - 1
        evaluated = evaluated_buckets(series, skip_first=skip, skip_last=future.horizon) & judged
        note = (
            f"A keyword enters the top {future.k} of its slice by share of videos (over {future.rank_window} "
            f"{grain}s), after {future.memory} {grain}s outside it; a flag is right in the {future.horizon} {grain}s "
            f"before the entry (or {future.grace} after), with at least {future.min_videos} videos. Flags in the last "
            f"{future.horizon} {grain}s are not judged."
        )
        truths.append(Truth("future", events, evaluated, note))
    if truth_csv is not None:
        truth = pd.read_csv(truth_csv)
        truths.append(Truth("planted", planted_events(truth, grace=24 * step), evaluated_buckets(series) & judged))
    lists = _creative_center_lists(store)
    if lists is not None and region and "region" in lists.columns:
        lists = lists[lists["region"].astype(str).str.upper() == region.upper()]
    if lists is None:
        notes.append("No Creative Center lists in this store: that ground truth was skipped.")
    elif lists.empty:
        notes.append("The Creative Center table holds no list for this period: that ground truth was skipped.")
    else:
        events = listed_events(lists, horizon=7 * pd.Timedelta(days=1), grace=step)
        note = "First listing on Creative Center; a flag in the 7 days before is right."
        truths.append(Truth("creative_center", events, evaluated_buckets(series) & judged, note))
    if not truths:
        raise ValueError("no ground truth to compare with: give --truth, or keep the future-based labels")
    result = run_backtest(
        series,
        detectors or default_detectors(grain),
        truths,
        title=title,
        k=k,
        cooldown=COOLDOWN[grain],
        is_generic=is_generic,
        settings={"source": "store", "region": region or "all", "judged_from": str(since.date()) if since else "start"},
        clock=time.perf_counter,
    )
    result.notes += notes
    return result


def _judged_from(series: Series, since: datetime | None) -> np.ndarray:
    """Buckets whose end is after ``since`` (all of them without it)."""
    if since is None:
        return np.ones(series.n_buckets, dtype=bool)
    stamp = pd.Timestamp(since)
    stamp = stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
    return np.asarray(series.buckets >= stamp)


def _creative_center_lists(store: Store) -> pd.DataFrame | None:
    """The Creative Center lists (``keyword``, ``listed_at``, ...) when the store's backend collects them."""
    reader = getattr(store, "creative_center_frame", None)
    if reader is None:
        return None
    frame: pd.DataFrame = reader()
    return frame
