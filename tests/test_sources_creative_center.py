"""Creative Center trend lists against a local stand-in on 127.0.0.1: hashtag, keyword and sound lists by
country, period and industry, stored in external_trends with the keyword key extraction gives, read back for
the backtest; refused credentials, a retired endpoint and broken entries are named, never silently lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tiktrend.collect.collector import CollectSummary, collect_trend_lists
from tiktrend.collect.rawzone import RawZone
from tiktrend.collect.sources.base import Failure
from tiktrend.collect.sources.creative_center import PATHS, CreativeCenter, TrendList
from tiktrend.collect.sources.http import HttpTransport, RetryPolicy
from tiktrend.collect.sources.replay import Canned, Recorded, ReplayServer
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

DATA = Path(__file__).parent / "data"
FAST = RetryPolicy(attempts=3, base_s=0.01, cap_s=5, pause_s=0)
PAGES = {
    kind: json.loads((DATA / f"creative_center_{kind}s.json").read_text()) for kind in ("hashtag", "sound", "keyword")
}


class Center:
    """The Creative Center's JSON endpoints as these tests see them."""

    def __init__(self) -> None:
        self.override: dict[str, Canned] = {}
        self.seen: list[Recorded] = []

    def __call__(self, request: Recorded) -> Canned:
        self.seen.append(request)
        kind = next(k for k, path in PATHS.items() if path == request.path)
        if kind in self.override:
            return self.override[kind]
        page: dict[str, Any] = json.loads(json.dumps(PAGES[kind]))
        if kind == "hashtag" and request.query["page"] == "2":
            last = dict(page["data"]["list"][0], hashtag_name="fyp", hashtag_id="229207", rank=4)
            page["data"] = {"list": [last], "pagination": {"page": 2, "size": 3, "total": 4, "has_more": False}}
        for entry in page["data"]["list"]:
            if "country_info" in entry:
                entry["country_info"]["id"] = request.query["country_code"]
        return Canned(200, json.dumps(page).encode())


@pytest.fixture
def center() -> Center:
    return Center()


@pytest.fixture
def server(center: Center) -> Iterator[ReplayServer]:
    with ReplayServer(center, max_requests=100) as running:
        yield running


def run(server: ReplayServer, settings: Settings, lists: list[TrendList], count: int = 50) -> CollectSummary:
    transport = HttpTransport(headers={"user-sign": "test-sign"})
    try:
        with DuckDBStore(settings.database_url) as store:
            source = CreativeCenter(transport, server.url)
            return collect_trend_lists(source, lists, count, store, settings, policy=FAST, sleep=lambda _s: None)
    finally:
        transport.close()


def test_lists_by_kind_country_and_period(server: ReplayServer, center: Center, settings: Settings) -> None:
    lists = [TrendList("hashtag", "DE", 30, "10000000000"), TrendList("sound", "DE"), TrendList("keyword", "US", 120)]
    summary = run(server, settings, lists)
    assert summary.finished and summary.failures == {}
    assert summary.totals["accepted"] == 3 + 2 + 2 and summary.totals["quarantined"] == 1
    hashtag = center.seen[0].query
    assert (hashtag["period"], hashtag["country_code"], hashtag["industry_id"], hashtag["page"]) == (
        "30",
        "DE",
        "10000000000",
        "1",
    )
    assert center.seen[0].headers["user-sign"] == "test-sign"
    with DuckDBStore(settings.database_url) as store:
        frame = store.creative_center_frame()
        sounds = store.creative_center_frame(kind="sound")
        quarantined = store.snapshot("quarantine")
    rows = {(r.kind, r.keyword): r for r in frame.itertuples()}
    matcha = rows[("hashtag", "matchalatte")]
    assert (matcha.name, matcha.region, matcha.period_days, matcha.rank, matcha.posts, matcha.views) == (
        "matchalatte",
        "DE",
        30,
        1,
        18240,
        96_100_000,
    )
    assert json.loads(matcha.trend)[-1] == {"time": 1756598400, "value": 1.0}
    assert rows[("hashtag", "dönertok")].is_new  # the key keeps the umlaut, the name its case
    assert rows[("hashtag", "dönertok")].name == "DönerTok"
    assert rows[("hashtag", "fyp")].rank == 4  # the second page
    assert list(sounds["keyword"]) == ["anxiety", "original sound - daniklieber"]
    assert rows[("keyword", "matcha latte")].posts == 20400 and rows[("keyword", "matcha latte")].rank == 1
    assert {"keyword", "listed_at", "region", "rank"} <= set(frame.columns)  # what the backtest reads
    assert list(quarantined["format"]) == ["creative-center"] and "without a usable name" in quarantined["reason"][0]
    assert len(RawZone(settings.raw_dir).replies("creative_center")) == 4


def test_reading_a_list_again_the_same_day_replaces_it(server: ReplayServer, settings: Settings) -> None:
    run(server, settings, [TrendList("sound", "DE")])
    again = run(server, settings, [TrendList("sound", "DE")])
    assert not again.resumed  # a finished run starts afresh
    with DuckDBStore(settings.database_url) as store:
        assert len(store.creative_center_frame()) == 2


def test_count_limits_the_pages(server: ReplayServer, center: Center, settings: Settings) -> None:
    summary = run(server, settings, [TrendList("hashtag", "US")], count=2)
    assert summary.totals["pages"] == 1 and len(center.seen) == 1


@pytest.mark.parametrize(
    ("reply", "failure", "fatal"),
    [
        (Canned(200, b'{"code": 40101, "msg": "no permission", "data": {}}'), Failure.FORBIDDEN, True),
        (Canned(200, b'{"code": 0, "msg": "deprecated", "data": {}}'), Failure.EMPTY_PAGE, False),
        (Canned(429, b"", {"retry-after": "1"}), Failure.RATE_LIMITED, False),
    ],
)
def test_failures_are_named(
    server: ReplayServer, center: Center, settings: Settings, reply: Canned, failure: Failure, fatal: bool
) -> None:
    center.override["hashtag"] = reply
    summary = run(server, settings, [TrendList("hashtag", "US"), TrendList("sound", "US")])
    assert summary.regions["hashtag/US/7d"]["stopped"] == failure
    assert (summary.stopped == failure) is fatal
    assert summary.regions.get("sound/US/7d", {}).get("done", False) is not fatal


def test_list_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="period must be one of 7, 30, 120"):
        TrendList("hashtag", "US", 14)
    with pytest.raises(ValueError, match="expected one of hashtag, keyword, sound"):
        TrendList("creator", "US")
