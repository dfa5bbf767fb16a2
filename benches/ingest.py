"""Importer throughput: read + normalize records/s per format, against the stdlib-only parse of the same file.

Run from anywhere: ``python benches/ingest.py [--repeat N] [--big-mib N] [--tmp DIR]``. Each case runs in a
fresh child process so that its peak RSS (``resource.getrusage``) is its own. Rates are per CPU second of
the process (``time.process_time``: one core, whatever else the machine runs) and per wall second. Prints a
table, then one line of JSON.

``--big-mib N`` adds the memory case: an N MiB JSONL of web items written to ``--tmp`` (default: the system
temporary directory), imported whole through the pipeline (raw zone, normalize, extract, DuckDB load) in a
child process whose peak RSS is reported.
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
FIXTURES = ROOT / "tests" / "data"
SYNTHETIC_RECORDS = 50_000
WEB_RECORDS = 20_000  # web items are ~7 KiB each: 20,000 is a 140 MiB file
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


def web_items(path: Path, n: int, *, replies: bool = False, mib: int = 0) -> Path:
    """Write ``n`` web itemList items (a real reply's item shape, ~7 KiB) as JSONL, or replies of 30; or ``mib``."""
    template = json.loads((FIXTURES / "web_item_list.json").read_text(encoding="utf-8"))["itemList"][0]
    rng = random.Random(11)
    tags = ["fyp", "matcha", "viral", "foodtok", "grwm", "booktok", "outfit", "catsoftiktok", "trend", "dance"]
    now = int(datetime(2025, 9, 20, tzinfo=UTC).timestamp() * 1000)
    with path.open("w", encoding="utf-8") as f:
        page: list[dict[str, Any]] = []
        n = n or 2**62
        for i in range(n):
            if mib and f.tell() >= mib * 2**20:
                break
            item = dict(template)
            created = 1_756_000_000 + rng.randrange(900_000)
            picked = rng.sample(tags, 3)
            item["id"] = str((created << 32) | rng.getrandbits(32))
            item["createTime"] = created
            item["desc"] = f"video {i} about things " + " ".join(f"#{t}" for t in picked)
            item["challenges"] = [{"id": str(rng.getrandbits(40)), "title": t} for t in picked]
            item["textExtra"] = [{"hashtagName": t, "type": 1} for t in picked]
            counts = {k: rng.randrange(10**7) for k in ("playCount", "diggCount", "commentCount", "shareCount")}
            item["stats"] = {**counts, "collectCount": rng.randrange(10**5)}
            item["statsV2"] = {k: str(v) for k, v in item["stats"].items()}
            item["author"] = {**template["author"], "uniqueId": f"user{rng.randrange(50_000)}"}
            if not replies:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
                continue
            page.append(item)
            if len(page) == 30 or i == n - 1:
                reply = {"extra": {"now": now + i}, "hasMore": True, "itemList": page, "statusCode": 0}
                f.write(json.dumps(reply, ensure_ascii=False) + "\n")
                page = []
    return path


def stdlib_parse(path: Path, kind: str) -> int:
    """The floor: parse the same file with the stdlib only, building nothing."""
    if kind == "jsonl":
        opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
        loads = json.loads
        with opener(path, "rb") as f:
            return sum(1 for line in f if loads(line))
    if kind == "replies":
        with path.open("rb") as f:
            return sum(len(json.loads(line)["itemList"]) for line in f)
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


def best_time(fn: Callable[[], T], repeat: int) -> tuple[float, float, T]:
    """The fastest of ``repeat`` runs in CPU seconds and in wall seconds, and the last result."""
    cpu, wall = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - t0)
    return min(cpu), min(wall), result


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def one_case(fmt: str, path: Path, kind: str, repeat: int) -> dict[str, Any]:
    """Measure one importer in this process (called in a fresh child)."""
    sys.path.insert(0, str(ROOT / "src"))
    import tiktrend.collect.formats  # noqa: F401  (imported before the baseline, not timed)

    baseline = peak_rss_mb()
    t_import, wall_import, (records, valid) = best_time(lambda: run_import(path, fmt), repeat)
    peak = peak_rss_mb()
    t_floor, wall_floor, _ = best_time(lambda: stdlib_parse(path, kind), repeat)
    return {
        "importer": fmt,
        "file": str(path.name),
        "mib": round(path.stat().st_size / 2**20, 1),
        "records": records,
        "valid": valid,
        "import_rps": round(records / t_import),
        "floor_rps": round(records / t_floor),
        "ratio": round(t_import / t_floor, 2),
        "import_rps_wall": round(records / wall_import),
        "floor_rps_wall": round(records / wall_floor),
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": round(peak - baseline, 1),
    }


