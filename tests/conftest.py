"""Shared fixtures: real DuckDB files and data directories under pytest's tmp_path, a real PostgreSQL database."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_file() -> Callable[[str], Path]:
    """A file of the shared real samples, or a skip that says where it was expected."""

    def find(name: str) -> Path:
        path = SHARED_DATA / name
        if not path.exists():
            pytest.skip(f"shared sample {path} is not present (it sits beside the repository)")
        return path

    return find


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def store(settings: Settings) -> Iterator[DuckDBStore]:
    with DuckDBStore(settings.database_url) as opened:
        yield opened


# The local server the storage suites run against (CI starts it); a session creates and drops its own database.
PG_ADMIN_URL = os.environ.get("TIKTREND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_database(url: str, database: str, schema: str | None = None) -> str:
    parts = urlsplit(url)
    query = f"options={quote(f'-csearch_path={schema}')}" if schema else ""
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, ""))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a database made for this test session on the local PostgreSQL, dropped at the end."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL} (set TIKTREND_TEST_POSTGRES_URL): {exc}")
    name = f"tiktrend_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    try:
        yield _with_database(PG_ADMIN_URL, name)
    finally:
        admin.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
        admin.close()


@pytest.fixture
def pg_schema_url(pg_database: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty schemas in the session database; each URL's search_path is its schema."""
    import psycopg

    made: list[str] = []

    def make() -> str:
        schema = f"t_{secrets.token_hex(5)}"
        with psycopg.connect(pg_database, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
        made.append(schema)
        return _with_database(PG_ADMIN_URL, urlsplit(pg_database).path.lstrip("/"), schema)

    yield make
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for schema in made:
            conn.execute(psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(psycopg.sql.Identifier(schema)))
