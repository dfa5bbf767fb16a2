"""API latency under load: ``/trends`` and ``/keywords/{kw}`` with concurrent clients, on DuckDB and PostgreSQL.

Run from the repository: ``python benches/api.py [--mentions 10000000] [--backends duckdb,postgres]``.

For each backend a store of ``--mentions`` keyword-mention rows is built with the storage bench's synthetic
feed (``benches/store.py``: Zipf keywords over six regions, eight categories, three modalities, 30 days),
its rollups refreshed and the threshold detector run for the 1h and 1d windows. With ``--store-dir`` the
built stores are kept (DuckDB file, PostgreSQL database ``tiktrend_api_bench_<N>``) and reused by later runs.

``tiktrend serve`` then runs in its own process (uvicorn, ``--workers``) on loopback, and ``--clients``
asyncio clients (httpx, one connection each) call one endpoint for ``--seconds`` after a warm-up:

- ``/trends``: a random region (or all), the 1h or 1d window, 20 rows;
- ``/keywords/{kw}``: a keyword drawn from the feed's own Zipf distribution (head and tail alike), day grain.

Each endpoint is measured twice. First a cold pass (``<endpoint> cold``): every distinct path once,
``--clients`` at a time, through Python clients; none is answered from the response cache, as after each
load. Then the steady state over the same ``--draws`` paths (repeats are answered from the cache, as with
real traffic). With many draws (``--draws 300000 --no-cold``), new keywords keep arriving during the
measurement at the rate the Zipf distribution gives: a steady state that still computes answers.

Clients (``--driver``): ``wrk`` (C, one thread, ``--clients`` connections; Debian's ``wrk`` package) when it
is installed, else Python asyncio clients (httpx). The clients share the machine with the server, and the
Python ones cost about a millisecond of CPU a request: on 2 cores they, not the server, set the pace (a 1M
store's /trends: 496 requests/s, p50 67 ms, through httpx; 8,257 requests/s, p50 6 ms, through wrk).
``--driver`` is in the JSON line with the figures.

Prints p50 / p99 latency and requests/s per endpoint and backend, then one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benches"))

import store as store_bench  # noqa: E402 - the storage bench's synthetic feed and loader
from tiktrend.pipeline import detect  # noqa: E402
from tiktrend.store import open_store  # noqa: E402

REGIONS = [*store_bench.REGIONS.tolist(), "*"]


@dataclass
class Endpoint:
    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    requests_per_s: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class BackendResult:
    backend: str
    mentions: int
    build_seconds: float | None
    endpoints: list[Endpoint]


# ---- building (or reusing) a store ---------------------------------------------------------------------------


def build(url: str, mentions: int, grow_videos: int) -> float:
    """Load ``mentions`` rows of the synthetic feed, refresh rollups, detect; returns the seconds it took."""
    started = time.perf_counter()
    feed = store_bench.Feed(total_videos=mentions // store_bench.PER_VIDEO, span_hours=30 * 24)
    store = open_store(url)
    rng = np.random.default_rng(1)
    result = store_bench.Result("build")
    first = 0
    try:
        while first < feed.total_videos:
            count = min(grow_videos, feed.total_videos - first)
            first = store_bench.load(store, feed, first, count, rng, result, "build")
        detect(store, "api-bench", windows=("1h", "1d"))
        counts = store.table_counts()
    finally:
        store.close()
    print(f"  built {url}: {counts['keyword_mentions']:,} mentions, {counts['trends']:,} trends", file=sys.stderr)
    return time.perf_counter() - started


def postgres_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def postgres_exists(admin_url: str, name: str) -> bool:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def postgres_create(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def postgres_drop(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def prepared_store(backend: str, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Yields (url, build seconds or None when reused); temporary stores are removed afterwards."""
    if backend == "duckdb":
        with TemporaryDirectory() as tmp:
            where = Path(args.store_dir) if args.store_dir else Path(tmp)
            where.mkdir(parents=True, exist_ok=True)
            path = where / f"api-bench-{args.mentions}.duckdb"
            url = f"duckdb:///{path}"
            built = None if path.exists() else build(url, args.mentions, args.grow_videos)
            yield url, built
        return
    name = f"tiktrend_api_bench_{args.mentions}" if args.store_dir else f"tiktrend_api_bench_{secrets.token_hex(3)}"
    keep = bool(args.store_dir)
    built = None
    if not (keep and postgres_exists(args.pg_url, name)):
        postgres_create(args.pg_url, name)
        try:
            built = build(postgres_url(args.pg_url, name), args.mentions, args.grow_videos)
        except BaseException:
            postgres_drop(args.pg_url, name)
            raise
    try:
        yield postgres_url(args.pg_url, name), built
    finally:
        if not keep:
            postgres_drop(args.pg_url, name)


