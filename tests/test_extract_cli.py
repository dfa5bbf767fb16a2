"""`tiktrend extract` (pandas engine) and `tiktrend merges` on a small file of the scraper's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tiktrend.cli import app
from tiktrend.models import MENTION_COLUMNS


def _scraper_file(path: Path) -> Path:
    items = [
        {
            "id": f"75410350535690519{n:02d}",
            "url": "",
            "caption": caption,
            "username": "someone",
            "region": "US",
            "category": "food",
            "music": {"title": "Espresso", "author": "Sabrina Carpenter"},
            "stats": {"collectCount": 1, "commentCount": 2, "diggCount": 3, "playCount": 40, "shareCount": 5},
        }
        for n, caption in enumerate(["my night routine #NightRoutine 🍓", "night routine again #nightroutine #fyp"])
    ]
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def test_extract_then_merges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    source = _scraper_file(tmp_path / "sample.json")
    done = runner.invoke(app, ["extract", str(source), "--out", "m.parquet", "--format", "scraper"])
    assert done.exit_code == 0, done.output
    mentions = pd.read_parquet(tmp_path / "m.parquet")
    assert tuple(mentions.columns) == MENTION_COLUMNS
    assert {("nightroutine", "hashtag"), ("nightroutine", "caption"), ("🍓", "emoji"), ("espresso", "music")} <= set(
        zip(mentions.keyword, mentions.modality, strict=True)
    )
    done = runner.invoke(app, ["merges", "m.parquet", "--out", "merges.csv", "--no-embed"])
    assert done.exit_code == 0, done.output
    assert list(pd.read_csv(tmp_path / "merges.csv").columns) == ["keyword", "merged_into", "reason", "similarity"]


def test_extract_rejects_an_unknown_engine(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["extract", str(_scraper_file(tmp_path / "s.json")), "--engine", "dask"])
    assert done.exit_code == 2
    assert "unknown engine" in done.output
