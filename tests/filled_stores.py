"""One simulated scenario run through the whole pipeline into a DuckDB file and a PostgreSQL schema, once per
test session, shared by the query, API and export tests (building them is the slow part)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tiktrend.collect.simulator import SimConfig
from tiktrend.pipeline import detect_series, new_run_id, run_pipeline
from tiktrend.settings import Settings
from tiktrend.store import open_store
from tiktrend.trends.detectors import make_detector

SCENARIO = SimConfig(seed=11, hours=60, videos_per_hour=50, n_trends=4)


@dataclass(frozen=True)
class Filled:
    """URLs of the two filled stores (closed: readers open them as they need) and the data directories."""

    duckdb: str
    postgres: str
    data_dirs: dict[str, Path]


_BUILT: dict[str, Filled] = {}


def filled_stores(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Filled:
    """The scenario in both backends, built on first use; a series detection is stored beside the threshold's."""
    if pg_database in _BUILT:
        return _BUILT[pg_database]
    import psycopg

    schema = "query_fixture"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    urls = {
        "duckdb": f"duckdb:///{tmp_path_factory.mktemp('query_duck') / 'filled.duckdb'}",
        "postgres": f"{pg_database}?options=-csearch_path%3D{schema}",
    }
    dirs = {}
    for name, url in urls.items():
        dirs[name] = tmp_path_factory.mktemp(f"query_{name}")
        store = open_store(url)
        try:
            run_pipeline(store, Settings(data_dir=dirs[name]), simulation=SCENARIO)
            detect_series(store, new_run_id(), make_detector("poisson", "hour"))
        finally:
            store.close()
    _BUILT[pg_database] = Filled(urls["duckdb"], urls["postgres"], dirs)
    return _BUILT[pg_database]
