"""The production store: PostgreSQL (with TimescaleDB when present), the same contract and answers as DuckDB.

- Loads stage each chunk with ``COPY`` and merge it in one transaction; an advisory lock per schema makes
  concurrent loads take turns at the merge, so two runs with overlapping input end with the rows of one.
- Every write is idempotent, so a transient failure (lost connection, failover, deadlock) retries the whole
  transaction with backoff.
- Rollups are maintained incrementally (``rollup_sql``): work per refresh follows the videos loaded.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime
from typing import Any, Final, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg import Connection, Cursor, sql
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from tiktrend.models import COUNTERS, MENTION_COLUMNS
from tiktrend.store.base import ALL, GRAINS, TABLES, LoadResult, StoreError
from tiktrend.store.duckdb import EXTERNAL_TREND_COLUMNS, example_rows, ordered_examples, region_sightings
from tiktrend.store.frames import (
    STATIC_COLUMNS,
    STATS_COLUMNS,
    VIDEO_TABLE_COLUMNS,
    Batch,
    is_in,
    prepare_batch,
    utc_naive,
)
from tiktrend.store.migrations import LATEST, refuse_newer, schema_state, upgrade
from tiktrend.store.params import to_pyformat
from tiktrend.store.pg_connect import PostgresOptions, check_writable, connect, describe, with_retries
from tiktrend.store.pg_schema import PARTITIONED, create_partition, month_start, months_ahead, partition_name
from tiktrend.store.rollup_sql import RollupSQL, bucket_rows
from tiktrend.store.schema import KEYS

T = TypeVar("T")
Conn = Connection[TupleRow]

# One writer at a time per schema for the merge step of loads, refreshes and trend saves.
_WRITE_LOCK: Final = "SELECT pg_advisory_xact_lock(hashtext('tiktrend:write:' || current_schema()))"
# A batch transaction joins a few thousand staged rows to tables of millions by their keys: index lookups
# (nested loops) cost what the batch holds, where the planner's hash joins would scan the whole table.
# Batch-sized sorts and aggregates stay in memory. (This transaction only.)
_BATCH_SETTINGS: Final = (
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL enable_hashjoin = off",
    "SET LOCAL enable_mergejoin = off",
)
# Tables of the schema whose planner statistics are missing or stale by autovacuum's own rule (a fifth of the
# rows changed), the queue tables aside (emptied by every refresh). A batch's plans are costed from them: with a
# month's partition never analysed, each key lookup in it was costed at 150 and a scan of it looked cheaper.
_STALE_STATISTICS: Final = """
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND c.relkind = 'r' AND s.n_mod_since_analyze > 0
  AND s.relname NOT IN ('rollup_videos', 'rollup_before_videos', 'rollup_before_mentions')
  AND (coalesce(s.last_analyze, s.last_autoanalyze) IS NULL OR s.n_mod_since_analyze > greatest(1000, c.reltuples / 5))
"""
_MENTION_TABLE_COLUMNS: Final = (*MENTION_COLUMNS, "posted_at", "region", "category")
_ROLLUP: Final = RollupSQL("postgres")


def _merged(column: str) -> str:
    """The merge rule of one ``videos`` column: ``s`` is the batch row, ``v`` the stored one (or NULLs)."""
    if column in STATIC_COLUMNS:
        # Attributes come from the earliest observation; a later one only fills what is missing.
        return (
            f"CASE WHEN v.video_id IS NULL OR s.first_seen < v.first_seen THEN coalesce(s.{column}, v.{column}) "
            f"ELSE coalesce(v.{column}, s.{column}) END AS {column}"
        )
    if column in COUNTERS:
        # Counters come from the latest observation; equal times keep the larger value, so order never matters.
        return (
            f"CASE WHEN v.video_id IS NULL OR s.last_seen > v.last_seen THEN coalesce(s.{column}, v.{column}) "
            f"WHEN s.last_seen < v.last_seen THEN coalesce(v.{column}, s.{column}) "
            f"ELSE greatest(v.{column}, s.{column}) END AS {column}"
        )
    rules = {
        "video_id": "s.video_id",
        "posted_at": "CASE WHEN v.video_id IS NULL THEN s.posted_at "
        "ELSE coalesce(s.created_at, v.created_at, least(v.posted_at, s.posted_at)) END AS posted_at",
        "first_seen": "least(v.first_seen, s.first_seen) AS first_seen",
        "last_seen": "greatest(v.last_seen, s.last_seen) AS last_seen",
    }
    return rules[column]


_MERGE_VIDEOS: Final = f"""
    CREATE TEMP TABLE merged_videos ON COMMIT DROP AS
    SELECT {", ".join(_merged(c) for c in VIDEO_TABLE_COLUMNS)},
           v.video_id IS NULL AS is_new,
           v.video_id IS NOT NULL AND (s.last_seen > v.last_seen OR s.first_seen < v.first_seen) AS is_updated,
           v.posted_at AS old_posted_at, v.region AS old_region, v.category AS old_category,
           s.first_seen AS batch_first_seen, v.first_seen AS old_first_seen
    FROM stage_videos s LEFT JOIN videos v USING (video_id)
"""  # noqa: S608 - fixed column names only

_COLS: Final = ", ".join(VIDEO_TABLE_COLUMNS)
_INSERT_VIDEOS: Final = f"INSERT INTO videos ({_COLS}) SELECT {_COLS} FROM merged_videos WHERE is_new"  # noqa: S608
_UPDATE_VIDEOS: Final = f"""
    UPDATE videos v SET {", ".join(f"{c} = m.{c}" for c in VIDEO_TABLE_COLUMNS[1:])}
    FROM merged_videos m
    WHERE NOT m.is_new AND v.video_id = m.video_id
      AND ({", ".join(f"v.{c}" for c in VIDEO_TABLE_COLUMNS[1:])})
          IS DISTINCT FROM ({", ".join(f"m.{c}" for c in VIDEO_TABLE_COLUMNS[1:])})
