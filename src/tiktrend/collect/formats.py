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
from tiktrend.collect.shapes import (
    Meta,
    Unwrap,
    aweme_items,
    normalize_apify,
    normalize_aweme,
    normalize_research,
    normalize_web,
    research_items,
    unwrap_replies,
    web_items,
)
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
    normalize: Callable[[dict[str, Any], ImportContext, Meta], Video]
    looks_like: Callable[[Sample], bool]
    telltale: str  # what detection looks for, in words, for error messages


def _read_json(path: Path, _columns: Mapping[str, str]) -> Iterator[RawRecord]:
    return read_json(path)


def _read_csv(path: Path, columns: Mapping[str, str]) -> Iterator[RawRecord]:
    return read_csv(path, required=list(columns.values()))


def _read_replies(find: Unwrap) -> Callable[[Path, Mapping[str, str]], Iterator[RawRecord]]:
    """A reader of JSON/JSONL files whose records are items or whole API replies holding items."""

    def read(path: Path, _columns: Mapping[str, str]) -> Iterator[RawRecord]:
        return unwrap_replies(read_json(path), find)

    return read


def _no_meta(
    normalizer: Callable[[dict[str, Any], ImportContext], Video],
) -> Callable[[dict[str, Any], ImportContext, Meta], Video]:
    def normalize(record: dict[str, Any], ctx: ImportContext, _meta: Meta) -> Video:
        return normalizer(record, ctx)

    return normalize


def _is_tiktrend(sample: Sample) -> bool:
    return sample.first_object is not None and {"video_id", "observed_at"} <= sample.first_object.keys()


def _is_scraper(sample: Sample) -> bool:
    first = sample.first_object
    return first is not None and {"id", "caption", "stats"} <= first.keys() and isinstance(first["stats"], dict)


def _is_csv(sample: Sample) -> bool:
    return sample.csv_header is not None and DEFAULT_CSV_COLUMNS["video_id"] in sample.csv_header


def _is_web(sample: Sample) -> bool:
    first = sample.first_object
    if first is None:
        return False
    return "itemList" in first or ({"id", "desc", "createTime"} <= first.keys() and "aweme_id" not in first)


def _is_aweme(sample: Sample) -> bool:
    first = sample.first_object
    return first is not None and ("aweme_list" in first or "aweme_id" in first)


_RESEARCH_KEYS = frozenset(("video_description", "region_code", "hashtag_names", "view_count", "voice_to_text"))


def _is_research(sample: Sample) -> bool:
    first = sample.first_object
    if first is None:
        return False
    data = first.get("data")
    if isinstance(data, dict) and "videos" in data:
        return True
    return "id" in first and not _RESEARCH_KEYS.isdisjoint(first)


def _is_apify(sample: Sample) -> bool:
    first = sample.first_object
    return first is not None and "id" in first and ("authorMeta" in first or "webVideoUrl" in first)


_TABLE: Final[tuple[_Format, ...]] = (
    _Format(
        "tiktrend",
        _read_json,
        _no_meta(normalize_tiktrend),
        _is_tiktrend,
        "JSONL or a JSON list (gzip or not) of objects with the Video fields: video_id, observed_at, ...",
    ),
    _Format(
        "scraper",
        _read_json,
        _no_meta(normalize_scraper),
        _is_scraper,
        "a JSON list (or JSONL) of objects with id, caption, username, music{}, stats{playCount, ...}",
    ),
    _Format(
        "csv",
        _read_csv,
        _no_meta(normalize_csv),
        _is_csv,
        "CSV with a header naming vid_id, vid_caption, vid_nview, ... (other headers: pass a column map)",
    ),
    _Format(
        "web",
        _read_replies(web_items),
        normalize_web,
        _is_web,
        "web recommend/item_list replies ({itemList: [...]}) or their items (id, desc, createTime, stats{}), "
        "as TikTokApi's as_dict writes them",
    ),
    _Format(
        "aweme",
        _read_replies(aweme_items),
        normalize_aweme,
        _is_aweme,
        "mobile feed replies ({aweme_list: [...]}) or their items (aweme_id, desc, create_time, statistics{})",
    ),
    _Format(
        "research",
        _read_replies(research_items),
        normalize_research,
        _is_research,
        "Research API replies ({data: {videos: [...]}}) or videos (id, video_description, region_code, ...)",
    ),
    _Format(
        "apify",
        _read_json,
        normalize_apify,
        _is_apify,
        "Apify-style exports: items with id, text, createTimeISO, authorMeta{}, musicMeta{}, playCount, ...",
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


def normalize(record: dict[str, Any], fmt: str, ctx: ImportContext, meta: Meta = None) -> Video:
    """One decoded record of format ``fmt`` as a Video; RecordError(reason) when it cannot be one."""
    # meta is what the reply around the record said (RawRecord.meta): its server time, the feed region.
    if not isinstance(record, dict):
        raise RecordError("not a JSON object")
    return _format(fmt).normalize(record, ctx, meta)
