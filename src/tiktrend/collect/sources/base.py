"""What every live source shares: replies, pages, the named failure modes, and the transport interface."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Failure(StrEnum):
    """The ways a request to TikTok fails, by name (the summary counts failed requests by these)."""

    RATE_LIMITED = "rate_limited"  # HTTP 429 (with Retry-After when the server says how long)
    SERVER_ERROR = "server_error"  # HTTP 5xx
    NETWORK = "network"  # refused, reset, timed out: no reply at all
    EMPTY_PAGE = "empty_page"  # a well-formed reply without any item
    EMPTY_BODY = "empty_body"  # HTTP 200 and no bytes: what TikTok answers to requests it will not serve
    CAPTCHA = "captcha"  # a verification page, or {"type": "verify"}: needs a person or a browser session
    TOKEN_EXPIRED = "token_expired"  # HTTP 401, web statusCode 10102, research access_token_invalid
    HTML = "html_instead_of_json"  # a web page where JSON was expected (a login wall, an error page)
    TRUNCATED_JSON = "truncated_json"  # the reply ends inside the JSON
    BAD_JSON = "bad_json"  # the reply is not JSON
    API_ERROR = "api_error"  # a JSON error reply with no better name
    QUOTA = "quota_exhausted"  # the Research API's daily quota is used up
    FORBIDDEN = "forbidden"  # HTTP 403 or "no permission": credentials the source does not accept
    BAD_REQUEST = "bad_request"  # HTTP 400: the query itself is wrong


# Failures worth another try of the same request after a wait; the rest need a change first.
RETRYABLE = frozenset(
    {
        Failure.RATE_LIMITED,
        Failure.SERVER_ERROR,
        Failure.NETWORK,
        Failure.EMPTY_BODY,
        Failure.TRUNCATED_JSON,
        Failure.BAD_JSON,
        Failure.HTML,
    }
)
# Failures after which no region can go on: the run stops, keeps what it has, and says what to do.
FATAL = frozenset({Failure.CAPTCHA, Failure.TOKEN_EXPIRED, Failure.QUOTA, Failure.FORBIDDEN, Failure.BAD_REQUEST})


@dataclass(frozen=True)
class Reply:
    """One HTTP reply as received, with the request it answers (secrets already removed from ``url``)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    fetched_at: datetime

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").lower()


class FetchError(Exception):
    """A request that did not give records, with its failure mode and what the server said."""

    def __init__(self, failure: Failure, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{failure}: {detail}")
        self.failure = failure
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class Page:
    """The records of one reply and where the next page starts."""

    items: list[dict[str, Any]]
    cursor: dict[str, Any] = field(default_factory=dict)  # what the next request needs (research: cursor, search_id)
    has_more: bool = True


class Transport(Protocol):
    """Sends one HTTP request and returns the reply; FetchError(NETWORK) when no reply came."""

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
    ) -> Reply: ...

    def cookie(self, name: str) -> str | None:
        """The value of a cookie the server set, if any."""
        ...

    def close(self) -> None: ...


class VideoSource(Protocol):
    """A live source of videos: one request at a time, parsed into a page of items."""

    name: str  # the raw zone's source= partition and Video.source
    fmt: str  # the file format its replies are read as (formats.FORMATS)
    query: Mapping[str, Any]  # what is asked for beyond regions (dates, terms): part of a run's identity

    def request(self, region: str, cursor: Mapping[str, Any]) -> Reply: ...

    def parse(self, reply: Reply, region: str, cursor: Mapping[str, Any]) -> Page: ...

    def recover(self, error: FetchError) -> bool:
        """Fix what the error says when the source can (a new token); True when the request may go again."""
        ...

    def item_id(self, item: Mapping[str, Any]) -> str | None:
        """The video id of an item, for deduplication (None when it has none: normalization will say why)."""
        ...
