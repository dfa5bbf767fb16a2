"""The dashboard's reads: cached calls of the query layer (``tiktrend.query``), shaped for the views; no SQL here.

The query layer answers one slice (a region, a category, a modality, or ``*``) per call; the dashboard's
filters hold several values each, so a view asks once per selected slice and adds the answers up. Answers
are cached per store version (``query.data_version``), so a rerun is fast and a finished pipeline run shows
at the next rerun.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import pandas as pd
import streamlit as st

from tiktrend import query
from tiktrend.dashboard.charts import video_link
from tiktrend.dashboard.filters import Choices, Filters
from tiktrend.models import COUNTERS
from tiktrend.query.queries import data_span, modality_totals
from tiktrend.settings import Settings
from tiktrend.store import ALL, StoreError
from tiktrend.store.pg_options import options_from_settings

StoreBusy = query.StoreBusy
TTL: Final = timedelta(minutes=10)  # answers are keyed on the store's version too; this only bounds memory
SUMS: Final = ("videos", *COUNTERS)
HOURLY_UP_TO: Final = timedelta(days=7)  # longer ranges are drawn in day buckets


class StoreMissing(StoreError):
    """The DuckDB file the settings name does not exist yet (nothing has been run)."""


@dataclass(frozen=True)
class KeywordEvidence:
    """One keyword over the filters: its series, breakdowns and most viewed videos (with tiktok.com links)."""

    keyword: str
    display: str
    series: pd.DataFrame
    modalities: pd.DataFrame
    regions: pd.DataFrame
    examples: pd.DataFrame
    trends: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def found(self) -> bool:
        return not self.series.empty and int(self.series["videos"].sum()) > 0


@dataclass(frozen=True)
class RunFigures:
    """Per-run figures of the pipeline: volumes (records) and stage timings (seconds)."""

    volumes: pd.DataFrame
    timings: pd.DataFrame


@st.cache_resource(show_spinner=False)
def reader(url: str) -> query.Reader:
    """One reader per store for the whole server (a DuckDB file is opened read-only and released when idle)."""
    if url.startswith("duckdb:"):
        from tiktrend.store.duckdb import _path_of

        path = _path_of(url)
        if not path.exists():
            raise StoreMissing(f"no store at {path} yet")
    return query.open_reader(url, options_from_settings(Settings(database_url=url)))


def version(url: str) -> str:
    """Changes whenever a run starts or finishes or trends are saved: the key of every cached answer."""
    return query.data_version(reader(url))


@st.cache_data(ttl=TTL, show_spinner=False)
def choices(url: str, version: str) -> Choices:
    """The regions, categories and modalities the store holds, and its first and last day with data."""
    found = reader(url)
    span = data_span(found, "day")
    if span is None:
        return Choices()
    known = query.known_values(found)
    return Choices(
        regions=known.regions,
        categories=known.categories,
        modalities=tuple(known.modalities),
        first_day=span[0].date(),
        last_day=span[1].date(),
    )


def _slices(filters: Filters, *, modality: bool = True) -> Iterator[tuple[str, str, str]]:
    """Every (region, category, modality) the filters select; ``*`` where a filter is empty."""
    modalities = (filters.modalities or (ALL,)) if modality else (ALL,)
    yield from itertools.product(filters.regions or (ALL,), filters.categories or (ALL,), modalities)


def _bounds(filters: Filters) -> tuple[datetime | None, datetime | None]:
    return filters.start, filters.end


def grain_of(filters: Filters) -> str:
    """Hour buckets for a week or less, day buckets beyond."""
    if filters.start is None or filters.end is None:
        return "day"
    return "hour" if filters.end - filters.start <= HOURLY_UP_TO else "day"


@st.cache_data(ttl=TTL, show_spinner=False)
def trend_scopes(url: str, version: str) -> pd.DataFrame:
    """The stored detections (``time_window``, ``detector``, ``as_of``, ``trends``), the baseline's first."""
    scopes = query.trend_scopes(reader(url))
    order = scopes.assign(baseline_last=scopes["detector"] != "threshold")
    return order.sort_values(["baseline_last", "detector", "time_window"]).drop(columns="baseline_last")


@st.cache_data(ttl=TTL, show_spinner=False)
def trends(url: str, version: str, filters: Filters, window: str, detector: str) -> pd.DataFrame:
    """The latest ranking of one detection in every selected slice, best score first, at most top N rows."""
    found = reader(url)
    frames = [
        query.trends(
            found, window=window, detector=detector, region=r, category=c, modality=m, limit=filters.top_n
        ).rows
        for r, c, m in _slices(filters)
    ]
    frame = pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
    if frame.empty:
        return frame
    return frame.sort_values(["score", "keyword"], ascending=[False, True]).head(filters.top_n).reset_index(drop=True)


