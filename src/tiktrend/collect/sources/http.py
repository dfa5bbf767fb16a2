"""HTTP for the live sources: a browser-like httpx transport, reply classification, and polite retries.

Retries use tenacity: exponential backoff with full jitter, at least what the server's ``Retry-After`` asks,
and never longer than the policy's cap (a server that asks for more stops the run, which resumes later).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from tiktrend.collect.sources.base import RETRYABLE, Failure, FetchError, Reply

T = TypeVar("T")

# A desktop Chrome, as TikTok's web client sends it; TikTok serves odd replies to unknown agents.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
)
_BROWSER_HEADERS = {
    "accept": "application/json, text/plain, */*",
    "accept-language": "en-US,en;q=0.9",
    "sec-ch-ua": '"Chromium";v="128", "Not;A=Brand";v="24", "Google Chrome";v="128"',
    "sec-ch-ua-mobile": "?0",
    "sec-ch-ua-platform": '"Windows"',
    "sec-fetch-dest": "empty",
    "sec-fetch-mode": "cors",
    "sec-fetch-site": "same-origin",
}


class HttpTransport:
    """The live :class:`~tiktrend.collect.sources.base.Transport`: one httpx client with a browser's headers."""

    def __init__(
        self,
        *,
        user_agent: str = BROWSER_USER_AGENT,
        cookies: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._client = httpx.Client(
            headers={**_BROWSER_HEADERS, "user-agent": user_agent, **(headers or {})},
            cookies=dict(cookies or {}),
            timeout=timeout_s,
            follow_redirects=True,
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        secret_params: frozenset[str] = frozenset(),
    ) -> Reply:
        """One request; the reply's URL leaves out ``secret_params`` (tokens never reach the raw zone)."""
        try:
            response = self._client.request(method, url, params=params, headers=headers, json=json, data=data)
            body = response.read()
        except httpx.HTTPError as exc:
            raise FetchError(Failure.NETWORK, f"{type(exc).__name__}: {exc}") from exc
        shown = {k: v for k, v in (params or {}).items() if k not in secret_params}
        return Reply(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=body,
            url=f"{url}?{urlencode(shown)}" if shown else url,
            fetched_at=datetime.now(tz=UTC),
        )

    def cookie(self, name: str) -> str | None:
        """The current value of a cookie (the server may rotate tokens through Set-Cookie)."""
        for cookie in self._client.cookies.jar:
            if cookie.name == name:
                return cookie.value
        return None

    def close(self) -> None:
        self._client.close()


def parse_cookies(text: str | None) -> dict[str, str]:
    """``name=value; other=value`` (a browser's Cookie header) as a dict."""
    cookies: dict[str, str] = {}
    for part in (text or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            cookies[name] = value
    return cookies


# ---- classification --------------------------------------------------------------------------------

_CAPTCHA_MARKS = (b"captcha", b"verify-page", b"verify_page", b"tiktok-verify", b"secsdk")


def retry_after(reply: Reply) -> float | None:
    """Seconds the server asks us to wait (``Retry-After`` as seconds or as an HTTP date), if it says."""
    value = reply.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - reply.fetched_at).total_seconds())


def check_status(reply: Reply) -> None:
    """FetchError for the HTTP statuses that say the request failed, whatever the body holds."""
    status = reply.status
    if status == 429:
        raise FetchError(Failure.RATE_LIMITED, "HTTP 429 Too Many Requests", retry_after=retry_after(reply))
    if status >= 500:
        raise FetchError(Failure.SERVER_ERROR, f"HTTP {status}", retry_after=retry_after(reply))
    if status == 401:
        raise FetchError(Failure.TOKEN_EXPIRED, "HTTP 401 Unauthorized")
    if status == 403:
        if is_captcha(reply.body):
            raise FetchError(Failure.CAPTCHA, "HTTP 403 with a verification page")
        raise FetchError(Failure.FORBIDDEN, "HTTP 403 Forbidden")
    if status == 400:
        raise FetchError(Failure.BAD_REQUEST, f"HTTP 400: {reply.body[:300].decode('utf-8', 'replace')}")
    if not 200 <= status < 300:
        raise FetchError(Failure.API_ERROR, f"HTTP {status}")


def is_captcha(body: bytes) -> bool:
    """Whether a body is TikTok's verification (captcha) page or its JSON twin."""
    head = body[:20_000].lower()
    return any(mark in head for mark in _CAPTCHA_MARKS) or b'"type":"verify"' in head.replace(b" ", b"")


def decode_json(reply: Reply) -> Any:
    """The JSON of a reply; FetchError naming what came instead (nothing, HTML, a captcha, cut-off JSON)."""
    body = reply.body
    if not body.strip():
        raise FetchError(Failure.EMPTY_BODY, f"HTTP {reply.status} with an empty body")
    start = body.lstrip()[:1]
    if start == b"<" or "html" in reply.content_type:
        if is_captcha(body):
            raise FetchError(Failure.CAPTCHA, "a verification (captcha) page instead of JSON")
        raise FetchError(Failure.HTML, f"an HTML page instead of JSON ({_title(body)})")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise FetchError(Failure.BAD_JSON, "a reply that is not UTF-8") from None
        except json.JSONDecodeError as exc:
            failure = Failure.TRUNCATED_JSON if exc.pos >= len(body.rstrip()) - 1 else Failure.BAD_JSON
            if "Unterminated" in exc.msg:
                failure = Failure.TRUNCATED_JSON
            raise FetchError(failure, f"{exc.msg} at byte {exc.pos:,} of {len(body):,}") from None
    if isinstance(value, dict) and (value.get("type") == "verify" or str(value.get("code")) == "10000"):
        raise FetchError(Failure.CAPTCHA, "a verification request (type verify) instead of data")
    return value


def _title(body: bytes) -> str:
    text = body[:5_000].decode("utf-8", "replace")
    start = text.lower().find("<title>")
    end = text.lower().find("</title>")
    return text[start + 7 : end].strip()[:80] if 0 <= start < end else "no title"


# ---- retries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request, the backoff's base and cap, and the pause between requests."""

    attempts: int = 5
    base_s: float = 2.0
    cap_s: float = 120.0
    pause_s: float = 1.0  # between successful requests: politeness, not error handling


def with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    on_failure: Callable[[FetchError], None],
    recover: Callable[[FetchError], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()`` until it succeeds, retrying what can be retried; every failed attempt goes to ``on_failure``."""
    recovered: list[bool] = []

    def should_retry(exc: BaseException) -> bool:
        if not isinstance(exc, FetchError):
            return False
        on_failure(exc)
        if exc.retry_after is not None and exc.retry_after > policy.cap_s:
            return False  # asked to wait longer than we will: stop now, the next run resumes
        fixed = exc.failure not in RETRYABLE and recover(exc)
        recovered.append(fixed)
        return fixed or exc.failure in RETRYABLE

    backoff = wait_random_exponential(multiplier=policy.base_s, max=policy.cap_s)

    def wait(state: RetryCallState) -> float:
        if recovered and recovered[-1]:
            return 0.0  # a new token: no reason to wait
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        asked = error.retry_after if isinstance(error, FetchError) and error.retry_after is not None else 0.0
        return min(policy.cap_s, max(asked, backoff(state)))

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception(should_retry),
        sleep=sleep,
        reraise=True,
    )
    return retrying(call)


def query(params: Mapping[str, object]) -> dict[str, str]:
    """Request parameters as strings (booleans as TikTok writes them)."""
    return {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in params.items()}
