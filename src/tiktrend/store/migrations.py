"""Versioned schema migrations of the PostgreSQL store, recorded in the database itself.

Each migration runs in its own transaction and adds one row to ``tiktrend_schema``; a session advisory lock
keeps two processes from migrating the same schema at once. ``tiktrend db upgrade`` applies what is
missing (a store also does it on first use); ``tiktrend db downgrade --to N`` undoes migrations whose
downgrade loses nothing but derived data, and refuses the others with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import psycopg
from psycopg import sql

from tiktrend import __version__
from tiktrend.store.base import StoreError
from tiktrend.store.pg_connect import PostgresOptions, describe
from tiktrend.store.pg_schema import PARTITIONED, core_tables, drop_timescale_statements, timescale_statements
from tiktrend.store.rollup_sql import RollupSQL
from tiktrend.store.schema import ALERTS_COLUMNS

log = logging.getLogger(__name__)
Connection = psycopg.Connection[tuple[object, ...]]

SCHEMA_TABLE: Final = "tiktrend_schema"


@dataclass(frozen=True)
class Layout:
    """How this database keeps its time series: ``plain`` partitions or ``timescaledb`` hypertables."""

    storage: str
    options: PostgresOptions


@dataclass(frozen=True)
class Migration:
    """One schema version: how to reach it, and how to leave it when that is safe (``downgrade`` set)."""

    version: int
    name: str
    upgrade: Callable[[Connection, Layout], None]
    downgrade: Callable[[Connection, Layout], None] | None = None
    why_no_downgrade: str = ""


def _core_up(conn: Connection, layout: Layout) -> None:
    for statement in core_tables(layout.storage):
        conn.execute(statement)
    if layout.storage == "timescaledb":
        for composed in timescale_statements(layout.options):
            conn.execute(composed)


def _scopes_up(conn: Connection, layout: Layout) -> None:
    # The latest detection per window and detector, read without scanning every stored trend.
    conn.execute(
        'CREATE TABLE trend_scopes (time_window TEXT COLLATE "C" NOT NULL, detector TEXT COLLATE "C" NOT NULL, '
        "as_of TIMESTAMP NOT NULL, PRIMARY KEY (time_window, detector, as_of))"
    )
    conn.execute("INSERT INTO trend_scopes SELECT DISTINCT time_window, detector, as_of FROM trends")
    # One slice (region, category, modality) over a time range: the dashboard's and the top-N reads.
    conn.execute("CREATE INDEX keyword_rollup_slice ON keyword_rollup (grain, region, modality, bucket)")


def _scopes_down(conn: Connection, layout: Layout) -> None:
    conn.execute("DROP INDEX IF EXISTS keyword_rollup_slice")
    conn.execute("DROP TABLE IF EXISTS trend_scopes")


def _collect_up(conn: Connection, layout: Layout) -> None:
    # The collection stage's tables (collect/): every region a video was seen in, and the trend lists
    # TikTok publishes (Creative Center), an external signal and the backtest's ground truth.
    conn.execute(
        'CREATE TABLE video_regions (video_id TEXT COLLATE "C" NOT NULL, region TEXT COLLATE "C" NOT NULL, '
        "first_seen TIMESTAMP NOT NULL, last_seen TIMESTAMP NOT NULL, PRIMARY KEY (video_id, region))"
    )
    text = 'TEXT COLLATE "C"'
    conn.execute(
        f"CREATE TABLE external_trends (source {text} NOT NULL, kind {text} NOT NULL, region {text} NOT NULL, "
        f"period_days INTEGER NOT NULL, industry {text} NOT NULL, list_date DATE NOT NULL, keyword {text} NOT NULL, "
        f"name {text} NOT NULL, item_id {text}, rank INTEGER NOT NULL, rank_diff INTEGER, is_new BOOLEAN, "
        f"posts BIGINT, views BIGINT, trend {text}, listed_at TIMESTAMP NOT NULL, "
        "PRIMARY KEY (source, kind, region, period_days, industry, list_date, keyword))"
    )


def _collect_down(conn: Connection, layout: Layout) -> None:
    # Safe only while nothing was collected into them: collected lists cannot be fetched again for past days.
    for table in ("external_trends", "video_regions"):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        if row and int(str(row[0])):
            raise StoreError(
                f"cannot downgrade below schema version 3: {table} holds {row[0]} rows that would be lost."
            )
    conn.execute("DROP TABLE external_trends")
    conn.execute("DROP TABLE video_regions")


def _alerts_up(conn: Connection, layout: Layout) -> None:
    # alerts.py remembers what it sent, so a keyword's alert goes out once per rule and window.
    columns = ALERTS_COLUMNS.replace("VARCHAR", 'TEXT COLLATE "C"').replace("DOUBLE", "DOUBLE PRECISION")
    conn.execute(f"CREATE TABLE alerts_sent ({columns})")


def _alerts_down(conn: Connection, layout: Layout) -> None:
    # Forgetting what was sent would send every alert again: refused while the table holds rows.
    row = conn.execute("SELECT count(*) FROM alerts_sent").fetchone()
    if row and int(str(row[0])):
        raise StoreError(
            f"cannot downgrade below schema version 4: alerts_sent holds {row[0]} rows; without them every "
            "alert would be sent again."
        )
    conn.execute("DROP TABLE alerts_sent")


def _trend_history_up(conn: Connection, layout: Layout) -> None:
    # When a trend was first flagged (NULL on rows stored before: their as_of is the earliest known), and the
    # videos shown as its examples, ranked, so the API and the CLI read the same evidence the detection chose.
    conn.execute("ALTER TABLE trends ADD COLUMN first_detected_at TIMESTAMP")
    text = 'TEXT COLLATE "C"'
    conn.execute(
        f"CREATE TABLE trend_examples (as_of TIMESTAMP NOT NULL, time_window {text} NOT NULL, "
        f"detector {text} NOT NULL, region {text} NOT NULL, category {text} NOT NULL, modality {text} NOT NULL, "
        f"keyword {text} NOT NULL, rank INTEGER NOT NULL, video_id {text} NOT NULL, views BIGINT NOT NULL, "
        "PRIMARY KEY (as_of, time_window, detector, region, category, modality, keyword, rank))"
    )


def _trend_history_down(conn: Connection, layout: Layout) -> None:
    # Derived data only: a detection at the same moment chooses the same examples again.
    conn.execute("DROP TABLE trend_examples")
    conn.execute("ALTER TABLE trends DROP COLUMN first_detected_at")


def _keyword_index_up(conn: Connection, layout: Layout) -> None:
    # One keyword's rows (the API's and the dashboard's keyword detail, sparklines, example videos): without
    # these, each read scans the rollups and the mentions, which are keyed by bucket and by video.
    conn.execute("CREATE INDEX keyword_rollup_keyword ON keyword_rollup (keyword, grain, bucket)")
    conn.execute("CREATE INDEX keyword_mentions_keyword ON keyword_mentions (keyword)")


def _keyword_index_down(conn: Connection, layout: Layout) -> None:
    conn.execute("DROP INDEX IF EXISTS keyword_mentions_keyword")
    conn.execute("DROP INDEX IF EXISTS keyword_rollup_keyword")


def _keyword_top_up(conn: Connection, layout: Layout) -> None:
    # The most viewed videos per keyword, day, region and category (rollup_sql), so a keyword's example videos
    # are read from a few rows; the primary key leads with the keyword. Filled once from what is stored.
    text = 'TEXT COLLATE "C"'
    conn.execute(
        f"CREATE TABLE keyword_top (keyword {text} NOT NULL, bucket TIMESTAMP NOT NULL, region {text} NOT NULL, "
        f"category {text} NOT NULL, video_id {text} NOT NULL, rank_views BIGINT NOT NULL, "
        f"modalities {text} NOT NULL, kid BIGINT NOT NULL, PRIMARY KEY (keyword, bucket, region, category, video_id))"
    )
    conn.execute(RollupSQL("postgres").top_fill())


def _keyword_top_down(conn: Connection, layout: Layout) -> None:
    conn.execute("DROP TABLE keyword_top")  # derived from the mentions and videos: filled again on upgrade


MIGRATIONS: Final = (
    Migration(
        1,
        "core tables, time partitions or hypertables, rollups",
        _core_up,
        why_no_downgrade="it would drop every table and the data in them (drop the database instead)",
    ),
    Migration(2, "trend scopes and slice index for fast top-trends reads", _scopes_up, _scopes_down),
    Migration(3, "collection tables: video regions, external trend lists", _collect_up, _collect_down),
    Migration(4, "alerts sent and pending", _alerts_up, _alerts_down),
    Migration(5, "trends: first detection time, example videos", _trend_history_up, _trend_history_down),
    Migration(6, "keyword indexes for one keyword's reads (API, dashboard)", _keyword_index_up, _keyword_index_down),
    Migration(7, "the most viewed videos per keyword and day (example videos)", _keyword_top_up, _keyword_top_down),
)
LATEST: Final = MIGRATIONS[-1].version


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its schema version (0 when empty) and its layout (None when empty)."""

    version: int
    storage: str | None