"""  # noqa: S608 - fixed column names only

_NEW_STATS: Final = """
    SELECT count(*) FROM stage_stats s
    WHERE NOT EXISTS (SELECT 1 FROM video_stats t WHERE t.video_id = s.video_id AND t.observed_at = s.observed_at)
"""
_UPSERT_STATS: Final = f"""
    INSERT INTO video_stats AS t SELECT * FROM stage_stats
    ON CONFLICT (video_id, observed_at) DO UPDATE SET
        {", ".join(f"{c} = greatest(t.{c}, excluded.{c})" for c in COUNTERS)}
    WHERE ({", ".join(f"t.{c}" for c in COUNTERS)})
          IS DISTINCT FROM ({", ".join(f"greatest(t.{c}, excluded.{c})" for c in COUNTERS)})
"""  # noqa: S608 - fixed column names only

# A merge can move a video (an earlier posted_at, the region of an earlier observation): its mentions follow.
# A new time is a delete and an insert, so no UPDATE has to move rows between partitions or chunks.
_MOVE_MENTIONS: Final = (
    "CREATE TEMP TABLE moved_mentions (LIKE keyword_mentions) ON COMMIT DROP",
    f"""
    WITH gone AS (
        DELETE FROM keyword_mentions m USING merged_videos v
        WHERE NOT v.is_new AND m.video_id = v.video_id AND m.posted_at = v.old_posted_at
          AND v.posted_at <> v.old_posted_at
        RETURNING {", ".join(f"m.{c}" for c in MENTION_COLUMNS)}, v.posted_at, v.region, v.category
    )
    INSERT INTO moved_mentions ({", ".join(_MENTION_TABLE_COLUMNS)}) SELECT * FROM gone
    """,  # noqa: S608 - fixed column names only
    "INSERT INTO keyword_mentions SELECT * FROM moved_mentions",
    """
    UPDATE keyword_mentions m SET region = v.region, category = v.category
    FROM merged_videos v
    WHERE NOT v.is_new AND m.video_id = v.video_id AND m.posted_at = v.old_posted_at
      AND v.posted_at = v.old_posted_at AND (v.region <> v.old_region OR v.category <> v.old_category)
    """,
)
# A mention's spelling and weight come from the video's earliest observation (on a tie: the larger weight,
# then the smaller spelling), so the order loads arrive in never shows.
_MENTION_ATTRIBUTES: Final = """
    UPDATE keyword_mentions m SET display = s.display, weight = s.weight, is_generic = s.is_generic
    FROM known_mentions s
    WHERE m.video_id = s.video_id AND m.keyword = s.keyword AND m.modality = s.modality AND m.posted_at = s.posted_at
      AND (s.batch_first_seen < s.old_first_seen OR (s.batch_first_seen = s.old_first_seen
           AND (s.weight > m.weight OR (s.weight = m.weight AND s.display < m.display))))
"""
_INSERT_MENTIONS: Final = f"""
    INSERT INTO keyword_mentions ({", ".join(_MENTION_TABLE_COLUMNS)})
    SELECT {", ".join(_MENTION_TABLE_COLUMNS)} FROM known_mentions
    ON CONFLICT DO NOTHING
"""  # noqa: S608 - fixed column names only
# Known videos' staged mentions with what they need of the merge, in one pass (two small tables: a hash join).
_KNOWN_MENTIONS: Final = """
    CREATE TEMP TABLE known_mentions ON COMMIT DROP AS
    SELECT s.*, v.posted_at, v.region, v.category, v.batch_first_seen, v.old_first_seen
    FROM stage_mentions s JOIN merged_videos v ON v.video_id = s.video_id
"""

# Every region a video was seen in, with the first and last time (videos keeps only the earliest region).
_UPSERT_REGIONS: Final = """
    INSERT INTO video_regions AS r SELECT * FROM stage_regions
    ON CONFLICT (video_id, region) DO UPDATE SET
        first_seen = least(r.first_seen, excluded.first_seen), last_seen = greatest(r.last_seen, excluded.last_seen)
    WHERE excluded.first_seen < r.first_seen OR excluded.last_seen > r.last_seen
"""

_EXAMPLE_VIDEOS: Final = """
    SELECT keyword, video_id, author, views, caption, video_url FROM (
        SELECT *, row_number() OVER (PARTITION BY keyword ORDER BY views DESC NULLS LAST, video_id) AS n FROM (
            SELECT DISTINCT m.keyword, v.video_id, v.author, v.views, v.caption, v.video_url, v.posted_at
            FROM keyword_mentions m JOIN videos v ON v.video_id = m.video_id
            WHERE m.keyword = ANY(%(keywords)s) AND m.posted_at >= %(start)s AND m.posted_at < %(end)s
              AND (%(region)s::text IS NULL OR %(region)s = '*' OR m.region = %(region)s)
              AND (%(category)s::text IS NULL OR %(category)s = '*' OR m.category = %(category)s)
        ) found
    ) ranked
    WHERE n <= %(limit)s
    ORDER BY keyword, views DESC NULLS LAST, video_id
