"""What ``tiktrend db`` does on PostgreSQL: report the schema, migrate it, keep partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from psycopg import sql

from tiktrend.store.migrations import LATEST, Migration, downgrade, schema_state, timescale_versions, upgrade
from tiktrend.store.pg_connect import PostgresOptions, check_writable, connect, describe
from tiktrend.store.pg_schema import PARTITIONED, next_month
from tiktrend.store.postgres import Conn, PostgresStore

_WRITE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('tiktrend:write:' || current_schema()))"


@dataclass
class DatabaseStatus:
    """Where a PostgreSQL store stands."""

    where: str
    version: int
    latest: int
    storage: str | None
    timescale_installed: str | None
    timescale_available: str | None
    partitions: list[str] = field(default_factory=list)
    pending_videos: int = 0


def status(url: str, options: PostgresOptions) -> DatabaseStatus:
    """Read the schema version, the layout, TimescaleDB's presence and the partitions, changing nothing."""
    with connect(url, options.connect_timeout_s, autocommit=True) as conn:
        state = schema_state(conn)
        installed, available = timescale_versions(conn)
        result = DatabaseStatus(describe(url), state.version, LATEST, state.storage, installed, available)
        if state.version >= 1:
            rows = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent IN (to_regclass('keyword_mentions'), to_regclass('video_stats')) ORDER BY 1"
            ).fetchall()
            result.partitions = [str(r[0]) for r in rows]
            pending = conn.execute("SELECT count(*) FROM rollup_videos").fetchone()
            result.pending_videos = int(str(pending[0])) if pending else 0
    return result


def upgrade_schema(url: str, options: PostgresOptions, target: int = LATEST) -> list[Migration]:
    """Apply the missing migrations up to ``target``."""
    with connect(url, options.connect_timeout_s, autocommit=True) as conn:
        check_writable(conn, url)
        return upgrade(conn, options, url, target)


def downgrade_schema(url: str, options: PostgresOptions, target: int) -> list[Migration]:
    """Undo migrations above ``target`` when that loses no data (refused otherwise, with the reason)."""
    with connect(url, options.connect_timeout_s, autocommit=True) as conn:
        check_writable(conn, url)
        return downgrade(conn, options, url, target)


@dataclass
class Maintenance:
    """What ``tiktrend db maintain`` changed."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    note: str = ""


def partition_month(name: str) -> date | None:
    """The month a ``<table>_YYYY_MM`` partition holds."""
    try:
        year, month = name.rsplit("_", 2)[-2:]
        return date(int(year), int(month), 1)
    except ValueError:
        return None


def maintain(url: str, options: PostgresOptions, today: date | None = None) -> Maintenance:
    """Create the partitions ahead and drop those wholly older than the retention (plain layout)."""
    today = today or datetime.now(tz=UTC).date()
    with PostgresStore(url, options) as store:
        report = Maintenance()
        if store.storage != "plain":
            report.note = "TimescaleDB policies compress and drop chunks and refresh the continuous aggregates."
            return report
        ahead = [today.replace(day=1)]
        for _ in range(options.partition_months_ahead):
            ahead.append(next_month(ahead[-1]))
        report.created = store.ensure_partitions({table: ahead for table in PARTITIONED})
        if options.retention_days is not None:
            report.dropped = _drop_expired(store, today - timedelta(days=options.retention_days))
    return report


def _drop_expired(store: PostgresStore, cutoff: date) -> list[str]:
    def work(conn: Conn) -> list[str]:
        conn.execute(_WRITE_LOCK)
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent IN (to_regclass('keyword_mentions'), to_regclass('video_stats')) ORDER BY 1"
        ).fetchall()
        dropped = []
        for (name,) in rows:
            month = partition_month(str(name))
            if month is not None and next_month(month) <= cutoff:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(str(name))))
                dropped.append(str(name))
        return dropped

    return store.transact(work)
