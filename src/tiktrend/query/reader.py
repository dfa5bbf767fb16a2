"""Where the query layer reads from: any store, or a read-only DuckDB file that a pipeline can still write.

DuckDB locks its file per process: one process may open it read-write, or any number read-only, never both
at once (a read-only open fails while a pipeline writes, and the pipeline's open fails while a reader holds
the file). A long-lived API therefore opens the file read-only only while requests are in flight, and
closes it once it has been idle for ``hold_s`` seconds, so a scheduled pipeline run finds it free between
bursts of requests. While a pipeline holds the file, reads fail with :class:`StoreBusy` (the API answers
503 with Retry-After). PostgreSQL has no such limit: the API reads through the store's pool, in read-only
transactions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from tiktrend.store import StoreError, open_store
from tiktrend.store.duckdb import _path_of, stream_batches
from tiktrend.store.params import used

if TYPE_CHECKING:
    from tiktrend.store.pg_options import PostgresOptions


class StoreBusy(StoreError):
    """The store exists but another process holds it for writing; try again shortly."""


class Reader(Protocol):
    """What the query layer needs: read-only queries with ``$name`` parameters (every store has them)."""

    url: str

    def read(self, statement: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame: ...

    def read_batches(
        self, statement: str, params: Mapping[str, Any] | None = None, *, rows: int = 50_000
    ) -> Iterator[Any]: ...

    def close(self) -> None: ...


class DuckDBReader:
    """A DuckDB file opened read-only on demand and released when idle, so a pipeline can write between reads."""

    def __init__(self, url: str, *, hold_s: float = 2.0) -> None:
        self.url = url
        self.path: Path = _path_of(url)
        self.hold_s = hold_s
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._last_used = 0.0
        self._closer: threading.Timer | None = None
        if not self.path.exists():
            raise StoreError(
                f"no DuckDB store at {self.path}: run `tiktrend run` (or ingest something) first, "
                "or point TIKTREND_DATABASE_URL at an existing file"
            )

    def read(self, statement: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """One query on a cursor of its own (cursors of one connection may run in parallel threads)."""
        with self._cursor() as cursor:
            return cursor.execute(statement, used(statement, params)).df()

    def read_batches(
        self, statement: str, params: Mapping[str, Any] | None = None, *, rows: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        """The same, streamed as Arrow batches of at most ``rows`` rows."""
        with self._cursor() as cursor:
            yield from stream_batches(cursor, statement, used(statement, params), rows)

    def close(self) -> None:
        with self._lock:
            if self._closer is not None:
                self._closer.cancel()
            if self._con is not None:
                self._con.close()
                self._con = None

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._acquire()
        cursor = con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
            self._release()

    def _acquire(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                try:
                    self._con = duckdb.connect(str(self.path), read_only=True)
                except duckdb.IOException as exc:
                    if "lock" in str(exc).lower():
                        raise StoreBusy(
                            f"the DuckDB store at {self.path} is being written by another process (a pipeline run); "
                            "try again in a moment, or use PostgreSQL to read while writing"
                        ) from exc
                    raise StoreError(f"cannot open the DuckDB store at {self.path}: {exc}") from exc
            self._users += 1
            return self._con

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            self._last_used = time.monotonic()
            if self._users == 0 and self._closer is None:
                self._closer = threading.Timer(self.hold_s, self._close_if_idle)
                self._closer.daemon = True
                self._closer.start()

    def _close_if_idle(self) -> None:
        with self._lock:
            self._closer = None
            idle = time.monotonic() - self._last_used
            if self._users or self._con is None:
                return
            if idle < self.hold_s:  # used again since this timer started: wait for the rest of the hold
                self._closer = threading.Timer(self.hold_s - idle, self._close_if_idle)
                self._closer.daemon = True
                self._closer.start()
                return
            self._con.close()
            self._con = None


def open_reader(url: str, postgres: PostgresOptions | None = None, *, hold_s: float = 2.0) -> Reader:
    """A reader for a database URL: DuckDB files read-only and released when idle, PostgreSQL through a store."""
    if url.startswith("duckdb:"):
        return DuckDBReader(url, hold_s=hold_s)
    return open_store(url, postgres)