"""

_TOP_TRENDS: Final = """
    WITH latest AS (
        SELECT time_window, detector, max(as_of) AS as_of FROM trend_scopes
        WHERE (%(window)s::text IS NULL OR time_window = %(window)s)
          AND (%(detector)s::text IS NULL OR detector = %(detector)s)
        GROUP BY time_window, detector
    )
    SELECT t.* FROM trends t
    JOIN latest l ON t.time_window = l.time_window AND t.detector = l.detector AND t.as_of = l.as_of
    WHERE (%(region)s::text IS NULL OR t.region = %(region)s)
      AND (%(category)s::text IS NULL OR t.category = %(category)s)
      AND (%(modality)s::text IS NULL OR t.modality = %(modality)s)
    ORDER BY t.time_window, t.detector, t.region, t.category, t.modality, t.rank, t.keyword
    LIMIT %(limit)s
"""

_TREND_HISTORY: Final = """
    SELECT region, category, modality, keyword, as_of, first_detected_at FROM trends
    WHERE time_window = %(window)s AND detector = %(detector)s AND as_of >= %(start)s AND as_of < %(end)s
      AND keyword = ANY(%(keywords)s)
    ORDER BY region, category, modality, keyword, as_of, first_detected_at
"""

# The DuckDB store's example choice (see there): videos of the window in the key's slice, by views known at its end.
_SELECT_EXAMPLES: Final = f"""
    WITH keys AS (
        SELECT * FROM unnest(%(regions)s::text[], %(categorys)s::text[], %(modalitys)s::text[], %(keywords)s::text[])
            AS k(region, category, modality, keyword)
    ),
    found AS (
        SELECT DISTINCT k.region, k.category, k.modality, k.keyword, m.video_id
        FROM keys k JOIN keyword_mentions m ON m.keyword = k.keyword
        WHERE m.posted_at >= %(start)s AND m.posted_at < %(end)s
          AND (k.region = '{ALL}' OR m.region = k.region) AND (k.category = '{ALL}' OR m.category = k.category)
          AND (k.modality = '{ALL}' OR m.modality = k.modality)
    ),
    seen AS (
        SELECT video_id, max(views) AS views FROM video_stats
        WHERE observed_at < %(end)s AND video_id IN (SELECT video_id FROM found)
        GROUP BY video_id
    ),
    ranked AS (
        SELECT f.region, f.category, f.modality, f.keyword, f.video_id, coalesce(s.views, 0) AS views,
               row_number() OVER (
                   PARTITION BY f.region, f.category, f.modality, f.keyword
                   ORDER BY coalesce(s.views, 0) DESC, f.video_id
               ) AS rank
        FROM found f LEFT JOIN seen s ON s.video_id = f.video_id
    )
    SELECT region, category, modality, keyword, rank, video_id, views FROM ranked WHERE rank <= %(limit)s
"""  # noqa: S608 - composed from fixed names

_TREND_EXAMPLES: Final = """
    SELECT e.*, v.author, v.caption, v.video_url FROM trend_examples e LEFT JOIN videos v ON v.video_id = e.video_id
    WHERE e.as_of = %(as_of)s AND e.time_window = %(window)s AND e.detector = %(detector)s
      AND (%(region)s::text IS NULL OR e.region = %(region)s)
      AND (%(category)s::text IS NULL OR e.category = %(category)s)
      AND (%(modality)s::text IS NULL OR e.modality = %(modality)s)
    ORDER BY e.region, e.category, e.modality, e.keyword, e.rank
