"""The web feed through a real browser: TikTokApi's Playwright session on the system chromium.

For when plain HTTP is blocked (TikTok answers unsigned requests with empty bodies or captchas): the browser
computes TikTok's request signatures itself. It needs the ``browser`` extra (``pip install -e '.[browser]'``)
and a chromium (``executable_path``: the settings' ``chromium_path``, else ``chromium`` on the PATH); the
Playwright-downloaded browsers are not needed.

TikTokApi opens the session (chromium, the start page, the ``msToken`` cookie, the browser's request
parameters) and signs each URL in the page (``window.byted_acrawler.frontierSign``: the ``X-Bogus``
parameter). The request itself is sent from the page with ``fetch`` by this module, not by TikTokApi's
``trending.videos``: that one drops the HTTP status and headers (a 429 and its ``Retry-After`` are lost),
fails with a ``TypeError`` on any reply that is not JSON (a captcha page), never sends the region, and asks
again forever while TikTok answers empty pages with ``hasMore``. Here the reply's status, headers and bytes
go through the same reading, raw zone and checkpoint as plain HTTP, so every failure has its name.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

from tiktrend.collect.sources.base import Failure, FetchError, Page, Reply
from tiktrend.collect.sources.http import is_captcha
from tiktrend.collect.sources.web import ITEM_LIST_PATH, MAX_PAGE_SIZE, WebConfig, WebTrending

# The request sent from the page: same origin, so the session's cookies go with it, and TikTok's Set-Cookie
# replies (the next msToken) land in the browser, where the next request reads them.
_FETCH: Final = """async ([url, headers]) => {
    const response = await fetch(url, {method: "GET", headers: headers, credentials: "include"});
    const body = await response.text();
    return {status: response.status, headers: Object.fromEntries(response.headers.entries()), body: body};
}"""
_SIGNER: Final = "window.byted_acrawler !== undefined && typeof window.byted_acrawler.frontierSign === 'function'"
_LOGGER: Final = "tiktrend.tiktokapi"


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
    """The trending feed read in a headless chromium that TikTokApi opened (one session, reused for every page)."""

    name = "web"
    fmt = "web"
    query: Mapping[str, Any] = {}

    def __init__(
        self,
        config: WebConfig,
        chromium: Path,
        *,
        start_url: str | None = None,
        browser_args: Sequence[str] = (),
        sleep_after_s: float = 3.0,
        timeout_s: float = 30.0,
    ) -> None:
        problem = session_available(chromium)
        if problem is not None:
            raise RuntimeError(problem)
        self.config = config
        self.chromium = chromium
        self.start_url = start_url or config.base_url
        self.browser_args = list(browser_args)
        self.sleep_after_s = sleep_after_s
        self.timeout_s = timeout_s
        self.sessions_opened = 0
        self._parser = WebTrending(_NoTransport(), config)  # the same reading of replies as plain HTTP
        self._tokens = list(config.ms_tokens)
        self._token: str | None = self._tokens.pop(0) if self._tokens else None
        self._loop = asyncio.new_event_loop()
        self._api: Any = None
        self._fresh = False  # the session was opened to get past a failure and has not brought a page yet
        self._stale = False  # the last reply was empty: the next request opens a new session

    def request(self, region: str, cursor: Mapping[str, Any]) -> Reply:
        """One page of the region's feed, signed and fetched in the browser, as the browser received it."""
        if self._stale:
            self._drop()
            self._stale = False
        try:
            return self._loop.run_until_complete(self._fetch(region))
        except FetchError:
            raise
        except Exception as exc:  # Playwright's and TikTokApi's own exception types, named by _failure
            error = _failure(exc)
            if error.failure is not Failure.NETWORK or "failed to fetch" not in str(exc).lower():
                self._drop()  # the page or the browser itself is in trouble: start over on the next attempt
            raise error from exc

    async def _fetch(self, region: str) -> Reply:
        api = await self._session()
        session = api.sessions[0]
        cookies = await api.get_session_cookies(session)
        params = {
            **(session.params or {}),
            "from_page": "fyp",
            "count": str(min(self.config.page_size, MAX_PAGE_SIZE)),
            "region": region.upper(),
            "priority_region": region.upper(),
        }
        token = cookies.get("msToken") or session.ms_token  # the newest one TikTok set, as in plain HTTP
        url = self.config.base_url.rstrip("/") + ITEM_LIST_PATH
        signed = await api.sign_url(_url(url, {**params, "msToken": token} if token else params), session_index=0)
        result = await session.page.evaluate(_FETCH, [signed, dict(session.headers or {})])
        return Reply(
            status=int(result["status"]),
            headers={str(k).lower(): str(v) for k, v in dict(result["headers"]).items()},
            body=str(result["body"]).encode("utf-8"),
            url=_url(url, params),  # neither the token nor the signature reaches the raw zone
            fetched_at=datetime.now(tz=UTC),
        )

    async def _session(self) -> Any:
        if self._api is not None:
            return self._api
        api = importlib.import_module("TikTokApi").TikTokApi(logger_name=_LOGGER)
        for handler in list(api.logger.handlers):  # TikTokApi adds a stderr handler per instance: ours decides
            if type(handler) is logging.StreamHandler:
                api.logger.removeHandler(handler)
        self.sessions_opened += 1
        try:
            await api.create_sessions(
                ms_tokens=[self._token] if self._token else None,
                num_sessions=1,
                sleep_after=self.sleep_after_s,
                starting_url=self.start_url,
                # TikTokApi's own default is this flag alone; extra flags (a proxy, host rules) go beside it.
                override_browser_args=["--headless=new", *self.browser_args],
                headless=False,
                browser="chromium",
                executable_path=str(self.chromium),
                timeout=int(self.timeout_s * 1000),
            )
            await self._check_start_page(api)
        except BaseException:
            await api.close_sessions()
            raise
        self._api = api
        return api

    async def _check_start_page(self, api: Any) -> None:
        """FetchError when the start page cannot sign requests: a verification page, or another page."""
        if not api.sessions:
            raise FetchError(Failure.NETWORK, f"TikTokApi opened no session on {self.start_url}")
        page = api.sessions[0].page
        try:
            await page.wait_for_function(_SIGNER, timeout=self.timeout_s * 1000)
        except Exception:
            content = (await page.content()).encode("utf-8", "replace")
            if is_captcha(content):
                raise FetchError(Failure.CAPTCHA, f"the start page {page.url} is a verification page") from None
            raise FetchError(
                Failure.HTML, f"the start page {page.url} has no request signer (window.byted_acrawler)"
            ) from None

    def parse(self, reply: Reply, region: str, cursor: Mapping[str, Any]) -> Page:
        try:
            page = self._parser.parse(reply, region, cursor)
        except FetchError as exc:
            self._stale = exc.failure is Failure.EMPTY_BODY  # TikTok will not serve this session: open another
            raise
        self._fresh = False
        return page

    def recover(self, error: FetchError) -> bool:
        """A captcha or an expired token: a fresh session (with the next configured token), once per failure."""
        if error.failure not in (Failure.CAPTCHA, Failure.TOKEN_EXPIRED):
            return False
        next_token = error.failure is Failure.TOKEN_EXPIRED and bool(self._tokens)
        if self._fresh and not next_token:
            return False  # a fresh session met the same wall: a person (or time) has to help
        if error.failure is Failure.TOKEN_EXPIRED:
            # With no configured token left, the new session takes the one TikTok's start page sets.
            self._token = self._tokens.pop(0) if self._tokens else None
        self._drop()
        self._fresh = True
        return True

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        return self._parser.item_id(item)

    def close(self) -> None:
        """Close the browser and the event loop it ran in."""
        self._drop()
        self._loop.close()

    def _drop(self) -> None:
        if self._api is not None:
            api, self._api = self._api, None
            self._loop.run_until_complete(api.close_sessions())