@st.cache_data(ttl=TTL, show_spinner=False)
def sparklines(url: str, version: str, trends: pd.DataFrame, filters: Filters) -> list[list[float]]:
    """Videos per bucket over the filters' range for each trend row, in that trend's own slice."""
    found = reader(url)
    grain = grain_of(filters)
    lines: dict[tuple[str, str, str, str], list[float]] = {}
    for (region, category, modality), rows in trends.groupby(["region", "category", "modality"]):
        series = query.keyword_series(
            found,
            list(rows["keyword"]),
            grain=grain,
            start=filters.start,
            end=filters.end,
            region=str(region),
            category=str(category),
            modality=str(modality),
        )
        for keyword, points in series.groupby("keyword"):
            lines[(str(region), str(category), str(modality), str(keyword))] = points["videos"].astype(float).tolist()
    keys = zip(trends["region"], trends["category"], trends["modality"], trends["keyword"], strict=True)
    return [lines.get((str(r), str(c), str(m), str(k)), []) for r, c, m, k in keys]


@st.cache_data(ttl=TTL, show_spinner=False)
def keyword_evidence(url: str, version: str, keyword: str, filters: Filters) -> KeywordEvidence:
    """A keyword's series (added over the selected slices), its modalities, regions and example videos."""
    found = reader(url)
    grain = grain_of(filters)
    start, end = _bounds(filters)
    series = [
        query.keyword_series(found, [keyword], grain=grain, start=start, end=end, region=r, category=c, modality=m)
        for r, c, m in _slices(filters)
    ]
    summed = pd.concat(series).groupby("bucket", as_index=False)[list(SUMS)].sum() if series else pd.DataFrame()
    region = filters.regions[0] if len(filters.regions) == 1 else ALL
    category = filters.categories[0] if len(filters.categories) == 1 else ALL
    detail = query.keyword_detail(found, keyword, grain=grain, start=start, end=end, region=region, category=category)
    modalities = _only(detail.modalities, "modality", filters.modalities)
    regions = _only(detail.regions, "region", filters.regions)
    if filters.modalities and not regions.empty:
        regions = _regions_in_modalities(found, keyword, filters, list(regions["region"]))
    examples = _examples(found, keyword, filters)
    ranked = detail.trends
    for column, values in (("region", filters.regions), ("category", filters.categories)):
        if values and column in ranked:
            ranked = ranked[ranked[column].isin([*values, ALL])]
    if filters.modalities and "modality" in ranked:
        ranked = ranked[ranked["modality"].isin([*filters.modalities, ALL])]
    return KeywordEvidence(keyword, detail.display or keyword, summed, modalities, regions, examples, ranked)


def _regions_in_modalities(found: query.Reader, keyword: str, filters: Filters, regions: list[str]) -> pd.DataFrame:
    """The keyword's videos per region in the chosen modalities (the breakdown query counts all modalities).

    Added over the selected categories and modalities, as the series is: a video that mentions the keyword in
    two chosen modalities counts in each.
    """
    rows = []
    for region in regions:
        sums = [
            query.keyword_series(
                found,
                [keyword],
                grain="day",
                start=filters.start,
                end=filters.end,
                region=region,
                category=c,
                modality=m,
            )[list(SUMS)].sum()
            for _, c, m in _slices(replace(filters, regions=(region,)))
        ]
        rows.append({"region": region, **pd.concat(sums, axis=1).sum(axis=1).astype("int64").to_dict()})
    frame = pd.DataFrame(rows, columns=["region", *SUMS])
    return frame[frame["videos"] > 0].sort_values(["videos", "region"], ascending=[False, True]).reset_index(drop=True)


def _only(frame: pd.DataFrame, column: str, values: tuple[str, ...]) -> pd.DataFrame:
    if frame.empty or column not in frame:
        return frame
    kept = frame[frame[column] != ALL]
    return kept[kept[column].isin(values)] if values else kept


