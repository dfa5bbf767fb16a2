"""Importer throughput: read + normalize records/s per format, against the stdlib-only parse of the same file.

Run from anywhere: ``python benches/ingest.py [--repeat N]``. Each case runs in a fresh child process so
that its peak RSS (``resource.getrusage``) is its own. Prints a table, then one line of JSON.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SYNTHETIC_RECORDS = 50_000
T = TypeVar("T")


def synthetic_jsonl(path: Path, n: int, *, gz: bool = False) -> Path:
    """Write ``n`` records in the tiktrend shape (the Video field names) with plain json."""
    rng = random.Random(7)
    start = datetime(2025, 5, 1, tzinfo=UTC)
    tags = ["fyp", "xuhuong", "viral", "trend", "dance", "food", "travel", "meme", "music", "catsoftiktok"]
    opener: Callable[..., Any] = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as f:
        for i in range(n):
            created = start + timedelta(seconds=rng.randrange(30 * 86_400))
            observed = created + timedelta(hours=rng.randrange(1, 240))
            picked = rng.sample(tags, 3)
            record = {
                "video_id": str((int(created.timestamp()) << 32) | rng.getrandbits(32)),
                "observed_at": observed.isoformat(),
                "created_at": created.isoformat(),
                "region": rng.choice(["VN", "US", "DE"]),
                "category": rng.choice(["food", "music", "comedy"]),
                "author": f"user{rng.randrange(5_000)}",
                "author_followers": rng.randrange(10_000_000),
                "caption": f"video number {i} about things " + " ".join(f"#{t}" for t in picked),
                "hashtags": picked,
                "music_id": str(rng.getrandbits(62)),
                "music_title": f"original sound - user{rng.randrange(5_000)}",
                "music_author": f"user{rng.randrange(5_000)}",
                "music_original": rng.random() < 0.5,
                "views": rng.randrange(10**7),
                "likes": rng.randrange(10**6),
                "comments": rng.randrange(10**4),
                "shares": rng.randrange(10**4),
                "saves": rng.randrange(10**4),
                "duration_s": float(rng.randrange(5, 180)),
                "language": "vi",
                "cover_url": None,
                "video_url": None,
                "source": "sim",
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def stdlib_parse(path: Path, kind: str) -> int:
    """The floor: parse the same file with the stdlib only, building nothing."""
    if kind == "jsonl":
        opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
        loads = json.loads
        with opener(path, "rb") as f:
            return sum(1 for line in f if loads(line))
    if kind == "json":
        with path.open("rb") as f:
            return len(json.load(f))
    with path.open(encoding="utf-8-sig", newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def run_import(path: Path, fmt: str) -> tuple[int, int]:
    """Read and normalize every record; (records, valid videos)."""
    from tiktrend.collect.formats import ImportContext, normalize, read_records
    from tiktrend.models import RecordError

    ctx = ImportContext(fallback_observed_at=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC), default_region="VN")
    records = valid = 0
    for raw in read_records(path, fmt):
        records += 1
        if raw.record is None:
            continue
        try:
            normalize(raw.record, fmt, ctx)
        except RecordError:
            continue
        valid += 1
    return records, valid


def best_time(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """The fastest of ``repeat`` runs, and the last result."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def one_case(fmt: str, path: Path, kind: str, repeat: int) -> dict[str, Any]:
    """Measure one importer in this process (called in a fresh child)."""
    sys.path.insert(0, str(ROOT / "src"))
    import tiktrend.collect.formats  # noqa: F401  (imported before the baseline, not timed)

    baseline = peak_rss_mb()
    t_import, (records, valid) = best_time(lambda: run_import(path, fmt), repeat)
    peak = peak_rss_mb()
    t_floor, _ = best_time(lambda: stdlib_parse(path, kind), repeat)
    return {
        "importer": fmt,
        "file": str(path.name),
        "mib": round(path.stat().st_size / 2**20, 1),
        "records": records,
        "valid": valid,
        "import_rps": round(records / t_import),
        "floor_rps": round(records / t_floor),
        "ratio": round(t_import / t_floor, 2),
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": round(peak - baseline, 1),
    }


def cases(tmp: Path) -> list[tuple[str, Path, str]]:
    found: list[tuple[str, Path, str]] = [
        ("tiktrend", synthetic_jsonl(tmp / "synthetic.jsonl", SYNTHETIC_RECORDS), "jsonl"),
        ("tiktrend", synthetic_jsonl(tmp / "synthetic.jsonl.gz", SYNTHETIC_RECORDS, gz=True), "jsonl"),
    ]
    for fmt, name, kind in (
        ("scraper", "seed_trending_sample.json", "json"),
        ("csv", "vn_videos_2025.csv", "csv"),
    ):
        if (DATA / name).exists():
            found.append((fmt, DATA / name, kind))
        else:
            print(f"skipped {fmt}: {DATA / name} not found", file=sys.stderr)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    parser.add_argument("--one", nargs=3, metavar=("FORMAT", "PATH", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.repeat = max(1, args.repeat)
    if args.one:
        fmt, path, kind = args.one
        print(json.dumps(one_case(fmt, Path(path), kind, args.repeat)))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, path, kind in cases(Path(tmp)):
            child = [sys.executable, __file__, "--repeat", str(args.repeat), "--one", fmt, str(path), kind]
            out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    header = f"{'importer':<9} {'file':<27} {'MiB':>5} {'records':>8} {'valid':>8} {'import/s':>9} "
    header += f"{'stdlib/s':>9} {'ratio':>6} {'peak RSS':>9} {'growth':>7}"
    print(header)
    for r in results:
        print(
            f"{r['importer']:<9} {r['file']:<27} {r['mib']:>5} {r['records']:>8,} {r['valid']:>8,} "
            f"{r['import_rps']:>9,} {r['floor_rps']:>9,} {r['ratio']:>5}x {r['peak_rss_mb']:>7}MB "
            f"{r['rss_growth_mb']:>5}MB"
        )
    summary = {"repeat": args.repeat, "python": platform.python_version(), "results": results}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