def _url(base: str, params: Mapping[str, str]) -> str:
    # Encoded as TikTokApi encodes what it signs: the signature covers these exact bytes.
    return f"{base}?{urlencode(params, safe='=', quote_via=quote)}"


def _failure(exc: BaseException) -> FetchError:
    kind = type(exc).__name__.lower()
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "captcha" in kind:
        return FetchError(Failure.CAPTCHA, f"TikTokApi: {text}")
    if "empty" in kind:
        return FetchError(Failure.EMPTY_BODY, f"TikTokApi: {text}")
    lowered = text.lower()
    if "timeout" in kind or "timeout" in lowered or "failed to fetch" in lowered or "net::" in lowered:
        return FetchError(Failure.NETWORK, f"browser: {text}")
    if "executable" in lowered or "launch" in lowered:
        return FetchError(Failure.API_ERROR, f"chromium did not start ({text}): check TIKTREND_CHROMIUM_PATH")
    return FetchError(Failure.API_ERROR, f"browser session {type(exc).__name__}: {text}")


class _NoTransport:
    """The browser session sends nothing itself through HTTP; only WebTrending's parsing is borrowed."""

    def send(self, *args: Any, **kwargs: Any) -> Reply:
        raise FetchError(Failure.API_ERROR, "the browser session does not send plain HTTP requests")

    def cookie(self, name: str) -> str | None:
        return None

    def close(self) -> None:
        return None


logging.getLogger(_LOGGER).addHandler(logging.NullHandler())
