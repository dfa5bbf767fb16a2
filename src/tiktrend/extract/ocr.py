"""On-screen text of cover images and frames (the ``ocr`` modality), read by tesseract.

Tesseract runs as its own process per image (``OMP_THREAD_LIMIT=1``: its OpenMP threads would fight each
other), so a pool of one worker per core scales with the cores. Results are cached on disk by the SHA-256
of the image bytes: the same cover reached from two videos or two runs is read once. The confidence of a
line is tesseract's mean word confidence (0..100) scaled to (0, 1]; it becomes the mention weight.

This module is the I/O edge of extraction (a subprocess and a cache directory); turning the text into
mentions is the pure :func:`ocr_mentions`. Heavy modalities run as their own stage
(:func:`tiktrend.extract.stages.heavy_mentions`): a failing or slow image never blocks the text modalities.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tiktrend.extract.keywords import Mention, caption_mentions
from tiktrend.extract.text import normalize

TIMEOUT_S = 30
MIN_CONFIDENCE = 50.0
LANGUAGES = "eng"


@dataclass(frozen=True)
class OcrText:
    """The text tesseract read in one image and its mean word confidence in [0, 1].

    ``cached`` says whether it came from the content-hash cache (the stage counts hits); it is not part of
    the value, so a cached reading equals a fresh one.
    """

    text: str
    confidence: float
    cached: bool = field(default=False, compare=False)


def tesseract_available() -> bool:
    """Whether the ``tesseract`` command is installed."""
    return shutil.which("tesseract") is not None


def _run_tesseract(data: bytes, languages: str) -> OcrText:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    done = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", languages, "--psm", "11", "tsv"],
        input=data,
        capture_output=True,
        timeout=TIMEOUT_S,
        env=env,
        check=True,
    )
    words: list[str] = []
    confidences: list[float] = []
    rows = csv.DictReader(io.StringIO(done.stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in rows:
        text, conf = (row.get("text") or "").strip(), float(row.get("conf") or -1)
        # Low-confidence words are mostly texture read as letters.
        if text and conf >= MIN_CONFIDENCE:
            words.append(text)
            confidences.append(conf)
    mean = sum(confidences) / len(confidences) / 100 if confidences else 0.0
    return OcrText(" ".join(words), round(mean, 4))


def _cache_file(data: bytes, cache_dir: Path | None, languages: str) -> Path | None:
    digest = hashlib.sha256(data + languages.encode()).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.json" if cache_dir else None


def _from_cache(cached: Path | None) -> OcrText | None:
    if cached is None or not cached.exists():
        return None
    stored = json.loads(cached.read_text(encoding="utf-8"))
    return OcrText(stored["text"], stored["confidence"], cached=True)


def cached_image(path: Path, cache_dir: Path | None, languages: str = LANGUAGES) -> OcrText | None:
    """The cached OCR of an image, or None when it was never read (or there is no cache)."""
    return _from_cache(_cache_file(path.read_bytes(), cache_dir, languages)) if cache_dir else None


def read_image(path: Path, cache_dir: Path | None = None, languages: str = LANGUAGES) -> OcrText:
    """OCR of one local image, from the content-hash cache when it was read before."""
    data = path.read_bytes()
    cached = _cache_file(data, cache_dir, languages)
    hit = _from_cache(cached)
    if hit is not None:
        return hit
    result = _run_tesseract(data, languages)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(".tmp")
        temporary.write_text(json.dumps({"text": result.text, "confidence": result.confidence}), encoding="utf-8")
        temporary.replace(cached)
    return result


def _read_one(job: tuple[Path, Path | None, str]) -> OcrText | str:
    try:
        return read_image(*job)
    except subprocess.CalledProcessError as exc:
        # tesseract says why on stderr (an unknown image format, a missing language): keep its last line.
        said = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        return f"tesseract exited with {exc.returncode}" + (f": {said[-1]}" if said else "")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _cached_one(job: tuple[Path, Path | None, str]) -> OcrText | None:
    try:
        return cached_image(*job)
    except (OSError, ValueError):
        return None  # unreadable here: the OCR attempt reports it


def read_images(
    paths: Iterable[Path], cache_dir: Path | None = None, *, workers: int | None = None, languages: str = LANGUAGES
) -> list[OcrText | str]:
    """OCR of many images with one process per core; a failed image gives its error text, not an exception.

    Cached images are answered here; only the others go to the pool (starting processes to read a few JSON
    files cost more than reading them).
    """
    jobs = [(path, cache_dir, languages) for path in paths]
    results: list[OcrText | str | None] = [_cached_one(job) for job in jobs]
    misses = [i for i, found in enumerate(results) if found is None]
    if (workers or os.cpu_count() or 1) == 1 or len(misses) < 2:
        read = [_read_one(jobs[i]) for i in misses]
    else:
        processes = min(workers or os.cpu_count() or 1, len(misses))
        with ProcessPoolExecutor(max_workers=processes) as pool:
            # Up to 4 images per task, but never so many that a worker is left without one.
            chunk = max(1, min(4, len(misses) // processes))
            read = list(pool.map(_read_one, [jobs[i] for i in misses], chunksize=chunk))
    for i, result in zip(misses, read, strict=True):
        results[i] = result
    return [result for result in results if result is not None]


def ocr_mentions(result: OcrText) -> list[Mention]:
    """``ocr`` mentions of one image's text: its keyphrases, weighted by phrase score times OCR confidence."""
    if not result.text:
        return []
    return [
        (key, display, "ocr", generic, round(weight * result.confidence, 4))
        for key, display, _, generic, weight in caption_mentions(normalize(result.text), frozenset(), "ocr")
    ]
