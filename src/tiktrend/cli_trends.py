"""How ``tiktrend trends`` prints evidence: example videos under each trend, and slices side by side."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from tiktrend.store import ALL, Store
from tiktrend.trends.rank import STAGE_MARKS, side_by_side


def stored_examples(store: Store, trends: pd.DataFrame) -> pd.DataFrame:
    """The stored example videos of every detection (as_of, window, detector) the trend rows come from."""
    found = [
        store.trend_examples(as_of=as_of, time_window=window, detector=detector)
        for as_of, window, detector in trends[["as_of", "time_window", "detector"]]
        .drop_duplicates()
        .itertuples(index=False, name=None)
    ]
    found = [frame for frame in found if not frame.empty]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def examples_of(examples: pd.DataFrame, trend: Any) -> list[Any]:
    """The example videos of one trend row (its detection, its keyword in its slice), best first."""
    if examples.empty:
        return []
    same = pd.Series(True, index=examples.index)
    for column in ("region", "category", "modality", "keyword", "time_window", "detector"):
        same &= examples[column] == getattr(trend, column)
    return list(examples[same].sort_values("rank").itertuples(index=False))


def print_evidence(console: Console, trends: pd.DataFrame, examples: pd.DataFrame, count: int = 5) -> None:
    """For the first ``count`` trends: the explanation, when first flagged, and the example videos."""
    for row in trends.head(count).itertuples(index=False):
        since = moment(row.first_detected_at)
        console.print(f"[bold]{row.display}[/]: {row.explanation}; first flagged {since}", highlight=False)
        for video in examples_of(examples, row):
            caption = " ".join(str(video.caption or "").split())[:70]
            console.print(f"   {compact(float(video.views))} views  @{video.author}  {caption}", highlight=False)


def print_side_by_side(console: Console, trends: pd.DataFrame, by: str, limit: int, title: str) -> None:
    """One row per keyword, one column per region (or category): score and stage where it is flagged."""
    table_frame = side_by_side(trends, by, limit)
    table = Table(title=title, title_justify="left")
    table.add_column("keyword", no_wrap=True, overflow="ellipsis", max_width=28)
    table.add_column("first flagged", no_wrap=True)
    slices = list(table_frame.columns[5:])
    for value in slices:
        table.add_column("all" if value == ALL else str(value), justify="right", no_wrap=True)
    for row in table_frame.itertuples(index=False):
        where = "all" if row.first_in == ALL else str(row.first_in)
        cells = [str(row.display), f"{moment(row.first_detected_at)} {where}"]
        table.add_row(*cells, *(str(v) or "·" for v in row[5:]))
    console.print(table)
    stages = ", ".join(f"{mark} = {stage}" for stage, mark in STAGE_MARKS.items())
    console.print(f"cells: score and stage in that {by} ({stages}; · not flagged there)", style="dim")


def compact(value: float) -> str:
    """1234567 -> 1.2M."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def moment(value: Any) -> str:
    """A first detection time as month-day hour:minute, or - when unknown (rows stored before it existed)."""
    return "-" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%m-%d %H:%M}"
