"""The API's response cache as an ASGI middleware: kept answers, one computation per missing answer, versions."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from tiktrend.api import cache as cache_module
from tiktrend.api.cache import MAX_BODY, ResponseCache


class CountingApp:
    """An ASGI app answering ``body`` (slowly) and counting its calls, as a slow query would."""

    def __init__(self, body: bytes = b"answer", status: int = 200, delay: float = 0.05) -> None:
        self.body, self.status, self.delay, self.calls = body, status, delay, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": self.status, "headers": [(b"x-n", b"%d" % self.calls)]})
        await send({"type": "http.response.body", "body": self.body})


def scope(path: str = "/trends", query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    app = SimpleNamespace(state=SimpleNamespace(reader=None))
    return {"type": "http", "method": "GET", "path": path, "query_string": query, "headers": headers or [], "app": app}


async def call(cache: ResponseCache, request: Any) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    await cache(request, receive, send)
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def version(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The store's data version as the cache reads it (a dict the test changes, as a run would)."""
    current = {"value": "v1"}
    monkeypatch.setattr(cache_module.query, "data_version", lambda reader: current["value"])
    return current


def test_concurrent_identical_requests_compute_the_answer_once(version: dict[str, str]) -> None:
    app = CountingApp()
    cache = ResponseCache(app, check_s=60)

    async def burst() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(call(cache, scope(query=b"region=US")) for _ in range(30)))

    answers = asyncio.run(burst())
    assert answers == [(200, b"answer")] * 30
    assert app.calls == 1
    asyncio.run(call(cache, scope(query=b"region=VN")))  # another request is its own answer
    assert app.calls == 2


def test_headers_that_change_the_answer_are_part_of_the_key(version: dict[str, str]) -> None:
    app = CountingApp(delay=0)
    cache = ResponseCache(app, check_s=60)
    for headers in ([], [(b"accept", b"text/csv")], [(b"x-api-key", b"other")], [(b"accept", b"text/csv")]):
        asyncio.run(call(cache, scope(headers=headers)))
    assert app.calls == 3


def test_accept_headers_that_choose_the_same_format_share_an_answer(version: dict[str, str]) -> None:
    app = CountingApp(delay=0)
    cache = ResponseCache(app, check_s=60)
    for accept in (b"", b"*/*", b"application/json", b"text/html,*/*;q=0.8", b"text/csv", b"text/csv;q=1"):
        asyncio.run(call(cache, scope(headers=[(b"accept", accept)] if accept else [])))
    assert app.calls == 2  # JSON once, CSV once


def test_a_new_data_version_drops_kept_answers(version: dict[str, str]) -> None:
    app = CountingApp(delay=0)
    cache = ResponseCache(app, check_s=0)  # checked on every request
    asyncio.run(call(cache, scope()))
    asyncio.run(call(cache, scope()))
    assert app.calls == 1
    version["value"] = "v2"
    asyncio.run(call(cache, scope()))
    assert app.calls == 2


@pytest.mark.parametrize(("status", "body"), [(404, b"missing"), (200, b"x" * (MAX_BODY + 1))])
def test_errors_and_oversized_answers_are_not_kept(version: dict[str, str], status: int, body: bytes) -> None:
    app = CountingApp(body=body, status=status, delay=0)
    cache = ResponseCache(app, check_s=60)
    for _ in range(2):
        assert asyncio.run(call(cache, scope())) == (status, body)
    assert app.calls == 2


def test_uncached_paths_and_other_methods_go_to_the_app(version: dict[str, str]) -> None:
    app = CountingApp(delay=0)
    cache = ResponseCache(app, check_s=60)
    for request in (scope("/health"), scope("/metrics"), {**scope(), "method": "POST"}):
        asyncio.run(call(cache, request))
        asyncio.run(call(cache, request))
    assert app.calls == 6


def test_an_unreadable_store_keeps_nothing_and_asks_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from tiktrend.store import StoreError

    def unreadable(reader: object) -> str:
        raise StoreError("the store cannot be read")

    monkeypatch.setattr(cache_module.query, "data_version", unreadable)
    app = CountingApp(delay=0)
    cache = ResponseCache(app, check_s=60)
    for _ in range(2):
        assert asyncio.run(call(cache, scope())) == (200, b"answer")
    assert app.calls == 2
