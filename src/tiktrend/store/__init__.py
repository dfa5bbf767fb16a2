"""Storage: one ``Store`` contract, chosen by URL (``duckdb:///file.duckdb`` or ``postgresql://...``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiktrend.store.base import ALL, DATA_TABLES, GRAINS, TABLES, LoadResult, Store, StoreError

if TYPE_CHECKING:
    from tiktrend.store.pg_options import PostgresOptions

__all__ = ["ALL", "DATA_TABLES", "GRAINS", "TABLES", "LoadResult", "Store", "StoreError", "open_store"]

POSTGRES_SCHEMES = ("postgresql:", "postgres:")


def open_store(url: str, postgres: PostgresOptions | None = None) -> Store:
    """Open the store a URL names; the message of a StoreError says how to fix a bad one."""
    if url.startswith("duckdb:"):
        from tiktrend.store.duckdb import DuckDBStore

        return DuckDBStore(url)
    if url.startswith(POSTGRES_SCHEMES):
        try:
            from tiktrend.store.postgres import PostgresStore
        except ImportError as exc:  # the postgres extra is not installed
            raise StoreError(
                f"the PostgreSQL backend needs psycopg, psycopg-pool and tenacity ({exc}): "
                "pip install 'tiktrend[postgres]'"
            ) from exc
        return PostgresStore(url, postgres)
    raise StoreError(
        f"unknown database URL {url!r}: expected duckdb:///path/file.duckdb or postgresql://user@host/db "
        "(set TIKTREND_DATABASE_URL)"
    )