def schema_state(conn: Connection) -> SchemaState:
    """Read the recorded schema version and layout of the current schema."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [SCHEMA_TABLE]).fetchone()
    if row is None or not row[0]:
        return SchemaState(0, None)
    found = conn.execute(
        sql.SQL("SELECT max(version), min(storage) FROM {}").format(sql.Identifier(SCHEMA_TABLE))
    ).fetchone()
    if found is None or found[0] is None:
        return SchemaState(0, None)
    return SchemaState(int(str(found[0])), str(found[1]))


def refuse_newer(state: SchemaState, url: str) -> None:
    """A database migrated by a newer tiktrend is never touched by this one."""
    if state.version > LATEST:
        raise StoreError(
            f"{describe(url)} has schema version {state.version}, newer than this tiktrend ({__version__}) "
            f"knows (up to {LATEST}). Install the tiktrend release that migrated it (or a later one), "
            "or point TIKTREND_DATABASE_URL at another database."
        )


def choose_storage(mode: str, installed: str | None, available: str | None) -> str:
    """``timescaledb`` or ``plain`` for a new schema, from the setting and what the server offers."""
    if mode == "off":
        return "plain"
    if installed or available:
        return "timescaledb"
    if mode == "on":
        raise StoreError(
            "TIKTREND_PG_TIMESCALE=on, but the TimescaleDB extension is not available on this server: "
            "install it there, or set TIKTREND_PG_TIMESCALE=auto to use plain PostgreSQL partitions."
        )
    return "plain"


def timescale_versions(conn: Connection) -> tuple[str | None, str | None]:
    """The TimescaleDB version installed in this database and the one the server could install."""
    installed = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    available = conn.execute(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return (str(installed[0]) if installed else None, str(available[0]) if available else None)


def _new_layout(conn: Connection, options: PostgresOptions) -> Layout:
    installed, available = timescale_versions(conn)
    storage = choose_storage(options.timescale, installed, available)
    if storage == "timescaledb" and not installed:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except psycopg.Error as exc:
            if options.timescale == "on":
                raise StoreError(f"cannot create the TimescaleDB extension: {exc}") from exc
            # Offered but not loadable (for instance not in shared_preload_libraries): plain partitions work.
            log.warning("TimescaleDB is available but could not be created (%s); using plain partitions", exc)
            storage = "plain"
    return Layout(storage, options)


class _MigrationLock:
    """A session advisory lock per schema, so concurrent first uses migrate once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("SELECT pg_advisory_lock(hashtext('tiktrend:migrate:' || current_schema()))")

    def __exit__(self, *exc: object) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(hashtext('tiktrend:migrate:' || current_schema()))")


