"""Normalizers: turn one decoded record of a known shape into a :class:`Video`, or say why not.

Each normalizer raises :class:`RecordError` with a reason a person understands; pydantic's validation
errors are folded into one short line. They are called once per record, so they stay lean: regexes are
compiled once, and nothing here touches pandas.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from pydantic import ValidationError

from tiktrend.collect.readers import FormatError
from tiktrend.models import COUNTERS, RecordError, Video


@dataclass(frozen=True)
class ImportContext:
    """What an importer needs besides the record: fallbacks for what the shape does not carry."""

    fallback_observed_at: datetime  # used when a record carries no observation time (e.g. the file's mtime)
    default_region: str | None = None  # for shapes without a region (e.g. ``--region VN`` for the VN CSV)
    default_category: str | None = None
    columns: Mapping[str, str] | None = None  # CSV only: canonical field -> column; None: DEFAULT_CSV_COLUMNS


# ---- reasons -------------------------------------------------------------------------------------

_COUNT_FIELDS: Final = frozenset((*COUNTERS, "author_followers"))
_INT_ERRORS: Final = frozenset(("int_parsing", "int_type", "int_from_float"))


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validation_reason(error: ValidationError) -> str:
    """One short line from a pydantic ValidationError: field and message, no stack of text."""
    parts = [_error_reason(detail) for detail in error.errors(include_url=False)[:3]]
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _error_reason(detail: Any) -> str:
    field = ".".join(str(part) for part in detail["loc"])
    kind = detail["type"]
    value = detail.get("input")
    message = str(detail["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return f"missing {field}"
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    if kind == "string_unicode":
        return f"{field} is not valid Unicode text (it holds a lone surrogate such as \\ud800)"
    if field in _COUNT_FIELDS and kind in _INT_ERRORS:
        return f"{field} is {_show(value)}, not a count"
    if field in _COUNT_FIELDS and kind == "greater_than_equal":
        return f"{field} is {_show(value)}: a count cannot be negative"
    if not field or message.startswith(field):
        return message  # our own validators already name the field
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{field} is {_show(value)}: {message.lower()}"
    return f"{field}: {message}"


def build_video(fields: dict[str, Any]) -> Video:
    """Validate fields into a Video; RecordError with a short reason when they do not make one."""
    try:
        return Video.model_validate(fields)
    except ValidationError as exc:
        raise RecordError(validation_reason(exc)) from None


# ---- value parsers shared by the shapes ----------------------------------------------------------

_THOUSANDS: Final = re.compile(r"\d{1,3}(?:,\d{3})+")
_MULTIPLIERS: Final = {
    "K": 1_000,
    "k": 1_000,
    "M": 1_000_000,
    "m": 1_000_000,
    "B": 1_000_000_000,
    "b": 1_000_000_000,
}


# Stores keep counts as BIGINT; anything larger is garbage, not a count.
_MAX_COUNT: Final = 2**63 - 1


def parse_count(value: object, field: str) -> int | None:
    """A count from 1234, "1,234", "541.2K", "1.4M" or "2B"; None for empty; RecordError otherwise."""
    if type(value) is int:
        if not 0 <= value <= _MAX_COUNT:
            raise RecordError(_bad_count(value, field))
        return value
    if type(value) is str:
        if value.isdigit() and value.isascii() and len(value) < 19:
            return int(value)
        return _count_text(value, field)
    if value is None:
        return None
    if type(value) is float and value.is_integer():
        return parse_count(int(value), field)
    raise RecordError(_bad_count(value, field))


# Displayed counts repeat ("21.9K" has few spellings), so a bounded cache saves most of the parsing.
@lru_cache(maxsize=65_536)
def _count_text(value: str, field: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    multiplier = _MULTIPLIERS.get(text[-1], 1)
    number = text[:-1].rstrip() if multiplier > 1 else text
    # isdigit() alone would accept "²" or "٣"; isascii() keeps to plain digits.
    decimal = number.replace(".", "", 1)
    if decimal.isdigit() and number.isascii() and (multiplier > 1 or decimal == number) and number[-1] != ".":
        # round(): 541.2 * 1000 is 541200.00000000006 in binary floating point.
        return parse_count(round(float(number) * multiplier), field)
    if _THOUSANDS.fullmatch(text):
        return parse_count(int(text.replace(",", "")), field)
    raise RecordError(_bad_count(value, field))


def _bad_count(value: object, field: str) -> str:
    if isinstance(value, int) and value > _MAX_COUNT:
        return f"{field} is {_show(value)}: too large to be a count"
    if isinstance(value, int | str) and str(value).strip().startswith("-"):
        return f"{field} is {_show(value)}: a count cannot be negative"
    return f"{field} is {_show(value)}, not a count"


def parse_duration(value: object, field: str) -> float | None:
    """Seconds from "00:31", "01:05", "1:02:03" or a plain number; None for empty."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if not isinstance(value, str):
        raise RecordError(f"{field} is {_show(value)}, not a duration")
    text = value.strip()
    # Fast path for the common "mm:ss".
    if len(text) == 5 and text[2] == ":" and text[:2].isdigit() and text[3:].isdigit() and text[3] < "6":
        return float(int(text[:2]) * 60 + int(text[3:]))
    parts = text.split(":")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise RecordError(f"{field} is {_show(value)}, not a duration (mm:ss or seconds)") from None
    # Only the leading unit may exceed 59 ("90" seconds, "75:00" minutes); nan and inf fail 0 <= n < inf.
    if len(numbers) > 3 or not 0 <= numbers[0] < math.inf or not all(0 <= n < 60 for n in numbers[1:]):
        raise RecordError(f"{field} is {_show(value)}, not a duration (mm:ss or seconds)")
    seconds = 0.0
    for number in numbers:
        seconds = seconds * 60 + number
    return seconds


