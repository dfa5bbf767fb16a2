"""One parameterized statement on either backend, for the few readers outside the store classes (metrics, alerts).

Statements use ``?`` placeholders (DuckDB's); they become ``%s`` on PostgreSQL. Values always travel as
parameters; a statement holding a literal ``%`` or ``?`` is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tiktrend.store.base import Store

Row = tuple[Any, ...]


def _postgres_statement(statement: str) -> str:
    if "%" in statement:
        raise ValueError("plain_sql statements may not hold a literal '%': pass the value as a parameter")
    return statement.replace("?", "%s")


def fetch(store: Store, statement: str, params: Sequence[Any] = ()) -> list[Row]:
    """Every row of one read statement (``?`` placeholders)."""
    from tiktrend.store.duckdb import DuckDBStore

    if isinstance(store, DuckDBStore):
        # fetchall, not fetchone: DuckDB refuses new work while a result is only partly fetched.
        return [tuple(r) for r in store.con.execute(statement, list(params)).fetchall()]
    from tiktrend.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        text = _postgres_statement(statement)
        return store.transact(lambda conn: [tuple(r) for r in conn.execute(text, list(params)).fetchall()])
    raise TypeError(f"no plain SQL for a store of type {type(store).__name__}")


def execute(store: Store, statement: str, params: Sequence[Any] = ()) -> int:
    """Run one write statement in its own transaction; returns the rows it changed."""
    from tiktrend.store.duckdb import DuckDBStore

    if isinstance(store, DuckDBStore):
        rows = store.con.execute(statement, list(params)).fetchall()
        # DuckDB answers a write with one row holding the count of rows changed.
        return int(rows[0][0]) if rows and rows[0] and isinstance(rows[0][0], int) else 0
    from tiktrend.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        text = _postgres_statement(statement)
        return store.transact(lambda conn: conn.execute(text, list(params)).rowcount)
    raise TypeError(f"no plain SQL for a store of type {type(store).__name__}")


def execute_many(store: Store, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run one write statement for every row of parameters, all in one transaction."""
    if not rows:
        return
    from tiktrend.store.duckdb import DuckDBStore

    if isinstance(store, DuckDBStore):
        store.con.begin()
        try:
            store.con.executemany(statement, [list(r) for r in rows])
        except BaseException:
            store.con.rollback()
            raise
        store.con.commit()
        return
    from tiktrend.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        text = _postgres_statement(statement)
        store.transact(lambda conn: conn.cursor().executemany(text, [list(r) for r in rows]))
        return
    raise TypeError(f"no plain SQL for a store of type {type(store).__name__}")


def has_table(store: Store, table: str) -> bool:
    """Whether the store's current schema holds ``table`` (a table of a newer layout may be missing)."""
    from tiktrend.store.duckdb import DuckDBStore

    if isinstance(store, DuckDBStore):
        rows = fetch(store, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])
    else:
        rows = fetch(
            store,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
            [table],
        )
    return bool(rows and rows[0][0])
