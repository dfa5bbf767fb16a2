"""End to end on real components: the simulator's feed, the shared samples, a DuckDB file, the raw zone."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tiktrend.collect.rawzone import RawZone
from tiktrend.collect.simulator import SimConfig, planted_trends, write_simulation
from tiktrend.extract.generic import is_generic
from tiktrend.pipeline import ingest, replay, rollup, run_pipeline
from tiktrend.settings import Settings
from tiktrend.store import DATA_TABLES
from tiktrend.store.duckdb import DuckDBStore

SMALL = SimConfig(seed=3, hours=72, videos_per_hour=120, n_trends=6)
TINY = SimConfig(seed=4, hours=48, videos_per_hour=40, n_trends=3)


def data_tables(store: DuckDBStore) -> dict[str, pd.DataFrame]:
    return {table: store.snapshot(table) for table in DATA_TABLES}


def test_run_on_the_simulator_finds_planted_trends_and_no_generic_tag(store: DuckDBStore, settings: Settings) -> None:
    summary = run_pipeline(store, settings, simulation=SMALL)
    assert summary.ingest.read == summary.ingest.accepted > 0
    assert summary.ingest.quarantined == 0
    assert summary.detect.windows["1d"] > 0
    assert "7d" in summary.detect.skipped  # 72 hours of history cannot compare two weeks
    top = store.top_trends(window="1d", limit=20)
    assert not any(is_generic(k) for k in top["keyword"])
    # Trends still growing in the last day must be found; ones that peaked days ago need not be.
    end = SMALL.end
    live = {t.keyword for t in planted_trends(SMALL) if t.peak > end - pd.Timedelta(hours=24)}
    found = set(store.top_trends(window="1d", limit=20)["keyword"])
    for region in {t.region for t in planted_trends(SMALL)} - {"*"}:
        found |= set(store.top_trends(window="1d", region=region, limit=20)["keyword"])
    assert len(live & found) >= 0.75 * len(live), (sorted(live), sorted(found))
    runs = store.snapshot("runs")
    assert list(runs["status"]) == ["ok"]
    metrics = store.snapshot("pipeline_metrics")
    read = metrics[(metrics["stage"] == "ingest") & (metrics["metric"] == "records_read")]["value"]
    assert read.iloc[0] == summary.ingest.read


def test_second_run_of_the_same_input_changes_no_data_table(store: DuckDBStore, settings: Settings) -> None:
    run_pipeline(store, settings, simulation=TINY)
    before = data_tables(store)
    raw_files = sorted(settings.raw_dir.rglob("*"))
    second = run_pipeline(store, settings, simulation=TINY)
    assert second.ingest.batches_replayed == 1
    assert (second.ingest.videos_new, second.ingest.stats_new, second.ingest.mentions_new) == (0, 0, 0)
    assert second.detect.rows_changed == 0
    for table, frame in data_tables(store).items():
        pd.testing.assert_frame_equal(frame, before[table], obj=table)
    assert sorted(settings.raw_dir.rglob("*")) == raw_files  # nothing appended to the raw zone
    assert len(store.snapshot("runs")) == 2  # the run log records both executions


def test_a_run_that_fails_while_loading_leaves_no_staging_and_the_next_run_loads_it_all(
    store: DuckDBStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self: DuckDBStore, videos: pd.DataFrame, mentions: pd.DataFrame) -> None:
        raise OSError("No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(DuckDBStore, "load_batch", disk_full)
        with pytest.raises(OSError, match="No space left"):
            run_pipeline(store, settings, simulation=TINY)
    assert list(store.snapshot("runs")["status"]) == ["failed"]
    assert not any((settings.data_dir / "staging").glob("*"))  # the failed run's parts are gone
    second = run_pipeline(store, settings, simulation=TINY)  # the raw zone kept the batch: it loads now
    assert second.ingest.batches_replayed == 1
    assert second.ingest.videos_new > 0 and second.ingest.mentions_new > 0


def test_seed_sample_merges_duplicates(
    store: DuckDBStore, settings: Settings, shared_file: Callable[[str], Path]
) -> None:
    report = ingest([shared_file("seed_trending_sample.json")], store, settings)
    rollup(store)
    assert report.read == report.accepted == 3645
    videos = store.snapshot("videos")
    assert len(videos) == 214
    assert videos["created_at"].notna().all()  # from the ids
    stats = store.snapshot("video_stats")
    assert stats["video_id"].nunique() == 214
    assert len(stats) > 214  # the scrape saw some videos several times, seconds apart
    assert store.snapshot("keyword_mentions")["modality"].isin(["hashtag", "caption", "music", "emoji"]).all()


def test_vn_csv_parses_every_count(store: DuckDBStore, settings: Settings, shared_file: Callable[[str], Path]) -> None:
    report = ingest([shared_file("vn_videos_2025.csv")], store, settings, region="VN")
    assert report.read == report.accepted == 10_102
    videos = store.snapshot("videos").set_index("video_id")
    assert len(videos) == 10_102
    assert (videos["region"] == "VN").all()
    first = videos.loc["7506832682593094928"]  # 541.2K views, 21.9K likes, 454 comments in the file
    assert (first["views"], first["likes"], first["comments"]) == (541_200, 21_900, 454)
    assert videos["views"].notna().all()


def _mixed_file(path: Path) -> tuple[int, int]:
    good = [
        {"video_id": f"7{i:018d}", "observed_at": "2025-06-02T10:00:00+00:00", "region": "US",
         "caption": f"good #tag{i}", "hashtags": [f"tag{i}"], "views": 10 * i, "source": "test"}
        for i in range(1, 6)
    ]  # fmt: skip
    bad = [
        "{not json",
        json.dumps([1, 2, 3]),
        json.dumps({"observed_at": "2025-06-02T10:00:00+00:00", "source": "test"}),  # no id
        json.dumps({**good[0], "video_id": "9001", "views": -5}),
        json.dumps({**good[0], "video_id": "9002", "views": "lots"}),
        json.dumps({**good[0], "video_id": "9003", "observed_at": "2999-01-01T00:00:00+00:00"}),
        json.dumps({**good[0], "video_id": "9004", "caption": "x" * 20_000}),
    ]
    lines = [json.dumps(g) for g in good[:3]] + bad + [json.dumps(g) for g in good[3:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(good), len(bad)


def test_bad_records_are_quarantined_with_reasons_and_good_ones_load(
    store: DuckDBStore, settings: Settings, tmp_path: Path
) -> None:
    n_good, n_bad = _mixed_file(tmp_path / "mixed.jsonl")
    report = ingest([tmp_path / "mixed.jsonl"], store, settings, fmt="tiktrend")
    assert (report.read, report.accepted, report.quarantined) == (n_good + n_bad, n_good, n_bad)
    assert len(store.snapshot("videos")) == n_good
    quarantined = store.snapshot("quarantine")
    assert len(quarantined) == n_bad
    assert quarantined["reason"].str.len().gt(10).all()
    assert set(quarantined["position"]) == set(range(3, 3 + n_bad))
    files = list(settings.quarantine_dir.rglob("*.jsonl"))
    assert len(files) == 1
    kept = [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines()]
    assert len(kept) == n_bad and all(k["reason"] for k in kept)
    assert any(len(k.get("record", {}).get("caption", "")) == 20_000 for k in kept)  # kept whole
    before = data_tables(store)
    again = ingest([tmp_path / "mixed.jsonl"], store, settings, fmt="tiktrend")
    assert again.quarantined == n_bad
    for table, frame in data_tables(store).items():
        pd.testing.assert_frame_equal(frame, before[table], obj=table)
    assert len(list(settings.quarantine_dir.rglob("*.jsonl"))) == 1


def test_raw_zone_keeps_records_unchanged_and_replays_them(
    store: DuckDBStore, settings: Settings, tmp_path: Path
) -> None:
    sim = write_simulation(SimConfig(seed=5, hours=48, videos_per_hour=30, n_trends=2), tmp_path / "sim")
    ingest([sim.feed_path], store, settings, source="simulator")
    zone = RawZone(settings.raw_dir)
    [batch] = zone.batches()
    assert "source=simulator" in str(batch)
    with gzip.open(sim.feed_path, "rt", encoding="utf-8") as handle:
        original = [json.loads(line) for line in handle]
    replayed = list(zone.replay(batch))
    assert [r.record for r in replayed] == original
    assert [r.position for r in replayed] == list(range(len(original)))
    assert zone.meta(batch).records == len(original) == sim.records


def test_replaying_the_raw_zone_rebuilds_the_same_store(
    store: DuckDBStore, settings: Settings, tmp_path: Path, shared_file: Callable[[str], Path]
) -> None:
    _mixed_file(tmp_path / "mixed.jsonl")
    sim = write_simulation(TINY, tmp_path / "sim")
    ingest([tmp_path / "mixed.jsonl", shared_file("seed_trending_sample.json")], store, settings)
    ingest([sim.feed_path], store, settings, source="simulator")
    rollup(store)
    with DuckDBStore(f"duckdb:///{tmp_path / 'rebuilt.duckdb'}") as rebuilt:
        report = replay(rebuilt, settings)
        rollup(rebuilt)
        assert report.inputs == 3
        for table in DATA_TABLES:
            original, again = store.snapshot(table), rebuilt.snapshot(table)
            if table == "quarantine":  # the time a record was first quarantined differs, by design
                original, again = original.drop(columns="quarantined_at"), again.drop(columns="quarantined_at")
            pd.testing.assert_frame_equal(again, original, obj=table)