def parse_time(value: object, field: str) -> datetime | None:
    """A datetime from ISO 8601 text ("2025-05-21 09:44:45"; naive is UTC) or Unix seconds; None if empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).strip() if isinstance(value, int | float | str) and not isinstance(value, bool) else None
    if text is None:
        raise RecordError(f"{field} is {_show(value)}, not a date-time")
    try:
        # Nine or more digits are Unix time; fewer are ISO basic dates such as "20250521".
        if text.isdigit() and len(text) >= 9:
            seconds = int(text)
            # Millisecond timestamps are common in exports; seconds this large would be after year 5000.
            return datetime.fromtimestamp(seconds / 1000 if seconds > 10**11 else seconds, tz=UTC)
        return datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise RecordError(f"{field} is {_show(value)}, not a date-time") from None


_TRUE: Final = frozenset(("true", "1", "yes", "y", "t"))
_FALSE: Final = frozenset(("false", "0", "no", "n", "f"))


def parse_bool(value: object, field: str) -> bool | None:
    """True/False from "True", "false", "1", "no", ...; None for empty."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RecordError(f"{field} is {_show(value)}, not true/false")


def parse_text(value: object, field: str) -> str | None:
    """A string field as given; numbers become their text; None for empty."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise RecordError(f"{field} is {_show(value)}, not text")


def parse_video_id(value: object) -> str:
    """The video id as text; RecordError "missing video id" when there is none."""
    if isinstance(value, str):
        value = value.strip()
    elif type(value) is int:
        value = str(value)
    elif value is not None:
        raise RecordError(f"video id is {_show(value)}, not a string or number")
    if not value:
        raise RecordError("missing video id")
    return value


# A hashtag runs to whitespace, another # or @, or punctuation. Emoji and marks stay: TikTok's own hashtag
# lists (the CSV's vid_hashtags) keep them, e.g. "fypシ゚" or "viralvideo🔥"; extraction cleans them.
_HASHTAG: Final = re.compile(r"#([^\s#@,.!?;:()\[\]{}<>\"“”'‘’…]+)")


def caption_hashtags(caption: str) -> list[str]:
    """The #hashtags of a caption, in order, without the '#'."""
    return _HASHTAG.findall(caption) if "#" in caption else []


