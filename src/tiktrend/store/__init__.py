"""Storage: one ``Store`` contract, chosen by URL (``duckdb:///file.duckdb`` now; PostgreSQL next)."""

from __future__ import annotations

from tiktrend.store.base import ALL, DATA_TABLES, GRAINS, TABLES, LoadResult, Store, StoreError

__all__ = ["ALL", "DATA_TABLES", "GRAINS", "TABLES", "LoadResult", "Store", "StoreError", "open_store"]


def open_store(url: str) -> Store:
    """Open the store a URL names; the message of a StoreError says how to fix a bad one."""
    if url.startswith("duckdb:"):
        from tiktrend.store.duckdb import DuckDBStore

        return DuckDBStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        raise StoreError(
            "the PostgreSQL backend is not available in this version; "
            "use TIKTREND_DATABASE_URL=duckdb:///data/tiktrend.duckdb (the default)"
        )
    raise StoreError(f"unknown database URL {url!r}: expected duckdb:///path/file.duckdb (set TIKTREND_DATABASE_URL)")