def pipeline_case(path: Path, fmt: str) -> dict[str, Any]:
    """Import a file through the whole pipeline into a fresh DuckDB (called in a fresh child)."""
    sys.path.insert(0, str(ROOT / "src"))
    from tiktrend.pipeline import ingest_file
    from tiktrend.settings import Settings
    from tiktrend.store.duckdb import DuckDBStore

    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        settings = Settings(data_dir=Path(tmp))
        baseline = peak_rss_mb()
        with DuckDBStore(settings.database_url) as store:
            # DuckDB's cache would grow to most of the machine's memory; a bound says what the import itself needs.
            store.con.execute("SET memory_limit = '256MB'")
            c0, t0 = time.process_time(), time.perf_counter()
            report = ingest_file(path, store, settings, fmt=fmt)
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    return {
        "importer": f"{fmt} (pipeline)",
        "file": path.name,
        "mib": round(path.stat().st_size / 2**20, 1),
        "records": report.read,
        "valid": report.accepted,
        "import_rps": round(report.read / cpu),
        "import_rps_wall": round(report.read / wall),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_growth_mb": round(peak_rss_mb() - baseline, 1),
    }


def cases(tmp: Path) -> list[tuple[str, Path, str]]:
    found: list[tuple[str, Path, str]] = [
        ("web", web_items(tmp / "web_items.jsonl", WEB_RECORDS), "jsonl"),
        ("web", web_items(tmp / "web_replies.jsonl", WEB_RECORDS, replies=True), "replies"),
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
    parser.add_argument("--big-mib", type=int, default=0, help="also import a JSONL of this many MiB (memory case)")
    parser.add_argument("--tmp", type=Path, default=None, help="where the large file is written (default: system tmp)")
    parser.add_argument("--one", nargs=3, metavar=("FORMAT", "PATH", "KIND"), help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.repeat = max(1, args.repeat)
    if args.one:
        fmt, path, kind = args.one
        print(json.dumps(one_case(fmt, Path(path), kind, args.repeat)))
        return
    if args.pipeline:
        print(json.dumps(pipeline_case(Path(args.pipeline[1]), args.pipeline[0])))
        return
    results = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for fmt, path, kind in cases(Path(tmp)):
            child = [sys.executable, __file__, "--repeat", str(args.repeat), "--one", fmt, str(path), kind]
            results.append(_child(child))
        if args.big_mib:
            big = web_items(Path(tmp) / f"web_{args.big_mib}mib.jsonl", 0, mib=args.big_mib)
            results.append(_child([sys.executable, __file__, "--one", "web", str(big), "jsonl"]))
            results.append(_child([sys.executable, __file__, "--pipeline", "web", str(big)]))
    header = f"{'importer':<16} {'file':<24} {'MiB':>6} {'records':>8} {'valid':>8} {'import/s':>9} "
    header += f"{'stdlib/s':>9} {'ratio':>6} {'wall/s':>8} {'peak RSS':>9} {'growth':>7}"
    print(header)
    for r in results:
        print(
            f"{r['importer']:<16} {r['file']:<24} {r['mib']:>6} {r['records']:>8,} {r['valid']:>8,} "
            f"{r['import_rps']:>9,} {r.get('floor_rps', 0):>9,} {r.get('ratio', 0):>5}x {r['import_rps_wall']:>8,} "
            f"{r['peak_rss_mb']:>7}MB {r['rss_growth_mb']:>5}MB"
        )
    summary = {"repeat": args.repeat, "python": platform.python_version(), "results": results}
    print(json.dumps(summary))


def _child(command: list[str]) -> dict[str, Any]:
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    main()
