"""The interval stages the DAG's tasks call (tiktrend.orchestrate), in process, on a real DuckDB file and raw zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from tiktrend.collect.simulator import SimConfig, write_simulation
from tiktrend.orchestrate import (
    Interval,
    batches_for,
    collect_files,
    collect_simulated,
    extract_batches,
    load_staged,
    staging_dir,
)
from tiktrend.pipeline import ingest
from tiktrend.settings import Settings
from tiktrend.store import DATA_TABLES
from tiktrend.store.duckdb import DuckDBStore

TINY = SimConfig(seed=4, hours=48, videos_per_hour=30, n_trends=3)
DAY = Interval(datetime(2025, 6, 3, tzinfo=UTC), datetime(2025, 6, 4, tzinfo=UTC))


def _with_bad_records(tmp_path: Path, settings: Settings) -> list[Path]:
    feed = write_simulation(TINY, settings.sim_dir).feed_path
    tmp_path.mkdir(parents=True)
    bad = tmp_path / "bad.jsonl"
    good = json.dumps({"video_id": "ok1", "observed_at": "2025-06-02T05:00:00+00:00", "source": "t", "caption": "#x"})
    bad.write_text(good + "\n" + json.dumps({"caption": "no id"}) + "\n{not json\n", encoding="utf-8")
    return [feed, bad]


def _tables(store: DuckDBStore) -> dict[str, pd.DataFrame]:
    tables = {table: store.snapshot(table) for table in DATA_TABLES}
    tables["quarantine"] = tables["quarantine"].drop(columns=["quarantined_at"])
    return tables


def test_collect_extract_load_gives_the_rows_of_a_streamed_ingest(tmp_path: Path) -> None:
    streamed = Settings(data_dir=tmp_path / "streamed")
    staged = Settings(data_dir=tmp_path / "staged")
    with DuckDBStore(streamed.database_url) as store:
        report = ingest(_with_bad_records(tmp_path / "a", streamed), store, streamed)
        store.refresh_rollups()
        expected = _tables(store)
    with DuckDBStore(staged.database_url) as store:
        collected = collect_files(_with_bad_records(tmp_path / "b", staged), staged)
        folder = staging_dir(staged, "run-1")
        extracted = extract_batches(batches_for(staged, batch_ids=collected.batch_ids), staged, folder)
        loaded = load_staged(store, folder)
        store.refresh_rollups()
        got = _tables(store)
    assert (extracted.read, extracted.accepted, extracted.quarantined) == (report.read, report.accepted, 2)
    assert loaded.quarantine_new == 2 and loaded.videos_new == report.videos_new
    assert extracted.figures["mentions_total"] >= report.mentions_new > 0
    assert not folder.exists()
    for table, frame in expected.items():
        pd.testing.assert_frame_equal(got[table], frame, obj=table)


def test_extract_rewrites_its_staging_and_a_load_without_it_says_what_to_run(settings: Settings) -> None:
    collected = collect_simulated(settings, DAY, TINY)
    assert collected.batches_new == 1 and collected.records > 0
    again = collect_simulated(settings, DAY, TINY)
    assert (again.batch_ids, again.batches_new, again.batches_replayed) == (collected.batch_ids, 0, 1)
    folder = staging_dir(settings, DAY.key)
    first = extract_batches(batches_for(settings, interval=DAY), settings, folder)
    files = sorted(p.name for p in folder.iterdir())
    second = extract_batches(batches_for(settings, interval=DAY), settings, folder)
    assert second == first and sorted(p.name for p in folder.iterdir()) == files
    with DuckDBStore(settings.database_url) as store:
        load_staged(store, folder)
        with pytest.raises(FileNotFoundError, match="run the extract stage"):
            load_staged(store, folder)


def test_an_interval_reads_only_the_raw_partitions_of_its_days(settings: Settings) -> None:
    collected = collect_simulated(settings, DAY, TINY)
    (batch,) = batches_for(settings, interval=DAY)
    assert batch.parent.name == "date=2025-06-03" and collected.batch_ids[0] in batch.name
    later = Interval(datetime(2025, 6, 4, tzinfo=UTC), datetime(2025, 6, 5, tzinfo=UTC))
    assert batches_for(settings, interval=later) == []
    assert DAY.key == "20250603T0000-20250604T0000" and DAY.days() == [DAY.start.date()]
    with pytest.raises(ValueError, match="does not cover"):
        collect_simulated(settings, Interval(datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 2, tzinfo=UTC)), TINY)
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(datetime(2025, 6, 3), datetime(2025, 6, 4))
    with pytest.raises(FileNotFoundError, match="collect it again"):
        batches_for(settings, batch_ids=["0" * 24])


def test_the_spark_engine_stages_the_mentions_pandas_stages(settings: Settings) -> None:
    pytest.importorskip("pyspark")
    collect_simulated(settings, DAY, TINY)
    batches = batches_for(settings, interval=DAY)
    by_pandas = extract_batches(batches, settings, staging_dir(settings, "pandas"))
    by_spark = extract_batches(
        batches, settings, staging_dir(settings, "spark"), engine="spark", spark_master="local[1]"
    )
    assert by_spark.engine == "spark" and by_spark.figures == by_pandas.figures
    for part in sorted(staging_dir(settings, "pandas").glob("*.mentions.parquet")):
        spark_part = staging_dir(settings, "spark") / part.name
        order = ["video_id", "modality", "keyword"]
        expected = pd.read_parquet(part).sort_values(order).reset_index(drop=True)
        got = pd.read_parquet(spark_part).sort_values(order).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
