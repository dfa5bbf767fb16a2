"""The audio modalities beyond the sound title: subtitles and speech (``transcript``).

A source's subtitles arrive as WebVTT (TikTok's caption files) or as plain text (the Research API's
``voice_to_text``); both become plain text here, and the text gets the caption's keyphrase extraction under
its own modality. Speech-to-text with faster-whisper runs only when a local model directory is configured
(``TIKTREND_WHISPER_MODEL_DIR``): nothing is downloaded, and without it the modality comes from subtitles only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_TIMING = re.compile(r"^\s*(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{3}\s*-->")
_TAGS = re.compile(r"<[^>]*>")
_BLOCKS = ("NOTE", "STYLE", "REGION")


def parse_webvtt(text: str) -> str:
    """The spoken text of a WebVTT file: cue payloads without timings, ids, notes, tags or rolled-up repeats."""
    lines: list[str] = []
    for block in re.split(r"\r?\n\s*\r?\n", text.lstrip("\ufeff")):
        rows = block.strip().splitlines()
        if not rows or rows[0].startswith("WEBVTT") or rows[0].split(" ", 1)[0] in _BLOCKS:
            continue
        timing = next((i for i, row in enumerate(rows) if _TIMING.match(row)), None)
        if timing is None:
            continue
        for row in rows[timing + 1 :]:
            spoken = " ".join(_TAGS.sub("", row).split())
            # Auto-generated captions roll: each cue repeats the previous line before adding a new one.
            if spoken and (not lines or lines[-1] != spoken):
                lines.append(spoken)
    return "\n".join(lines)


def transcript_text(value: str) -> str:
    """Plain text of a transcript field, whether WebVTT or already plain."""
    return parse_webvtt(value) if value.lstrip("\ufeff").startswith("WEBVTT") else value


def transcribe(audio_path: Path, model_dir: Path, *, language: str | None = None) -> str:
    """Speech-to-text of one local audio or video file with a local faster-whisper model (CPU, int8)."""
    from faster_whisper import WhisperModel  # type: ignore[import-not-found,unused-ignore]

    model: Any = WhisperModel(str(model_dir), device="cpu", compute_type="int8", local_files_only=True)
    segments, _ = model.transcribe(str(audio_path), language=language, vad_filter=True)
    return "\n".join(segment.text.strip() for segment in segments)
