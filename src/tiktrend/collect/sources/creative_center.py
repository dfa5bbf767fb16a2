"""TikTok Creative Center trend lists: the popular hashtags, keywords and sounds by country, period and industry.

They are TikTok's own view of what trends, so they are kept apart from the videos, in the ``external_trends``
table, as a signal to compare with (the backtest's ground truth). The lists are read through the JSON
endpoints the Creative Center pages call (``creative_radar_api``), as public clients use them; the site wants
the headers of a browser session (``anonymous-user-id``, ``timestamp``, ``user-sign``), given in settings.

    rows = list_rows(reply, TrendList("hashtag", "US", 7), page=1)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from tiktrend.collect.sources.base import Failure, FetchError, Reply, Transport
from tiktrend.collect.sources.http import check_status, decode_json, query
from tiktrend.extract.keywords import music_keywords, tag_keyword
from tiktrend.extract.text import canonical

KINDS: Final = ("hashtag", "keyword", "sound")
PERIODS: Final = (7, 30, 120)
PATHS: Final = {
    "hashtag": "/creative_radar_api/v1/popular_trend/hashtag/list",
    "keyword": "/creative_radar_api/v1/script/keyword/list",
    "sound": "/creative_radar_api/v1/popular_trend/sound/rank_list",
}
PAGE_SIZE: Final = 20
_NO_PERMISSION: Final = frozenset({40101, 40100})
# The columns of the external_trends table (store.schema), in order.
TREND_COLUMNS: Final = (
    "source",
    "kind",
    "region",
    "period_days",
    "industry",
    "list_date",
    "keyword",
    "name",
    "item_id",
    "rank",
    "rank_diff",
    "is_new",
    "posts",
    "views",
    "trend",
    "listed_at",
)


@dataclass(frozen=True)
class TrendList:
    """Which list: kind (hashtag, keyword, sound), country, period in days, industry id ("" for all)."""

    kind: str
    region: str
    period: int = 7
    industry: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown list {self.kind!r}: expected one of {', '.join(KINDS)}")
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(map(str, PERIODS))} days, not {self.period}")


class CreativeCenter:
    """Reads one page of one trend list at a time."""

    name = "creative_center"

    def __init__(self, transport: Transport, base_url: str = "https://ads.tiktok.com") -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")

    def request(self, trend: TrendList, page: int) -> Reply:
        """One page of a list."""
        params: dict[str, object] = {
            "page": page,
            "limit": PAGE_SIZE,
            "period": trend.period,
            "country_code": trend.region.upper(),
        }
        if trend.kind == "hashtag":
            params.update(sort_by="popular", industry_id=trend.industry)
        elif trend.kind == "sound":
            params.update(rank_type="popular", new_on_board=False, commercial_music=False)
        else:
            params.update(order_by="post", order_type="desc", industry=trend.industry)
        headers = {"referer": f"{self.base_url}/business/creativecenter/inspiration/popular/{trend.kind}/pc/en"}
        return self.transport.send("GET", self.base_url + PATHS[trend.kind], params=query(params), headers=headers)

    def parse(self, reply: Reply, trend: TrendList) -> tuple[list[Any], bool]:
        """The entries of a page and whether another page follows."""
        check_status(reply)
        body = decode_json(reply)
        if not isinstance(body, dict):
            raise FetchError(Failure.BAD_JSON, "a reply that is not a JSON object")
        code, message = body.get("code"), str(body.get("msg") or "")
        if code in _NO_PERMISSION:
            raise FetchError(Failure.FORBIDDEN, f"code {code} {message}: set TIKTREND_CREATIVE_CENTER_HEADERS")
        if code not in (0, "0"):
            raise FetchError(Failure.API_ERROR, f"code {code} {message}".strip())
        data = body.get("data")
        entries = data.get("list") if isinstance(data, dict) else None
        if not entries:
            # The endpoint answers {"code": 0, "msg": "deprecated"} once TikTok retires it: say so.
            what = f"'{message}'" if message and message.upper() != "OK" else "an empty list"
            raise FetchError(Failure.EMPTY_PAGE, f"{what} for the {trend.kind} list of {trend.region}")
        if not isinstance(entries, list):
            raise FetchError(Failure.BAD_JSON, "data.list is not a list")
        pagination = data.get("pagination") if isinstance(data, dict) else None
        more = bool(pagination.get("has_more")) if isinstance(pagination, dict) else False
        return entries, more


def list_rows(
    entries: list[Any], trend: TrendList, listed_at: datetime, first_rank: int
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Table rows of a page's entries, and (position, reason) of the entries that are not trends."""
    rows: list[dict[str, Any]] = []
    bad: list[tuple[int, str]] = []
    for position, entry in enumerate(entries):
        try:
            rows.append(_row(entry, trend, listed_at, first_rank + position))
        except ValueError as exc:
            bad.append((position, str(exc)))
    return rows, bad


def _row(entry: object, trend: TrendList, listed_at: datetime, position_rank: int) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(f"not a JSON object: {type(entry).__name__}")
    name, item_id, key = _identity(entry, trend.kind)
    return {
        "source": "creative_center",
        "kind": trend.kind,
        "region": trend.region.upper(),
        "period_days": trend.period,
        "industry": trend.industry,
        "list_date": listed_at.date(),
        "keyword": key,
        "name": name,
        "item_id": item_id,
        "rank": _int(entry.get("rank")) or position_rank,
        "rank_diff": _int(entry.get("rank_diff")),
        # rank_diff_type 3 marks an entry new on the list, as the Creative Center pages show it.
        "is_new": entry.get("rank_diff_type") == 3 if "rank_diff_type" in entry else None,
        "posts": _int(entry.get("publish_cnt", entry.get("post", entry.get("video_count")))),
        "views": _int(entry.get("video_views", entry.get("impression"))),
        "trend": json.dumps(entry.get("trend")) if entry.get("trend") is not None else None,
        "listed_at": listed_at,
    }


def _identity(entry: Mapping[str, Any], kind: str) -> tuple[str, str | None, str]:
    """(name as listed, the list's id for it, the keyword key that extraction would give it)."""
    if kind == "hashtag":
        name = _text(entry.get("hashtag_name")).lstrip("#")
        found = tag_keyword(name) if name else None
        item = entry.get("hashtag_id")
    elif kind == "sound":
        name = _text(entry.get("title"))
        keys = music_keywords(name, _text(entry.get("author")), False) if name else ()
        found = keys[0] if keys else None
        item = entry.get("clip_id", entry.get("song_id"))
    else:
        name = _text(entry.get("keyword"))
        key = canonical(name) if name else ""
        found = (key, name) if key else None
        item = None
    if found is None:
        raise ValueError(f"a {kind} entry without a usable name ({str(dict(entry))[:120]})")
    return name, str(item) if item not in (None, "") else None, found[0]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def list_id(trend: TrendList) -> str:
    """A short stable name of a list, for checkpoints and batch ids."""
    text = f"{trend.kind}:{trend.region}:{trend.period}:{trend.industry}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]
