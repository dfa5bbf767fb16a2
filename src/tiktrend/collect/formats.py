"""File formats the importers understand: detection, reading into raw records, normalizing into Videos.

Each format is one reader (file -> raw records, in ``readers``) and one normalizer (record -> Video, in
``normalize``), registered in ``_TABLE`` with the telltale that detection looks for. Adding a shape is
adding one row.

    >>> fmt = detect_format(path)
    >>> for raw in read_records(path, fmt):
    ...     video = normalize(raw.record, fmt, ctx) if raw.record is not None else None
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tiktrend.collect.normalize import (
    DEFAULT_CSV_COLUMNS,
    ImportContext,
    check_columns,
    normalize_csv,
    normalize_scraper,
    normalize_tiktrend,
)
from tiktrend.collect.readers import FormatError, RawRecord, Sample, read_csv, read_json, sniff
from tiktrend.models import RecordError, Video

__all__ = [
    "DEFAULT_CSV_COLUMNS",
    "FORMATS",
    "FormatError",
    "ImportContext",
    "RawRecord",
    "detect_format",
    "normalize",
    "read_records",
]


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    read: Callable[[Path, Mapping[str, str]], Iterator[RawRecord]]
    normalize: Callable[[dict[str, Any], ImportContext], Video]
    looks_like: Callable[[Sample], bool]
    telltale: str  # what detection looks for, in words, for error messages


def _read_json(path: Path, _columns: Mapping[str, str]) -> Iterator[RawRecord]:
    return read_json(path)


def _read_csv(path: Path, columns: Mapping[str, str]) -> Iterator[RawRecord]:
    return read_csv(path, required=list(columns.values()))


def _is_tiktrend(sample: Sample) -> bool:
    return sample.first_object is not None and {"video_id", "observed_at"} <= sample.first_object.keys()


def _is_scraper(sample: Sample) -> bool:
    first = sample.first_object
    return first is not None and {"id", "caption", "stats"} <= first.keys() and isinstance(first["stats"], dict)


def _is_csv(sample: Sample) -> bool:
    return sample.csv_header is not None and DEFAULT_CSV_COLUMNS["video_id"] in sample.csv_header


_TABLE: Final[tuple[_Format, ...]] = (
    _Format(
        "tiktrend",
        _read_json,
        normalize_tiktrend,
        _is_tiktrend,
        "JSONL or a JSON list (gzip or not) of objects with the Video fields: video_id, observed_at, ...",
    ),
    _Format(
        "scraper",
        _read_json,
        normalize_scraper,
        _is_scraper,
        "a JSON list (or JSONL) of objects with id, caption, username, music{}, stats{playCount, ...}",
    ),
    _Format(
        "csv",
        _read_csv,
        normalize_csv,
        _is_csv,
        "CSV with a header naming vid_id, vid_caption, vid_nview, ... (other headers: pass a column map)",
    ),
)
_BY_NAME: Final = {fmt.name: fmt for fmt in _TABLE}
FORMATS: Final[tuple[str, ...]] = tuple(_BY_NAME)


def _expected() -> str:
    return "; ".join(f"{fmt.name}: {fmt.telltale}" for fmt in _TABLE)


def _format(name: str) -> _Format:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise FormatError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}") from None


def detect_format(path: Path) -> str:
    """The format of ``path``, told from its first record (gzip handled); FormatError when unsure."""
    sample = sniff(path)
    for fmt in _TABLE:
        if fmt.looks_like(sample):
            return fmt.name
    raise FormatError(f"{path}: cannot tell the format: found {sample.seen}. Expected one of: {_expected()}")


def read_records(path: Path, fmt: str, columns: Mapping[str, str] | None = None) -> Iterator[RawRecord]:
    """The raw records of ``path`` in format ``fmt``; bad records come with a reason, never as exceptions."""
    # columns (CSV only) maps Video fields to CSV columns, as ImportContext.columns does for normalize.
    if columns is not None:
        check_columns(columns)
    return _format(fmt).read(path, columns or DEFAULT_CSV_COLUMNS)


def normalize(record: dict[str, Any], fmt: str, ctx: ImportContext) -> Video:
    """One decoded record of format ``fmt`` as a Video; RecordError(reason) when it cannot be one."""
    if not isinstance(record, dict):
        raise RecordError("not a JSON object")
    return _format(fmt).normalize(record, ctx)
