"""The live sources as the settings describe them: the edge where credentials and URLs are read.

with open_video_source(settings, "web") as source:
    summary = collect_videos(source, ["US"], 300, store, settings, policy=retry_policy(settings))
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

from tiktrend.collect.sources.base import VideoSource
from tiktrend.collect.sources.creative_center import CreativeCenter
from tiktrend.collect.sources.http import BROWSER_USER_AGENT, HttpTransport, RetryPolicy, parse_cookies
from tiktrend.collect.sources.research import QuotaLedger, ResearchConfig, ResearchVideos
from tiktrend.collect.sources.session import BrowserTrending, find_chromium
from tiktrend.collect.sources.web import WebConfig, WebTrending
from tiktrend.settings import Settings

SOURCES = ("web", "research", "creative-center")


class SettingsError(ValueError):
    """A setting a source needs is missing or malformed; the message names the variable."""


def retry_policy(settings: Settings) -> RetryPolicy:
    """The retry and politeness settings as a policy."""
    return RetryPolicy(
        attempts=settings.collect_attempts,
        base_s=settings.collect_backoff_s,
        cap_s=settings.collect_backoff_cap_s,
        pause_s=settings.collect_pause_s,
    )


def _secret_list(value: object) -> tuple[str, ...]:
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else ""
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


def web_config(settings: Settings) -> WebConfig:
    return WebConfig(base_url=settings.tiktok_web_url, ms_tokens=_secret_list(settings.tiktok_ms_token))


def _transport(settings: Settings, cookies: str | None = None, headers: dict[str, str] | None = None) -> HttpTransport:
    return HttpTransport(
        user_agent=settings.tiktok_user_agent or BROWSER_USER_AGENT, cookies=parse_cookies(cookies), headers=headers
    )


@contextmanager
def open_video_source(
    settings: Settings,
    name: str,
    *,
    session: bool = False,
    since: date | None = None,
    until: date | None = None,
    hashtags: Sequence[str] = (),
    keywords: Sequence[str] = (),
) -> Iterator[VideoSource]:
    """The web or research source, ready to use; closed at the end of the block."""
    if name == "web" and session:
        chromium = find_chromium(settings.chromium_path)
        if chromium is None:
            raise SettingsError("no chromium found for the browser session: set TIKTREND_CHROMIUM_PATH")
        browser = BrowserTrending(
            web_config(settings),
            chromium,
            start_url=settings.tiktok_session_url,
            browser_args=settings.chromium_args,
            timeout_s=settings.tiktok_session_timeout_s,
        )
        try:
            yield browser
        finally:
            browser.close()
        return
    if name == "web":
        cookies = settings.tiktok_cookies.get_secret_value() if settings.tiktok_cookies else None
        transport = _transport(settings, cookies)
        try:
            yield WebTrending(transport, web_config(settings))
        finally:
            transport.close()
        return
    if name == "research":
        transport = _transport(settings)
        try:
            yield ResearchVideos(
                transport, research_config(settings, since, until, hashtags, keywords), ledger(settings)
            )
        finally:
            transport.close()
        return
    raise SettingsError(f"unknown video source {name!r}: expected web or research")


def research_config(
    settings: Settings, since: date | None, until: date | None, hashtags: Sequence[str], keywords: Sequence[str]
) -> ResearchConfig:
    """What the Research API source needs; SettingsError naming the variables that are missing."""
    if settings.research_client_key is None or settings.research_client_secret is None:
        raise SettingsError(
            "the Research API needs TIKTREND_RESEARCH_CLIENT_KEY and TIKTREND_RESEARCH_CLIENT_SECRET "
            "(an approved research client: https://developers.tiktok.com/products/research-api/)"
        )
    # The API serves data up to a few days back; yesterday is the default end.
    until = until or (datetime.now(tz=UTC).date() - timedelta(days=1))
    since = since or (until - timedelta(days=6))
    return ResearchConfig(
        client_key=settings.research_client_key.get_secret_value(),
        client_secret=settings.research_client_secret.get_secret_value(),
        start=since,
        end=until,
        base_url=settings.research_api_url,
        hashtags=tuple(hashtags),
        keywords=tuple(keywords),
        daily_requests=settings.research_daily_requests,
        daily_records=settings.research_daily_records,
    )


def ledger(settings: Settings) -> QuotaLedger:
    """The Research API's daily quota ledger, shared by every run of the day."""
    return QuotaLedger(
        settings.collect_dir / "research-quota.json", settings.research_daily_requests, settings.research_daily_records
    )


@contextmanager
def open_creative_center(settings: Settings) -> Iterator[CreativeCenter]:
    """The Creative Center source with the browser-session headers from the settings."""
    headers: dict[str, str] = {}
    if settings.creative_center_headers is not None:
        try:
            parsed = json.loads(settings.creative_center_headers.get_secret_value())
        except ValueError as exc:
            raise SettingsError(f"TIKTREND_CREATIVE_CENTER_HEADERS must be a JSON object of headers ({exc})") from exc
        if not isinstance(parsed, dict):
            raise SettingsError("TIKTREND_CREATIVE_CENTER_HEADERS must be a JSON object of headers")
        headers = {str(k): str(v) for k, v in parsed.items()}
    transport = _transport(settings, headers=headers)
    try:
        yield CreativeCenter(transport, settings.creative_center_url)
    finally:
        transport.close()