def _examples(found: query.Reader, keyword: str, filters: Filters) -> pd.DataFrame:
    """The most viewed videos of the keyword in the selected slices, each with its tiktok.com link."""
    limit = max(5, min(filters.top_n, 20))
    frames = [
        query.example_videos(found, keyword, start=filters.start, end=filters.end, region=r, category=c, limit=limit)
        for r, c, _ in _slices(filters, modality=False)
    ]
    frame = pd.concat(frames, ignore_index=True).drop_duplicates("video_id")
    if filters.modalities and not frame.empty:
        chosen = set(filters.modalities)
        frame = frame[[bool(chosen & set(str(m).split(","))) for m in frame["modalities"]]]
    frame = frame.sort_values(["views", "video_id"], ascending=[False, True]).head(limit)
    links = [video_link(a, v) for a, v in zip(frame["author"], frame["video_id"], strict=True)]
    return frame.assign(link=pd.Series(links, index=frame.index, dtype=object)).reset_index(drop=True)


@st.cache_data(ttl=TTL, show_spinner=False)
def top_keywords(url: str, version: str, filters: Filters) -> pd.DataFrame:
    """The top-N keywords by engagement (likes + comments + shares + saves), each with its main modality."""
    start, end = _bounds(filters)
    return query.top_keywords(
        reader(url),
        regions=filters.regions,
        categories=filters.categories,
        modalities=filters.modalities,
        start=start,
        end=end,
        top=filters.top_n,
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def by_region(url: str, version: str, filters: Filters) -> pd.DataFrame:
    """Videos and engagement per selected region, the top N by videos (each video once, see ``_totals``)."""
    return _totals(url, filters, "region")


@st.cache_data(ttl=TTL, show_spinner=False)
def by_category(url: str, version: str, filters: Filters) -> pd.DataFrame:
    """Videos and engagement per selected category, the top N by videos (each video once, see ``_totals``)."""
    return _totals(url, filters, "category")


def _totals(url: str, filters: Filters, by: str) -> pd.DataFrame:
    """Per region or category, within every filter.

    Without a modality filter the rollups answer (bucket_totals: one slice per call, added over the other
    filter's values). A video has no modality, its mentions do: with one, a video counts once when it has a
    mention in a chosen modality, read from the videos and their mentions (``modality_totals``).
    """
    found = reader(url)
    start, end = _bounds(filters)
    if filters.modalities:
        frame = modality_totals(
            found,
            by,
            filters.modalities,
            start=start,
            end=end,
            regions=filters.regions,
            categories=filters.categories,
        )[[by, *SUMS]]
    elif by == "region":
        frames = [query.regions(found, start=start, end=end, category=c) for c in filters.categories or (ALL,)]
        frame = _summed(frames, by)
        frame = frame[frame[by].isin(filters.regions)] if filters.regions else frame
    else:
        frames = [query.categories(found, start=start, end=end, region=r) for r in filters.regions or (ALL,)]
        frame = _summed(frames, by)
        frame = frame[frame[by].isin(filters.categories)] if filters.categories else frame
    ranked = frame.sort_values(["videos", by], ascending=[False, True])
    return ranked.head(filters.top_n).reset_index(drop=True)


def _summed(frames: list[pd.DataFrame], by: str) -> pd.DataFrame:
    """Counters added over several slices' answers (rates are recomputed by the charts, never added)."""
    frame = pd.concat(frames, ignore_index=True)
    return frame.groupby(by, as_index=False)[list(SUMS)].sum().sort_values("videos", ascending=False)


@st.cache_data(ttl=TTL, show_spinner=False)
def runs(url: str, version: str, limit: int) -> pd.DataFrame:
    """The latest runs, newest first."""
    frame = query.runs(reader(url), limit=limit)
    return frame[["run_id", "command", "status", "started_at", "seconds", "error"]]


@st.cache_data(ttl=TTL, show_spinner=False)
def run_figures(url: str, version: str, limit: int) -> RunFigures:
    """Records read, accepted and quarantined, and seconds per stage, of the latest runs."""
    frame = query.pipeline_metrics(reader(url), last_runs=limit)
    volumes = frame[frame["metric"].str.startswith("records_")]
    timings = frame[frame["metric"] == "seconds"].rename(columns={"value": "seconds"})
    return RunFigures(volumes=volumes.reset_index(drop=True), timings=timings.reset_index(drop=True))


@st.cache_data(ttl=TTL, show_spinner=False)
def quarantine(url: str, version: str) -> pd.DataFrame:
    """Rejected records per source, format and reason."""
    return query.quarantine_summary(reader(url))


@st.cache_data(ttl=timedelta(seconds=30), show_spinner=False)
def backtests(directory: Path) -> pd.DataFrame:
    """One row per report, ground truth and detector of the backtest reports under ``directory``."""
    from tiktrend.query.reports import backtest_reports

    return backtest_reports(directory)
