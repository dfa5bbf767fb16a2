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


def read_image(path: Path, cache_dir: Path | None = None, languages: str = LANGUAGES) -> OcrText:
    """OCR of one local image, from the content-hash cache when it was read before."""
    data = path.read_bytes()
    digest = hashlib.sha256(data + languages.encode()).hexdigest()
    cached = cache_dir / digest[:2] / f"{digest}.json" if cache_dir else None
    if cached is not None and cached.exists():
        stored = json.loads(cached.read_text(encoding="utf-8"))
        return OcrText(stored["text"], stored["confidence"], cached=True)
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
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def read_images(
    paths: Iterable[Path], cache_dir: Path | None = None, *, workers: int | None = None, languages: str = LANGUAGES
) -> list[OcrText | str]:
    """OCR of many images with one process per core; a failed image gives its error text, not an exception."""
    jobs = [(path, cache_dir, languages) for path in paths]
    if (workers or os.cpu_count() or 1) == 1 or len(jobs) < 2:
        return [_read_one(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        return list(pool.map(_read_one, jobs, chunksize=4))


def ocr_mentions(result: OcrText) -> list[Mention]:
    """``ocr`` mentions of one image's text: its keyphrases, weighted by phrase score times OCR confidence."""
    if not result.text:
        return []
    return [
        (key, display, "ocr", generic, round(weight * result.confidence, 4))
        for key, display, _, generic, weight in caption_mentions(normalize(result.text), frozenset(), "ocr")
    ]
