"""Store throughput on both backends: load rows/s, rollup maintenance per batch as the table grows, query p95.

Run from the repository: ``python benches/store.py [--sizes 1000000,10000000] [--backends duckdb,postgres]``.
A synthetic feed in time order (a realistic share of re-observed videos, Zipf-distributed keywords over six
regions, eight categories and three modalities) is loaded batch by batch into a fresh store of each backend:

- load: keyword-mention rows per second of ``load_batch`` over every batch (folding, upserts, mentions;
  rollups apart), plus closing the store: DuckDB then copies what is left in its write-ahead log into the file
  (``--duckdb-checkpoint-mb``), which the loads wrote;
- rollup maintenance: the table grows in large batches; at each size, three batches of the standard shape
  are loaded and ``refresh_rollups`` timed after each (the median is reported). Proportional to the batch,
  it stays flat as the table grows;
- queries at the largest size: ``top_trends`` for a region and the 1-day window, and the one-day rollup slice
  of a region (``bucket_frame(day, region=R, category=*, modality=*)``), p50 and p95 over repeated calls.

PostgreSQL: a database is created on the server of ``--pg-url`` (default: the local one) and dropped at the end.
``--pg-without-keyword-indexes`` drops the indexes of migration 6 (``keyword_mentions (keyword)``,
``keyword_rollup (keyword, grain, bucket)``) before loading, to measure what they cost loads.
Prints a table per backend, then one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tiktrend.models import VIDEO_COLUMNS  # noqa: E402
from tiktrend.pipeline import detect  # noqa: E402
from tiktrend.store import ALL, Store, open_store  # noqa: E402
from tiktrend.store.duckdb import CHECKPOINT_MB  # noqa: E402

T0 = datetime(2025, 5, 1, tzinfo=UTC)
REGIONS = np.array(["US", "VN", "DE", "FR", "BR", "ID"])
CATEGORIES = np.array(["food", "music", "comedy", "dance", "pets", "sport", "beauty", "tech"])
MODALITIES = np.array(["hashtag", "caption", "music"])
PER_VIDEO = 5  # mention rows per video


@dataclass
class Feed:
    """A deterministic synthetic feed: video ``i`` is posted at ``i / rate`` and always has the same mentions."""

    total_videos: int
    span_hours: float
    vocabulary: int = 50_000
    reobserve: float = 0.3  # share of each batch that re-observes videos of the previous day
    seed: int = 7
    zipf: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.zipf = (rng.zipf(1.25, 1 << 20) - 1) % self.vocabulary
        self.words = np.array([f"kw{i}" for i in range(self.vocabulary)], dtype=object)

    def posted(self, ids: np.ndarray) -> pd.DatetimeIndex:
        seconds = ids * (self.span_hours * 3600 / self.total_videos)
        return pd.DatetimeIndex(pd.Timestamp(T0) + pd.to_timedelta(seconds, unit="s"))

    def video_ids(self, ids: np.ndarray) -> np.ndarray:
        """TikTok's shape of id: 19 digits, the posting second in the high bits (so ids grow with time)."""
        seconds = (ids * (self.span_hours * 3600 / self.total_videos)).astype(np.int64) + int(T0.timestamp())
        return ((seconds << 32) | (ids & 0xFFFFFFFF)).astype(str).astype(object)

    def batch(self, first: int, count: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``count`` new videos from ``first`` on, plus re-observations of videos from the day before."""
        new = np.arange(first, first + count)
        day = int(self.total_videos / self.span_hours * 24)
        older = rng.integers(max(0, first - day), max(1, first), int(count * self.reobserve)) if first else new[:0]
        ids = np.concatenate([new, np.unique(older)])
        posted = self.posted(ids)
        now = self.posted(np.array([first + count]))[0]
        videos = pd.DataFrame(
            {
                "video_id": self.video_ids(ids),
                "observed_at": np.where(ids >= first, posted + pd.Timedelta(minutes=20), now),
                "created_at": posted,
                "region": REGIONS[ids % len(REGIONS)],
                "category": CATEGORIES[(ids // 7) % len(CATEGORIES)],
                "caption": "",
                "source": "bench",
                "views": (ids % 5000) * 10 + (ids < first) * 1000,
                "likes": ids % 700,
            }
        )
        videos["hashtags"] = [[] for _ in range(len(videos))]
        videos = videos.reindex(columns=list(VIDEO_COLUMNS))
        slots = (ids[:, None] * PER_VIDEO + np.arange(PER_VIDEO)).ravel()
        keyword = self.words[self.zipf[slots % len(self.zipf)]]
        mentions = pd.DataFrame(
            {
                "video_id": np.repeat(videos["video_id"].to_numpy(), PER_VIDEO),
                "keyword": keyword,
                "display": keyword,
                "modality": MODALITIES[slots % len(MODALITIES)],
                "weight": 1.0,
                "is_generic": False,
            }
        )
        return videos, mentions


@dataclass
class Result:
    backend: str
    load_rows: int = 0
    load_seconds: float = 0.0
    refresh_seconds: dict[str, float] = field(default_factory=dict)
    refresh_batch_rows: int = 0
    top_trends_ms: dict[str, float] = field(default_factory=dict)
    day_slice_ms: dict[str, float] = field(default_factory=dict)
    trends_rows: int = 0
    close_seconds: float = 0.0

    @property
    def load_rows_per_s(self) -> float:
        return self.load_rows / self.load_seconds if self.load_seconds else 0.0


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A database of its own on the server, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"tiktrend_bench_{secrets.token_hex(3)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def drop_keyword_indexes(url: str) -> None:
    """Drop the indexes migration 6 added (one keyword's reads), so a run shows loads without them."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX IF EXISTS keyword_mentions_keyword")
        conn.execute("DROP INDEX IF EXISTS keyword_rollup_keyword")


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p95": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
    }


def run_backend(store: Store, name: str, sizes: list[int], args: argparse.Namespace, feed: Feed) -> Result:
    """Grow the table with large batches; at each size, time standard batches (load, then refresh)."""
    result = Result(name)
    rng = np.random.default_rng(1)
    first = 0
    for size in sizes:
        while first * PER_VIDEO < size - args.measure * args.batch_videos * PER_VIDEO:
            count = min(args.grow_videos, size // PER_VIDEO - args.measure * args.batch_videos - first)
            first = load(store, feed, first, count, rng, result, f"{name} grow")
        refreshes = []
        for _ in range(args.measure):
            first = load(store, feed, first, args.batch_videos, rng, result, f"{name} measure", refreshes)
        # The median of the standard batches at this size: the box may be shared.
        result.refresh_seconds[f"{size}"] = round(statistics.median(refreshes), 3)
        result.refresh_batch_rows = int(args.batch_videos * PER_VIDEO * (1 + feed.reobserve))
    query_phase(store, result, args.queries, feed, first)
    return result


def load(
    store: Store,
    feed: Feed,
    first: int,
    count: int,
    rng: np.random.Generator,
    result: Result,
    label: str,
    refreshes: list[float] | None = None,
) -> int:
    """Load ``count`` new videos (and re-observations) as one batch, refresh the rollups; the next first id."""
    videos, mentions = feed.batch(first, count, rng)
    started = time.perf_counter()
    store.load_batch(videos, mentions)
    loaded = time.perf_counter() - started
    result.load_seconds += loaded
    result.load_rows += len(mentions)
    started = time.perf_counter()
    store.refresh_rollups()
    refreshed = time.perf_counter() - started
    if refreshes is not None:
        refreshes.append(refreshed)
    table = (first + count) * PER_VIDEO
    print(
        f"  {label}: {table:>11,} rows, batch of {len(mentions):,}: load {loaded:.2f}s, refresh {refreshed:.2f}s",
        file=sys.stderr,
        flush=True,
    )
    return first + count


def query_phase(store: Store, result: Result, queries: int, feed: Feed, first: int) -> None:
    """Detect once at the end of the data, then time the reads a dashboard makes."""
    detect(store, "bench", windows=("1h", "1d"))
    result.trends_rows = int(store.table_counts()["trends"])
    rng = np.random.default_rng(3)
    end = feed.posted(np.array([first]))[0].floor("D")
    top, day = [], []
    for _ in range(queries):
        region = str(rng.choice([*REGIONS, ALL]))
        started = time.perf_counter()
        store.top_trends(window="1d", region=region, limit=20)
        top.append(time.perf_counter() - started)
        started = time.perf_counter()
        store.bucket_frame("day", end - timedelta(days=1), end, region=region, category=ALL, modality=ALL)
        day.append(time.perf_counter() - started)
    result.top_trends_ms = percentiles(top)
    result.day_slice_ms = percentiles(day)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="Mention-row counts to measure at.")
    parser.add_argument("--backends", default="duckdb,postgres")
    parser.add_argument("--batch-videos", type=int, default=20_000, help="New videos per measured batch (x5 rows).")
    parser.add_argument("--grow-videos", type=int, default=200_000, help="New videos per batch that grows the table.")
    parser.add_argument("--measure", type=int, default=3, help="Measured batches at each size.")
    parser.add_argument("--span-days", type=float, default=30.0, help="Time the largest size spans.")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--duckdb-checkpoint-mb",
        type=int,
        default=CHECKPOINT_MB,
        help="DuckDB's write-ahead log size before a checkpoint (DuckDB's own default: 16).",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TIKTREND_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="A database on the server to create the bench database from.",
    )
    parser.add_argument(
        "--pg-without-keyword-indexes",
        action="store_true",
        help="Drop migration 6's keyword indexes before loading (their cost on loads).",
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    feed = Feed(total_videos=sizes[-1] // PER_VIDEO, span_hours=args.span_days * 24)
    results = []
    for backend in args.backends.split(","):
        started = time.perf_counter()
        if backend == "duckdb":
            with TemporaryDirectory() as tmp:
                store = open_store(
                    f"duckdb:///{Path(tmp) / 'bench.duckdb'}", duckdb_checkpoint_mb=args.duckdb_checkpoint_mb
                )
                results.append(run_backend(store, backend, sizes, args, feed))
                close(store, results[-1])
        else:
            with postgres_database(args.pg_url) as url:
                store = open_store(url)
                if args.pg_without_keyword_indexes:
                    drop_keyword_indexes(url)
                results.append(run_backend(store, backend, sizes, args, feed))
                close(store, results[-1])
        print(f"  {backend} done in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    report(results, sizes, args)


def close(store: Store, result: Result) -> None:
    """Close the store, its time counted with the loads' (DuckDB's last checkpoint writes what they logged)."""
    started = time.perf_counter()
    store.close()
    result.close_seconds = round(time.perf_counter() - started, 3)
    result.load_seconds += result.close_seconds
    print(f"  {result.backend} closed in {result.close_seconds:.2f}s", file=sys.stderr)


def report(results: list[Result], sizes: list[int], args: argparse.Namespace) -> None:
    counts = ", ".join(f"{s:,}" for s in sizes)
    print(f"\nStore bench: {counts} mention rows, batches of {args.batch_videos:,} new videos")
    print(f"{'backend':<10} {'load rows/s':>12} " + " ".join(f"{'refresh@' + f'{s:,}':>18}" for s in sizes)
          + f" {'top_trends p95':>15} {'day slice p95':>14}")  # fmt: skip
    for r in results:
        refresh = " ".join(f"{r.refresh_seconds[str(s)]:>17.3f}s" for s in sizes)
        print(
            f"{r.backend:<10} {r.load_rows_per_s:>12,.0f} {refresh} {r.top_trends_ms['p95']:>12.2f} ms "
            f"{r.day_slice_ms['p95']:>11.2f} ms"
        )
    summary: dict[str, Any] = {
        "bench": "store",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "sizes": sizes,
        "batch_videos": args.batch_videos,
        "pg_keyword_indexes": not args.pg_without_keyword_indexes,
        "duckdb_checkpoint_mb": args.duckdb_checkpoint_mb,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results": [{**asdict(r), "load_rows_per_s": round(r.load_rows_per_s)} for r in results],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
