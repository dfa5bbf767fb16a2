"""``tiktrend export``: every keyword mention with its video's engagement, in the original ``keywords_clean.csv``
columns plus this project's, streamed in Arrow batches so a store of any size exports in flat memory.

The original columns come first, in its order: ``video_id, keyword, modality, confidence`` (the extraction
weight), ``detected_at`` (when the pipeline first saw the video), ``posted_at, region, category, views,
likes, comments, shares, engagement_total, engagement_rate``. Then ours: the keyword as written
(``display``), ``is_generic``, ``saves``, the other per-view rates, the author, the sound, the language, the
source, the video's URL and when it was last observed. Counters are each video's latest observation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tiktrend.query.queries import _in, _naive
from tiktrend.query.reader import Reader

ORIGINAL_COLUMNS: Final = (
    "video_id",
    "keyword",
    "modality",
    "confidence",
    "detected_at",
    "posted_at",
    "region",
    "category",
    "views",
    "likes",
    "comments",
    "shares",
    "engagement_total",
    "engagement_rate",
)
EXTRA_COLUMNS: Final = (
    "display",
    "is_generic",
    "saves",
    "virality_index",
    "discussion_rate",
    "save_rate",
    "author",
    "author_followers",
    "music_title",
    "language",
    "source",
    "video_url",
    "last_observed_at",
)
EXPORT_COLUMNS: Final = (*ORIGINAL_COLUMNS, *EXTRA_COLUMNS)
FORMATS: Final = ("csv", "parquet")

_ENGAGEMENT: Final = "coalesce(v.likes, 0) + coalesce(v.comments, 0) + coalesce(v.shares, 0) + coalesce(v.saves, 0)"
_SELECT: Final = f"""
    SELECT m.video_id, m.keyword, m.modality, m.weight AS confidence, v.first_seen AS detected_at, m.posted_at,
           m.region, m.category, v.views, v.likes, v.comments, v.shares,
           {_ENGAGEMENT} AS engagement_total,
           CAST({_ENGAGEMENT} AS DOUBLE PRECISION) / nullif(v.views, 0) AS engagement_rate,
           m.display, m.is_generic, v.saves,
           CAST(v.shares AS DOUBLE PRECISION) / nullif(v.views, 0) AS virality_index,
           CAST(v.comments AS DOUBLE PRECISION) / nullif(v.views, 0) AS discussion_rate,
           CAST(v.saves AS DOUBLE PRECISION) / nullif(v.views, 0) AS save_rate,
           v.author, v.author_followers, v.music_title, v.language, v.source, v.video_url,
           v.last_seen AS last_observed_at
    FROM keyword_mentions m JOIN videos v ON v.video_id = m.video_id
"""  # noqa: S608 - fixed names only


@dataclass(frozen=True)
class ExportFilter:
    """Which mentions to export (empty lists: all)."""

    regions: Sequence[str] = ()
    categories: Sequence[str] = ()
    modalities: Sequence[str] = ()
    start: datetime | None = None
    end: datetime | None = None
    include_generic: bool = True


def export_statement(chosen: ExportFilter) -> tuple[str, dict[str, Any]]:
    """The export query and its parameters (posting time, then video, keyword and modality order)."""
    params: dict[str, Any] = {}
    where = ["1 = 1"]
    for column, name, values in (
        ("m.region", "region", chosen.regions),
        ("m.category", "category", chosen.categories),
        ("m.modality", "modality", chosen.modalities),
    ):
        if values:
            where.append(_in(column, name, list(values), params))
    if chosen.start is not None:
        params["start"] = _naive(chosen.start)
        where.append("m.posted_at >= $start")
    if chosen.end is not None:
        params["end"] = _naive(chosen.end)
        where.append("m.posted_at < $end")
    if not chosen.include_generic:
        where.append("NOT m.is_generic")
    order = " ORDER BY m.posted_at, m.video_id, m.keyword, m.modality"
    return _SELECT + " WHERE " + " AND ".join(where) + order, params


def export_batches(reader: Reader, chosen: ExportFilter, *, rows: int = 50_000) -> Iterator[pa.RecordBatch]:
    """The export's rows as Arrow batches of at most ``rows`` rows (times to the second)."""
    statement, params = export_statement(chosen)
    for batch in reader.read_batches(statement, params, rows=rows):
        yield _seconds(batch)


def _seconds(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamps to whole seconds, plain strings: what spreadsheets and Tableau read without a fuss."""
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            column = pc.cast(column, pa.timestamp("s"), safe=False)
        elif pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
            column = pc.cast(column, pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def write_export(reader: Reader, out: Path, fmt: str, chosen: ExportFilter, *, rows: int = 50_000) -> int:
    """Stream the export into ``out`` (csv or parquet), written under a temporary name; returns the rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    written = 0
    writer: pa_csv.CSVWriter | pq.ParquetWriter | None = None
    try:
        for batch in export_batches(reader, chosen, rows=rows):
            if writer is None:
                writer = _writer(partial, fmt, batch.schema)
            writer.write_batch(batch)
            written += batch.num_rows
        if writer is None:  # nothing matched: still a file with the header, so tools open it
            _empty(partial, fmt)
        else:
            writer.close()
            writer = None
        partial.replace(out)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return written


def _writer(path: Path, fmt: str, schema: pa.Schema) -> pa_csv.CSVWriter | pq.ParquetWriter:
    return pa_csv.CSVWriter(path, schema) if fmt == "csv" else pq.ParquetWriter(path, schema)


def _empty(path: Path, fmt: str) -> None:
    schema = pa.schema([(name, pa.string()) for name in EXPORT_COLUMNS])
    table = schema.empty_table()
    if fmt == "csv":
        pa_csv.write_csv(table, path)
    else:
        pq.write_table(table, path)
