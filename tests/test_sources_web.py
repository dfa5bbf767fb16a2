"""The web trending source against a local stand-in for TikTok on 127.0.0.1: pages, repeats, and every failure
TikTok is known for (429 with Retry-After, 5xx bursts, empty pages, a captcha page, truncated JSON, HTML, a token
expiring mid-run). Whatever happens, nothing fetched is lost and nothing is loaded twice."""

from __future__ import annotations

import copy
import gzip
import json
import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tiktrend.collect.checkpoint import CheckpointFile
from tiktrend.collect.collector import CollectSummary, collect_videos
from tiktrend.collect.rawzone import RawZone
from tiktrend.collect.sources.base import Failure
from tiktrend.collect.sources.http import HttpTransport, RetryPolicy
from tiktrend.collect.sources.replay import Canned, Recorded, ReplayServer
from tiktrend.collect.sources.web import ITEM_LIST_PATH, WebConfig, WebTrending
from tiktrend.pipeline import replay
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

DATA = Path(__file__).parent / "data"
FAST = RetryPolicy(attempts=4, base_s=0.01, cap_s=30, pause_s=0)
CAPTCHA = (DATA / "captcha.html").read_bytes()
VERIFY = (DATA / "verify.json").read_bytes()


def template() -> dict[str, Any]:
    item: dict[str, Any] = json.loads((DATA / "web_item_list.json").read_text(encoding="utf-8"))["itemList"][0]
    return item


class Feed:
    """TikTok's trending feed as these tests see it: per region, pages that overlap the page before."""

    def __init__(self, *, page: int = 10, overlap: int = 3, pool: int = 400) -> None:
        self.page, self.overlap = page, overlap
        base = template()
        self.pools: dict[str, list[dict[str, Any]]] = {}
        for r, region in enumerate(("US", "DE", "FR")):
            items = []
            for i in range(pool):
                item = copy.deepcopy(base)
                created = 1_756_000_000 + r * 100_000 + i * 60
                item["id"] = str((created << 32) | (r * 10_000 + i))
                item["createTime"] = created
                item["desc"] = f"{region} video {i} #trend{i % 7}"
                item["stats"] = {"playCount": 1000 + i, "diggCount": i, "commentCount": 1, "shareCount": 2}
                items.append(item)
            self.pools[region] = items
        self.served: dict[str, int] = {}  # pages served per region
        self.faults: dict[int, Callable[[Recorded], Canned] | Canned] = {}  # by request number (0-based)
        self.requests = 0
        self.tokens = ["token-0"]  # tokens the feed accepts; each reply hands out the next one
        self.rotate = True
        self.delivered: list[str] = []  # ids of every item in every good page sent

    def __call__(self, request: Recorded) -> Canned:
        number = self.requests
        self.requests += 1
        assert request.path == ITEM_LIST_PATH and request.query["count"] == "30"
        fault = self.faults.get(number)
        if fault is not None:
            return fault(request) if callable(fault) else fault
        if request.query.get("msToken") not in self.tokens:
            return Canned(200, json.dumps({"statusCode": 10102, "statusMsg": "not login"}).encode())
        region = request.query["region"]
        served = self.served.get(region, 0)
        self.served[region] = served + 1
        start = served * (self.page - self.overlap)
        items = self.pools[region][start : start + self.page]
        self.delivered.extend(i["id"] for i in items)
        body = {"extra": {"now": int(datetime.now(tz=UTC).timestamp() * 1000)}, "itemList": items, "hasMore": True}
        headers = {}
        if self.rotate:
            self.tokens.append(f"token-{len(self.tokens)}")
            headers["set-cookie"] = f"msToken={self.tokens[-1]}; Path=/"
        return Canned(200, json.dumps({**body, "statusCode": 0}).encode(), headers)


@pytest.fixture
def feed() -> Feed:
    return Feed()


@pytest.fixture
def server(feed: Feed) -> Iterator[ReplayServer]:
    with ReplayServer(feed, max_requests=500) as running:
        yield running