"""

# Velocity: what each observation added to a video's counters since its previous one (see the DuckDB store).
_GAIN_COLUMNS: Final = ", ".join(
    f"greatest(coalesce({c}, 0) - coalesce(max({c}) OVER seen, 0), 0) AS {c}" for c in COUNTERS
)
_GAINS: Final = f"""
    obs AS (
        SELECT video_id, observed_at, {_GAIN_COLUMNS}
        FROM video_stats WHERE observed_at < %(end)s
        WINDOW seen AS (PARTITION BY video_id ORDER BY observed_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    gains AS (
        SELECT date_trunc(%(grain)s, observed_at) AS bkt, video_id, {", ".join(f"sum({c}) AS {c}" for c in COUNTERS)}
        FROM obs WHERE observed_at >= %(start)s GROUP BY 1, 2
    )
"""  # noqa: S608 - fixed column names only


def _label(column: str, alias: str) -> str:
    return f"CASE WHEN grouping({alias}.{column}) = 1 THEN '{ALL}' ELSE {alias}.{column} END AS {column}"


_KEYWORD_VELOCITY: Final = f"""
    WITH {_GAINS},
    kw AS (
        SELECT DISTINCT video_id, keyword, modality, region, category FROM keyword_mentions
        WHERE %(generic)s OR NOT is_generic
        UNION ALL
        SELECT DISTINCT video_id, keyword, '{ALL}', region, category FROM keyword_mentions
        WHERE %(generic)s OR NOT is_generic
    )
    SELECT * FROM (
        SELECT g.bkt AS bucket, k.keyword, {_label("region", "k")}, {_label("category", "k")}, k.modality,
               {", ".join(f"sum(g.{c}) AS {c}" for c in COUNTERS)}
        FROM gains g JOIN kw k USING (video_id)
        GROUP BY g.bkt, k.keyword, k.modality, GROUPING SETS ((k.region, k.category), (k.region), (k.category), ())
    ) grouped
"""  # noqa: S608 - fixed column names only

_TOTAL_VELOCITY: Final = f"""
    WITH {_GAINS}
    SELECT g.bkt AS bucket, {_label("region", "v")}, {_label("category", "v")},
           {", ".join(f"sum(g.{c}) AS {c}" for c in COUNTERS)}
    FROM gains g JOIN videos v USING (video_id)
    GROUP BY g.bkt, GROUPING SETS ((v.region, v.category), (v.region), (v.category), ())
    ORDER BY bucket, region, category
"""  # noqa: S608 - fixed column names only


# ---- frames in and out ---------------------------------------------------------------------------------------

_ARROW_TYPES: Final = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    1043: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1700: pa.float64(),
    1114: pa.timestamp("us"),
    1082: pa.date32(),
    1009: pa.list_(pa.string()),
}


_conversions = threading.local()


def _duckdb() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB for result conversions (one connection refuses calls from two threads)."""
    con: duckdb.DuckDBPyConnection | None = getattr(_conversions, "con", None)
    if con is None:
        con = _conversions.con = duckdb.connect()
    return con


def _frame(cur: Cursor[TupleRow]) -> pd.DataFrame:
    """A result as the DuckDB store would return it: converted through DuckDB, so dtypes are identical."""
    frame: pd.DataFrame = _duckdb().from_arrow(_arrow(cur, cur.fetchall())).df()
    return frame


def _arrow(cur: Cursor[TupleRow], rows: list[TupleRow]) -> pa.Table:
    """Rows of a result as an Arrow table of the types DuckDB would give them."""
    description = cur.description or []
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in description]
    arrays = []
    for column, values in zip(description, columns, strict=True):
        kind = _ARROW_TYPES.get(column.type_code, pa.string())
        if column.type_code == 1700:
            values = tuple(None if v is None else float(v) for v in values)
        arrays.append(pa.array(values, type=kind))
    return pa.Table.from_arrays(arrays, names=[c.name for c in description])


def _array_literals(tags: pd.Series) -> pa.Array:
    """PostgreSQL text[] literals for COPY (``{"a","b"}``, NULL for a missing list), built in Arrow at once."""
    lists = pa.array(tags, type=pa.list_(pa.string()), from_pandas=True)
    items = lists.values.fill_null("None")
    escaped = pc.replace_substring(pc.replace_substring(items, "\\", "\\\\"), '"', '\\"')
    quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    joined = pc.binary_join(pa.ListArray.from_arrays(lists.offsets, quoted, mask=lists.is_null()), ",")
    return pc.binary_join_element_wise("{", joined, "}", "")


def _csv(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    return buffer.getvalue()


def _copy(cur: Cursor[TupleRow], table: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Bulk-load a frame with COPY (CSV made by Arrow: NULL is an empty field, '' is quoted)."""
    if frame.empty:
        return
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with cur.copy(statement) as copy:
        copy.write(_csv(frame[list(columns)]))


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _months(values: pd.Series) -> set[date]:
    stamps = pd.to_datetime(values).dropna()
    return {month_start(m) for m in stamps.dt.to_period("M").dt.start_time.unique()}


class PostgresStore:
    """A :class:`~tiktrend.store.base.Store` in a PostgreSQL schema (the search_path's first)."""

    def __init__(self, url: str, options: PostgresOptions | None = None) -> None:
        self.url = url
        self.options = options or PostgresOptions()
        self.storage = self._prepare_schema()
        self.pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, self.options.pool_size),
            kwargs={"connect_timeout": self.options.connect_timeout_s},
            open=False,
            name="tiktrend",
        )
        self.pool.open(wait=True, timeout=float(self.options.connect_timeout_s))
        self._partitions: set[str] = set()
        if self.storage == "plain":
            ahead = months_ahead(datetime.now(tz=UTC).date(), self.options.partition_months_ahead)
            self.ensure_partitions({table: ahead for table in PARTITIONED})

    def _prepare_schema(self) -> str:
        """Check the server is writable and the schema current (migrating it when allowed); the layout."""
        with connect(self.url, self.options.connect_timeout_s, autocommit=True) as conn:
            check_writable(conn, self.url)
            state = schema_state(conn)
            refuse_newer(state, self.url)
            if state.version < LATEST:
                if not self.options.auto_upgrade:
                    raise StoreError(
                        f"{describe(self.url)} has schema version {state.version}; this tiktrend needs {LATEST}. "
                        "Run `tiktrend db upgrade`."
                    )
                upgrade(conn, self.options, self.url)
                state = schema_state(conn)
        return state.storage or "plain"

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transact(self, work: Callable[[Conn], T]) -> T:
        """Run ``work`` in one transaction, retried as a whole after a transient failure."""

        def attempt() -> T:
            with self.pool.connection() as conn:
                return work(conn)

        return with_retries(attempt, self.options.retries, self.url)

    # ---- partitions ------------------------------------------------------------------------------------------

    def ensure_partitions(self, months: dict[str, Iterable[date]]) -> list[str]:
        """Create the monthly partitions that are missing (plain layout); returns the names created."""
        wanted = {(table, month) for table, values in months.items() for month in values}
        if self.storage != "plain" or all(partition_name(t, m) in self._partitions for t, m in wanted):
            return []

        def work(conn: Conn) -> list[str]:
            conn.execute(_WRITE_LOCK)
            existing = self._existing_partitions(conn)
            created = []
            for table, month in sorted(wanted):
                if partition_name(table, month) not in existing:
                    conn.execute(create_partition(table, month))
                    created.append(partition_name(table, month))
            return created

        created = self.transact(work)
        self._partitions |= {partition_name(t, m) for t, m in wanted}
        return created

    def _existing_partitions(self, conn: Conn) -> set[str]:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent IN (to_regclass('keyword_mentions'), to_regclass('video_stats'))"
        ).fetchall()
        return {str(r[0]) for r in rows}

    # ---- loads -----------------------------------------------------------------------------------------------

    def load_batch(self, videos: pd.DataFrame, mentions: pd.DataFrame) -> LoadResult:
        if videos.empty:
            return LoadResult()
        batch = prepare_batch(videos, mentions)
        self.ensure_partitions(
            {"keyword_mentions": _months(batch.videos["posted_at"]), "video_stats": _months(batch.stats["observed_at"])}
        )
        self.analyze_stale_tables()
        return self.transact(lambda conn: self._load(conn, batch, videos))

    def analyze_stale_tables(self) -> list[str]:
        """Analyse the tables whose statistics are missing or stale (autovacuum may be off, or behind).

        Run before each load, from the statistics the server has gathered so far; returns the tables analysed.
        """

        def work(conn: Conn) -> list[str]:
            tables = [str(row[0]) for row in conn.execute(_STALE_STATISTICS).fetchall()]
            for table in tables:
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
            return tables

        return self.transact(work)

    def _load(self, conn: Conn, batch: Batch, videos_in: pd.DataFrame) -> LoadResult:
        cur = conn.cursor()
        cur.execute(_WRITE_LOCK)
        for setting in _BATCH_SETTINGS:
            cur.execute(setting)
        cur.execute("CREATE TEMP TABLE stage_videos (LIKE videos) ON COMMIT DROP")
        videos = batch.videos.copy()
        videos["hashtags"] = pd.Series(_array_literals(videos["hashtags"]).to_pandas(), index=videos.index)
        _copy(cur, "stage_videos", videos, VIDEO_TABLE_COLUMNS)
        cur.execute("CREATE TEMP TABLE stage_stats (LIKE video_stats) ON COMMIT DROP")
        _copy(cur, "stage_stats", batch.stats, STATS_COLUMNS)
        for statement in _ROLLUP.queue_before("stage_videos"):
            _execute(cur, statement)
        cur.execute(_MERGE_VIDEOS)
        cur.execute("ANALYZE merged_videos")
        updated = _count(cur, "SELECT count(*) FROM merged_videos WHERE is_updated")
        cur.execute(_INSERT_VIDEOS)
        videos_new = cur.rowcount
        cur.execute(_UPDATE_VIDEOS)
        stats_new = _count(cur, _NEW_STATS)
        cur.execute(_UPSERT_STATS)
        for statement in _MOVE_MENTIONS:
            cur.execute(statement)
        mentions_new = self._load_mentions(cur, batch)
        cur.execute("CREATE TEMP TABLE stage_regions (LIKE video_regions) ON COMMIT DROP")
        _copy(cur, "stage_regions", region_sightings(videos_in), ["video_id", "region", "first_seen", "last_seen"])
        cur.execute(_UPSERT_REGIONS)
        return LoadResult(videos_new=videos_new, videos_updated=updated, stats_new=stats_new, mentions_new=mentions_new)

    def _load_mentions(self, cur: Cursor[TupleRow], batch: Batch) -> int:
        """Mentions of new videos are copied straight in; those of known videos are upserted."""
        known = [str(r[0]) for r in cur.execute("SELECT video_id FROM merged_videos WHERE NOT is_new").fetchall()]
        mentions = batch.mentions
        of_known = is_in(mentions["video_id"], known)
        fresh = mentions[~of_known].merge(
            batch.videos[["video_id", "posted_at", "region", "category"]], on="video_id", how="inner"
        )
        _copy(cur, "keyword_mentions", fresh, _MENTION_TABLE_COLUMNS)
        if not of_known.any():
            return len(fresh)
        cur.execute(
            "CREATE TEMP TABLE stage_mentions ON COMMIT DROP AS "
            "SELECT video_id, keyword, modality, display, weight, is_generic FROM keyword_mentions LIMIT 0"
        )
        _copy(cur, "stage_mentions", mentions[of_known], MENTION_COLUMNS)
        with _setting(cur, "enable_hashjoin", "on"):  # the batch's mentions meet the known ones
            cur.execute(_KNOWN_MENTIONS)
        cur.execute("ANALYZE known_mentions")
        cur.execute(_MENTION_ATTRIBUTES)
        cur.execute(_INSERT_MENTIONS)
        return len(fresh) + cur.rowcount

    def load_quarantine(self, rows: pd.DataFrame) -> int:
        if rows.empty:
            return 0
        frame = rows[["batch_id", "position", "source", "format", "reason", "excerpt"]].copy()
        frame["quarantined_at"] = pd.Timestamp(datetime.now(tz=UTC).replace(tzinfo=None)).as_unit("us")

        def work(conn: Conn) -> int:
            cur = conn.cursor()
            cur.execute("CREATE TEMP TABLE stage_quarantine (LIKE quarantine) ON COMMIT DROP")
            _copy(cur, "stage_quarantine", frame, list(frame.columns))
            # The first time a record was quarantined is the fact worth keeping.
            cur.execute("INSERT INTO quarantine SELECT * FROM stage_quarantine ON CONFLICT DO NOTHING")
            return cur.rowcount

        return self.transact(work)

    # ---- collection: external trend lists -----------------------------------------------------------------

    def load_external_trends(self, rows: pd.DataFrame) -> int:
        """Upsert trend-list rows (``EXTERNAL_TREND_COLUMNS``); the latest reading of a list's day wins."""
        if rows.empty:
            return 0
        frame = rows.reindex(columns=list(EXTERNAL_TREND_COLUMNS)).copy()
        frame["listed_at"] = utc_naive(frame["listed_at"])
        frame["list_date"] = pd.to_datetime(frame["list_date"]).dt.date
        frame = frame.drop_duplicates(list(KEYS["external_trends"]), keep="last")
        for column in ("period_days", "rank", "rank_diff", "posts", "views"):
            frame[column] = frame[column].astype("Int64")
        keys = KEYS["external_trends"]
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in EXTERNAL_TREND_COLUMNS if c not in keys
        )

        def work(conn: Conn) -> int:
            cur = conn.cursor()
            cur.execute("CREATE TEMP TABLE stage_trends (LIKE external_trends) ON COMMIT DROP")
            _copy(cur, "stage_trends", frame, EXTERNAL_TREND_COLUMNS)
            cur.execute(
                sql.SQL(
                    "INSERT INTO external_trends SELECT * FROM stage_trends ON CONFLICT ({}) DO UPDATE SET {}"
                ).format(sql.SQL(", ").join(sql.Identifier(c) for c in keys), updates)
            )
            return len(frame)

        return self.transact(work)

    def creative_center_frame(
        self, *, kind: str | None = None, region: str | None = None, period_days: int | None = None
    ) -> pd.DataFrame:
        """Creative Center list entries (``keyword``, ``listed_at``, ``region``, ``rank``, ...), oldest first."""
        statement = (
            "SELECT * FROM external_trends WHERE source = 'creative_center' "
            "AND (%(kind)s::text IS NULL OR kind = %(kind)s) AND (%(region)s::text IS NULL OR region = %(region)s) "
            "AND (%(period)s::int IS NULL OR period_days = %(period)s) ORDER BY listed_at, kind, region, rank"
        )
        return self._query(statement, {"kind": kind, "region": region, "period": period_days})

    def example_videos(
        self,
        keywords: list[str],
        start: datetime,
        end: datetime,
        *,
        region: str | None = None,
        category: str | None = None,
        limit: int = 3,
    ) -> pd.DataFrame:
        """The most viewed videos of each keyword posted in [start, end), for a trend's evidence."""
        params = {
            "keywords": list(keywords),
            "start": _naive(start),
            "end": _naive(end),
            "region": region,
            "category": category,
            "limit": limit,
        }
        return self._query(_EXAMPLE_VIDEOS, params)

    # ---- rollups ---------------------------------------------------------------------------------------------

    def refresh_rollups(self) -> int:
        return self.transact(self._refresh)

    def _refresh(self, conn: Conn) -> int:
        cur = conn.cursor()
        cur.execute(_WRITE_LOCK)
        if _count(cur, "SELECT count(*) FROM (SELECT 1 FROM rollup_videos LIMIT 1) q") == 0:
            return 0
        for setting in _BATCH_SETTINGS:
            cur.execute(setting)
        written = 0
        for statement in _ROLLUP.signed():
            cur.execute(statement)
        for grain in GRAINS:
            for statement in _ROLLUP.per_grain(grain):
                changed = _execute(cur, statement)
                if statement.startswith(("INSERT INTO keyword_rollup", "DELETE FROM keyword_rollup")):
                    written += changed
        for statement in (*_ROLLUP.top(), *_ROLLUP.finish()):
            _execute(cur, statement)
        return written

    def rebuild_rollups(self) -> int:
        """Recompute every rollup from the stored mentions (a check or a repair; loads never need it)."""

        def work(conn: Conn) -> int:
            conn.execute(_WRITE_LOCK)
            for statement in _ROLLUP.rebuild():
                conn.execute(statement)
            return self._refresh(conn)

        return self.transact(work)

    # ---- queries ---------------------------------------------------------------------------------------------

    def _query(self, statement: sql.Composable | str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        def work(conn: Conn) -> pd.DataFrame:
            return _frame(conn.execute(statement, params))  # type: ignore[arg-type]

        return self.transact(work)

    def bucket_frame(
        self,
        grain: str,
        start: datetime,
        end: datetime,
        *,
        region: str | None = None,
        category: str | None = None,
        modality: str | None = None,
        include_generic: bool = False,
    ) -> pd.DataFrame:
        if grain not in GRAINS:
            raise ValueError(f"grain must be one of {sorted(GRAINS)}, not {grain!r}")
        rows = bucket_rows(
            region=region, category=category, modality=modality, include_generic=include_generic, placeholder="%"
        )
        statement = rows + " ORDER BY g.bucket, g.keyword, g.region, g.category, g.modality"
        params = {"grain": grain, "start": _naive(start), "end": _naive(end)}
        params.update(_given(region=region, category=category, modality=modality))
        return self._query(statement, params)

    def totals_frame(self, grain: str, start: datetime, end: datetime) -> pd.DataFrame:
        statement = (
            "SELECT * FROM bucket_totals WHERE grain = %(grain)s AND bucket >= %(start)s AND bucket < %(end)s "
            "ORDER BY bucket, region, category"
        )
        return self._query(statement, {"grain": grain, "start": _naive(start), "end": _naive(end)})

    def velocity_frame(
        self,
        grain: str,
        start: datetime,
        end: datetime,
        *,
        region: str | None = None,
        category: str | None = None,
        modality: str | None = None,
        include_generic: bool = False,
    ) -> pd.DataFrame:
        if grain not in GRAINS:
            raise ValueError(f"grain must be one of {sorted(GRAINS)}, not {grain!r}")
        filters = _slice_filters(region=region, category=category, modality=modality, alias="grouped")
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(filters) if filters else sql.SQL("")
        statement = sql.SQL("{} {} ORDER BY bucket, keyword, region, category, modality").format(
            sql.SQL(_KEYWORD_VELOCITY),
            where,
        )
        params: dict[str, Any] = {
            "grain": grain,
            "start": _naive(start),
            "end": _naive(end),
            "generic": include_generic,
        }
        params.update(
            {k: v for k, v in (("region", region), ("category", category), ("modality", modality)) if v is not None}
        )
        return self._query(statement, params)

    def velocity_totals_frame(self, grain: str, start: datetime, end: datetime) -> pd.DataFrame:
        if grain not in GRAINS:
            raise ValueError(f"grain must be one of {sorted(GRAINS)}, not {grain!r}")
        return self._query(_TOTAL_VELOCITY, {"grain": grain, "start": _naive(start), "end": _naive(end)})

    def time_range(self) -> tuple[datetime, datetime] | None:
        def work(conn: Conn) -> tuple[datetime, datetime] | None:
            row = conn.execute("SELECT min(posted_at), max(posted_at) FROM keyword_mentions").fetchone()
            if row is None or row[0] is None:
                return None
            first, last = row
            assert isinstance(first, datetime) and isinstance(last, datetime)
            return first.replace(tzinfo=UTC), last.replace(tzinfo=UTC)

        return self.transact(work)

    def save_trends(self, trends: pd.DataFrame, run_id: str, examples: pd.DataFrame | None = None) -> int:
        if trends.empty:
            return 0
        columns = list(self._columns("trends"))
        frame = trends.copy()
        frame["as_of"] = utc_naive(frame["as_of"])
        frame["run_id"] = run_id
        frame = frame.reindex(columns=columns)
        frame["first_detected_at"] = utc_naive(frame["first_detected_at"])  # NULL when the caller had none
        shown = example_rows(examples, list(self._columns("trend_examples")))

        def work(conn: Conn) -> int:
            removed = self._save_trends(conn, frame, columns)
            _save_examples(conn.cursor(), shown)
            return removed

        return self.transact(work)

    def _save_trends(self, conn: Conn, frame: pd.DataFrame, columns: list[str]) -> int:
        cur = conn.cursor()
        cur.execute(_WRITE_LOCK)
        cur.execute("CREATE TEMP TABLE new_trends (LIKE trends) ON COMMIT DROP")
        _copy(cur, "new_trends", frame, columns)
        same = sql.SQL(" AND ").join(
            sql.SQL("t.{0} IS NOT DISTINCT FROM n.{0}").format(sql.Identifier(c)) for c in columns if c != "run_id"
        )
        key = sql.SQL(" AND ").join(sql.SQL("t.{0} = n.{0}").format(sql.Identifier(c)) for c in KEYS["trends"])
        # Only rows whose content changed are touched: re-running a detection on the same data is a no-op.
        cur.execute(
            sql.SQL(
                "DELETE FROM trends t USING (SELECT DISTINCT as_of, time_window, detector FROM new_trends) s "
                "WHERE t.as_of = s.as_of AND t.time_window = s.time_window AND t.detector = s.detector "
                "AND NOT EXISTS (SELECT 1 FROM new_trends n WHERE {})"
            ).format(same)
        )
        removed = cur.rowcount
        cur.execute(
            sql.SQL(
                "INSERT INTO trends SELECT * FROM new_trends n WHERE NOT EXISTS (SELECT 1 FROM trends t WHERE {})"
            ).format(key)
        )
        cur.execute(
            "INSERT INTO trend_scopes SELECT DISTINCT time_window, detector, as_of FROM new_trends "
            "ON CONFLICT DO NOTHING"
        )
        return removed

    def top_trends(
        self,
        *,
        window: str | None = None,
        region: str | None = ALL,
        category: str | None = ALL,
        modality: str | None = ALL,
        detector: str | None = None,
        limit: int | None = 20,
    ) -> pd.DataFrame:
        params = {
            "window": window,
            "detector": detector,
            "region": region,
            "category": category,
            "modality": modality,
            "limit": limit,
        }
        return self._query(_TOP_TRENDS, params)

    def trend_history(
        self, *, time_window: str, detector: str, keywords: list[str], start: datetime, end: datetime
    ) -> pd.DataFrame:
        params = {
            "window": time_window,
            "detector": detector,
            "keywords": list(keywords),
            "start": _naive(start),
            "end": _naive(end),
        }
        return self._query(_TREND_HISTORY, params)

    def select_examples(self, keys: pd.DataFrame, start: datetime, end: datetime, limit: int = 3) -> pd.DataFrame:
        frame = keys[["region", "category", "modality", "keyword"]].drop_duplicates()
        params = {
            **{f"{c}s": frame[c].astype(str).tolist() for c in frame.columns},
            "start": _naive(start),
            "end": _naive(end),
            "limit": limit,
        }
        return ordered_examples(self._query(_SELECT_EXAMPLES, params))

    def trend_examples(
        self,
        *,
        as_of: datetime,
        time_window: str,
        detector: str,
        region: str | None = None,
        category: str | None = None,
        modality: str | None = None,
    ) -> pd.DataFrame:
        params = {
            "as_of": _naive(as_of),
            "window": time_window,
            "detector": detector,
            "region": region,
            "category": category,
            "modality": modality,
        }
        return self._query(_TREND_EXAMPLES, params)

    # ---- runs and metrics ------------------------------------------------------------------------------------

    def start_run(self, run_id: str, command: str, params: dict[str, Any]) -> None:
        values = [run_id, command, json.dumps(params, default=str, sort_keys=True), _naive(datetime.now(tz=UTC))]
        self.transact(
            lambda conn: conn.execute(
                "INSERT INTO runs (run_id, command, params, started_at, status) VALUES (%s, %s, %s, %s, 'running')",
                values,
            )
        )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any], error: str | None = None) -> None:
        values = [
            _naive(datetime.now(tz=UTC)),
            status,
            json.dumps(summary, default=str, sort_keys=True),
            error,
            run_id,
        ]
        self.transact(
            lambda conn: conn.execute(
                "UPDATE runs SET finished_at = %s, status = %s, summary = %s, error = %s WHERE run_id = %s", values
            )
        )

    def record_metrics(self, run_id: str, stage: str, metrics: dict[str, float]) -> None:
        rows = [(run_id, stage, name, float(value)) for name, value in metrics.items()]
        if not rows:
            return

        def work(conn: Conn) -> None:
            conn.cursor().executemany(
                "INSERT INTO pipeline_metrics VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (run_id, stage, metric) DO UPDATE SET value = excluded.value",
                rows,
            )

        self.transact(work)

    def table_counts(self) -> dict[str, int]:
        def work(conn: Conn) -> dict[str, int]:
            counts = {}
            for table in TABLES:
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
                counts[table] = int(str(row[0])) if row else 0
            return counts

        return self.transact(work)

    def snapshot(self, table: str) -> pd.DataFrame:
        if table not in KEYS:
            raise ValueError(f"unknown table {table!r}")
        statement = sql.SQL("SELECT * FROM {} ORDER BY {}").format(
            sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in KEYS[table])
        )
        return self._query(statement)

    def read(self, statement: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """One query with ``$name`` parameters, in a read-only transaction."""

        def work(conn: Conn) -> pd.DataFrame:
            conn.execute("SET TRANSACTION READ ONLY")
            return _frame(conn.execute(to_pyformat(statement), dict(params or {})))

        return self.transact(work)

    def read_batches(
        self, statement: str, params: Mapping[str, Any] | None = None, *, rows: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        """The same, streamed as Arrow batches (DuckDB's types) through a server-side cursor."""
        with self.pool.connection() as conn:
            conn.execute("SET TRANSACTION READ ONLY")
            with conn.cursor(name="tiktrend_read") as cur:
                cur.execute(to_pyformat(statement), dict(params or {}))
                while chunk := cur.fetchmany(rows):
                    yield from _duckdb().from_arrow(_arrow(cur, chunk)).to_arrow_table().to_batches()

    def _columns(self, table: str) -> list[str]:
        def work(conn: Conn) -> list[str]:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
                [table],
            ).fetchall()
            return [str(r[0]) for r in rows]

        return self.transact(work)


def _save_examples(cur: Cursor[TupleRow], examples: pd.DataFrame | None) -> None:
    """Make the examples of the scopes in ``new_trends`` equal ``examples`` (changed rows only)."""
    scopes = "SELECT DISTINCT as_of, time_window, detector FROM new_trends"
    if examples is None:
        cur.execute(
            f"DELETE FROM trend_examples e USING ({scopes}) s "  # noqa: S608 - fixed names
            "WHERE e.as_of = s.as_of AND e.time_window = s.time_window AND e.detector = s.detector"
        )
        return
    cur.execute("CREATE TEMP TABLE new_examples (LIKE trend_examples) ON COMMIT DROP")
    _copy(cur, "new_examples", examples, list(examples.columns))
    same = sql.SQL(" AND ").join(sql.SQL("e.{0} = n.{0}").format(sql.Identifier(c)) for c in examples.columns)
    key = sql.SQL(" AND ").join(sql.SQL("e.{0} = n.{0}").format(sql.Identifier(c)) for c in KEYS["trend_examples"])
    cur.execute(
        sql.SQL(
            "DELETE FROM trend_examples e USING ({}) s "
            "WHERE e.as_of = s.as_of AND e.time_window = s.time_window AND e.detector = s.detector "
            "AND NOT EXISTS (SELECT 1 FROM new_examples n WHERE {})"
        ).format(sql.SQL(scopes), same)
    )
    cur.execute(
        sql.SQL(
            "INSERT INTO trend_examples SELECT * FROM new_examples n "
            "WHERE NOT EXISTS (SELECT 1 FROM trend_examples e WHERE {})"
        ).format(key)
    )


def _execute(cur: Cursor[TupleRow], statement: str) -> int:
    """Run one statement of the rollups' SQL under its setting (``RollupSQL.POSTGRES_SETTINGS``), and analyse the
    temporary table it makes; the rows it changed."""
    setting = _ROLLUP.postgres_setting(statement)
    with _setting(cur, *setting) if setting else nullcontext():
        changed = cur.execute(statement).rowcount
    if statement.startswith("CREATE TEMP TABLE"):
        cur.execute("ANALYZE " + statement.split()[3])
    return max(changed, 0)


@contextmanager
def _setting(cur: Cursor[TupleRow], name: str, value: str) -> Iterator[None]:
    """One setting changed for the statements inside, back to its value after (in this transaction)."""
    row = cur.execute("SELECT current_setting(%s)", (name,)).fetchone()
    cur.execute("SELECT set_config(%s, %s, true)", (name, value))
    try:
        yield
    finally:
        cur.execute("SELECT set_config(%s, %s, true)", (name, str(row[0]) if row else value))


def _count(cur: Cursor[TupleRow], statement: str) -> int:
    row = cur.execute(statement).fetchone()
    return int(str(row[0])) if row and row[0] is not None else 0


def _given(**filters: str | None) -> dict[str, str]:
    return {name: value for name, value in filters.items() if value is not None}


def _slice_filters(
    *, region: str | None, category: str | None, modality: str | None, alias: str = "k"
) -> list[sql.Composable]:
    """``alias.column = %(column)s`` for each given filter: a None filter is left out, not compared."""
    given = {"region": region, "category": category, "modality": modality}
    return [
        sql.SQL("{}.{} = {}").format(sql.Identifier(alias), sql.Identifier(name), sql.Placeholder(name))
        for name, value in given.items()
        if value is not None
    ]
