"""The web source's browser session for real: TikTokApi opens Debian's headless chromium on a local stand-in for
https://www.tiktok.com (chromium's host rules send www.tiktok.com to 127.0.0.1, over TLS with a certificate made
here and trusted by its key's hash alone), the page signs every request (``byted_acrawler.frontierSign``: the server
refuses a wrong ``X-Bogus`` with an empty body, as TikTok does), and the feed replies with real itemList pages and
TikTok's failures: empty bodies, 429, captcha pages, an expired token. Nothing fetched is lost, nothing doubled."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tiktrend.collect.collector import CollectSummary, collect_videos
from tiktrend.collect.rawzone import RawZone
from tiktrend.collect.sources.base import Failure
from tiktrend.collect.sources.http import RetryPolicy
from tiktrend.collect.sources.replay import Canned, Recorded, ReplayServer
from tiktrend.collect.sources.session import BrowserTrending
from tiktrend.collect.sources.web import ITEM_LIST_PATH, WebConfig
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

CHROMIUM = Path(os.environ.get("TIKTREND_TEST_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"no chromium at {CHROMIUM} (make test installs Debian's chromium)", allow_module_level=True)
if importlib.util.find_spec("TikTokApi") is None:
    pytest.skip("TikTokApi is not installed (make test installs the browser extra)", allow_module_level=True)
if shutil.which("openssl") is None:
    pytest.skip("openssl is needed to make the test certificate", allow_module_level=True)

pytestmark = pytest.mark.slow
DATA = Path(__file__).parent / "data"
FAST = RetryPolicy(attempts=6, base_s=0.01, cap_s=30, pause_s=0)
HOST = "https://www.tiktok.com"
CAPTCHA = (DATA / "captcha.html").read_bytes()
VERIFY = (DATA / "verify.json").read_bytes()

# TikTok's start page as far as TikTokApi needs it: a signer, a cookie, and the page's own requests after load.
# The signature is FNV-1a over the URL: the server checks it, so only URLs signed in this page are served.
START_PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>TikTok - Make Your Day</title>
<script>
window.byted_acrawler = {
  frontierSign: function (url) {
    var h = 0x811c9dc5;
    for (var i = 0; i < url.length; i++) { h ^= url.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
    return {"X-Bogus": "DFSz" + h.toString(16)};
  }
};
window.addEventListener("load", function () { setTimeout(function () { fetch("/api/ping/"); }, 300); });
</script></head><body><div id="app">For You</div></body></html>"""


