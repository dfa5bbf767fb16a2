"""The metrics collector on real stores: figures from frames, from the store (DuckDB and PostgreSQL), status."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tiktrend.collect.simulator import SimConfig, write_simulation
from tiktrend.metrics import (
    RunMetrics,
    ingest_figures,
    mention_figures,
    record_stage,
    stats_figures,
    status_report,
    store_figures,
)
from tiktrend.models import COUNTERS
from tiktrend.pipeline import ingest, rollup, run_pipeline
from tiktrend.settings import Settings
from tiktrend.store import Store, open_store

TINY = SimConfig(seed=5, hours=48, videos_per_hour=30, n_trends=2)


@pytest.fixture(params=["duckdb", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store of each backend (PostgreSQL: a schema of its own on the local server)."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'metrics.duckdb'}"
    else:
        make: Callable[[], str] = request.getfixturevalue("pg_schema_url")
        url = make()
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


def test_mention_figures_count_each_modality_and_generic_tags() -> None:
    mentions = pd.DataFrame(
        {
            "video_id": ["1", "1", "2", "3"],
            "keyword": ["matcha", "fyp", "matcha", "song"],
            "modality": ["hashtag", "hashtag", "caption", "music"],
            "is_generic": [False, True, False, False],
        }
    )
    assert mention_figures(mentions) == {
        "mentions_total": 4.0,
        "mentions_hashtag": 2.0,
        "mentions_caption": 1.0,
        "mentions_music": 1.0,
        "mentions_generic": 1.0,
    }
    assert mention_figures(mentions.iloc[0:0]) == {"mentions_total": 0.0}


def test_stats_figures_tell_missing_from_partial_counters() -> None:
    videos = pd.DataFrame({c: [1, None, None] for c in COUNTERS})
    videos.loc[1, "likes"] = 5  # video 1 has some counters, video 2 none
    assert stats_figures(videos) == {"observations_missing_stats": 1.0, "observations_partial_stats": 1.0}


def test_run_metrics_add_up_per_chunk_and_writing_twice_never_doubles(store: Store) -> None:
    metrics = RunMetrics("r1")
    metrics.add("extract", {"mentions_total": 3, "mentions_hashtag": 2})
    metrics.add("extract", {"mentions_total": 4})
    metrics.set("store", {"keywords_unique": 10})
    metrics.set("store", {"keywords_unique": 12})
    with metrics.timed("extract"):
        pass
    with pytest.raises(RuntimeError), metrics.timed("load"):
        raise RuntimeError("a failed stage still reports its time")
    store.start_run("r1", "test", {})
    metrics.write(store)
    first = store.snapshot("pipeline_metrics")
    metrics.write(store)
    again = store.snapshot("pipeline_metrics")
    pd.testing.assert_frame_equal(first, again)
    values = {(r.stage, r.metric): r.value for r in first.itertuples()}
    assert values[("extract", "mentions_total")] == 7
    assert values[("extract", "mentions_hashtag")] == 2
    assert values[("store", "keywords_unique")] == 12
    assert values[("extract", "seconds")] >= 0 and ("load", "seconds") in values
    record_stage(store, "r1", "extract", {"mentions_total": 9}, seconds=1.5)  # a re-run task replaces its figures
    values = {(r.stage, r.metric): r.value for r in store.snapshot("pipeline_metrics").itertuples()}
    assert values[("extract", "mentions_total")] == 9 and values[("extract", "seconds")] == 1.5


def test_store_figures_equal_a_recount_of_the_tables(any_store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    feed = write_simulation(TINY, settings.sim_dir).feed_path
    report = ingest([feed], any_store, settings, source="simulator")
    rollup(any_store)
    figures = store_figures(any_store, since=datetime(2025, 6, 3, tzinfo=UTC))

    mentions = any_store.snapshot("keyword_mentions")
    videos = any_store.snapshot("videos")
    kept = mentions[~mentions["is_generic"]]
    missing = videos[list(COUNTERS)].isna()
    assert figures == {
        "keywords_unique": kept["keyword"].nunique(),
        "keywords_unique_since": kept[kept["posted_at"] >= datetime(2025, 6, 3)]["keyword"].nunique(),
        "videos_total": len(videos),
        "videos_missing_stats": int(missing.all(axis=1).sum()),
        "videos_partial_stats": int((missing.any(axis=1) & ~missing.all(axis=1)).sum()),
    }
    assert 0 < figures["keywords_unique_since"] < figures["keywords_unique"]
    assert ingest_figures(report)["records_read"] == report.read > 0


def feed_records(settings: Settings, n: int) -> list[dict[str, object]]:
    """The first ``n`` records of the tiny simulated feed."""
    feed = write_simulation(TINY, settings.sim_dir).feed_path
    with gzip.open(feed, "rt") as lines:
        return [json.loads(line) for _, line in zip(range(n), lines, strict=False)]


def test_store_figures_count_videos_missing_stats(any_store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    records = feed_records(settings, 30)
    bare = {str(r["video_id"]) for r in records[:3]}
    for record in records:
        if record["video_id"] in bare:
            for counter in COUNTERS:
                record[counter] = None
    records[5]["shares"] = None  # one video with some counters only (unless it is seen again)
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    ingest([small], any_store, settings, fmt="tiktrend")
    figures = store_figures(any_store)
    assert figures["videos_missing_stats"] == len(bare)
    videos = any_store.snapshot("videos")
    partial = videos[list(COUNTERS)].isna().any(axis=1) & videos[list(COUNTERS)].notna().any(axis=1)
    assert figures["videos_partial_stats"] == int(partial.sum())


def test_status_of_an_empty_store_says_how_to_fill_it(any_store: Store) -> None:
    report = status_report(any_store)
    assert report.runs == [] and report.quarantine == {}
    assert report.freshness.last_observed is None
    assert len(report.advice) == 1 and "tiktrend run" in report.advice[0] and "tiktrend ingest" in report.advice[0]


def test_status_after_a_run_then_a_failed_one(any_store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    summary = run_pipeline(any_store, settings, simulation=TINY)
    any_store.start_run("zz-failed", "run", {})
    any_store.finish_run("zz-failed", "failed", {}, error="StoreError: the disk is full")
    now = TINY.end + timedelta(hours=2)
    report = status_report(any_store, now=now)
    assert [r.status for r in report.runs] == ["failed", "ok"]
    ok = report.runs[1]
    assert ok.run_id == summary.run_id and ok.seconds is not None and ok.seconds >= 0
    assert ok.figures["ingest"]["records_read"] == summary.ingest.read
    assert report.volumes["videos"] > 0 and report.volumes["trends"] > 0
    assert report.freshness.last_observed is not None and report.freshness.last_detection is not None
    assert any("failed" in a and "the disk is full" in a for a in report.advice)
    assert not any("newest observation" in a for a in report.advice)  # fresh relative to `now`
    later = status_report(any_store, now=now + timedelta(days=3))
    assert any("newest observation" in a for a in later.advice)


def test_status_counts_quarantine_by_reason(any_store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    lines = [json.dumps(r) for r in feed_records(settings, 10)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*lines, "{not json", '{"video_id": "1", "caption": "no time, no region"}']) + "\n")
    report = ingest([bad], any_store, settings, fmt="tiktrend")
    assert report.quarantined == 2
    status = status_report(any_store)
    assert sum(status.quarantine.values()) == 2
    assert any("quarantine" in a for a in status.advice)


def test_cli_status_prints_runs_advice_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from tiktrend.cli import app

    monkeypatch.setenv("TIKTREND_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    empty = runner.invoke(app, ["status"])
    assert empty.exit_code == 0 and "The store is empty" in empty.output
    settings = Settings(data_dir=tmp_path / "data")
    with open_store(settings.database_url) as store:
        summary = run_pipeline(store, settings, simulation=TINY)
        store.start_run("zz-failed", "run", {})
        store.finish_run("zz-failed", "failed", {}, error="ValueError: a bad input")
    result = runner.invoke(app, ["status", "--runs", "3"])
    assert result.exit_code == 0, result.output
    assert summary.run_id in result.output and "failed" in result.output and "a bad input" in result.output
    assert f"{summary.ingest.read:,}" in result.output
    data = json.loads(runner.invoke(app, ["status", "--json"]).output)
    assert [r["status"] for r in data["runs"]] == ["failed", "ok"]
    assert data["runs"][1]["figures"]["ingest"]["records_read"] == summary.ingest.read
    assert data["volumes"]["videos"] > 0 and data["freshness"]["last_observed"]