def _record(conn: Connection, migration: Migration, storage: str) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, storage TEXT NOT NULL, "
            "applied_at TIMESTAMP NOT NULL, tiktrend TEXT NOT NULL)"
        ).format(sql.Identifier(SCHEMA_TABLE))
    )
    conn.execute(
        sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, now() AT TIME ZONE 'UTC', %s)").format(
            sql.Identifier(SCHEMA_TABLE)
        ),
        [migration.version, migration.name, storage, __version__],
    )


def upgrade(conn: Connection, options: PostgresOptions, url: str, target: int = LATEST) -> list[Migration]:
    """Apply the migrations between the database's version and ``target``; returns those applied.

    ``conn`` must be in autocommit mode: each migration runs in a transaction of its own.
    """
    if not 0 <= target <= LATEST:
        raise ValueError(f"schema version must be between 0 and {LATEST}, not {target}")
    applied: list[Migration] = []
    with _MigrationLock(conn):
        state = schema_state(conn)
        refuse_newer(state, url)
        layout = Layout(state.storage, options) if state.storage else _new_layout(conn, options)
        for migration in MIGRATIONS:
            if state.version < migration.version <= target:
                with conn.transaction():
                    migration.upgrade(conn, layout)
                    _record(conn, migration, layout.storage)
                log.info("schema migrated to version %s (%s)", migration.version, migration.name)
                applied.append(migration)
    return applied


def downgrade(conn: Connection, options: PostgresOptions, url: str, target: int) -> list[Migration]:
    """Undo the migrations above ``target``, newest first, when every one of them can be undone safely."""
    with _MigrationLock(conn):
        state = schema_state(conn)
        refuse_newer(state, url)
        undo = [m for m in reversed(MIGRATIONS) if target < m.version <= state.version]
        unsafe = [m for m in undo if m.downgrade is None]
        if unsafe:
            first = unsafe[0]
            raise StoreError(
                f"cannot downgrade below schema version {first.version} ({first.name}): {first.why_no_downgrade}."
            )
        layout = Layout(state.storage or "plain", options)
        for migration in undo:
            with conn.transaction():
                assert migration.downgrade is not None
                migration.downgrade(conn, layout)
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE version = %s").format(sql.Identifier(SCHEMA_TABLE)),
                    [migration.version],
                )
    return undo


__all__ = [
    "LATEST",
    "MIGRATIONS",
    "PARTITIONED",
    "Layout",
    "Migration",
    "SchemaState",
    "choose_storage",
    "downgrade",
    "drop_timescale_statements",
    "refuse_newer",
    "schema_state",
    "timescale_versions",
    "upgrade",
]
