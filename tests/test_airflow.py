"""The Airflow DAG, run end to end by Airflow's own ``airflow dags test`` from its own environment.

Airflow lives in ``.venv-airflow`` (``make airflow-env``; ``make test`` builds it) together with tiktrend, as a
deployment would install it; its metadata goes to a SQLite file in a temporary ``AIRFLOW_HOME``, never to
tiktrend's store. The source is the simulator, so the records the interval should load are known exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tiktrend.collect.simulator import SimConfig, simulate
from tiktrend.orchestrate import Interval, collect_simulated
from tiktrend.settings import Settings
from tiktrend.store import DATA_TABLES, open_store

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = REPO / ".venv-airflow" / "bin" / "airflow"

pytestmark = pytest.mark.skipif(
    not AIRFLOW.exists(), reason=f"Airflow's own environment is missing ({AIRFLOW}): build it with `make airflow-env`"
)

# `dags test` of logical date D runs the daily interval that ends at D: here [2025-06-04, 2025-06-05).
LOGICAL_DATE = "2025-06-05"
INTERVAL = (datetime(2025, 6, 4, tzinfo=UTC), datetime(2025, 6, 5, tzinfo=UTC))
SIM = SimConfig(seed=5, hours=48, start=datetime(2025, 6, 3, tzinfo=UTC), videos_per_hour=60.0)
CONF = {
    "sources": ["simulator"],
    "detectors": ["threshold", "poisson"],
    "sim_seed": SIM.seed,
    "sim_start": "2025-06-03",
    "sim_hours": SIM.hours,
    "sim_rate": SIM.videos_per_hour,
}


def _environment(home: Path, data_dir: Path, database_url: str) -> dict[str, str]:
    # Nothing of the calling shell's Airflow or tiktrend configuration may leak into the run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TIKTREND_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        TIKTREND_DATA_DIR=str(data_dir),
        TIKTREND_DATABASE_URL=database_url,
        TIKTREND_AIRFLOW_RETRIES="0",  # a failure fails the test at once instead of waiting out the backoff
    )
    return env


def _airflow(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def _dags_test(env: dict[str, str], conf: dict[str, Any]) -> None:
    output = _airflow(env, "dags", "test", "tiktrend_pipeline", LOGICAL_DATE, "--conf", json.dumps(conf))
    assert "state=success" in output, output[-6000:]


def _records_in_interval() -> int:
    start, end = INTERVAL
    return sum(start <= datetime.fromisoformat(r["observed_at"]) < end for r in simulate(SIM))


def _data(settings: Settings) -> dict[str, pd.DataFrame]:
    with closing(open_store(settings.database_url)) as store:
        return {table: store.snapshot(table) for table in DATA_TABLES}


def _check_first_run(settings: Settings) -> None:
    expected = _records_in_interval()
    with closing(open_store(settings.database_url)) as store:
        counts = store.table_counts()
        runs = store.snapshot("runs")
        metrics = store.snapshot("pipeline_metrics")
        trends = store.snapshot("trends")
    assert counts["video_stats"] == expected > 0  # every observation of the interval, and only those
    assert counts["videos"] > 0 and counts["keyword_mentions"] > 0 and counts["keyword_buckets"] > 0
    assert set(trends["detector"]) >= {"poisson"} and len(trends) > 0
    assert list(runs["status"]) == ["ok"] and list(runs["command"]) == ["airflow"]
    assert json.loads(runs["params"].iloc[0])["interval"] == "20250604T0000-20250605T0000"
    figures = {(m.stage, m.metric): m.value for m in metrics.itertuples()}
    assert figures[("ingest", "records_read")] == expected
    assert figures[("ingest", "videos_new")] == counts["videos"]
    assert figures[("extract", "mentions_total")] >= counts["keyword_mentions"]
    assert {stage for stage, _ in figures} >= {"collect", "extract", "load", "ingest", "store", "rollup", "detect"}
    assert ("alerts", "alerts_new") in figures
    batches = sorted(settings.raw_dir.glob("source=simulator/date=*/batch-*.jsonl.gz"))
    assert [b.parent.name for b in batches] == ["date=2025-06-04"]
    assert not any((settings.data_dir / "staging").iterdir())  # the load removed what it loaded


def _run_twice(settings: Settings, home: Path, conf: dict[str, Any]) -> None:
    env = _environment(home, settings.data_dir, settings.database_url)
    _airflow(env, "db", "migrate")
    _dags_test(env, conf)
    _check_first_run(settings)
    before = _data(settings)
    raw = sorted(settings.raw_dir.rglob("*"))
    _dags_test(env, conf)  # the same interval again: its results are replaced, never doubled
    after = _data(settings)
    for table, frame in after.items():
        pd.testing.assert_frame_equal(frame, before[table], obj=table)
    assert sorted(settings.raw_dir.rglob("*")) == raw
    with closing(open_store(settings.database_url)) as store:
        assert list(store.snapshot("runs")["status"]) == ["ok", "ok"]
    assert (home / "airflow.db").is_file()  # Airflow's own metadata, apart from the store


def test_dags_test_collects_the_interval_into_duckdb_and_a_rerun_changes_no_row(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"duckdb:///{tmp_path / 'store.duckdb'}")
    _run_twice(settings, tmp_path / "airflow", CONF)


def test_dags_test_backfills_the_interval_from_the_raw_zone_into_postgresql(
    tmp_path: Path, pg_schema_url: Callable[[], str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_schema_url())
    # The raw zone already holds the interval (collected earlier); the DAG loads it without collecting.
    collect_simulated(settings, Interval(*INTERVAL), SIM)
    _run_twice(settings, tmp_path / "airflow", {**CONF, "sources": ["raw"]})


def test_a_task_that_fails_for_good_marks_the_run_failed_with_its_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"duckdb:///{tmp_path / 'store.duckdb'}")
    env = _environment(tmp_path / "airflow", settings.data_dir, settings.database_url)
    _airflow(env, "db", "migrate")
    conf = {**CONF, "sim_start": "2025-07-01"}  # a simulated horizon that misses the interval: collect fails
    args = ["dags", "test", "tiktrend_pipeline", LOGICAL_DATE, "--conf", json.dumps(conf)]
    done = subprocess.run([str(AIRFLOW), *args], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert "state=failed" in done.stdout + done.stderr, (done.stdout + done.stderr)[-6000:]
    with closing(open_store(settings.database_url)) as store:
        runs = store.snapshot("runs")
        assert store.table_counts()["videos"] == 0
    assert list(runs["status"]) == ["failed"]
    assert runs["error"].iloc[0].startswith("task collect failed")
    assert "does not cover the interval" in done.stdout + done.stderr  # the task's log says why
