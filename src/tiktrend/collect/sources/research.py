"""The TikTok Research API: client-credentials OAuth, ``video/query`` with conditions, cursor pagination, quota.

A query asks for videos created in a date range (the API takes at most 30 days at a time, so longer ranges
are walked window by window) in one region, optionally with hashtags and keywords. Pages come 100 videos at
a time with ``cursor`` and ``search_id``; both go into the collection's checkpoint, so a run resumes where it
stopped, also on the next day. The documented daily quota (1,000 requests and 100,000 records) is counted in
a ledger beside the checkpoints; a run stops cleanly before the quota runs out and resumes after 00:00 UTC.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from tiktrend.collect.shapes import RESEARCH_FIELDS
from tiktrend.collect.sources.base import Failure, FetchError, Page, Reply, Transport
from tiktrend.collect.sources.http import check_status, decode_json

TOKEN_PATH: Final = "/v2/oauth/token/"
QUERY_PATH: Final = "/v2/research/video/query/"
MAX_COUNT: Final = 100  # videos per request, the API's maximum
MAX_WINDOW_DAYS: Final = 30  # end_date at most 30 days after start_date


@dataclass(frozen=True)
class ResearchConfig:
    """Credentials, what to ask for, and the quota."""

    client_key: str
    client_secret: str
    start: date
    end: date
    base_url: str = "https://open.tiktokapis.com"
    hashtags: Sequence[str] = ()
    keywords: Sequence[str] = ()
    fields: Sequence[str] = RESEARCH_FIELDS
    daily_requests: int = 1_000
    daily_records: int = 100_000


def windows(start: date, end: date) -> list[tuple[date, date]]:
    """``[start, end]`` cut into windows the API accepts (inclusive, at most 30 days apart)."""
    if end < start:
        raise ValueError(f"the end date {end} is before the start date {start}")
    found = []
    while start <= end:
        last = min(end, start + timedelta(days=MAX_WINDOW_DAYS - 1))
        found.append((start, last))
        start = last + timedelta(days=1)
    return found


class QuotaLedger:
    """Requests and records used today (UTC), kept in a file so that every run of the day counts them."""

    def __init__(self, path: Path, requests: int, records: int, today: Callable[[], date] | None = None) -> None:
        self.path = path
        self.limits = (requests, records)
        self._today = today or (lambda: datetime.now(tz=UTC).date())

    def used(self) -> tuple[int, int]:
        """(requests, records) used today."""
        if not self.path.exists():
            return 0, 0
        saved = json.loads(self.path.read_text(encoding="utf-8"))
        if saved.get("day") != self._today().isoformat():
            return 0, 0
        return int(saved["requests"]), int(saved["records"])

    def page_size(self) -> int:
        """How many records the next request may ask for; FetchError(QUOTA) when none may be asked for."""
        requests, records = self.used()
        left = min(MAX_COUNT, self.limits[1] - records)
        if requests >= self.limits[0] or left <= 0:
            raise FetchError(
                Failure.QUOTA,
                f"today's quota is used: {requests:,} of {self.limits[0]:,} requests, "
                f"{records:,} of {self.limits[1]:,} records",
            )
        return left

    def spend(self, requests: int, records: int) -> None:
        used = self.used()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        day = self._today().isoformat()
        tmp.write_text(json.dumps({"day": day, "requests": used[0] + requests, "records": used[1] + records}))
        tmp.replace(self.path)


class ResearchVideos:
    """Videos of the Research API, one region at a time; the cursor walks windows, then pages."""

    name = "research"
    fmt = "research"

    def __init__(self, transport: Transport, config: ResearchConfig, ledger: QuotaLedger) -> None:
        self.transport = transport
        self.config = config
        self.ledger = ledger
        self.windows = windows(config.start, config.end)
        self.query: Mapping[str, Any] = {
            "start": config.start.isoformat(),
            "end": config.end.isoformat(),
            "hashtags": sorted(config.hashtags),
            "keywords": sorted(config.keywords),
        }
        self._token: str | None = None
        self._restart_window = False  # the API forgot our search_id: ask for the window from its start

    # ---- I/O ----

    def request(self, region: str, cursor: Mapping[str, Any]) -> Reply:
        """One page of the query for ``region`` at ``cursor``."""
        size = self.ledger.page_size()  # before the request: a run never goes over the quota
        token = self._token or self._fetch_token()
        window = self.windows[int(cursor.get("window", 0))]
        body: dict[str, Any] = {
            "query": self._query(region),
            "start_date": f"{window[0]:%Y%m%d}",
            "end_date": f"{window[1]:%Y%m%d}",
            "max_count": size,
            "cursor": 0 if self._restart_window else int(cursor.get("cursor", 0)),
        }
        if cursor.get("search_id") and not self._restart_window:
            body["search_id"] = cursor["search_id"]
        self._restart_window = False
        url = self.config.base_url.rstrip("/") + QUERY_PATH
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        try:
            reply = self.transport.send(
                "POST", url, params={"fields": ",".join(self.config.fields)}, headers=headers, json=body
            )
        except FetchError:
            self.ledger.spend(1, 0)  # it may have reached the API: counted, to stay under the limit
            raise
        self.ledger.spend(1, _video_count(reply))
        return reply

    def _fetch_token(self) -> str:
        """A client access token (client credentials grant); FetchError(FORBIDDEN) when refused."""
        form = {
            "client_key": self.config.client_key,
            "client_secret": self.config.client_secret,
            "grant_type": "client_credentials",
        }
        url = self.config.base_url.rstrip("/") + TOKEN_PATH
        reply = self.transport.send(
            "POST", url, data=form, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        if reply.status >= 500 or reply.status == 429:
            check_status(reply)
        body = decode_json(reply)
        token = body.get("access_token") if isinstance(body, dict) else None
        if reply.status != 200 or not isinstance(token, str) or not token:
            detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise FetchError(Failure.FORBIDDEN, f"the client credentials were refused ({detail or reply.status})")
        self._token = token
        return token

    def _query(self, region: str) -> dict[str, list[dict[str, Any]]]:
        conditions: list[dict[str, Any]] = [
            {"operation": "EQ", "field_name": "region_code", "field_values": [region.upper()]}
        ]
        if self.config.hashtags:
            tags = [t.lstrip("#") for t in self.config.hashtags]
            conditions.append({"operation": "IN", "field_name": "hashtag_name", "field_values": tags})
        query: dict[str, list[dict[str, Any]]] = {"and": conditions}
        if self.config.keywords:
            # Any of the keywords: "or" conditions, beside the "and" ones.
            query["or"] = [
                {"operation": "EQ", "field_name": "keyword", "field_values": [k]} for k in self.config.keywords
            ]
        return query

    # ---- parsing (pure) ----

    def parse(self, reply: Reply, region: str, cursor: Mapping[str, Any]) -> Page:
        """The videos of a reply and the next cursor; the next window once a window is exhausted."""
        error = _error(reply)
        if error is not None:
            raise error
        check_status(reply)
        body = decode_json(reply)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
            raise FetchError(Failure.BAD_JSON, "a reply without data.videos")
        window = int(cursor.get("window", 0))
        if data.get("has_more"):
            following = {"window": window, "cursor": int(data.get("cursor") or 0), "search_id": data.get("search_id")}
            return Page(items=data["videos"], cursor=following)
        more = window + 1 < len(self.windows)
        return Page(items=data["videos"], cursor={"window": window + 1, "cursor": 0}, has_more=more)

    def recover(self, error: FetchError) -> bool:
        """Forget an expired access token, or a search_id the API no longer knows; then try again."""
        if error.failure is Failure.TOKEN_EXPIRED:
            self._token = None
            return True
        if error.failure is Failure.API_ERROR and "search" in error.detail.lower():
            # The window starts over; the collector's seen set keeps the videos already loaded out.
            self._restart_window = True
            return True
        return False

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        value = item.get("id")
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _video_count(reply: Reply) -> int:
    try:
        body = json.loads(reply.body)
        return len(body["data"]["videos"])
    except (ValueError, KeyError, TypeError):
        return 0


def _error(reply: Reply) -> FetchError | None:
    """The Research API's own error codes (``error.code``), which say more than the HTTP status."""
    try:
        body = json.loads(reply.body)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get("code") in (None, "ok"):
        return None
    code, message = str(error["code"]), str(error.get("message") or "")
    if code in ("access_token_invalid", "access_token_expired") or reply.status == 401:
        return FetchError(Failure.TOKEN_EXPIRED, f"{code}: {message}")
    if code == "rate_limit_exceeded" or reply.status == 429:
        daily = "daily" in message.lower() or "quota" in message.lower()
        return FetchError(Failure.QUOTA if daily else Failure.RATE_LIMITED, f"{code}: {message}")
    if reply.status >= 500:
        return FetchError(Failure.SERVER_ERROR, f"{code}: {message}")
    if "search_id" in message or "search id" in message.lower():
        return FetchError(Failure.API_ERROR, f"{code}: {message}")
    return FetchError(Failure.BAD_REQUEST, f"{code}: {message}")
