"""The heavy stage's cost: cover OCR images/s through ``orchestrate.heavy_stage``, uncached and cached. Last line: JSON.

    python benches/heavy_stage.py [--images N] [--workers 1 2]

Covers are drawn with Pillow (three title-case words, 720x400 PNG, as ``benches/extract.py`` draws them), fed
as a JSONL file with local ``cover_url`` paths, collected and extracted to a staging folder; then the stage
runs with an empty OCR cache (every image goes to tesseract) and again with the cache it filled. Figures per
run: wall-clock images/s, and CPU seconds per image of this process plus its children (the tesseract
processes and the OCR pool), which does not depend on what else the machine runs. The load average is
printed beside the wall-clock figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tiktrend.extract.ocr import tesseract_available
from tiktrend.orchestrate import batches_for, collect_files, extract_batches, heavy_stage, staging_dir
from tiktrend.settings import Settings

WORDS = ["night", "routine", "matcha", "recipe", "booktok", "dance", "outfit", "travel", "street", "food"]


def covers_feed(folder: Path, images: int) -> Path:
    """A JSONL feed of ``images`` videos, each with its own drawn cover."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    lines = []
    for i in range(images):
        picture = Image.new("RGB", (720, 400), "white")
        text = " ".join(rng.choice(WORDS, 3)).title()
        ImageDraw.Draw(picture).text((20, 150), text, fill="black", font=ImageFont.load_default(size=48))
        path = folder / f"cover{i}.png"
        picture.save(path)
        record = {"video_id": f"b{i}", "observed_at": "2025-06-02T05:00:00+00:00", "source": "bench"}
        lines.append(json.dumps({**record, "caption": f"#bench {text}", "cover_url": str(path)}))
    feed = folder / "feed.jsonl"
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return feed


def cpu_seconds() -> float:
    """CPU time of this process and of its children that finished (tesseract runs, pool workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_stage(settings: Settings, staging: Path, images: int) -> dict[str, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    done = heavy_stage(settings, staging)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    assert done.figures["ocr_images"] == images, done.figures
    return {
        "images_per_s": round(images / wall, 2),
        "cpu_ms_per_image": round(1000 * cpu / images, 2),
        "cached": done.figures["ocr_cached"],
        "mentions_ocr": done.figures.get("mentions_ocr", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if not tesseract_available():
        print(json.dumps({"heavy_stage": "skipped: tesseract is not installed"}))
        return
    figures: dict[str, Any] = {"python": sys.version.split()[0], "images": args.images, "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        feed = covers_feed(Path(tmp) / "covers", args.images)
        for workers in args.workers:
            settings = Settings(data_dir=Path(tmp) / f"data{workers}", heavy_workers=workers)
            collected = collect_files([feed], settings)
            staging = staging_dir(settings, "bench")
            extract_batches(batches_for(settings, batch_ids=collected.batch_ids), settings, staging)
            shutil.rmtree(settings.ocr_cache, ignore_errors=True)
            load = os.getloadavg()[0]
            cold = timed_stage(settings, staging, args.images)
            warm = timed_stage(settings, staging, args.images)
            for name, run in (("uncached", cold), ("cached", warm)):
                print(
                    f"heavy stage, {workers} OCR worker(s), {name:8}: {run['images_per_s']:>8,.1f} images/s, "
                    f"{run['cpu_ms_per_image']:>7.1f} CPU ms/image (load average {load:.2f})"
                )
                figures[f"workers{workers}_{name}"] = run
            figures[f"workers{workers}_load_average"] = round(load, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
