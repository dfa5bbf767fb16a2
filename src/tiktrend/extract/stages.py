"""The heavy extraction stage (OCR of covers, speech-to-text, image captions), run apart from the text modalities.

``extract_mentions`` (hashtags, caption, emoji, music, subtitles) never waits for a model or an image: this
stage runs after it, on the videos that have a cover image (a local path, ``file://`` or, when a download
directory is given, an ``http(s)`` URL) or a local media file, and a failure of one image or one model is
reported in the stage's errors while every other mention is kept. Speech-to-text and image captioning run
only when their local model directory is given (off by default); nothing is downloaded but the covers.
The pipeline runs this through ``tiktrend.orchestrate.heavy_stage``, which stages the mentions for the load.
"""

from __future__ import annotations

import functools
import hashlib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from tiktrend.extract.audio import transcribe
from tiktrend.extract.keywords import Mention, _frame, caption_mentions
from tiktrend.extract.ocr import OcrText, ocr_mentions, read_images, tesseract_available
from tiktrend.extract.text import normalize

MAX_DOWNLOAD_BYTES = 8 << 20
DOWNLOAD_TIMEOUT_S = 15
IMAGE_TO_TEXT = "image-to-text"


@dataclass
class HeavyResult:
    """Mentions of the heavy modalities and the errors met, one line per failed video and step."""

    mentions: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)
    ocr_images: int = 0  # covers OCR'd (read from the cache or by tesseract)
    ocr_cached: int = 0  # ...of which the content-hash cache answered


def add_error(errors: dict[str, str], video_id: str, text: str) -> None:
    """Keep every step's error of a video (``step: detail``, joined by ``; ``), not only the last one."""
    errors[video_id] = f"{errors[video_id]}; {text}" if video_id in errors else text


def local_path(url: object) -> Path | None:
    """The local file a cover URL or path points to, if it is one that exists."""
    if not isinstance(url, str) or not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file"):
        return None
    path = Path(unquote(parsed.path))
    return path if path.is_file() else None


def download(url: str, directory: Path) -> Path:
    """An ``http(s)`` image saved under ``directory`` by the hash of its URL (fetched once, bounded in size)."""
    target = directory / f"{hashlib.sha256(url.encode()).hexdigest()}.img"
    if target.exists():
        return target
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as reply:
        data = reply.read(MAX_DOWNLOAD_BYTES + 1)
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ValueError(f"image larger than {MAX_DOWNLOAD_BYTES} bytes")
    directory.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.replace(target)
    return target


def _covers(videos: pd.DataFrame, download_dir: Path | None, errors: dict[str, str]) -> dict[str, Path]:
    covers: dict[str, Path] = {}
    urls = videos["cover_url"] if "cover_url" in videos.columns else pd.Series([None] * len(videos))
    for video_id, url in zip(videos["video_id"].map(str), urls, strict=True):
        path = local_path(url)
        if path is None and download_dir is not None and isinstance(url, str) and url.startswith(("http:", "https:")):
            try:
                path = download(url, download_dir)
            except (OSError, ValueError) as exc:
                add_error(errors, video_id, f"cover download: {type(exc).__name__}: {exc}")
        if path is not None:
            covers[video_id] = path
    return covers


@functools.lru_cache(maxsize=2)
def _captioner(model_dir: Path) -> Any:
    """The image-to-text pipeline of a model directory, loaded once per process (not once per image)."""
    import transformers

    make: Any = transformers.pipeline  # typed per task in transformers; the task name is a setting here
    return make(IMAGE_TO_TEXT, model=str(model_dir), device="cpu", local_files_only=True)


def caption_image(path: Path, model_dir: Path) -> str:
    """A one-line description of an image by a local image-to-text model (transformers, CPU)."""
    return str(_captioner(model_dir)(str(path))[0]["generated_text"])


def heavy_mentions(
    videos: pd.DataFrame,
    *,
    ocr_cache: Path | None = None,
    download_dir: Path | None = None,
    whisper_model_dir: Path | None = None,
    caption_model_dir: Path | None = None,
    workers: int | None = None,
    ocr: bool = True,
) -> HeavyResult:
    """``ocr`` (and, when configured, ``transcript`` and ``image_caption``) mentions, with per-video errors.

    ``ocr=False`` leaves the covers to the image captioner alone (``TIKTREND_OCR=off`` with a caption model).
    """
    errors: dict[str, str] = {}
    found: dict[str, list[Mention]] = {}
    covers = _covers(videos, download_dir, errors) if ocr or caption_model_dir is not None else {}
    images = cached = 0
    if ocr and covers and not tesseract_available():
        for video_id in covers:
            add_error(errors, video_id, "ocr: tesseract is not installed")
    elif ocr and covers:
        for video_id, result in zip(covers, read_images(covers.values(), ocr_cache, workers=workers), strict=True):
            if isinstance(result, OcrText):
                images += 1
                cached += result.cached
                found.setdefault(video_id, []).extend(ocr_mentions(result))
            else:
                add_error(errors, video_id, f"ocr: {result}")
    if caption_model_dir is not None:
        _describe_covers(covers, caption_model_dir, found, errors)
    if whisper_model_dir is not None:
        _transcribe_media(videos, whisper_model_dir, found, errors)
    unique = {video_id: list({(m[0], m[2]): m for m in ms}.values()) for video_id, ms in found.items()}
    return HeavyResult(_frame(unique), errors, ocr_images=images, ocr_cached=cached)


def _describe_covers(
    covers: dict[str, Path], model_dir: Path, found: dict[str, list[Mention]], errors: dict[str, str]
) -> None:
    for video_id, path in covers.items():
        try:
            text = normalize(caption_image(path, model_dir))
            found.setdefault(video_id, []).extend(caption_mentions(text, frozenset(), "image_caption"))
        except Exception as exc:  # a model failure must not stop the stage
            add_error(errors, video_id, f"image_caption: {type(exc).__name__}: {exc}")


def _transcribe_media(
    videos: pd.DataFrame, model_dir: Path, found: dict[str, list[Mention]], errors: dict[str, str]
) -> None:
    media = videos["video_url"] if "video_url" in videos.columns else pd.Series([None] * len(videos))
    for video_id, url in zip(videos["video_id"].map(str), media, strict=True):
        path = local_path(url)
        if path is None:
            continue
        try:
            spoken = normalize(transcribe(path, model_dir))
            found.setdefault(video_id, []).extend(caption_mentions(spoken, frozenset(), "transcript"))
        except Exception as exc:  # as above: one bad file or model is reported, not raised
            add_error(errors, video_id, f"transcript: {type(exc).__name__}: {exc}")
