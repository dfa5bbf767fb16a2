"""`tiktrend collect` as people run it: a real process against the local stand-in for TikTok, killed at random
moments (SIGKILL) or interrupted (Ctrl-C), then run again: the run resumes, and in the end every video of every
reply the raw zone kept is in the store, exactly once."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from test_sources_web import Feed
from tiktrend.collect.rawzone import RawZone
from tiktrend.collect.sources.replay import ReplayServer
from tiktrend.store.duckdb import DuckDBStore

COMMAND = [sys.executable, "-c", "from tiktrend.cli import app; app()", "collect"]


def environment(data: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTREND_")}
    env.update(
        TIKTREND_DATA_DIR=str(data),
        TIKTREND_TIKTOK_WEB_URL=url,
        TIKTREND_TIKTOK_MS_TOKEN="token-0",
        TIKTREND_COLLECT_PAUSE_S="0.02",
        TIKTREND_COLLECT_BACKOFF_S="0.01",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def collect(
    env: dict[str, str],
    *args: str,
    stop_at: int | None = None,
    server: ReplayServer | None = None,
    how: signal.Signals = signal.SIGKILL,
    delay: float = 0.0,
) -> subprocess.CompletedProcess[str]:
    """Run the command; with ``stop_at``, send ``how`` once the server has seen that many requests."""
    process = subprocess.Popen([*COMMAND, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if stop_at is not None and server is not None:

        def stop() -> None:
            deadline = time.monotonic() + 60
            while len(server.requests) < stop_at and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(delay)
            if process.poll() is None:
                process.send_signal(how)

        threading.Thread(target=stop, daemon=True).start()
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def kept_ids(data: Path) -> set[str]:
    """The ids of every item of every page reply the raw zone kept."""
    ids: set[str] = set()
    for reply in RawZone(data / "raw").replies("web"):
        body = json.loads(gzip.decompress(reply.read_bytes()) or b"{}")
        ids.update(str(item["id"]) for item in body.get("itemList", []) if isinstance(item, dict))
    return ids


def test_killed_at_random_moments_then_resumed(tmp_path: Path) -> None:
    feed = Feed()
    data = tmp_path / "data"
    rng = random.Random(3)
    args = ["--source", "web", "--regions", "US,DE", "--count", "60"]
    with ReplayServer(feed, max_requests=400) as server:
        env = environment(data, server.url)
        for stop_at in (2, 4, 7, 11, 14):
            result = collect(env, *args, stop_at=stop_at, server=server, delay=rng.uniform(0, 0.05))
            if result.returncode == 0:
                break
            assert result.returncode == -signal.SIGKILL, result.stderr
        final = collect(env, *args)
    assert final.returncode == 0, final.stderr
    assert "web: finished (resumed)" in final.stdout
    with DuckDBStore(f"duckdb:///{data / 'tiktrend.duckdb'}") as store:
        videos = store.snapshot("videos")
        stats = store.snapshot("video_stats")
    stored = set(videos["video_id"])
    assert kept_ids(data) <= stored  # nothing fetched is lost
    assert len(stats) == len(videos)  # nothing is loaded twice
    assert (videos["region"] == "US").sum() >= 60 and (videos["region"] == "DE").sum() >= 60


def test_ctrl_c_says_how_to_resume(tmp_path: Path) -> None:
    feed = Feed()
    data = tmp_path / "data"
    args = ["--source", "web", "--regions", "US", "--count", "200"]
    with ReplayServer(feed, max_requests=200) as server:
        env = environment(data, server.url, TIKTREND_COLLECT_PAUSE_S="0.2")
        interrupted = collect(env, *args, stop_at=3, server=server, how=signal.SIGINT, delay=0.05)
        assert interrupted.returncode == 130, interrupted.stderr
        assert "interrupted" in interrupted.stderr and "run the same command to resume" in interrupted.stderr
        resumed = collect(env, *args)
    assert resumed.returncode == 0 and "finished (resumed)" in resumed.stdout
    assert "US: 206 collected" in resumed.stdout


def test_summary_names_failures_and_a_stop(tmp_path: Path) -> None:
    feed = Feed()
    from tiktrend.collect.sources.replay import Canned

    feed.faults[1] = Canned(429, b"", {"retry-after": "0"})
    feed.faults[3] = Canned(
        200, (Path(__file__).parent / "data" / "captcha.html").read_bytes(), content_type="text/html"
    )
    with ReplayServer(feed) as server:
        result = collect(environment(tmp_path / "data", server.url), "--source", "web", "--count", "100")
    assert result.returncode == 3
    assert "failed requests by reason: captcha 1, rate_limited 1" in result.stdout
    assert "stopped (captcha)" in result.stderr and "verification" in result.stderr


def test_missing_credentials_name_the_settings(tmp_path: Path) -> None:
    result = collect(environment(tmp_path / "data", "http://127.0.0.1:9"), "--source", "research")
    assert result.returncode == 2
    assert "TIKTREND_RESEARCH_CLIENT_KEY" in result.stderr and "TIKTREND_RESEARCH_CLIENT_SECRET" in result.stderr
    unknown = collect(environment(tmp_path / "data", "http://127.0.0.1:9"), "--source", "myspace")
    assert unknown.returncode == 2 and "web, research, creative-center" in unknown.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="signals")
def test_an_unreachable_site_is_a_network_failure(tmp_path: Path) -> None:
    env = environment(tmp_path / "data", "http://127.0.0.1:9", TIKTREND_COLLECT_ATTEMPTS="2")
    result = collect(env, "--source", "web", "--count", "5")
    assert result.returncode == 0
    assert "failed requests by reason: network 2" in result.stdout and "stopped: network" in result.stdout
