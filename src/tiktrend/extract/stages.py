"""The heavy extraction stage (OCR of covers, speech-to-text), run apart from the text modalities.

``extract_mentions`` (hashtags, caption, emoji, music, subtitles) never waits for a model or an image: this
stage runs after it, on the videos that have a local cover image or media file, and a failure of one image
or one model is reported in the stage's errors while every other mention is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from tiktrend.extract.keywords import _frame
from tiktrend.extract.ocr import OcrText, ocr_mentions, read_images, tesseract_available
from tiktrend.models import MENTION_COLUMNS


@dataclass
class HeavyResult:
    """Mentions of the heavy modalities and the errors met, one line per failed video."""

    mentions: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)


def local_path(url: object) -> Path | None:
    """The local file a cover URL or path points to, if it is one that exists (remote URLs are not fetched)."""
    if not isinstance(url, str) or not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file"):
        return None
    path = Path(unquote(parsed.path))
    return path if path.is_file() else None


def heavy_mentions(videos: pd.DataFrame, *, ocr_cache: Path | None = None, workers: int | None = None) -> HeavyResult:
    """``ocr`` mentions of the videos' local cover images (tesseract), with per-video errors."""
    covers = {
        str(video_id): path
        for video_id, url in zip(videos["video_id"], videos.get("cover_url", pd.Series(dtype=object)), strict=False)
        if (path := local_path(url)) is not None
    }
    if not covers or not tesseract_available():
        empty = pd.DataFrame(columns=list(MENTION_COLUMNS))
        return HeavyResult(empty, {} if not covers else dict.fromkeys(covers, "tesseract is not installed"))
    results = read_images(covers.values(), ocr_cache, workers=workers)
    found, errors = {}, {}
    for video_id, result in zip(covers, results, strict=True):
        if isinstance(result, OcrText):
            found[video_id] = ocr_mentions(result)
        else:
            errors[video_id] = result
    return HeavyResult(_frame(found), errors)