def parse_tag_list(value: object, field: str) -> list[str] | None:
    """Hashtags from a comma-separated list ("fyp, xuhuong") or a JSON list; None for empty."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    if isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        return value
    raise RecordError(f"{field} is {_show(value)}, not a list of hashtags")


def _object(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = record.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"{key} is {_show(value)}, not an object")
    return value


# ---- tiktrend: this project's own shape ----------------------------------------------------------


def normalize_tiktrend(record: dict[str, Any], ctx: ImportContext) -> Video:
    """A record with exactly the Video field names (the simulator's and the raw zone's shape)."""
    fields = dict(record)  # a copy: the raw record is kept unchanged for the raw zone
    fields["video_id"] = parse_video_id(record.get("video_id"))
    for name in _COUNT_FIELDS:
        # pydantic's lax mode would read true as 1; a flag where a count belongs is a broken record.
        if type(record.get(name)) is bool:
            raise RecordError(f"{name} is {record[name]!r}, not a count")
    if fields.get("observed_at") is None:
        fields["observed_at"] = ctx.fallback_observed_at
    if fields.get("region") is None and ctx.default_region:
        fields["region"] = ctx.default_region
    if fields.get("category") is None and ctx.default_category:
        fields["category"] = ctx.default_category
    return build_video(fields)


# ---- scraper: the original project's scraper -----------------------------------------------------

# The signed play URL carries the request's log id, "l=20250905090529..." (UTC time first), and
# "expire=<unix seconds>" two days later; the log time is the best observation time the shape has.
_MAX_URL_LIFETIME: Final = 7 * 86_400


def url_log_time(url: str | None) -> datetime | None:
    """The UTC time in a signed TikTok play URL's log id, if it has one consistent with its expiry."""
    if not url:
        return None
    # str.find, not a regex: these URLs are ~700 characters and this runs once per record.
    start = url.find("&l=")
    if start < 0:
        start = url.find("?l=")
    if start < 0:
        return None
    logged = _log_time(url[start + 3 : start + 17])
    if logged is None:
        return None
    start = url.find("expire=")
    if start > 0 and url[start - 1] in "?&":
        end = url.find("&", start)
        expire = url[start + 7 : end if end > 0 else None]
        if not expire.isdigit() or not 0 < int(expire) - logged.timestamp() <= _MAX_URL_LIFETIME:
            return None  # the two disagree: trust neither
    return logged


@lru_cache(maxsize=4096)
def _log_time(digits: str) -> datetime | None:
    """The time of a log id's first 14 digits (YYYYMMDDHHMMSS, UTC); one scrape repeats a few of them."""
    if len(digits) != 14 or not digits.isdigit() or not digits.isascii():
        return None
    d = digits
    try:
        return datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), int(d[10:12]), int(d[12:]), tzinfo=UTC)
    except ValueError:
        return None


def normalize_scraper(record: dict[str, Any], ctx: ImportContext) -> Video:
    """A record of the original scraper: id, url, caption, username, region, category, music{}, stats{}."""
    video_id = parse_video_id(record.get("id"))
    caption = parse_text(record.get("caption"), "caption") or ""
    author = parse_text(record.get("username"), "username")
    music = _object(record, "music")
    stats = _object(record, "stats")
    return build_video(
        {
            "video_id": video_id,
            # No creation time in this shape: Video derives it from the id.
            "observed_at": url_log_time(parse_text(record.get("url"), "url")) or ctx.fallback_observed_at,
            # Kept as given, even "UKIT": the scraper lost a comma between "UK" and "IT", and guessing
            # which of the two a record belongs to would invent data.
            "region": record.get("region") or ctx.default_region,
            "category": record.get("category") or ctx.default_category,
            "author": author,
            "caption": caption,
            "hashtags": caption_hashtags(caption),
            "music_title": parse_text(music.get("title"), "music.title"),
            "music_author": parse_text(music.get("author"), "music.author"),
            "views": parse_count(stats.get("playCount"), "views"),
            "likes": parse_count(stats.get("diggCount"), "likes"),
            "comments": parse_count(stats.get("commentCount"), "comments"),
            "shares": parse_count(stats.get("shareCount"), "shares"),
            "saves": parse_count(stats.get("collectCount"), "saves"),
            # The "url" is a signed play address that expired days after the scrape; the page address is
            # stable and built from the same two facts the record carries.
            "video_url": f"https://www.tiktok.com/@{author}/video/{video_id}" if author else None,
            "source": "scraper",
        }
    )


