"""Connecting to PostgreSQL: options, errors a person can act on, and retries for the transient ones."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, TypeVar

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import PoolTimeout
from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_attempt, wait_exponential

from tiktrend.store.base import StoreError
from tiktrend.store.pg_options import PostgresOptions

__all__ = ["PostgresOptions", "check_writable", "connect", "describe", "is_transient", "with_retries"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def describe(url: str) -> str:
    """``database on host:port as user``, never the password, for messages."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured database"
    host = parts.get("host") or "the local socket"
    port = parts.get("port") or "5432"
    return (
        f"database {parts.get('dbname') or '(default)'!s} on {host}:{port} as {parts.get('user') or '(default user)'}"
    )


def _database(url: str) -> str:
    try:
        return str(conninfo_to_dict(url).get("dbname") or "tiktrend")
    except psycopg.ProgrammingError:
        return "tiktrend"


def _reason(text: str) -> str:
    """The server's own words, without libpq's preamble."""
    first = text.splitlines()[0] if text else ""
    return first.split("FATAL:")[-1].strip()


def connection_error(url: str, exc: Exception) -> StoreError:
    """The StoreError for a failed connection: what went wrong and what to do about it."""
    text = str(exc)
    where = describe(url)
    if "does not exist" in text and "database" in text:
        name = _database(url)
        return StoreError(
            f"cannot open {where}: the database does not exist. Create it (createdb {name}, or "
            f"CREATE DATABASE {name}) or fix the name in TIKTREND_DATABASE_URL."
        )
    if "password authentication failed" in text or ("role" in text and "does not exist" in text):
        return StoreError(
            f"cannot open {where}: the server refused the credentials ({_reason(text)}). "
            "Check the user and password in TIKTREND_DATABASE_URL (or PGPASSWORD / ~/.pgpass)."
        )
    if "no pg_hba.conf entry" in text or "permission denied" in text:
        return StoreError(
            f"cannot open {where}: the server does not let this user in from here ({text.splitlines()[0]}). "
            "Ask the database's owner for access, or use another user in TIKTREND_DATABASE_URL."
        )
    return StoreError(
        f"cannot reach PostgreSQL for {where}: {text.splitlines()[0] if text else type(exc).__name__}. "
        "Check that the server is running and that the host and port in TIKTREND_DATABASE_URL are right."
    )


def read_only_error(url: str, in_recovery: bool) -> StoreError:
    """The StoreError for a server that does not accept writes."""
    why = "is a read-only replica (in recovery)" if in_recovery else "only allows read-only transactions"
    return StoreError(
        f"{describe(url)} {why}: tiktrend writes to its store. "
        "Point TIKTREND_DATABASE_URL at the primary server (or a writable database)."
    )


def check_writable(conn: psycopg.Connection[tuple[object, ...]], url: str) -> None:
    """Refuse a replica or a read-only database up front, rather than at the first write."""
    row = conn.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetchone()
    if row is not None and (row[0] or row[1] == "on"):
        raise read_only_error(url, bool(row[0]))


def connect(url: str, timeout_s: int, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
    """One connection, or a StoreError saying why there is none."""
    try:
        return psycopg.connect(url, connect_timeout=timeout_s, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        raise connection_error(url, exc) from exc
    except psycopg.ProgrammingError as exc:  # a malformed URL
        raise StoreError(f"invalid PostgreSQL URL in TIKTREND_DATABASE_URL: {exc}") from exc


# Errors worth trying again: the server went away, a failover, a deadlock or serialization conflict.
_TRANSIENT_STATES: Final = {"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004"}


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same work (every write is idempotent) can succeed."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate in _TRANSIENT_STATES:
            return True
        # A connection lost mid-statement has no SQLSTATE.
        return isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None
    return False


def with_retries(work: Callable[[], T], attempts: int, url: str) -> T:
    """Run ``work``, again with exponential backoff after a transient failure; explain a read-only server."""
    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=0.2, max=5),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    try:
        return retrying(work)
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise read_only_error(url, in_recovery=False) from exc
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise connection_error(url, exc) from exc