def signature(url: str) -> str:
    h = 0x811C9DC5
    for char in url:
        h = ((h ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    return f"DFSz{h:x}"


def template() -> dict[str, Any]:
    item: dict[str, Any] = json.loads((DATA / "web_item_list.json").read_text(encoding="utf-8"))["itemList"][0]
    return item


@dataclass
class Cert:
    context: ssl.SSLContext
    spki: str  # base64 SHA-256 of the public key: what chromium is told to trust, and nothing else


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    folder = tmp_path_factory.mktemp("tls")
    key, crt = folder / "key.pem", folder / "cert.pem"
    name = ["-subj", "/CN=www.tiktok.com", "-addext", "subjectAltName=DNS:www.tiktok.com"]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-days", "2", *name],
        check=True,
        capture_output=True,
    )
    public = subprocess.run(["openssl", "x509", "-in", crt, "-pubkey", "-noout"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "der"], input=public.stdout, check=True, capture_output=True
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(crt, key)
    return Cert(context, base64.b64encode(hashlib.sha256(der.stdout).digest()).decode())


Fault = Callable[[Recorded], Canned] | Canned


class TikTok:
    """www.tiktok.com as these tests see it: a start page, and per region a feed whose pages overlap."""

    def __init__(self, *, page: int = 10, overlap: int = 3, pool: int = 200) -> None:
        self.page, self.overlap = page, overlap
        base = template()
        self.pools: dict[str, list[dict[str, Any]]] = {}
        for r, region in enumerate(("US", "DE")):
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
        self.served: dict[str, int] = {}
        self.faults: dict[int, Fault] = {}  # by feed request number (0-based)
        self.start_faults: dict[int, Canned] = {}  # by start page load number
        self.starts = 0  # start page loads: one per browser session
        self.feed_requests: list[Recorded] = []
        self.tokens = {"token-start"}  # msTokens the feed accepts; each good reply hands out the next one
        self.issued = 0
        self.delivered: list[str] = []  # ids of every item of every good page sent
        self.bodies: list[bytes] = []  # every feed reply as sent

    def __call__(self, request: Recorded) -> Canned:
        if request.path == "/":
            number, self.starts = self.starts, self.starts + 1
            if number in self.start_faults:
                return self.start_faults[number]
            return Canned(200, START_PAGE, {"set-cookie": "msToken=token-start; Path=/; Secure"}, "text/html")
        if request.path != ITEM_LIST_PATH:
            return Canned(200, b"{}")  # the page's own requests (TikTokApi reads their headers)
        reply = self.feed(request)
        self.bodies.append(reply.body)
        return reply

    def feed(self, request: Recorded) -> Canned:
        number = len(self.feed_requests)
        self.feed_requests.append(request)
        unsigned, _, bogus = request.target.rpartition("&X-Bogus=")
        if not unsigned or signature(HOST + unsigned) != bogus:
            return Canned(200, b"")  # what TikTok answers to a request it will not serve
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
        self.issued += 1
        token = f"token-{self.issued}"
        self.tokens.add(token)
        body = {"statusCode": 0, "extra": {"now": int(datetime.now(tz=UTC).timestamp() * 1000)}, "itemList": items}
        return Canned(200, json.dumps({**body, "hasMore": True}).encode(), {"set-cookie": f"msToken={token}; Path=/"})


@pytest.fixture
def tiktok() -> TikTok:
    return TikTok()


@pytest.fixture
def server(tiktok: TikTok, cert: Cert) -> Iterator[ReplayServer]:
    with ReplayServer(tiktok, max_requests=400, tls=cert.context) as running:
        yield running


def browser_args(server: ReplayServer, cert: Cert) -> list[str]:
    """www.tiktok.com is the local server; every other name fails to resolve, so nothing leaves the machine."""
    return [
        f"--host-resolver-rules=MAP www.tiktok.com 127.0.0.1:{server.port}, MAP * ~NOTFOUND",
        f"--ignore-certificate-errors-spki-list={cert.spki}",
    ]


def run(
    server: ReplayServer,
    cert: Cert,
    settings: Settings,
    regions: list[str],
    count: int,
    *,
    tokens: tuple[str, ...] = (),
    timeout_s: float = 60.0,
) -> tuple[CollectSummary, BrowserTrending]:
    source = BrowserTrending(
        WebConfig(base_url=HOST, ms_tokens=tokens),
        CHROMIUM,
        browser_args=browser_args(server, cert),
        sleep_after_s=0.2,
        timeout_s=timeout_s,
    )
    try:
        with DuckDBStore(settings.database_url) as store:
            return collect_videos(source, regions, count, store, settings, policy=FAST, sleep=lambda _s: None), source
    finally:
        source.close()


def assert_nothing_lost_or_doubled(settings: Settings, tiktok: TikTok) -> dict[str, str]:
    with DuckDBStore(settings.database_url) as store:
        videos = store.snapshot("videos")
        observations = len(store.snapshot("video_stats"))
    stored = dict(zip(videos["video_id"], videos["region"], strict=True))
    assert set(stored) == set(tiktok.delivered)  # every item of every good page sent is stored
    assert observations == len(stored)  # once each: repeats across pages are not observations
    return stored


def kept_bodies(settings: Settings) -> list[bytes]:
    return [gzip.decompress(p.read_bytes()) for p in RawZone(settings.raw_dir).replies("web")]


def test_pages_signed_in_the_browser_land_in_the_store(
    server: ReplayServer, tiktok: TikTok, cert: Cert, settings: Settings
) -> None:
    summary, source = run(server, cert, settings, ["US", "DE"], 15)
    assert summary.finished and summary.stopped is None and summary.failures == {}
    # pages of 10 overlapping by 3: 10, 17 (whole pages are kept), the overlap counted as repeats
    assert summary.regions["US"]["videos"] == summary.regions["DE"]["videos"] == 17
    assert summary.totals["pages"] == 4 and summary.totals["repeats"] == 2 * 3
    assert summary.totals["new"] == 34 and summary.totals["quarantined"] == 0
    stored = assert_nothing_lost_or_doubled(settings, tiktok)
    assert {v for v, r in stored.items() if r == "DE"} == {i["id"] for i in tiktok.pools["DE"][:17]}
    assert source.sessions_opened == 1 and tiktok.starts == 1  # one browser session for the whole run
    requests = tiktok.feed_requests
    assert [r.query["region"] for r in requests] == ["US", "US", "DE", "DE"]
    assert all(r.query["from_page"] == "fyp" and r.query["priority_region"] == r.query["region"] for r in requests)
    assert all("HeadlessChrome" in r.headers["user-agent"] for r in requests)  # sent by the real chromium
    # the msToken TikTok set with each reply (Set-Cookie, in the browser) is the one sent next
    assert [r.query["msToken"] for r in requests] == ["token-start", "token-1", "token-2", "token-3"]
    assert all(f"msToken={r.query['msToken']}" in r.headers["cookie"] for r in requests)
    # the replies are kept as TikTok sent them, without the token or the signature in the kept URL
    assert sorted(kept_bodies(settings)) == sorted(tiktok.bodies)
    for reply in RawZone(settings.raw_dir).replies("web"):
        meta = RawZone.reply_meta(reply)
        assert "msToken" not in meta["url"] and "X-Bogus" not in meta["url"]
        assert meta["url"].startswith(HOST + ITEM_LIST_PATH)


def test_empty_bodies_429_and_html_are_retried_and_named(
    server: ReplayServer, tiktok: TikTok, cert: Cert, settings: Settings
) -> None:
    tiktok.faults.update(
        {
            1: Canned(200, b""),  # an empty body: the next attempt opens a new browser session
            2: Canned(429, b'{"statusCode": 429}', {"retry-after": "1"}),
            3: Canned(200, b"<!DOCTYPE html><html><head><title>TikTok - Make Your Day</title></head></html>"),
            4: Canned(200, b'{"statusCode": 0, "itemList": [{"id": "72'),  # cut off mid-item
        }
    )
    summary, source = run(server, cert, settings, ["US"], 15)
    assert summary.finished and summary.failures == {
        "empty_body": 1,
        "rate_limited": 1,
        "html_instead_of_json": 1,
        "truncated_json": 1,
    }
    assert source.sessions_opened == 2 and tiktok.starts == 2
    assert summary.regions["US"]["videos"] == 17
    assert_nothing_lost_or_doubled(settings, tiktok)
    assert b"<!DOCTYPE html>" in b"".join(kept_bodies(settings))  # failed replies are kept too


@pytest.mark.parametrize("page", [VERIFY, CAPTCHA], ids=["json", "html"])
def test_a_captcha_opens_a_fresh_session_and_the_run_goes_on(
    server: ReplayServer, tiktok: TikTok, cert: Cert, settings: Settings, page: bytes
) -> None:
    html = page.startswith(b"<")
    tiktok.faults[1] = Canned(200, page, content_type="text/html" if html else "application/json")
    summary, source = run(server, cert, settings, ["US"], 20)
    assert summary.finished and summary.stopped is None and summary.failures == {"captcha": 1}
    assert source.sessions_opened == 2 and tiktok.starts == 2
    assert summary.regions["US"]["videos"] == 24
    assert_nothing_lost_or_doubled(settings, tiktok)


def test_a_captcha_the_fresh_session_meets_too_stops_the_run_and_keeps_what_was_fetched(
    server: ReplayServer, tiktok: TikTok, cert: Cert, settings: Settings
) -> None:
    for n in (1, 2):
        tiktok.faults[n] = Canned(200, VERIFY)
    summary, source = run(server, cert, settings, ["US", "DE"], 20)
    assert summary.stopped == Failure.CAPTCHA and summary.advice and "verification" in summary.advice
    assert summary.failures == {"captcha": 2} and source.sessions_opened == 2
    assert summary.regions["US"]["videos"] == 10 and summary.regions["DE"]["videos"] == 0
    assert_nothing_lost_or_doubled(settings, tiktok)
    resumed, _ = run(server, cert, settings, ["US", "DE"], 20)
    assert resumed.resumed and resumed.finished
    assert resumed.regions["US"]["videos"] == resumed.regions["DE"]["videos"] == 24
    assert_nothing_lost_or_doubled(settings, tiktok)


def test_an_expired_token_moves_to_the_next_one_in_a_fresh_session(
    server: ReplayServer, tiktok: TikTok, cert: Cert, settings: Settings
) -> None:
    tiktok.tokens = {"spare"}  # the first configured token is refused: statusCode 10102
    tiktok.start_faults = {n: Canned(200, START_PAGE, content_type="text/html") for n in range(3)}  # no cookie
    summary, source = run(server, cert, settings, ["US"], 10, tokens=("old", "spare"))
    assert summary.finished and summary.failures == {"token_expired": 1}
    assert source.sessions_opened == 2
    assert [r.query["msToken"] for r in tiktok.feed_requests] == ["old", "spare"]
    assert_nothing_lost_or_doubled(settings, tiktok)


def test_a_verification_start_page_is_a_captcha_and_a_fresh_session_gets_past_it(
    server: ReplayServer, tiktok: TikTok, cert: Cert, settings: Settings
) -> None:
    tiktok.start_faults[0] = Canned(200, CAPTCHA, content_type="text/html")
    summary, source = run(server, cert, settings, ["US"], 10, timeout_s=8)
    assert summary.finished and summary.failures == {"captcha": 1}
    assert source.sessions_opened == 2 and len(tiktok.feed_requests) == 1
    assert_nothing_lost_or_doubled(settings, tiktok)


def test_tiktrend_collect_session_end_to_end(server: ReplayServer, tiktok: TikTok, cert: Cert, tmp_path: Path) -> None:
    tiktok.faults[2] = Canned(200, VERIFY)  # a captcha mid-run: a fresh session, and the run goes on
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTREND_")}
    env.update(
        TIKTREND_DATA_DIR=str(data),
        TIKTREND_CHROMIUM_PATH=str(CHROMIUM),
        TIKTREND_CHROMIUM_ARGS=json.dumps(browser_args(server, cert)),
        TIKTREND_COLLECT_PAUSE_S="0.05",
        TIKTREND_COLLECT_BACKOFF_S="0.01",
        COLUMNS="200",
    )
    command = [sys.executable, "-c", "from tiktrend.cli import app; app()", "collect", "--source", "web", "--session"]
    done = subprocess.run(
        [*command, "--regions", "US,DE", "--count", "15"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "web: finished" in done.stdout and "captcha 1" in done.stdout
    assert "34 new" in done.stdout and "6 repeats left out" in done.stdout
    assert tiktok.starts == 2
    settings = Settings(data_dir=data)
    stored = assert_nothing_lost_or_doubled(settings, tiktok)
    assert len(stored) == 34
    kept = {json.loads(b)["itemList"][0]["id"] for b in kept_bodies(settings) if b"itemList" in b}
    assert kept <= set(stored)
    assert len(RawZone(settings.raw_dir).replies("web")) == 5  # four pages and the captcha