# ---- serving and driving -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(url: str, workers: int, cache_s: float):  # type: ignore[no-untyped-def]
    """``tiktrend serve`` on a free loopback port; yields its base URL once /health answers."""
    port = free_port()
    env = {
        **os.environ,
        "TIKTREND_DATABASE_URL": url,
        "TIKTREND_API_CACHE_CHECK_S": str(cache_s),
    }
    command = [
        str(Path(sys.executable).parent / "tiktrend"), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"tiktrend serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("tiktrend serve did not answer /health within 120 s")


def keyword_paths(mentions: int, count: int) -> list[str]:
    """Keywords drawn like the feed draws them (Zipf): mostly frequent ones, some from the long tail."""
    feed = store_bench.Feed(total_videos=mentions // store_bench.PER_VIDEO, span_hours=30 * 24)
    rng = np.random.default_rng(5)
    picks = feed.words[feed.zipf[rng.integers(0, len(feed.zipf), count)]]
    return [f"/keywords/{w}?grain=day" for w in picks]


def trend_paths(mentions: int, count: int) -> list[str]:
    rng = np.random.default_rng(6)
    return [
        f"/trends?window={rng.choice(['1h', '1d'])}&region={rng.choice(REGIONS)}&limit=20".replace("*", "%2A")
        for _ in range(count)
    ]


def measured(samples: list[float], statuses: dict[str, int], seconds: float) -> Endpoint:
    """Latency percentiles and throughput of request times (seconds) and the statuses they got."""
    ordered = sorted(samples) or [0.0]
    return Endpoint(
        name="",
        requests=len(samples),
        errors=sum(n for status, n in statuses.items() if status != "200"),
        seconds=round(seconds, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 2),
        p99_ms=round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
        max_ms=round(ordered[-1] * 1000, 2),
        requests_per_s=round(len(samples) / seconds, 1),
        statuses=statuses,
    )


async def drive(base: str, paths: list[str], clients: int, seconds: float, warmup: float) -> Endpoint:
    """``clients`` closed-loop clients over ``paths`` (round robin) for ``seconds`` after ``warmup``."""
    import httpx

    samples: list[float] = []
    statuses: dict[str, int] = {}
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(index: int, http: httpx.AsyncClient) -> None:
        position = index
        while (now := time.perf_counter()) < stop:
            path = paths[position % len(paths)]
            position += clients
            try:
                reply = await http.get(path)
                status = str(reply.status_code)
            except httpx.HTTPError:
                status = "error"
            took = time.perf_counter() - now
            if now >= measure_from:
                samples.append(took)
                statuses[status] = statuses.get(status, 0) + 1

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(i, http) for i in range(clients)))
    return measured(samples, statuses, seconds)


async def cold_pass(base: str, paths: list[str], clients: int) -> Endpoint:
    """Each distinct path once, ``clients`` at a time: the first asks after a load, none answered from the cache."""
    import httpx

    todo = iter(dict.fromkeys(paths))
    samples: list[float] = []
    statuses: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        for path in todo:
            now = time.perf_counter()
            try:
                status = str((await http.get(path)).status_code)
            except httpx.HTTPError:
                status = "error"
            samples.append(time.perf_counter() - now)
            statuses[status] = statuses.get(status, 0) + 1

    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    seconds = time.perf_counter() - start
    return measured(samples, statuses, seconds)


_WRK_SCRIPT = """
local paths = {%s}
local position = 0
request = function()
  position = position + 1
  return wrk.format("GET", paths[(position %% #paths) + 1])
end
"""
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def wrk_drive(base: str, paths: list[str], clients: int, seconds: float, warmup: float) -> Endpoint:
    """The same closed loop as :func:`drive`, from ``wrk`` (one thread, ``clients`` connections)."""
    with TemporaryDirectory() as tmp:
        script = Path(tmp) / "paths.lua"
        script.write_text(_WRK_SCRIPT % ", ".join(json.dumps(path) for path in paths))
        if warmup > 0:
            _wrk(base, script, clients, warmup)
        output = _wrk(base, script, clients, seconds)
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, failed.groups())) if failed else 0)
    return Endpoint(
        name="",
        requests=requests,
        errors=errors,
        seconds=round(seconds, 1),
        p50_ms=_wrk_ms(output, r"50%"),
        p99_ms=_wrk_ms(output, r"99%"),
        max_ms=_wrk_ms(output, r"Latency\s+\S+\s+\S+"),
        requests_per_s=round(requests / seconds, 1),
        statuses={"non-2xx": int(bad.group(1)) if bad else 0},
    )


def _wrk(base: str, script: Path, clients: int, seconds: float) -> str:
    command = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "60s"]
    done = subprocess.run([*command, "-s", str(script), base], capture_output=True, text=True, check=True)
    return done.stdout


