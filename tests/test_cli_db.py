"""``tiktrend db`` against the local PostgreSQL (and what it says for a DuckDB store)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("psycopg")

from tiktrend.cli import app
from tiktrend.store.migrations import LATEST
from tiktrend.store.schema import DUCKDB_SCHEMA_VERSION

runner = CliRunner()


def db(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["db", *args], env={"TIKTREND_DATABASE_URL": url, "COLUMNS": "200"})
    return result.exit_code, " ".join(result.output.split())


def test_status_upgrade_downgrade_maintain_rebuild(pg_schema_url: Callable[[], str]) -> None:
    url = pg_schema_url()
    assert "schema version 0" in db(url, "status")[1]
    code, out = db(url, "upgrade")
    assert code == 0 and "applied 1:" in out and f"applied {LATEST}:" in out
    assert "nothing to apply" in db(url, "upgrade")[1]
    code, out = db(url, "status")
    assert code == 0 and f"schema version {LATEST}; layout plain" in out and "TimescaleDB: absent" in out
    code, out = db(url, "downgrade", "--to", "1")
    assert code == 0 and "undid 2:" in out
    assert "this tiktrend expects" in db(url, "status")[1]
    code, out = db(url, "downgrade", "--to", "0")
    assert code == 2 and "cannot downgrade below schema version 1" in out
    assert "partitions created" in db(url, "maintain")[1]  # opening the store upgrades it again
    code, out = db(url, "rebuild-rollups")
    assert code == 0 and "rollups rebuilt: 0 rows" in out


def test_errors_are_one_line_and_exit_2() -> None:
    code, out = db("postgresql://postgres@127.0.0.1:1/tiktrend", "status")
    assert code == 2 and "cannot reach PostgreSQL" in out


def test_a_duckdb_store_has_nothing_to_migrate(tmp_path: Path) -> None:
    code, out = db(f"duckdb:///{tmp_path / 'x.duckdb'}", "upgrade")
    assert code == 0 and "nothing to migrate" in out


def test_status_of_a_duckdb_store(tmp_path: Path) -> None:
    code, out = db(f"duckdb:///{tmp_path / 'x.duckdb'}", "status")
    assert code == 0 and f"layout version {DUCKDB_SCHEMA_VERSION}" in out and "videos 0" in out
