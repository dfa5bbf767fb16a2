"""TikTok's own record shapes: the web ``itemList`` item, the mobile ``aweme``, the Research API video, Apify's export.

Each shape has a normalizer (record -> :class:`Video`, or :class:`RecordError` with a reason) and, for the
shapes that arrive inside API replies, an unwrapper that finds the items of a reply and what the reply says
about them (its server time). Files may hold bare items (TikTokApi's ``as_dict``, an Apify dataset) or whole
replies (a saved ``recommend/item_list`` page); both read the same.

Field conventions, made explicit here because every shape differs:

- times: Unix seconds, or milliseconds when the number is too large to be seconds (``parse_time``); TikTok
  writes ``0`` for "not set", which counts as missing;
- counters: integers, digit strings (the web ``statsV2`` block), or missing; a missing counter stays ``None``,
  never 0, so that growth is not measured from a made-up zero;
- durations: seconds on the web and in the Research API, **milliseconds** in the mobile ``aweme`` shape.

    >>> video = normalize_web(item, ImportContext(fallback_observed_at=now), {"region": "US"})
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from tiktrend.collect.normalize import (
    ImportContext,
    build_video,
    caption_hashtags,
    parse_count,
    parse_text,
    parse_time,
    parse_video_id,
)
from tiktrend.collect.readers import RawRecord, json_kind
from tiktrend.models import RecordError, Video

Meta = Mapping[str, Any] | None

# ---- replies -------------------------------------------------------------------------------------


def _server_time(reply: Mapping[str, Any]) -> str | None:
    """The server time of a web or mobile reply (``extra.now``, milliseconds) as ISO text, if it has one."""
    extra = reply.get("extra")
    now = extra.get("now") if isinstance(extra, dict) else None
    if type(now) is not int or now <= 0:
        return None
    try:
        return datetime.fromtimestamp(now / 1000 if now > 10**11 else now, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def web_items(record: Mapping[str, Any]) -> tuple[object, dict[str, Any]] | None:
    """The ``itemList`` of a web reply and what the reply says about them; None when ``record`` is an item."""
    if "itemList" not in record:
        return None
    return record["itemList"], _reply_meta(record)


def aweme_items(record: Mapping[str, Any]) -> tuple[object, dict[str, Any]] | None:
    """The ``aweme_list`` of a mobile feed reply; None when ``record`` is an item."""
    if "aweme_list" not in record:
        return None
    return record["aweme_list"], _reply_meta(record)


def research_items(record: Mapping[str, Any]) -> tuple[object, dict[str, Any]] | None:
    """The ``data.videos`` of a Research API reply; None when ``record`` is a video."""
    data = record.get("data")
    if not isinstance(data, dict) or "videos" not in data:
        return None
    return data["videos"], {}


# How to find the items of a reply, by format.
REPLY_ITEMS: Final[Mapping[str, Callable[[Mapping[str, Any]], tuple[object, dict[str, Any]] | None]]] = {
    "web": web_items,
    "aweme": aweme_items,
    "research": research_items,
}


def _reply_meta(reply: Mapping[str, Any]) -> dict[str, Any]:
    now = _server_time(reply)
    return {"observed_at": now} if now else {}


Unwrap = Callable[[Mapping[str, Any]], "tuple[object, dict[str, Any]] | None"]


def unwrap_replies(records: Iterable[RawRecord], find: Unwrap) -> Iterator[RawRecord]:
    """Replace each reply by its items (numbered on from the reply's place); other records pass through."""
    position = 0
    for raw in records:
        found = find(raw.record) if raw.record is not None else None
        if found is None:
            yield RawRecord(position, raw.record, raw.text, raw.error, raw.meta, raw.size)
            position += 1
            continue
        items, meta = found
        if not isinstance(items, list):
            reason = f"a reply whose item list is {json_kind(items)}, not a list (record {raw.position + 1})"
            yield RawRecord(position, None, _clip_json(raw.record), reason)
            position += 1
            continue
        meta = {**meta, "reply": raw.position}
        share = raw.size // max(1, len(items))  # each item's part of the reply's bytes, for chunking
        for index, item in enumerate(items):
            if type(item) is dict:
                yield RawRecord(position, item, meta={**meta, "index": index}, size=share)
            else:
                where = f"item {index} of the reply at record {raw.position + 1}"
                reason = f"not a JSON object: {where} is {json_kind(item)}"
                yield RawRecord(position, None, _clip_json(item), reason)
            position += 1


def _clip_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)[:2_000]


