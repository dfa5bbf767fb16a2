"""The storage contract every backend implements (DuckDB now, PostgreSQL next), in pandas frames."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

import pandas as pd

GRAINS: Final = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1)}
ALL: Final = "*"  # the value of region / category / modality in rollup rows that aggregate over all of them

TABLES: Final = (
    "videos",
    "video_stats",
    "keyword_mentions",
    "keyword_buckets",
    "bucket_totals",
    "trends",
    "trend_examples",
    "runs",
    "pipeline_metrics",
    "quarantine",
)
# Tables whose rows are the data (the run log tables grow by one row per execution, by design).
DATA_TABLES: Final = tuple(t for t in TABLES if t not in ("runs", "pipeline_metrics"))


class StoreError(RuntimeError):
    """A store that cannot be opened or used; the message says what to do."""


@dataclass(frozen=True)
class LoadResult:
    """What one load changed."""

    videos_new: int = 0
    videos_updated: int = 0
    stats_new: int = 0
    mentions_new: int = 0

    def __add__(self, other: LoadResult) -> LoadResult:
        return LoadResult(
            self.videos_new + other.videos_new,
            self.videos_updated + other.videos_updated,
            self.stats_new + other.stats_new,
            self.mentions_new + other.mentions_new,
        )


class Store(Protocol):
    """Idempotent loads keyed on natural keys, incremental rollups, and the queries the product needs."""

    url: str

    def close(self) -> None: ...

    def load_batch(self, videos: pd.DataFrame, mentions: pd.DataFrame) -> LoadResult:
        """Upsert observations (``VIDEO_COLUMNS``) and their mentions (``MENTION_COLUMNS``) in one transaction."""
        ...

    def refresh_rollups(self) -> int:
        """Rebuild only the buckets that loads touched since the last refresh; returns rows written."""
        ...

    def load_quarantine(self, rows: pd.DataFrame) -> int:
        """Upsert quarantine rows keyed on (batch_id, position)."""
        ...

    def bucket_frame(
        self,
        grain: str,
        start: datetime,
        end: datetime,
        *,
        region: str | None = None,
        category: str | None = None,
        modality: str | None = None,
        include_generic: bool = False,
    ) -> pd.DataFrame:
        """Rollup rows with bucket in [start, end); None filters mean every value (``*`` rows included)."""
        ...

    def totals_frame(self, grain: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Bucket totals (all videos per bucket, region and category) with bucket in [start, end)."""
        ...

    def velocity_frame(
        self,
        grain: str,
        start: datetime,
        end: datetime,
        *,
        region: str | None = None,
        category: str | None = None,
        modality: str | None = None,
        include_generic: bool = False,
    ) -> pd.DataFrame:
        """Counters gained per keyword between a video's observations, in the bucket of the later observation.

        Rows like ``bucket_frame`` (bucket and the slice columns, ``*`` rows included) with ``views`` ...
        ``saves`` holding what the keyword's videos gained; a first observation gains from 0. Only
        observations before ``end`` are read, so a replay sees what was known at each moment.
        """
        ...

    def velocity_totals_frame(self, grain: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Counters gained by all videos per bucket, region and category (the denominator of velocity shares)."""
        ...

    def time_range(self) -> tuple[datetime, datetime] | None:
        """The earliest and latest posted_at of any mention, or None when the store is empty."""
        ...

    def save_trends(self, trends: pd.DataFrame, run_id: str, examples: pd.DataFrame | None = None) -> int:
        """Make the stored trends (and ``trend_examples``) of each (as_of, time_window, detector) scope equal these.

        Returns the stored trend rows that were replaced or removed (0 when nothing changed).
        """
        ...

    def top_trends(
        self,
        *,
        window: str | None = None,
        region: str | None = ALL,
        category: str | None = ALL,
        modality: str | None = ALL,
        detector: str | None = None,
        limit: int | None = 20,
    ) -> pd.DataFrame:
        """The latest ranked trends for a slice (a None filter: every value; limit None: every row)."""
        ...

    def trend_history(
        self, *, time_window: str, detector: str, keywords: list[str], start: datetime, end: datetime
    ) -> pd.DataFrame:
        """Stored detections of these keywords with as_of in [start, end): slice, ``as_of``, ``first_detected_at``."""
        ...

    def select_examples(self, keys: pd.DataFrame, start: datetime, end: datetime, limit: int = 3) -> pd.DataFrame:
        """Per trend key (``region``, ``category``, ``modality``, ``keyword``; ``*`` for all), its most viewed videos.

        Videos posted in [start, end), ranked by the views observed before ``end`` (ties by video id), so the
        same moment always gives the same examples; columns: the key, ``rank``, ``video_id``, ``views``.
        """
        ...

    def trend_examples(
        self,
        *,
        as_of: datetime,
        time_window: str,
        detector: str,
        region: str | None = None,
        category: str | None = None,
        modality: str | None = None,
    ) -> pd.DataFrame:
        """Stored example videos of one detection, with each video's author, caption and URL."""
        ...

    def start_run(self, run_id: str, command: str, params: dict[str, Any]) -> None: ...

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any], error: str | None = None) -> None: ...

    def record_metrics(self, run_id: str, stage: str, metrics: dict[str, float]) -> None: ...

    def table_counts(self) -> dict[str, int]: ...

    def snapshot(self, table: str) -> pd.DataFrame:
        """A whole table in a stable order (for tests and exports)."""
        ...

    def read(self, statement: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """One read-only query with ``$name`` parameters (the query layer's SQL runs on every backend)."""
        ...

    def read_batches(
        self, statement: str, params: Mapping[str, Any] | None = None, *, rows: int = 50_000
    ) -> Iterator[Any]:
        """The same, streamed as ``pyarrow.RecordBatch`` es of at most ``rows`` rows (exports of whole tables)."""
        ...
