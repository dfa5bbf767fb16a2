"""Storage: one ``Store`` contract, chosen by URL (``duckdb:///file.duckdb`` or ``postgresql://...``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tiktrend.store.base import ALL, DATA_TABLES, GRAINS, TABLES, LoadResult, Store, StoreError

if TYPE_CHECKING:
    from tiktrend.settings import Settings
    from tiktrend.store.pg_options import PostgresOptions

__all__ = [
    "ALL",
    "DATA_TABLES",
    "GRAINS",
    "TABLES",
    "LoadResult",
    "Store",
    "StoreError",
    "open_store",
    "store_from_settings",
]

POSTGRES_SCHEMES = ("postgresql:", "postgres:")


def open_store(url: str, postgres: PostgresOptions | None = None, *, duckdb_checkpoint_mb: int | None = None) -> Store:
    """Open the store a URL names; the message of a StoreError says how to fix a bad one.

    ``postgres``: the PostgreSQL backend's options; ``duckdb_checkpoint_mb``: the DuckDB store's WAL size.
    """
    if url.startswith("duckdb:"):
        from tiktrend.store.duckdb import CHECKPOINT_MB, DuckDBStore

        return DuckDBStore(url, checkpoint_mb=duckdb_checkpoint_mb or CHECKPOINT_MB)
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


def store_from_settings(settings: Settings) -> Store:
    """The store the settings name (``TIKTREND_DATABASE_URL``), with their backend options."""
    from tiktrend.store.pg_options import options_from_settings

    return open_store(
        settings.database_url,
        postgres=options_from_settings(settings),
        duckdb_checkpoint_mb=settings.duckdb_checkpoint_mb,
    )
