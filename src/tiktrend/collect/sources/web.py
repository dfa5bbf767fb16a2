"""The TikTok web trending feed: ``/api/recommend/item_list/`` per region, as public clients request it.

The feed has no cursor: every request returns a fresh selection for the region (``count`` items, 30 at most),
so "pages" repeat videos and the collector deduplicates. TikTok wants an ``msToken`` (from a logged-out
browser session's cookies) and rotates it through ``Set-Cookie``; the newest one is used for the next request.
Requests without TikTok's request signatures are often answered with an empty body: then use the browser
session (:mod:`tiktrend.collect.sources.session`), which signs requests in a real chromium.

Failure modes by name (:class:`~tiktrend.collect.sources.base.Failure`): 429 -> ``rate_limited``, 5xx ->
``server_error``, an empty ``itemList`` -> ``empty_page``, a verification page or ``{"type": "verify"}`` ->
``captcha``, 401 or ``statusCode`` 10102 ("not logged in") -> ``token_expired``, HTML -> ``html_instead_of_json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tiktrend.collect.sources.base import Failure, FetchError, Page, Reply, Transport
from tiktrend.collect.sources.http import check_status, decode_json, query

ITEM_LIST_PATH: Final = "/api/recommend/item_list/"
MAX_PAGE_SIZE: Final = 30  # TikTok answers statusCode 10201 (invalid parameter) to larger counts
# statusCode values public clients have documented: 10201 invalid entity or parameter, 10202 not found,
# 10102 not logged in (the token or session expired), 10000 a captcha.
_TOKEN_CODES: Final = frozenset({10102})
_LANGUAGES: Final = {"DE": "de", "FR": "fr", "ES": "es", "IT": "it", "NL": "nl", "VN": "vi", "BR": "pt", "JP": "ja"}


@dataclass(frozen=True)
class WebConfig:
    """Where and as whom to ask: the site, the tokens to rotate through, and the page size."""

    base_url: str = "https://www.tiktok.com"
    ms_tokens: Sequence[str] = ()
    page_size: int = MAX_PAGE_SIZE


class WebTrending:
    """The trending (For You) feed of the TikTok web app, one region at a time."""

    name = "web"
    fmt = "web"
    query: Mapping[str, Any] = {}

    def __init__(self, transport: Transport, config: WebConfig) -> None:
        self.transport = transport
        self.config = config
        self._tokens = list(config.ms_tokens)
        self._token = self._tokens.pop(0) if self._tokens else None

    def request(self, region: str, cursor: Mapping[str, Any]) -> Reply:
        """One request of the region's feed."""
        language = _LANGUAGES.get(region.upper(), "en")
        params = query(
            {
                "aid": 1988,
                "app_language": language,
                "app_name": "tiktok_web",
                "browser_language": f"{language}-{region.upper()}",
                "browser_name": "Mozilla",
                "browser_online": True,
                "browser_platform": "Win32",
                "channel": "tiktok_web",
                "cookie_enabled": True,
                "count": min(self.config.page_size, MAX_PAGE_SIZE),
                "device_platform": "web_pc",
                "from_page": "fyp",
                "language": language,
                "os": "windows",
                "priority_region": region.upper(),
                "region": region.upper(),
                "screen_height": 1080,
                "screen_width": 1920,
            }
        )
        if self._token:
            params["msToken"] = self._token
        url = self.config.base_url.rstrip("/") + ITEM_LIST_PATH
        headers = {"referer": self.config.base_url.rstrip("/") + "/foryou"}
        reply = self.transport.send("GET", url, params=params, headers=headers, secret_params=frozenset({"msToken"}))
        # TikTok hands out the next msToken with each reply; an old one stops working after a while.
        fresh = self.transport.cookie("msToken")
        if fresh:
            self._token = fresh
        return reply

    def parse(self, reply: Reply, region: str, cursor: Mapping[str, Any]) -> Page:
        """The items of a reply; FetchError naming the failure when there are none."""
        check_status(reply)
        body = decode_json(reply)
        if not isinstance(body, dict):
            raise FetchError(Failure.BAD_JSON, f"a reply that is a JSON {type(body).__name__}, not an object")
        status = body.get("statusCode", body.get("status_code", 0))
        if status in _TOKEN_CODES:
            raise FetchError(Failure.TOKEN_EXPIRED, f"statusCode {status}: the msToken or session expired")
        if status not in (0, "0", None):
            message = body.get("statusMsg") or body.get("status_msg") or ""
            raise FetchError(Failure.API_ERROR, f"statusCode {status} {message}".strip())
        items = body.get("itemList")
        if not items:
            raise FetchError(Failure.EMPTY_PAGE, "a reply with an empty itemList")
        if not isinstance(items, list):
            raise FetchError(Failure.BAD_JSON, "an itemList that is not a list")
        return Page(items=items, has_more=bool(body.get("hasMore", True)))

    def recover(self, error: FetchError) -> bool:
        """On an expired token, move to the next configured one (True), if any is left."""
        if error.failure is Failure.TOKEN_EXPIRED and self._tokens:
            self._token = self._tokens.pop(0)
            return True
        return False

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        value = item.get("id")
        return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