def _wrk_ms(output: str, label: str) -> float:
    """A latency of wrk's report in milliseconds (the value after ``label``; Max for the Latency line)."""
    found = re.search(label + r"\s+([\d.]+)(us|ms|s|m)\b", output)
    return round(float(found.group(1)) * _WRK_UNITS[found.group(2)], 2) if found else float("nan")


def run_during(url: str, after_s: float) -> None:
    """Record a run in the store ``after_s`` seconds from now, as a scheduled pipeline run would: the data
    version changes under load and every kept answer is dropped."""

    def record() -> None:
        store, run_id = open_store(url), f"api-bench-{secrets.token_hex(4)}"
        try:
            store.start_run(run_id, "run", {})
            store.finish_run(run_id, "ok", {})
        finally:
            store.close()

    timer = threading.Timer(after_s, record)
    timer.daemon = True
    timer.start()


def run_backend(backend: str, args: argparse.Namespace) -> BackendResult:
    with prepared_store(backend, args) as (url, built):
        if args.build_only:
            return BackendResult(backend, args.mentions, None if built is None else round(built, 1), [])
        endpoints = []
        with server(url, args.workers, args.cache_s) as base:
            asked = {"trends": ("/trends", trend_paths), "keywords": ("/keywords/{kw}", keyword_paths)}
            for key in args.endpoints.split(","):
                name, make = asked[key]
                paths = make(args.mentions, args.draws)
                if args.cold:
                    cold = asyncio.run(cold_pass(base, paths, args.clients))
                    cold.name = f"{name} cold"
                    endpoints.append(cold)
                    print(f"  {backend} {cold.name}: {cold}", file=sys.stderr)
                if args.run_during is not None:
                    run_during(url, args.warmup + args.run_during)
                if args.driver == "wrk":
                    found = wrk_drive(base, paths, args.clients, args.seconds, args.warmup)
                else:
                    found = asyncio.run(drive(base, paths, args.clients, args.seconds, args.warmup))
                found.name = name
                endpoints.append(found)
                print(f"  {backend} {name}: {found}", file=sys.stderr)
        return BackendResult(backend, args.mentions, None if built is None else round(built, 1), endpoints)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=10_000_000, help="Keyword-mention rows in each store.")
    parser.add_argument("--backends", default="duckdb,postgres")
    parser.add_argument("--clients", type=int, default=50, help="Concurrent clients.")
    parser.add_argument("--endpoints", default="trends,keywords", help="Which of trends,keywords to measure.")
    parser.add_argument(
        "--draws", type=int, default=5_000, help="Requests drawn per endpoint, asked round robin (keywords: Zipf)."
    )
    parser.add_argument(
        "--cold", action=argparse.BooleanOptionalAction, default=True, help="Measure a cold pass first."
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="Measured seconds per endpoint.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Unmeasured seconds before each measurement.")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes.")
    parser.add_argument(
        "--run-during",
        type=float,
        default=None,
        help="Record a run this many seconds into each steady measurement (PostgreSQL: DuckDB is held by the reader).",
    )
    parser.add_argument(
        "--cache-s", type=float, default=1.0, help="TIKTREND_API_CACHE_CHECK_S of the server (0: no kept answers)."
    )
    parser.add_argument("--grow-videos", type=int, default=200_000, help="Videos per build batch (x5 rows).")
    parser.add_argument("--store-dir", default=None, help="Keep the built stores here (and reuse them).")
    parser.add_argument("--build-only", action="store_true", help="Build (or find) the stores, measure nothing.")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TIKTREND_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="A database on the server to create the bench database from.",
    )
    parser.add_argument("--driver", choices=("auto", "wrk", "python"), default="auto", help="Load generator.")
    args = parser.parse_args()
    if args.driver == "auto":
        args.driver = "wrk" if shutil.which("wrk") else "python"
    results = [run_backend(backend, args) for backend in args.backends.split(",") if backend]
    report(results, args)


def report(results: list[BackendResult], args: argparse.Namespace) -> None:
    cache = f"answers kept (checked every {args.cache_s:g} s)" if args.cache_s else "no kept answers"
    print(
        f"\nAPI bench: {args.mentions:,} mention rows, {args.clients} clients ({args.driver}), "
        f"{args.workers} worker(s), {cache}"
    )
    print(f"{'backend':<10} {'endpoint':<21} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for result in results:
        for e in result.endpoints:
            print(
                f"{result.backend:<10} {e.name:<21} {e.requests:>9,} {e.requests_per_s:>8.1f} {e.p50_ms:>8.2f} "
                f"{e.p99_ms:>8.2f} {e.errors:>7}"
            )
    summary: dict[str, Any] = {
        "bench": "api",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "mentions": args.mentions,
        "clients": args.clients,
        "driver": args.driver,
        "workers": args.workers,
        "cache_check_s": args.cache_s,
        "run_during": args.run_during,
        "draws": args.draws,
        "cold": args.cold,
        "seconds": args.seconds,
        "results": [asdict(r) for r in results],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
