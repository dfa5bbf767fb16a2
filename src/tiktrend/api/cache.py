"""A response cache for a read-only API over data that changes only when a pipeline run commits.

Answers are kept per request (path, query, Accept header, API key) together with the store's data version
(runs started and finished, trends stored: ``query.data_version``). The version is re-read at most every
``check_s`` seconds, so an answer is at most that much older than the latest run; any change of version
drops every kept answer. Bounded in entries and in the size of one answer.

A plain ASGI middleware: a kept answer is sent as the two messages it was recorded as, without the
request/response objects and the task Starlette's ``BaseHTTPMiddleware`` adds to every call, and the event
loop reads the clock itself, going to a thread only when the version is due for a check (with 50 clients
on 2 cores the thread hop on every request, not the store, had set the pace: 327 requests/s).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tiktrend import query
from tiktrend.api.responses import accepted_format
from tiktrend.store import StoreError

# Paths whose answers are never kept: they report the store's state itself.
UNCACHED = ("/health", "/metrics", "/docs", "/openapi.json", "/redoc")
MAX_BODY = 2 * 1024 * 1024
_KEY_HEADERS = (b"x-api-key",)  # a wrong key must not read a right key's answer


@dataclass
class _Answer:
    """A recorded answer: its start message's status and headers, and its body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass
class _Recorder:
    """Passes an answer's messages on while keeping a copy, until the body passes MAX_BODY."""

    send: Send
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body" and self.size <= MAX_BODY:
            chunk = bytes(message.get("body", b""))
            self.chunks.append(chunk)
            self.size += len(chunk)
        await self.send(message)

    def answer(self) -> _Answer | None:
        """The answer to keep: a successful one of bounded size."""
        if self.status != 200 or self.size > MAX_BODY:
            return None
        return _Answer(self.status, self.headers, b"".join(self.chunks))


class ResponseCache:
    """Keeps successful GET answers until the store's data version changes."""

    def __init__(self, app: ASGIApp, *, check_s: float, max_entries: int = 2048) -> None:
        self.app = app
        self.check_s = check_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._answers: OrderedDict[bytes, _Answer] = OrderedDict()
        self._version: str | None = None  # None: unknown, nothing is served from the cache
        self._checked = 0.0
        self._checking = False
        self._computing: dict[bytes, asyncio.Event] = {}  # answers being computed, by request key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or str(scope["path"]).startswith(UNCACHED):
            await self.app(scope, receive, send)
            return
        if time.monotonic() - self._checked >= self.check_s and not self._checking:
            await run_in_threadpool(self._refresh, scope)
        key = _key(scope)
        if await self._send_kept(key, send):
            return
        # One request computes a missing answer; the same request arriving meanwhile waits for it instead of
        # running the same query again (50 clients asking for a popular keyword at once).
        computing = self._computing.get(key)
        if computing is not None:
            await computing.wait()
            if not await self._send_kept(key, send):  # not kept (an error, too large): answered here
                await self._compute(key, scope, receive, send)
            return
        done = self._computing[key] = asyncio.Event()
        try:
            await self._compute(key, scope, receive, send)
        finally:
            del self._computing[key]
            done.set()

    async def _send_kept(self, key: bytes, send: Send) -> bool:
        """Send the kept answer to a request, if there is one for the current data version."""
        with self._lock:
            found = self._answers.get(key) if self._version is not None else None
            if found is not None:
                self._answers.move_to_end(key)
        if found is None:
            return False
        await send({"type": "http.response.start", "status": found.status, "headers": found.headers})
        await send({"type": "http.response.body", "body": found.body})
        return True

    async def _compute(self, key: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request from the app, keeping a successful answer for the data version it was read at."""
        version = self._version
        recorder = _Recorder(send)
        await self.app(scope, receive, recorder)
        answer = recorder.answer()
        if answer is not None and version is not None:
            with self._lock:
                if self._version == version:  # not an answer read before a run changed the data
                    self._answers[key] = answer
                    while len(self._answers) > self.max_entries:
                        self._answers.popitem(last=False)

    def _refresh(self, scope: Scope) -> None:
        """Re-read the data version when it is older than ``check_s``; forget every answer when it changed."""
        with self._lock:
            if self._checking or time.monotonic() - self._checked < self.check_s:
                return
            self._checking = True
        version: str | None = None  # unknown: nothing served from the cache, checked again next request
        try:
            version = query.data_version(scope["app"].state.reader)
        except StoreError:  # the request itself will say why the store cannot be read
            pass
        finally:
            with self._lock:
                self._checking = False
                self._checked = 0.0 if version is None else time.monotonic()
                if version != self._version:
                    self._answers.clear()
                    self._version = version


def _key(scope: Scope) -> bytes:
    """What makes two requests the same: path, query string, and the headers that change the answer."""
    headers = dict(scope["headers"])
    parts = [str(scope["path"]).encode(), scope.get("query_string", b"")]
    # The format the Accept header chooses, not the header itself: "*/*", "application/json" and none share.
    parts.append(accepted_format(headers.get(b"accept", b"").decode("latin-1")).value.encode())
    parts += [headers.get(name, b"") for name in _KEY_HEADERS]
    return b"|".join(parts)
