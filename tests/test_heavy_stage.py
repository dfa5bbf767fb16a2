"""The heavy extraction stage (cover OCR) through the pipeline's stages, with a real tesseract on real PNG covers.

Covers are drawn with Pillow; the inputs are a JSONL file as a user would ingest; the store is a DuckDB file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tiktrend.extract.ocr import tesseract_available
from tiktrend.orchestrate import (
    HEAVY_MANIFEST,
    batches_for,
    collect_files,
    extract_batches,
    heavy_stage,
    load_staged,
    staging_dir,
)
from tiktrend.pipeline import run_pipeline
from tiktrend.settings import Settings
from tiktrend.store import Store
from tiktrend.store.duckdb import DuckDBStore

needs_tesseract = pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed")
COVERS = {"v1": "Strawberry Matcha", "v2": "Night Routine", "v3": "Garden Tour"}


def _cover(folder: Path, name: str, text: str) -> Path:
    image = pytest.importorskip("PIL.Image")
    draw = pytest.importorskip("PIL.ImageDraw")
    font = pytest.importorskip("PIL.ImageFont")
    picture = image.new("RGB", (900, 200), "white")
    draw.Draw(picture).text((30, 60), text, fill="black", font=font.load_default(size=56))
    path = folder / f"{name}.png"
    picture.save(path)
    return path


def _inputs(tmp_path: Path) -> Path:
    """A JSONL feed: three videos with a readable cover, one with a broken image, one with a remote cover."""
    covers = tmp_path / "covers"
    covers.mkdir()
    records = []
    for number, (video_id, text) in enumerate(COVERS.items()):
        path = _cover(covers, video_id, text)
        # One cover as a file:// URL, the others as plain paths: sources give both.
        cover = path.as_uri() if number == 0 else str(path)
        records.append(_record(video_id, f"#cooking day {number}", cover))
    broken = covers / "broken.png"
    broken.write_bytes(b"this is not an image")
    records.append(_record("v4", "#cooking broken cover", str(broken)))
    records.append(_record("v5", "#cooking remote cover", "https://p16-sign-va.tiktokcdn.com/obj/x.jpeg"))
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return feed


def _record(video_id: str, caption: str, cover: str) -> dict[str, object]:
    return {
        "video_id": video_id,
        "observed_at": "2025-06-02T05:00:00+00:00",
        "source": "test",
        "caption": caption,
        "cover_url": cover,
        "views": 1000,
        "likes": 100,
    }


def _mentions(store: Store) -> pd.DataFrame:
    frame = store.snapshot("keyword_mentions")
    return frame.sort_values(["video_id", "modality", "keyword"]).reset_index(drop=True)


@needs_tesseract
def test_ocr_keywords_of_covers_load_once_and_a_broken_image_is_only_counted(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", heavy_workers=2)
    feed = _inputs(tmp_path)
    with DuckDBStore(settings.database_url) as store:
        first = run_pipeline(store, settings, [feed], windows=["1h"])
        mentions = _mentions(store)
        again = run_pipeline(store, settings, [feed], windows=["1h"])
        pd.testing.assert_frame_equal(_mentions(store), mentions)
        figures = store.snapshot("pipeline_metrics")
    assert again.ingest.mentions_new == 0
    ocr = mentions[mentions["modality"] == "ocr"]
    assert set(ocr["keyword"]) >= {"strawberry", "matcha", "night", "routine", "garden", "tour"}
    assert set(ocr["video_id"]) == {"v1", "v2", "v3"}
    assert ocr["weight"].between(0, 1, inclusive="right").all()
    # The broken cover's video and the remote one keep their text mentions.
    assert set(mentions[mentions["keyword"] == "cooking"]["video_id"]) == {"v1", "v2", "v3", "v4", "v5"}
    assert first.heavy is not None and first.heavy["steps"] == ["ocr"]
    assert (first.heavy["videos"], first.heavy["errors"]) == (4, 1)  # no download dir: the https cover is left
    heavy = figures[(figures["run_id"] == first.run_id) & (figures["stage"] == "heavy")]
    values = dict(zip(heavy["metric"], heavy["value"], strict=True))
    assert values["errors"] == values["errors_ocr"] == 1
    assert values["ocr_images"] == 3 and values["ocr_cached"] == 0
    assert values["mentions_ocr"] == len(ocr)
    rerun = figures[(figures["run_id"] == again.run_id) & (figures["stage"] == "heavy")]
    assert dict(zip(rerun["metric"], rerun["value"], strict=True))["ocr_cached"] == 3  # nothing OCR'd twice


@needs_tesseract
def test_the_stage_rewrites_its_parts_and_a_load_uses_them_only_once_it_finished(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", heavy_workers=1)
    collected = collect_files([_inputs(tmp_path)], settings)
    folder = staging_dir(settings, "run-1")
    extract_batches(batches_for(settings, batch_ids=collected.batch_ids), settings, folder)
    first = heavy_stage(settings, folder)
    files = sorted(p.name for p in folder.iterdir())
    second = heavy_stage(settings, folder)
    assert sorted(p.name for p in folder.iterdir()) == files
    assert (second.mentions, second.figures["ocr_cached"]) == (first.mentions, 3)
    (folder / HEAVY_MANIFEST).unlink()  # as if the stage had been killed before it finished
    with DuckDBStore(settings.database_url) as store:
        load_staged(store, folder)
        assert "ocr" not in set(store.snapshot("keyword_mentions")["modality"])


def test_without_tesseract_auto_skips_ocr_and_on_reports_every_cover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # a machine where tesseract is not installed
    feed = _inputs(tmp_path)
    for mode in ("auto", "on"):
        settings = Settings(data_dir=tmp_path / mode, ocr=mode, heavy_workers=1)
        with DuckDBStore(settings.database_url) as store:
            summary = run_pipeline(store, settings, [feed], windows=["1h"])
            modalities = set(store.snapshot("keyword_mentions")["modality"])
        assert summary.heavy is not None and "tesseract is not installed" in summary.heavy["note"]
        assert "ocr" not in modalities and "hashtag" in modalities
        if mode == "auto":
            assert summary.heavy["steps"] == [] and summary.heavy["errors"] == 0
        else:
            assert summary.heavy["figures"]["errors_ocr"] == 4  # each local cover, the broken one included
            assert summary.heavy["figures"]["tesseract_missing"] == 1


def test_ocr_off_stages_nothing_and_the_run_loads_the_text(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", ocr="off")
    with DuckDBStore(settings.database_url) as store:
        summary = run_pipeline(store, settings, [_inputs(tmp_path)], windows=["1h"])
        modalities = set(store.snapshot("keyword_mentions")["modality"])
    assert summary.heavy is not None and summary.heavy["steps"] == [] and summary.heavy["mentions"] == 0
    assert "ocr" not in modalities and "hashtag" in modalities


@needs_tesseract
def test_remote_covers_are_read_only_when_a_download_directory_is_set(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    covers = tmp_path / "served"
    covers.mkdir()
    _cover(covers, "remote", "Matcha Latte")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(covers))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/remote.png"
    feed = tmp_path / "feed.jsonl"
    feed.write_text(json.dumps(_record("r1", "#coffee", url)) + "\n", encoding="utf-8")
    found = {}
    try:
        for name, download in (("off", None), ("on", tmp_path / "downloads")):
            settings = Settings(data_dir=tmp_path / name, cover_download_dir=download, heavy_workers=1)
            with DuckDBStore(settings.database_url) as store:
                summary = run_pipeline(store, settings, [feed], windows=["1h"])
                mentions = store.snapshot("keyword_mentions")
            found[name] = set(mentions[mentions["modality"] == "ocr"]["keyword"])
            assert summary.heavy is not None and summary.heavy["videos"] == (0 if download is None else 1)
    finally:
        server.shutdown()
    assert found == {"off": set(), "on": {"matcha", "latte"}}
    assert len(list((tmp_path / "downloads").iterdir())) == 1


@needs_tesseract
def test_the_budget_stops_new_chunks_and_a_failing_stage_stages_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", heavy_workers=1, heavy_budget_s=1e-9)
    collected = collect_files([_inputs(tmp_path)], settings)
    folder = staging_dir(settings, "run-1")
    extract_batches(batches_for(settings, batch_ids=collected.batch_ids), settings, folder)
    over = heavy_stage(settings, folder)
    assert (over.mentions, over.figures["videos_over_budget"]) == (0, 4) and "budget" in str(over.note)
    # A staged part the stage cannot read (its cover column gone) fails the stage as a whole, not the run.
    videos = folder / "part-00000.videos.parquet"
    pd.read_parquet(videos).drop(columns=["cover_url"]).to_parquet(videos, index=False)
    failed = heavy_stage(Settings(data_dir=tmp_path / "data", heavy_workers=1), folder)
    assert failed.figures["stage_failed"] == 1 and "stage failed" in str(failed.note)
    assert failed.mentions == 0 and not list(folder.glob("part-*.heavy.parquet"))
    assert (folder / HEAVY_MANIFEST).is_file()


@needs_tesseract
def test_ocr_mentions_load_once_into_postgresql(tmp_path: Path, pg_schema_url: Callable[[], str]) -> None:
    from tiktrend.store import open_store

    settings = Settings(data_dir=tmp_path / "data", database_url=pg_schema_url(), heavy_workers=1)
    feed = _inputs(tmp_path)
    store = open_store(settings.database_url)
    try:
        run_pipeline(store, settings, [feed], windows=["1h"])
        mentions = _mentions(store)
        again = run_pipeline(store, settings, [feed], windows=["1h"])
        pd.testing.assert_frame_equal(_mentions(store), mentions)
    finally:
        store.close()
    assert again.ingest.mentions_new == 0
    assert set(mentions[mentions["modality"] == "ocr"]["video_id"]) == {"v1", "v2", "v3"}
