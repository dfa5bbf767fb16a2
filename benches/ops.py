"""What the metrics and alerts stages cost on a store of a realistic size, on both backends.

Run from the repository: ``python benches/ops.py [--mentions 1000000] [--backends duckdb,postgres]``.
The synthetic feed of ``benches/store.py`` is loaded into a fresh store of each backend up to ``--mentions``
keyword-mention rows, rolled up and detected once (threshold rule, 1h and 1d windows); then:

- ``store_figures``: unique keywords (all, and of the last day) and videos missing stats, counted in the store
  (the per-run query of the metrics stage), median of 3;
- ``status_report``: everything ``tiktrend status`` reads (latest runs, volumes, quarantine, freshness), median of 3;
- alerts: a rule matching every trend of the latest detections (every slice) is evaluated (pending
  rows written) and delivered to a local HTTP receiver on 127.0.0.1; alerts per second of each step.

PostgreSQL: a database is created on the server of ``--pg-url`` (default: the local one) and dropped at the end.
Prints a table, then one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benches"))

import store as store_bench  # noqa: E402 - the storage bench's synthetic feed and loader
from tiktrend.alerts import AlertRule, Webhook, deliver, evaluate  # noqa: E402
from tiktrend.metrics import status_report, store_figures  # noqa: E402
from tiktrend.pipeline import detect  # noqa: E402
from tiktrend.store import Store, open_store  # noqa: E402


def median_seconds(work: Callable[[], object], repeat: int = 3) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


class Receiver(BaseHTTPRequestHandler):
    """Takes every post with a 200, as a healthy Slack webhook does."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def fill(store: Store, mentions: int) -> None:
    """Load the synthetic feed up to ``mentions`` rows in batches of 200,000, then detect once."""
    videos = mentions // store_bench.PER_VIDEO
    feed = store_bench.Feed(total_videos=videos, span_hours=24 * 30)
    rng = np.random.default_rng(7)
    result = store_bench.Result("fill")
    first, step = 0, 40_000
    while first < videos:
        first = store_bench.load(store, feed, first, min(step, videos - first), rng, result, "fill")
    store.start_run("bench", "bench", {})
    detect(store, "bench", windows=("1h", "1d"))
    store.finish_run("bench", "ok", {})


def run_backend(store: Store, name: str, mentions: int, url: str) -> dict[str, Any]:
    started = time.perf_counter()
    fill(store, mentions)
    print(f"{name}: filled {mentions:,} mention rows in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    figures = store_figures(store)
    row: dict[str, Any] = {
        "backend": name,
        "mentions": mentions,
        "keywords_unique": figures["keywords_unique"],
        "store_figures_s": median_seconds(lambda: store_figures(store)),
        "status_report_s": median_seconds(lambda: status_report(store)),
    }
    rule = AlertRule(name="bench")  # every trend of the latest detections, in every slice
    started = time.perf_counter()
    report = evaluate(store, [rule])
    evaluated = time.perf_counter() - started
    started = time.perf_counter()
    delivered = deliver(store, Webhook(url, attempts=1, backoff_s=0.0, timeout_s=5.0))
    sent_s = time.perf_counter() - started
    row.update(
        alerts=report.new,
        evaluate_alerts_per_s=report.new / evaluated if evaluated else 0.0,
        deliver_alerts_per_s=delivered.sent / sent_s if sent_s else 0.0,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=1_000_000, help="keyword-mention rows to load")
    parser.add_argument("--backends", default="duckdb,postgres")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    rows = []
    for backend in args.backends.split(","):
        if backend == "duckdb":
            with TemporaryDirectory() as tmp:
                store = open_store(f"duckdb:///{Path(tmp) / 'ops.duckdb'}")
                try:
                    rows.append(run_backend(store, "duckdb", args.mentions, url))
                finally:
                    store.close()
        else:
            with store_bench.postgres_database(args.pg_url) as database:
                store = open_store(database)
                try:
                    rows.append(run_backend(store, "postgres", args.mentions, url))
                finally:
                    store.close()
    server.shutdown()
    print(f"{'backend':<9} {'mentions':>11} {'keywords':>9} {'figures s':>10} {'status s':>9} {'alerts':>7} "
          f"{'eval/s':>8} {'send/s':>7}")  # fmt: skip
    for r in rows:
        print(
            f"{r['backend']:<9} {r['mentions']:>11,} {r['keywords_unique']:>9,.0f} {r['store_figures_s']:>10.3f} "
            f"{r['status_report_s']:>9.3f} {r['alerts']:>7,} {r['evaluate_alerts_per_s']:>8.0f} "
            f"{r['deliver_alerts_per_s']:>7.0f}"
        )
    print(json.dumps({"bench": "ops", "machine": platform.machine(), "cpus": _cpus(), "results": rows}))


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
