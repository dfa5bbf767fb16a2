"""Transcript (WebVTT), OCR (tesseract, cached by content) and engagement features."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tiktrend.extract.audio import parse_webvtt, transcript_text
from tiktrend.extract.engagement import FEATURE_COLUMNS, engagement_features
from tiktrend.extract.keywords import extract_mentions
from tiktrend.extract.ocr import ocr_mentions, read_image, tesseract_available
from tiktrend.extract.stages import heavy_mentions
from tiktrend.models import MENTION_COLUMNS

VTT = """WEBVTT
Kind: captions

NOTE written by hand

1
00:00:00.000 --> 00:00:02.000 align:start
<c>Today</c> we bake <00:00:01.000>banana bread

00:00:02.000 --> 00:00:04.000
Today we bake banana bread
with fresh strawberries
"""


def test_webvtt_becomes_plain_text_without_repeats() -> None:
    assert parse_webvtt(VTT) == "Today we bake banana bread\nwith fresh strawberries"
    assert transcript_text("plain words") == "plain words"


def test_transcript_modality_from_the_optional_column() -> None:
    videos = pd.DataFrame(
        {
            "video_id": ["1", "2"],
            "caption": ["#baking", "hello there"],
            "hashtags": [[], []],
            "music_title": [None, None],
            "music_author": [None, None],
            "music_original": [None, None],
            "transcript": [VTT, None],
        }
    )
    out = extract_mentions(videos)
    spoken = out[out.modality == "transcript"]
    assert set(spoken.keyword) >= {"bake", "strawberries"}
    assert set(spoken.video_id) == {"1"}
    assert spoken.weight.between(0, 1).all()


def _cover(tmp_path: Path, text: str) -> Path:
    image = pytest.importorskip("PIL.Image")
    draw = pytest.importorskip("PIL.ImageDraw")
    font = pytest.importorskip("PIL.ImageFont")
    picture = image.new("RGB", (900, 200), "white")
    draw.Draw(picture).text((30, 60), text, fill="black", font=font.load_default(size=56))
    path = tmp_path / "cover.png"
    picture.save(path)
    return path


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed (apt-get install tesseract-ocr)")
def test_ocr_reads_a_cover_once_and_gives_weighted_mentions(tmp_path: Path) -> None:
    cover = _cover(tmp_path, "Strawberry Matcha Recipe")
    first = read_image(cover, tmp_path / "cache")
    assert first.text == "Strawberry Matcha Recipe"
    assert 0.5 < first.confidence <= 1
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1
    assert read_image(cover, tmp_path / "cache") == first  # from the cache
    mentions = ocr_mentions(first)
    assert {key for key, _, _, _, _ in mentions} == {"strawberry", "matcha", "recipe"}
    assert {modality for _, _, modality, _, _ in mentions} == {"ocr"}
    assert all(0 < weight <= first.confidence for _, _, _, _, weight in mentions)


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed (apt-get install tesseract-ocr)")
def test_heavy_stage_reports_failures_and_keeps_the_rest(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    videos = pd.DataFrame(
        {"video_id": ["1", "2", "3"], "cover_url": [str(_cover(tmp_path, "Night Routine")), str(broken), "https://x"]}
    )
    result = heavy_mentions(videos, workers=1)
    assert tuple(result.mentions.columns) == MENTION_COLUMNS
    assert set(result.mentions.video_id) == {"1"}
    assert list(result.errors) == ["2"]


def test_engagement_features_and_velocities() -> None:
    videos = pd.DataFrame(
        {
            "video_id": ["a", "a", "b"],
            "observed_at": pd.to_datetime(["2025-05-01T10:00Z", "2025-05-01T12:00Z", "2025-05-01T10:00Z"]),
            "views": [1000, 3000, 0],
            "likes": [100, 300, 5],
            "comments": [10, 30, 1],
            "shares": [5, 15, None],
            "saves": [20, 40, 0],
        }
    )
    out = engagement_features(videos)
    assert tuple(out.columns) == FEATURE_COLUMNS
    first, second, other = out.to_dict("records")
    assert first["engagement_total"] == 135
    assert first["engagement_rate"] == pytest.approx(0.135)
    assert first["virality_index"] == pytest.approx(0.005)
    assert first["discussion_rate"] == pytest.approx(0.01)
    assert first["save_rate"] == pytest.approx(0.02)
    assert pd.isna(first["views_velocity"])
    assert second["views_velocity"] == pytest.approx(1000.0)  # 2000 views in 2 hours
    assert second["engagement_velocity"] == pytest.approx((385 - 135) / 2)
    assert pd.isna(other["engagement_rate"])  # no views: no rate, not a division by zero


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed (apt-get install tesseract-ocr)")
def test_heavy_stage_downloads_covers_and_survives_broken_models(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    cover = _cover(tmp_path, "Matcha Latte")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{cover.name}"
        videos = pd.DataFrame({"video_id": ["1"], "cover_url": [url], "video_url": [str(cover)]})
        missing = tmp_path / "no-model"
        result = heavy_mentions(
            videos, download_dir=tmp_path / "covers", caption_model_dir=missing, whisper_model_dir=missing, workers=1
        )
    finally:
        server.shutdown()
    assert {"matcha", "latte"} <= set(result.mentions.keyword)
    assert len(list((tmp_path / "covers").iterdir())) == 1
    assert set(result.errors) == {"1"}  # the broken models are reported, the OCR mentions kept