class Clock:
    """Records the waits the collector asks for instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def run(
    server: ReplayServer,
    settings: Settings,
    regions: list[str],
    count: int,
    *,
    tokens: tuple[str, ...] = ("token-0",),
    clock: Clock | None = None,
    policy: RetryPolicy = FAST,
) -> CollectSummary:
    transport = HttpTransport()
    source = WebTrending(transport, WebConfig(base_url=server.url, ms_tokens=tokens))
    try:
        with DuckDBStore(settings.database_url) as store:
            return collect_videos(source, regions, count, store, settings, policy=policy, sleep=clock or Clock())
    finally:
        transport.close()


def stored(settings: Settings) -> tuple[dict[str, str], int]:
    """Stored videos with their region, and the number of observations."""
    with DuckDBStore(settings.database_url) as store:
        videos = store.snapshot("videos")
        stats = store.snapshot("video_stats")
    return dict(zip(videos["video_id"], videos["region"], strict=True)), len(stats)


def assert_nothing_lost_or_doubled(settings: Settings, feed: Feed) -> dict[str, str]:
    videos, observations = stored(settings)
    assert set(videos) == set(feed.delivered)  # every item of every good page sent is stored
    assert observations == len(videos)  # each once: repeats across pages are not observations
    return videos


def test_pages_until_the_count_with_repeats_left_out(server: ReplayServer, feed: Feed, settings: Settings) -> None:
    summary = run(server, settings, ["US", "DE"], 25)
    assert summary.finished and summary.stopped is None and summary.failures == {}
    # pages of 10 overlapping by 3: 10, 17, 24, 31 (whole pages: what was fetched is kept)
    assert summary.regions["US"]["videos"] == summary.regions["DE"]["videos"] == 31
    assert summary.totals["pages"] == 8 and summary.totals["repeats"] == 2 * 3 * 3
    assert summary.totals["new"] == summary.totals["accepted"] == 62 and summary.totals["quarantined"] == 0
    videos = assert_nothing_lost_or_doubled(settings, feed)
    assert {v for v, r in videos.items() if r == "US"} == {i["id"] for i in feed.pools["US"][:31]}
    # the token TikTok handed out with each reply is the one used next, and never written down
    assert [r.query["msToken"] for r in server.requests][:3] == ["token-0", "token-1", "token-2"]
    zone = RawZone(settings.raw_dir)
    assert len(zone.replies("web")) == 8
    for reply in zone.replies("web"):
        assert "msToken" not in json.dumps(RawZone.reply_meta(reply))
        assert json.loads(gzip.decompress(reply.read_bytes()))["itemList"]  # kept as received


def test_a_finished_run_starts_afresh_and_a_replay_rebuilds_it(
    server: ReplayServer, feed: Feed, settings: Settings, tmp_path: Path
) -> None:
    run(server, settings, ["US"], 10)
    second = run(server, settings, ["US"], 10)
    assert not second.resumed and second.totals["pages"] == 1  # a new run: new observations of the feed
    with DuckDBStore(settings.database_url) as store:
        before = {t: store.snapshot(t) for t in ("videos", "video_stats", "keyword_mentions")}
    rebuilt = Settings(data_dir=settings.data_dir, database_url=f"duckdb:///{tmp_path / 'replayed.duckdb'}")
    with DuckDBStore(rebuilt.database_url) as store:
        replay(store, rebuilt)
        for table, frame in before.items():
            assert store.snapshot(table).equals(frame), table


def test_429_waits_what_retry_after_asks(server: ReplayServer, feed: Feed, settings: Settings) -> None:
    feed.faults[1] = Canned(429, b'{"statusCode": 429}', {"retry-after": "7"})
    feed.faults[2] = Canned(429, b"", {"retry-after": "3"})
    clock = Clock()
    summary = run(server, settings, ["US"], 20, clock=clock)
    assert summary.failures == {"rate_limited": 2} and summary.finished
    assert clock.waits[:2] == [7, 3]  # at least what the server asked, jitter on top never below it
    assert_nothing_lost_or_doubled(settings, feed)


def test_429_asking_too_long_stops_the_region_for_a_later_run(
    server: ReplayServer, feed: Feed, settings: Settings
) -> None:
    feed.faults[1] = Canned(429, b"", {"retry-after": "3600"})
    summary = run(server, settings, ["US", "DE"], 10 + 7)
    assert summary.regions["US"]["stopped"] == "rate_limited" and summary.regions["DE"]["done"]
    assert not summary.finished
    again = run(server, settings, ["US", "DE"], 10 + 7)
    assert again.resumed and again.finished and again.regions["US"]["videos"] == 17
    assert_nothing_lost_or_doubled(settings, feed)


def test_5xx_burst_truncated_json_html_and_empty_body_are_retried(
    server: ReplayServer, feed: Feed, settings: Settings
) -> None:
    good = json.dumps({"statusCode": 0, "itemList": feed.pools["US"][:5]}).encode()
    feed.faults.update(
        {
            1: Canned(500, b"Internal Server Error", content_type="text/plain"),
            2: Canned(502, b"<html><title>502 Bad Gateway</title></html>", content_type="text/html"),
            3: Canned(503, b""),
            5: Canned(200, good[: len(good) // 2]),  # cut off mid-item
            7: Canned(200, b"<!DOCTYPE html><html><head><title>TikTok - Make Your Day</title></head></html>"),
            9: Canned(200, b""),
        }
    )
    summary = run(server, settings, ["US"], 38)
    assert summary.failures == {"server_error": 3, "truncated_json": 1, "html_instead_of_json": 1, "empty_body": 1}
    assert summary.finished
    assert_nothing_lost_or_doubled(settings, feed)
    bodies = [gzip.decompress(p.read_bytes()) for p in RawZone(settings.raw_dir).replies("web")]
    assert good[: len(good) // 2] in bodies  # failed replies are kept too


def test_retries_run_out_and_the_next_region_goes_on(server: ReplayServer, feed: Feed, settings: Settings) -> None:
    for n in range(1, 5):
        feed.faults[n] = Canned(500, b"down")
    summary = run(server, settings, ["US", "DE"], 15)
    assert summary.failures == {"server_error": 4}
    assert summary.regions["US"]["stopped"] == "server_error" and summary.regions["DE"]["done"]


def test_empty_pages_end_a_region_that_ran_dry(server: ReplayServer, feed: Feed, settings: Settings) -> None:
    empty = Canned(200, json.dumps({"statusCode": 0, "itemList": [], "hasMore": True}).encode())
    for n in range(1, 4):
        feed.faults[n] = empty
    clock = Clock()
    summary = run(server, settings, ["US", "DE"], 15, clock=clock)
    assert summary.failures == {"empty_page": 3}
    assert summary.regions["US"] == {"videos": 10, "pages": 1, "done": False, "stopped": "empty_page"}
    assert summary.regions["DE"]["done"]
    assert clock.waits[:2] == [0.02, 0.04]  # waiting longer after each empty page
    assert_nothing_lost_or_doubled(settings, feed)


@pytest.mark.parametrize("page", [CAPTCHA, VERIFY], ids=["html", "json"])
def test_a_captcha_stops_the_run_and_the_next_run_resumes(
    server: ReplayServer, feed: Feed, settings: Settings, page: bytes
) -> None:
    feed.faults[2] = Canned(200, page, content_type="text/html" if page.startswith(b"<") else "application/json")
    summary = run(server, settings, ["US", "DE"], 20)
    assert summary.stopped == Failure.CAPTCHA and summary.advice and "verification" in summary.advice
    assert summary.failures == {"captcha": 1} and summary.regions["US"]["videos"] == 17
    assert_nothing_lost_or_doubled(settings, feed)
    resumed = run(server, settings, ["US", "DE"], 20)
    assert resumed.resumed and resumed.finished
    assert resumed.regions["US"]["videos"] == resumed.regions["DE"]["videos"] == 24
    assert resumed.failures == {"captcha": 1}  # counted over the whole run
    assert_nothing_lost_or_doubled(settings, feed)


class InterruptedStore(DuckDBStore):
    """Receives a Ctrl-C in the middle of its second batch, as a person stopping ``tiktrend collect`` might."""

    loads = 0

    def load_batch(self, videos: Any, mentions: Any) -> Any:
        InterruptedStore.loads += 1
        if InterruptedStore.loads == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return super().load_batch(videos, mentions)


def test_a_ctrl_c_during_a_load_lands_after_it_commits(server: ReplayServer, feed: Feed, settings: Settings) -> None:
    transport = HttpTransport()
    source = WebTrending(transport, WebConfig(base_url=server.url, ms_tokens=("token-0",)))
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # not a Spark context's, say
    try:
        with InterruptedStore(settings.database_url) as store, pytest.raises(KeyboardInterrupt):
            collect_videos(source, ["US"], 20, store, settings, policy=FAST, sleep=Clock())
    finally:
        signal.signal(signal.SIGINT, handler)
        transport.close()
    videos, _ = stored(settings)
    assert set(videos) == {i["id"] for i in feed.pools["US"][:17]}  # the interrupted page's batch committed whole
    resumed = run(server, settings, ["US"], 20)
    assert resumed.resumed and resumed.finished and resumed.regions["US"]["videos"] == 24
    assert_nothing_lost_or_doubled(settings, feed)


def test_an_expired_token_moves_to_the_next_one(server: ReplayServer, feed: Feed, settings: Settings) -> None:
    feed.rotate = False
    feed.tokens = ["spare"]  # the first configured token is refused
    summary = run(server, settings, ["US"], 10, tokens=("old", "spare"))
    assert summary.finished and summary.failures == {"token_expired": 1}
    assert [r.query["msToken"] for r in server.requests] == ["old", "spare"]


def test_a_token_expiring_mid_run_stops_cleanly_and_a_fresh_one_resumes(
    server: ReplayServer, feed: Feed, settings: Settings
) -> None:
    feed.rotate = False

    def expire_after_two(request: Recorded) -> Canned:
        feed.tokens = ["fresh"]  # from now on only the new token works
        return feed(request)

    feed.faults[2] = expire_after_two
    summary = run(server, settings, ["US", "DE"], 20)
    assert summary.stopped == Failure.TOKEN_EXPIRED and "TIKTREND_TIKTOK_MS_TOKEN" in (summary.advice or "")
    assert summary.regions["US"]["videos"] == 17
    resumed = run(server, settings, ["US", "DE"], 20, tokens=("fresh",))
    assert resumed.finished and resumed.regions["US"]["videos"] == 24
    assert_nothing_lost_or_doubled(settings, feed)


def test_items_that_cannot_be_videos_are_quarantined_not_lost(
    server: ReplayServer, feed: Feed, settings: Settings
) -> None:
    broken = [dict(feed.pools["US"][0], stats={"playCount": "many"}), "oops", {"desc": "no id"}]
    feed.faults[0] = Canned(200, json.dumps({"statusCode": 0, "itemList": broken}).encode())
    summary = run(server, settings, ["US"], 5)
    assert summary.totals["quarantined"] == 3 and summary.ingest.reasons == {
        "views is 'many', not a count": 1,
        "not a JSON object": 1,
        "missing video id": 1,
    }
    with DuckDBStore(settings.database_url) as store:
        assert len(store.snapshot("quarantine")) == 3


def test_checkpoint_is_written_where_settings_say(server: ReplayServer, settings: Settings) -> None:
    summary = run(server, settings, ["US"], 5)
    assert summary.checkpoint.parent == settings.collect_dir
    saved = CheckpointFile(settings.collect_dir, "web", {"regions": ["US"], "count": 5}).load()
    assert saved.finished and saved.pending == [] and len(saved.regions["US"].seen) == 10