# ---- shared field readers ------------------------------------------------------------------------


def _object(record: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = record.get(key)
    if value is None:
        return _EMPTY
    if type(value) is not dict:
        raise RecordError(f"{key} is {json_kind(value)}, not an object")
    return value


_EMPTY: Final[Mapping[str, Any]] = {}


def _created(value: object, field: str) -> datetime | None:
    # TikTok writes 0 (or "0") for a time that is not set.
    if value == 0 or value == "0":
        return None
    return parse_time(value, field)


def _observed(ctx: ImportContext, meta: Meta) -> datetime:
    seen = meta.get("observed_at") if meta else None
    if not seen:
        return ctx.fallback_observed_at
    observed = parse_time(seen, "observed_at")
    return observed if observed is not None else ctx.fallback_observed_at


def _nonnegative(value: object) -> float | None:
    """A finite number >= 0 as a float; None for anything else (a duration that is not one is left out)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    return None


def _region(ctx: ImportContext, meta: Meta, own: object) -> object:
    """The feed region when the collection knows it, else ``--region``, else what the record says."""
    if meta:
        region = meta.get("region")
        if region:
            return region
    return ctx.default_region or own


def _names(values: object, key: str) -> list[str]:
    """The ``key`` of each object in a list of objects (hashtag lists), skipping what is not one."""
    if type(values) is not list:
        return []
    names: list[str] = []
    for value in values:
        if type(value) is dict:
            name = value.get(key)
            if type(name) is str and name and name not in names:
                names.append(name)
    return names


def _tags(*lists: list[str], caption: str) -> list[str]:
    """The hashtags of the structured lists, first spelling kept (TikTok lower-cases its challenge titles)."""
    merged: list[str] = []
    seen: set[str] = set()
    for names in lists:
        for name in names:
            key = name.casefold()
            if key not in seen:
                seen.add(key)
                merged.append(name)
    return merged or caption_hashtags(caption)


def _page_url(author: str | None, video_id: str) -> str | None:
    return f"https://www.tiktok.com/@{author}/video/{video_id}" if author else None


def _reply_error(record: Mapping[str, Any]) -> None:
    """A whole reply saved where items were expected (a captcha, an error): say so instead of "missing id"."""
    for key in ("statusCode", "status_code", "code"):
        if key in record:
            kind = record.get("type")
            what = f", type {kind!r}" if kind else ""
            raise RecordError(f"a reply without items ({key} {record[key]!r}{what}), not a video")


# ---- web: recommend/item_list items and TikTokApi's as_dict ---------------------------------------

_WEB_COUNTERS: Final = (
    ("views", "playCount"),
    ("likes", "diggCount"),
    ("comments", "commentCount"),
    ("shares", "shareCount"),
    ("saves", "collectCount"),
)


def normalize_web(record: dict[str, Any], ctx: ImportContext, meta: Meta = None) -> Video:
    """An item of the web ``itemList`` (also TikTokApi's ``Video.as_dict``)."""
    if "id" not in record:
        _reply_error(record)
    video_id = parse_video_id(record.get("id"))
    caption = parse_text(record.get("desc"), "desc") or ""
    author = record.get("author")
    # The page's server-rendered ItemModule writes the author as its uniqueId; the API as an object.
    author_name = parse_text(author.get("uniqueId") if type(author) is dict else author, "author")
    fields: dict[str, Any] = {
        "video_id": video_id,
        "observed_at": _observed(ctx, meta),
        "created_at": _created(record.get("createTime"), "createTime"),
        "region": _region(ctx, meta, record.get("locationCreated")),
        "category": ctx.default_category or _first_label(record.get("diversificationLabels")),
        "author": author_name,
        "caption": caption,
        # textExtra keeps the creator's spelling ("MatchaLatte"); challenge titles are lower-cased.
        "hashtags": _tags(
            _names(record.get("textExtra"), "hashtagName"), _names(record.get("challenges"), "title"), caption=caption
        ),
        "language": parse_text(record.get("textLanguage"), "textLanguage"),
        "video_url": _page_url(author_name, video_id),
        "source": "web",
    }
    _web_counters(record, fields)
    _web_media(record, fields)
    return build_video(fields)


def _first_label(labels: object) -> str | None:
    """TikTok's own content label (``diversificationLabels[0]``, e.g. "Comedy") as the category."""
    if type(labels) is list and labels and type(labels[0]) is str:
        return labels[0]
    return None


def _web_counters(record: Mapping[str, Any], fields: dict[str, Any]) -> None:
    stats = _object(record, "stats")
    strings = _object(record, "statsV2")  # the same counters as digit strings, on newer replies
    for field, key in _WEB_COUNTERS:
        value = stats.get(key)
        if value is None:
            value = strings.get(key)
        fields[field] = parse_count(value, field)
    followers = _object(record, "authorStats").get("followerCount")
    if followers is None:
        followers = _object(record, "authorStatsV2").get("followerCount")
    fields["author_followers"] = parse_count(followers, "author_followers")


def _web_media(record: Mapping[str, Any], fields: dict[str, Any]) -> None:
    music = _object(record, "music")
    video = _object(record, "video")
    music_id = music.get("id")
    fields["music_id"] = str(music_id) if type(music_id) in (str, int) and music_id else None
    fields["music_title"] = parse_text(music.get("title"), "music.title")
    fields["music_author"] = parse_text(music.get("authorName"), "music.authorName")
    original = music.get("original")
    fields["music_original"] = original if type(original) is bool else None
    fields["duration_s"] = _nonnegative(video.get("duration"))
    fields["cover_url"] = parse_text(video.get("cover"), "video.cover")


# ---- aweme: the mobile app's feed ------------------------------------------------------------------

_AWEME_COUNTERS: Final = (
    ("views", "play_count"),
    ("likes", "digg_count"),
    ("comments", "comment_count"),
    ("shares", "share_count"),
    ("saves", "collect_count"),
)


def normalize_aweme(record: dict[str, Any], ctx: ImportContext, meta: Meta = None) -> Video:
    """An item of the mobile ``aweme_list`` (``aweme_id``, ``desc``, ``create_time``, ``statistics``, ...)."""
    if "aweme_id" not in record:
        _reply_error(record)
    video_id = parse_video_id(record.get("aweme_id"))
    caption = parse_text(record.get("desc"), "desc") or ""
    author = _object(record, "author")
    author_name = parse_text(author.get("unique_id"), "author.unique_id")
    stats = _object(record, "statistics")
    music = _object(record, "music")
    video = _object(record, "video")
    music_id = music.get("id_str") or music.get("id")
    fields: dict[str, Any] = {
        "video_id": video_id,
        "observed_at": _observed(ctx, meta),
        "created_at": _created(record.get("create_time"), "create_time"),
        "region": _region(ctx, meta, record.get("region")),
        "category": ctx.default_category,
        "author": author_name,
        "author_followers": parse_count(author.get("follower_count"), "author_followers"),
        "caption": caption,
        "hashtags": _tags(
            _names(record.get("text_extra"), "hashtag_name"),
            _names(record.get("cha_list"), "cha_name"),
            caption=caption,
        ),
        "music_id": str(music_id) if type(music_id) in (str, int) and music_id else None,
        "music_title": parse_text(music.get("title"), "music.title"),
        "music_author": parse_text(music.get("author"), "music.author"),
        "music_original": _flag(music.get("is_original")),
        "duration_s": _milliseconds(video.get("duration", record.get("duration"))),
        "language": parse_text(record.get("desc_language"), "desc_language"),
        "video_url": _page_url(author_name, video_id),
        "source": "aweme",
    }
    for field, key in _AWEME_COUNTERS:
        fields[field] = parse_count(stats.get(key), field)
    return build_video(fields)


def _milliseconds(value: object) -> float | None:
    number = _nonnegative(value)
    return number / 1000 if number is not None else None


def _flag(value: object) -> bool | None:
    if type(value) is bool:
        return value
    if value in (0, 1):
        return bool(value)
    return None


# ---- research: the Research API's video/query ------------------------------------------------------

# The fields this project asks the Research API for (all of the documented Video Object's useful ones).
RESEARCH_FIELDS: Final = (
    "id",
    "video_description",
    "create_time",
    "region_code",
    "share_count",
    "view_count",
    "like_count",
    "comment_count",
    "favourites_count",
    "music_id",
    "hashtag_names",
    "username",
    "video_duration",
    "voice_to_text",
)
_RESEARCH_COUNTERS: Final = (
    ("views", "view_count"),
    ("likes", "like_count"),
    ("comments", "comment_count"),
    ("shares", "share_count"),
    ("saves", "favourites_count"),
)


def normalize_research(record: dict[str, Any], ctx: ImportContext, meta: Meta = None) -> Video:
    """A video of the Research API (``id``, ``video_description``, ``create_time``, ``region_code``, ...)."""
    if "id" not in record:
        _reply_error(record)
    video_id = parse_video_id(record.get("id"))
    caption = parse_text(record.get("video_description"), "video_description") or ""
    author = parse_text(record.get("username"), "username")
    tags = record.get("hashtag_names")
    music_id = record.get("music_id")
    fields: dict[str, Any] = {
        "video_id": video_id,
        "observed_at": _observed(ctx, meta),
        "created_at": _created(record.get("create_time"), "create_time"),
        # region_code is where the creator registered, the best region the API gives.
        "region": _region(ctx, meta, record.get("region_code")),
        "category": ctx.default_category,
        "author": author,
        "caption": caption,
        "hashtags": [t for t in tags if type(t) is str] if type(tags) is list else caption_hashtags(caption),
        "music_id": str(music_id) if type(music_id) in (str, int) and music_id else None,
        "duration_s": _nonnegative(record.get("video_duration")),
        "video_url": _page_url(author, video_id),
        "transcript": _transcript(record),
        "source": "research",
    }
    for field, key in _RESEARCH_COUNTERS:
        fields[field] = parse_count(record.get(key), field)
    return build_video(fields)


def _transcript(record: Mapping[str, Any]) -> str | None:
    """Speech (``voice_to_text``) or, where granted, subtitles, as one text."""
    text = parse_text(record.get("voice_to_text"), "voice_to_text")
    if text:
        return text
    subtitles = record.get("subtitles")
    if type(subtitles) is str:
        return subtitles or None
    if type(subtitles) is list:
        parts = [s if type(s) is str else s.get("text") for s in subtitles if type(s) in (str, dict)]
        return " ".join(p for p in parts if type(p) is str and p) or None
    return None


# ---- apify: the usual TikTok scraper actor's dataset ----------------------------------------------

_APIFY_COUNTERS: Final = (
    ("views", "playCount"),
    ("likes", "diggCount"),
    ("comments", "commentCount"),
    ("shares", "shareCount"),
    ("saves", "collectCount"),
)


def normalize_apify(record: dict[str, Any], ctx: ImportContext, meta: Meta = None) -> Video:
    """An Apify-style export item (``text``, ``createTimeISO``, ``authorMeta``, ``musicMeta``, ``playCount``...)."""
    video_id = parse_video_id(record.get("id"))
    caption = parse_text(record.get("text"), "text") or ""
    author = _object(record, "authorMeta")
    music = _object(record, "musicMeta")
    video = _object(record, "videoMeta")
    author_name = parse_text(author.get("name"), "authorMeta.name")
    created = record.get("createTimeISO") or record.get("createTime")
    music_id = music.get("musicId")
    fields: dict[str, Any] = {
        "video_id": video_id,
        "observed_at": _observed(ctx, meta),
        "created_at": _created(created, "createTimeISO"),
        "region": _region(ctx, meta, record.get("locationCreated") or author.get("region")),
        "category": ctx.default_category,
        "author": author_name,
        "author_followers": parse_count(author.get("fans"), "author_followers"),
        "caption": caption,
        "hashtags": _tags(_names(record.get("hashtags"), "name"), caption=caption),
        "music_id": str(music_id) if type(music_id) in (str, int) and music_id else None,
        "music_title": parse_text(music.get("musicName"), "musicMeta.musicName"),
        "music_author": parse_text(music.get("musicAuthor"), "musicMeta.musicAuthor"),
        "music_original": _flag(music.get("musicOriginal")),
        "duration_s": _nonnegative(video.get("duration")),
        "language": parse_text(record.get("textLanguage"), "textLanguage"),
        "cover_url": parse_text(video.get("coverUrl"), "videoMeta.coverUrl"),
        "video_url": parse_text(record.get("webVideoUrl"), "webVideoUrl") or _page_url(author_name, video_id),
        "source": "apify",
    }
    for field, key in _APIFY_COUNTERS:
        fields[field] = parse_count(record.get(key), field)
    return build_video(fields)