# ---- csv: column-mapped CSV, by default the VN dataset's columns ---------------------------------

DEFAULT_CSV_COLUMNS: Final[Mapping[str, str]] = {
    "video_id": "vid_id",
    "observed_at": "vid_scrapeTime",
    "created_at": "vid_postTime",
    "author": "user_name",
    "author_followers": "user_nfollower",
    "caption": "vid_caption",
    "hashtags": "vid_hashtags",
    "duration_s": "vid_duration",
    "views": "vid_nview",
    "likes": "vid_nlike",
    "comments": "vid_ncomment",
    "shares": "vid_nshare",
    "saves": "vid_nsave",
    "video_url": "vid_url",
    "music_id": "music_id",
    "music_title": "music_title",
    "music_author": "music_authorName",
    "music_original": "music_originality",
}

# The float notation "7.506832745952218e+18" kept 16 of the id's 19 digits. We drop such ids rather
# than keep a rounded number that looks exact: it would silently fail to join (or join wrongly) with
# the exact ids other sources carry. Sounds stay identified by title and author. An id written as
# digits (another CSV) is exact and kept.
_ROUNDED_ID: Final = re.compile(r"[0-9.]+[eE][+-]?\d+|\d+\.\d*")


def parse_music_id(value: object, field: str) -> str | None:
    """A music id as text, or None when it is empty or was rounded by float notation."""
    text = parse_text(value, field)
    if text is None or _ROUNDED_ID.fullmatch(text.strip()):
        return None
    return text.strip()


def _caption(value: object, field: str) -> str:
    return parse_text(value, field) or ""


_CSV_PARSERS: Final[Mapping[str, Callable[[Any, str], Any]]] = {
    "video_id": lambda value, _field: parse_video_id(value),
    "observed_at": parse_time,
    "created_at": parse_time,
    "region": parse_text,
    "category": parse_text,
    "author": parse_text,
    "author_followers": parse_count,
    "caption": _caption,
    "hashtags": parse_tag_list,
    "music_id": parse_music_id,
    "music_title": parse_text,
    "music_author": parse_text,
    "music_original": parse_bool,
    "views": parse_count,
    "likes": parse_count,
    "comments": parse_count,
    "shares": parse_count,
    "saves": parse_count,
    "duration_s": parse_duration,
    "language": parse_text,
    "cover_url": parse_text,
    "video_url": parse_text,
}
CSV_FIELDS: Final = tuple(_CSV_PARSERS)


def check_columns(columns: Mapping[str, str]) -> None:
    """Refuse a column map that names unknown fields or lacks the video id (a usage error, not a data one)."""
    unknown = sorted(set(columns) - set(_CSV_PARSERS))
    if unknown:
        raise FormatError(f"unknown field(s) in the column map: {', '.join(unknown)}; known: {', '.join(CSV_FIELDS)}")
    if "video_id" not in columns:
        raise FormatError("the column map must name the column of video_id")


def normalize_csv(record: dict[str, Any], ctx: ImportContext) -> Video:
    """A CSV row ({column: string}) through the context's column map; times without a zone are UTC."""
    columns = ctx.columns or DEFAULT_CSV_COLUMNS
    fields: dict[str, Any] = {"source": "csv"}
    for field, column in columns.items():
        value = _CSV_PARSERS[field](record.get(column), field)
        if value is not None:
            fields[field] = value
    if "video_id" not in fields:
        raise RecordError("missing video id")
    fields.setdefault("observed_at", ctx.fallback_observed_at)
    if "region" not in fields and ctx.default_region:
        fields["region"] = ctx.default_region
    if "category" not in fields and ctx.default_category:
        fields["category"] = ctx.default_category
    return build_video(fields)
