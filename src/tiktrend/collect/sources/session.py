"""The web feed through a real browser: TikTokApi's Playwright session on the system chromium.

For when plain HTTP is blocked (TikTok answers unsigned requests with empty bodies or captchas): the browser
computes TikTok's request signatures itself. It needs the ``browser`` extra (``pip install -e '.[browser]'``)
and a chromium (``executable_path``: the settings' ``chromium_path``, else ``chromium`` on the PATH); the
Playwright-downloaded browsers are not needed. Pages are handed to the collector as web replies
(``{"itemList": [...]}``), so the raw zone, deduplication and the checkpoint work as for plain HTTP.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tiktrend.collect.sources.base import Failure, FetchError, Page, Reply
from tiktrend.collect.sources.web import MAX_PAGE_SIZE, WebConfig, WebTrending


def find_chromium(configured: Path | None = None) -> Path | None:
    """The chromium to drive: the configured one, else the first of the usual names on the PATH."""
    if configured is not None:
        return configured if configured.exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def session_available(chromium: Path | None) -> str | None:
    """Why the browser session cannot run here (None when it can)."""
    missing = [m for m in ("TikTokApi", "playwright") if importlib.util.find_spec(m) is None]
    if missing:
        return f"the browser session needs {' and '.join(missing)}: pip install -e '.[browser]'"
    if chromium is None:
        return "the browser session needs a chromium: install one or set TIKTREND_CHROMIUM_PATH"
    return None


class BrowserTrending:
    """The trending feed read by TikTokApi in a headless chromium (one session, reused for every page)."""

    name = "web"
    fmt = "web"
    query: Mapping[str, Any] = {}

    def __init__(self, config: WebConfig, chromium: Path, *, sleep_after_s: float = 3.0) -> None:
        problem = session_available(chromium)
        if problem is not None:
            raise RuntimeError(problem)
        self.config = config
        self.chromium = chromium
        self.sleep_after_s = sleep_after_s
        self._parser = WebTrending(_NoTransport(), config)  # the same reading of replies as plain HTTP
        self._loop = asyncio.new_event_loop()
        self._api: Any = None

    def _session(self) -> Any:
        if self._api is None:
            api = importlib.import_module("TikTokApi").TikTokApi()
            self._loop.run_until_complete(
                api.create_sessions(
                    ms_tokens=list(self.config.ms_tokens) or None,
                    num_sessions=1,
                    sleep_after=self.sleep_after_s,
                    browser="chromium",
                    executable_path=str(self.chromium),
                    headless=True,
                )
            )
            self._api = api
        return self._api

    def request(self, region: str, cursor: Mapping[str, Any]) -> Reply:
        """One page of the feed, as the browser received it (the items TikTokApi returns, as an itemList)."""

        async def page() -> list[dict[str, Any]]:
            api = self._session()
            return [video.as_dict async for video in api.trending.videos(count=MAX_PAGE_SIZE)]

        try:
            items = self._loop.run_until_complete(page())
        except Exception as exc:  # TikTokApi raises its own exception types, named below
            raise _failure(exc) from exc
        body = json.dumps({"statusCode": 0, "itemList": items, "hasMore": True, "via": "TikTokApi"}).encode()
        return Reply(200, {"content-type": "application/json"}, body, "tiktokapi:trending", datetime.now(tz=UTC))

    def parse(self, reply: Reply, region: str, cursor: Mapping[str, Any]) -> Page:
        return self._parser.parse(reply, region, cursor)

    def recover(self, error: FetchError) -> bool:
        if error.failure in (Failure.CAPTCHA, Failure.EMPTY_BODY) and self._api is not None:
            self.close()  # a fresh browser session is the browser's way to get past both
            return True
        return False

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        return self._parser.item_id(item)

    def close(self) -> None:
        if self._api is not None:
            self._loop.run_until_complete(self._api.close_sessions())
            self._api = None


def _failure(exc: Exception) -> FetchError:
    kind = type(exc).__name__.lower()
    if "captcha" in kind:
        return FetchError(Failure.CAPTCHA, f"TikTokApi: {exc}")
    if "empty" in kind:
        return FetchError(Failure.EMPTY_BODY, f"TikTokApi: {exc}")
    if "timeout" in kind or "network" in kind or "connection" in kind:
        return FetchError(Failure.NETWORK, f"TikTokApi: {exc}")
    return FetchError(Failure.API_ERROR, f"TikTokApi {type(exc).__name__}: {exc}")


class _NoTransport:
    """The browser session sends nothing itself through HTTP; only WebTrending's parsing is borrowed."""

    def send(self, *args: Any, **kwargs: Any) -> Reply:
        raise FetchError(Failure.API_ERROR, "the browser session does not send plain HTTP requests")

    def cookie(self, name: str) -> str | None:
        return None

    def close(self) -> None:
        return None
