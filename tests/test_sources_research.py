"""The Research API source against a local stand-in on 127.0.0.1: client-credentials OAuth, video/query with
region, date, hashtag and keyword conditions, cursor and search_id paging over 30-day windows, the daily quota
(stops cleanly, resumes the next day), tokens expiring mid-run, rate limits, server errors, lost search ids."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from tiktrend.collect.collector import CollectSummary, collect_videos
from tiktrend.collect.rawzone import RawZone
from tiktrend.collect.sources.base import Failure
from tiktrend.collect.sources.http import HttpTransport, RetryPolicy
from tiktrend.collect.sources.replay import Canned, Recorded, ReplayServer
from tiktrend.collect.sources.research import (
    QUERY_PATH,
    TOKEN_PATH,
    QuotaLedger,
    ResearchConfig,
    ResearchVideos,
    windows,
)
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=30, pause_s=0)
START, END = date(2025, 7, 1), date(2025, 8, 9)  # 40 days: two windows


def ok(data: dict[str, Any]) -> bytes:
    return json.dumps({"data": data, "error": {"code": "ok", "message": "", "log_id": "20250905091207D1E2"}}).encode()


def error(status: int, code: str, message: str) -> Canned:
    body = {"data": {}, "error": {"code": code, "message": message, "log_id": "20250905091207D1E2"}}
    return Canned(status, json.dumps(body).encode())


class Api:
    """The Research API as these tests see it: videos per region and creation day, 100 a page at most."""

    def __init__(self, per_window: int = 130) -> None:
        self.videos: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for region in ("US", "DE"):
            for w, (first, _last) in enumerate(windows(START, END)):
                created = int(datetime(first.year, first.month, first.day, 12, tzinfo=UTC).timestamp())
                self.videos[(region, w)] = [
                    {
                        "id": (created << 32) | (w * 1000 + i + (0 if region == "US" else 500)),
                        "video_description": f"{region} research video {i} #matcha",
                        "create_time": created,
                        "region_code": region,
                        "hashtag_names": ["matcha"],
                        "view_count": 1000 + i,
                        "like_count": i,
                        "username": f"creator{i}",
                        "voice_to_text": "heute gibt es matcha" if i % 2 else None,
                    }
                    for i in range(per_window)
                ]
        self.tokens_issued = 0
        self.valid_token = ""
        self.searches: dict[str, tuple[str, int]] = {}
        self.faults: dict[int, Canned | Callable[[Recorded], Canned]] = {}
        self.queries = 0
        self.bodies: list[dict[str, Any]] = []
        self.delivered: set[str] = set()

    def __call__(self, request: Recorded) -> Canned:
        if request.path == TOKEN_PATH:
            form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
            if (form.get("client_key"), form.get("client_secret"), form.get("grant_type")) != (
                "key",
                "secret",
                "client_credentials",
            ):
                return Canned(401, b'{"error": "invalid_client", "error_description": "Client key or secret is wrong"}')
            self.tokens_issued += 1
            self.valid_token = f"clt.token{self.tokens_issued}"
            body = {"access_token": self.valid_token, "expires_in": 7200, "token_type": "Bearer"}
            return Canned(200, json.dumps(body).encode())
        assert request.path == QUERY_PATH
        number = self.queries
        self.queries += 1
        fault = self.faults.get(number)
        if fault is not None:
            return fault(request) if callable(fault) else fault
        if request.headers.get("authorization") != f"Bearer {self.valid_token}":
            return error(401, "access_token_invalid", "The access token is invalid or not found in the request.")
        body = json.loads(request.body)
        self.bodies.append(body)
        assert request.query["fields"].startswith("id,video_description,create_time")
        region = body["query"]["and"][0]["field_values"][0]
        first = datetime.strptime(body["start_date"], "%Y%m%d").date()
        last = datetime.strptime(body["end_date"], "%Y%m%d").date()
        assert (last - first).days < 30 and body["max_count"] <= 100
        window = next(i for i, w in enumerate(windows(START, END)) if w[0] == first)
        search = body.get("search_id") or f"search-{region}-{window}-{len(self.searches)}"
        if body.get("search_id") and body["search_id"] not in self.searches:
            return error(400, "invalid_params", "Invalid search_id: the search has expired")
        self.searches[search] = (region, window)
        videos = self.videos[(region, window)]
        page = videos[body["cursor"] : body["cursor"] + body["max_count"]]
        self.delivered.update(str(v["id"]) for v in page)
        end = body["cursor"] + len(page)
        return Canned(200, ok({"videos": page, "cursor": end, "has_more": end < len(videos), "search_id": search}))


class Today:
    def __init__(self) -> None:
        self.day = date(2025, 9, 5)

    def __call__(self) -> date:
        return self.day


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def server(api: Api) -> Iterator[ReplayServer]:
    with ReplayServer(api, max_requests=300) as running:
        yield running


def run(
    server: ReplayServer,
    settings: Settings,
    regions: list[str],
    count: int,
    *,
    today: Today | None = None,
    limits: tuple[int, int] = (1000, 100_000),
    **config: Any,
) -> CollectSummary:
    transport = HttpTransport()
    ledger = QuotaLedger(settings.collect_dir / "research-quota.json", *limits, today=today or Today())
    conf = ResearchConfig(
        **{"client_key": "key", "client_secret": "secret", "start": START, "end": END, "base_url": server.url, **config}
    )
    try:
        with DuckDBStore(settings.database_url) as store:
            source = ResearchVideos(transport, conf, ledger)
            return collect_videos(source, regions, count, store, settings, policy=FAST, sleep=lambda _s: None)
    finally:
        transport.close()


def assert_each_delivered_video_once(settings: Settings, api: Api) -> None:
    with DuckDBStore(settings.database_url) as store:
        videos = store.snapshot("videos")
        stats = store.snapshot("video_stats")
    assert set(videos["video_id"]) == api.delivered and len(stats) == len(videos)


def test_windows_of_at_most_30_days() -> None:
    assert windows(date(2025, 1, 1), date(2025, 3, 1)) == [
        (date(2025, 1, 1), date(2025, 1, 30)),
        (date(2025, 1, 31), date(2025, 3, 1)),
    ]
    assert windows(date(2025, 1, 1), date(2025, 1, 1)) == [(date(2025, 1, 1), date(2025, 1, 1))]
    with pytest.raises(ValueError, match="before the start"):
        windows(date(2025, 1, 2), date(2025, 1, 1))


def test_pages_windows_and_regions(server: ReplayServer, api: Api, settings: Settings) -> None:
    summary = run(server, settings, ["US", "DE"], 1000, hashtags=("#matcha",), keywords=("matcha", "latte"))
    assert summary.finished and summary.failures == {}
    assert summary.regions["US"]["videos"] == summary.regions["DE"]["videos"] == 260
    assert summary.totals["pages"] == 2 * 2 * 2 and api.tokens_issued == 1
    first = api.bodies[0]
    assert first["query"]["and"] == [
        {"operation": "EQ", "field_name": "region_code", "field_values": ["US"]},
        {"operation": "IN", "field_name": "hashtag_name", "field_values": ["matcha"]},
    ]
    assert first["query"]["or"][1] == {"operation": "EQ", "field_name": "keyword", "field_values": ["latte"]}
    assert (first["start_date"], first["end_date"], first["cursor"]) == ("20250701", "20250730", 0)
    second = api.bodies[1]
    assert second["cursor"] == 100 and second["search_id"] == "search-US-0-0"
    assert api.bodies[2]["start_date"] == "20250731" and "search_id" not in api.bodies[2]
    assert_each_delivered_video_once(settings, api)
    with DuckDBStore(settings.database_url) as store:
        videos = store.snapshot("videos")
    assert set(videos["source"]) == {"research"} and set(videos["region"]) == {"US", "DE"}
    for reply in RawZone(settings.raw_dir).replies("research"):
        assert "clt.token" not in reply.read_bytes().decode("latin-1")  # no token in the raw zone


def test_count_stops_a_region_early(server: ReplayServer, api: Api, settings: Settings) -> None:
    summary = run(server, settings, ["US"], 150)
    assert summary.regions["US"] == {"videos": 230, "pages": 3, "done": True, "stopped": None}  # 100, 30, 100


def test_daily_quota_stops_cleanly_and_the_next_day_resumes(server: ReplayServer, api: Api, settings: Settings) -> None:
    today = Today()
    first = run(server, settings, ["US", "DE"], 1000, today=today, limits=(3, 100_000))
    assert first.stopped == Failure.QUOTA and "00:00 UTC" in (first.advice or "")
    assert first.totals["requests"] == 3 and api.queries == 3 and not first.finished
    assert first.failures == {"quota_exhausted": 1}
    same_day = run(server, settings, ["US", "DE"], 1000, today=today, limits=(3, 100_000))
    assert same_day.stopped == Failure.QUOTA and api.queries == 3  # nothing sent over the limit
    today.day += timedelta(days=1)
    next_day = run(server, settings, ["US", "DE"], 1000, today=today, limits=(100, 100_000))
    assert next_day.resumed and next_day.finished
    assert api.bodies[3]["cursor"] == 100 and api.bodies[3]["start_date"] == "20250731"  # where it stopped
    assert_each_delivered_video_once(settings, api)
    ledger = json.loads((settings.collect_dir / "research-quota.json").read_text())
    assert ledger == {"day": "2025-09-06", "requests": 5, "records": 30 + 130 + 130}


def test_record_quota_asks_for_what_is_left(server: ReplayServer, api: Api, settings: Settings) -> None:
    summary = run(server, settings, ["US"], 1000, limits=(1000, 150))
    assert [b["max_count"] for b in api.bodies] == [100, 50, 20]  # the second page held only 30
    assert summary.stopped == Failure.QUOTA and summary.regions["US"]["videos"] == 150


def test_token_expiring_mid_run_is_renewed(server: ReplayServer, api: Api, settings: Settings) -> None:
    def expire(request: Recorded) -> Canned:
        api.valid_token = "expired"
        return api(request)

    api.faults[2] = expire
    summary = run(server, settings, ["US"], 1000)
    assert summary.finished and summary.failures == {"token_expired": 1} and api.tokens_issued == 2
    assert_each_delivered_video_once(settings, api)


def test_rate_limits_server_errors_and_cut_replies_are_retried(
    server: ReplayServer, api: Api, settings: Settings
) -> None:
    cut = Canned(200, ok({"videos": api.videos[("US", 0)][:100], "cursor": 100, "has_more": True})[:900])
    api.faults.update(
        {
            1: error(429, "rate_limit_exceeded", "API rate limit was exceeded, please try again later."),
            2: Canned(500, b"upstream connect error"),
            3: error(503, "internal_error", "Something went wrong. Please try again later."),
            5: cut,
        }
    )
    summary = run(server, settings, ["US"], 1000)
    assert summary.finished
    assert summary.failures == {"rate_limited": 1, "server_error": 2, "truncated_json": 1}
    assert_each_delivered_video_once(settings, api)


def test_the_servers_daily_limit_stops_the_run(server: ReplayServer, api: Api, settings: Settings) -> None:
    api.faults[1] = error(429, "rate_limit_exceeded", "Daily quota limit exceeded")
    summary = run(server, settings, ["US"], 1000)
    assert summary.stopped == Failure.QUOTA and summary.regions["US"]["videos"] == 100


def test_a_forgotten_search_id_starts_the_window_again_without_duplicates(
    server: ReplayServer, api: Api, settings: Settings
) -> None:
    def forget(request: Recorded) -> Canned:
        api.searches.clear()
        return api(request)

    api.faults[1] = forget
    summary = run(server, settings, ["US"], 1000)
    assert summary.finished and summary.failures == {"api_error": 1}
    assert summary.totals["repeats"] == 100  # the window's first page came again and was left out
    assert_each_delivered_video_once(settings, api)


def test_refused_credentials_and_bad_queries_stop_with_advice(
    server: ReplayServer, api: Api, settings: Settings
) -> None:
    refused = run(server, settings, ["US"], 10, client_secret="wrong")
    assert refused.stopped == Failure.FORBIDDEN and "credentials" in (refused.advice or "")
    assert api.queries == 0
    api.faults[0] = error(400, "invalid_params", "Invalid field_name: hashtag")
    bad = run(server, settings, ["DE"], 10)
    assert bad.stopped == Failure.BAD_REQUEST and "query" in (bad.advice or "")


def test_speech_reaches_the_extraction(server: ReplayServer, api: Api, settings: Settings, tmp_path: Path) -> None:
    run(server, settings, ["US"], 100)
    with DuckDBStore(settings.database_url) as store:
        mentions = store.snapshot("keyword_mentions")
    assert "transcript" in set(mentions["modality"])
