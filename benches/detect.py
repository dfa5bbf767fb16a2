"""How fast each detector scores a month of hourly buckets for 100,000 keywords, on one core.

    python benches/detect.py [--keys 100000] [--buckets 720] [--repeat 1]

The series is synthetic (Poisson counts with a daily cycle, a few hundred planted bursts, engagement
gains). The figure is the CPU time of ``score_series`` (every bucket, every key: scores and decisions)
on one thread, which a busy shared machine disturbs less than wall time (printed too); the time with
the evidence arrays (three more ``[bucket, key]`` arrays to write) is printed beside it. The last line
is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

# One core: no BLAS thread pools (numpy's element-wise loops are single-threaded anyway).
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np  # noqa: E402

from tiktrend.trends.detectors import default_detectors  # noqa: E402
from tiktrend.trends.series import Series, series_from_arrays  # noqa: E402

LIMIT_S = 2.0


def synthetic_series(n_keys: int, n_buckets: int, seed: int = 0) -> Series:
    """Counts with a daily rhythm and Zipf-like rates, 0.5% of keys bursting once; gains per video."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n_buckets)
    rhythm = (1 + 0.6 * np.sin((hours - 6) * 2 * np.pi / 24)).astype(np.float64)
    rates = 20.0 / np.arange(1, n_keys + 1) ** 0.8
    counts = rng.poisson(np.outer(rhythm, rates)).astype(np.float32)
    bursting = rng.choice(n_keys, size=max(1, n_keys // 200), replace=False)
    for key in bursting:
        start = int(rng.integers(48, n_buckets - 48))
        counts[start : start + 24, key] += rng.poisson(np.linspace(1, 12, 24))
    totals = (counts.sum(axis=1) + rng.poisson(5000 * rhythm)).astype(np.float32)
    series = series_from_arrays(counts, totals)
    gained = counts * np.float32(250.0)
    return Series(
        keys=series.keys,
        buckets=series.buckets,
        grain="hour",
        videos=series.videos,
        totals=series.totals,
        key_slice=series.key_slice,
        gained=gained,
        gained_totals=gained.sum(axis=1, keepdims=True) * np.float32(1.5),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--buckets", type=int, default=720)
    parser.add_argument("--repeat", type=int, default=1, help="runs per detector; the best is kept")
    args = parser.parse_args()
    started = time.perf_counter()
    series = synthetic_series(args.keys, args.buckets)
    print(
        f"synthetic series: {args.keys:,} keys x {args.buckets:,} hourly buckets ({time.perf_counter() - started:.1f}s)"
    )
    figures: dict[str, float] = {}
    walls: dict[str, float] = {}
    with_evidence: dict[str, float] = {}
    flagged: dict[str, int] = {}
    for detector in default_detectors("hour"):
        cpu, wall = float("inf"), float("inf")
        for _ in range(args.repeat):
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            scores = detector.score_series(series, evidence=False)
            cpu = min(cpu, time.process_time() - start_cpu)
            wall = min(wall, time.perf_counter() - start_wall)
        flagged[detector.name] = int(scores.decision.any(axis=0).sum())
        del scores
        start_cpu = time.process_time()
        full = detector.score_series(series, evidence=True)
        with_evidence[detector.name] = round(time.process_time() - start_cpu, 3)
        del full
        figures[detector.name], walls[detector.name] = round(cpu, 3), round(wall, 3)
        verdict = "ok" if cpu <= LIMIT_S else f"over the {LIMIT_S:.0f} s budget"
        print(
            f"{detector.name:>10}: {cpu:6.2f} s CPU ({wall:.2f} s wall) scores + decisions, "
            f"{with_evidence[detector.name]:.2f} s CPU with evidence; "
            f"{flagged[detector.name]:,} keys flagged; {verdict}"
        )
    result = {
        "bench": "detect",
        "keys": args.keys,
        "buckets": args.buckets,
        "cpu_seconds": figures,
        "wall_seconds": walls,
        "cpu_seconds_with_evidence": with_evidence,
        "keys_flagged": flagged,
        "limit_s": LIMIT_S,
        "all_within_limit": all(v <= LIMIT_S for v in figures.values()),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
