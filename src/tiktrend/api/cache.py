"""A response cache for a read-only API over data that changes only when a pipeline run commits.

Answers are kept per request (path, query, Accept header) together with the store's data version (runs
started and finished, trends stored: ``query.data_version``). The version is re-read at most every
``check_s`` seconds, so an answer is at most that much older than the latest run; any change of version
drops every kept answer. Bounded in entries and in the size of one answer.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from tiktrend import query
from tiktrend.store import StoreError

# Paths whose answers are never kept: they report the store's state itself.
UNCACHED = ("/health", "/metrics", "/docs", "/openapi.json", "/redoc")
MAX_BODY = 2 * 1024 * 1024


@dataclass
class _Answer:
    body: bytes
    status: int
    headers: dict[str, str]
    media_type: str | None


class ResponseCache(BaseHTTPMiddleware):
    """Keeps successful GET answers until the store's data version changes."""

    def __init__(self, app: ASGIApp, *, check_s: float, max_entries: int = 2048) -> None:
        super().__init__(app)
        self.check_s = check_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, _Answer] = OrderedDict()
        self._version: str | None = None  # None: unknown, nothing is served from the cache
        self._checked = 0.0

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method != "GET" or request.url.path.startswith(UNCACHED):
            return await call_next(request)
        key = f"{request.url.path}?{request.url.query}|{request.headers.get('accept', '')}"
        key += f"|{request.headers.get('x-api-key', '')}"  # a wrong key must not read a right key's answer
        await run_in_threadpool(self._refresh, request)
        with self._lock:
            found = self._answers.get(key) if self._version is not None else None
            if found is not None:
                self._answers.move_to_end(key)
        if found is not None:
            return Response(found.body, found.status, found.headers, found.media_type)
        response = await call_next(request)
        if response.status_code != 200:
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        answer = _Answer(body, response.status_code, headers, response.media_type)
        if len(body) <= MAX_BODY and self._version is not None:
            with self._lock:
                self._answers[key] = answer
                while len(self._answers) > self.max_entries:
                    self._answers.popitem(last=False)
        return Response(answer.body, answer.status, answer.headers, answer.media_type)

    def _refresh(self, request: Request) -> None:
        """Re-read the data version when it is older than ``check_s``; forget every answer when it changed."""
        with self._lock:
            if time.monotonic() - self._checked < self.check_s:
                return
            self._checked = time.monotonic()
        try:
            version = query.data_version(request.app.state.reader)
        except StoreError:  # the request itself will say why the store cannot be read
            version = None
        with self._lock:
            if version is None:
                self._checked = 0.0
            if version != self._version:
                self._answers.clear()
                self._version = version
