"""PostgreSQL table layout: the core tables, native monthly partitions, and the TimescaleDB variant.

Two layouts share every table and every query; they differ only in how the two big time series
(``keyword_mentions`` by ``posted_at``, ``video_stats`` by ``observed_at``) are split over time:

- ``plain``: native range partitioning, one partition per month, created ahead of the data;
- ``timescaledb``: hypertables (chunks, compression and retention policies) and continuous aggregates of the
  mention counts per hour and day.

The exact rollups the product reads (``keyword_buckets``: every region/category/modality level, engagement
from the videos' latest counters, share of volume) are maintained by the loads in both layouts; a
continuous aggregate cannot express them (see docs/storage.md).

Text columns use the "C" collation: orderings and keys then compare bytes, as DuckDB does, whatever the
database's default collation is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Final

from psycopg import sql

from tiktrend.models import COUNTERS
from tiktrend.store.pg_options import PostgresOptions
from tiktrend.store.rollup_sql import bucket_rows

TEXT: Final = 'TEXT COLLATE "C"'
COUNTER_COLUMNS: Final = ", ".join(f"{c} BIGINT" for c in COUNTERS)
TOTAL_COLUMNS: Final = ", ".join(f"{c} BIGINT NOT NULL" for c in COUNTERS)
# The time-partitioned tables and their time column.
PARTITIONED: Final = {"keyword_mentions": "posted_at", "video_stats": "observed_at"}


def _videos() -> str:
    return f"""
    CREATE TABLE videos (
        video_id {TEXT} PRIMARY KEY,
        author {TEXT},
        author_followers BIGINT,
        region {TEXT} NOT NULL,
        category {TEXT} NOT NULL,
        created_at TIMESTAMP,
        posted_at TIMESTAMP NOT NULL,
        caption {TEXT},
        hashtags TEXT[],
        music_id {TEXT},
        music_title {TEXT},
        music_author {TEXT},
        music_original BOOLEAN,
        duration_s DOUBLE PRECISION,
        language {TEXT},
        cover_url {TEXT},
        video_url {TEXT},
        source {TEXT} NOT NULL,
        first_seen TIMESTAMP NOT NULL,
        last_seen TIMESTAMP NOT NULL,
        {COUNTER_COLUMNS}
    ) WITH (fillfactor = 80)"""


def _series(partitioned: bool) -> list[str]:
    by_posted = " PARTITION BY RANGE (posted_at)" if partitioned else ""
    by_observed = " PARTITION BY RANGE (observed_at)" if partitioned else ""
    # Unique keys of a time-split table must hold its time column. A mention always carries its video's
    # posted_at (loads move all of a video's mentions with it), so (video_id, keyword, modality) stays unique.
    return [
        f"""
        CREATE TABLE video_stats (
            video_id {TEXT} NOT NULL,
            observed_at TIMESTAMP NOT NULL,
            {COUNTER_COLUMNS},
            PRIMARY KEY (video_id, observed_at)
        ){by_observed}""",
        f"""
        CREATE TABLE keyword_mentions (
            video_id {TEXT} NOT NULL,
            keyword {TEXT} NOT NULL,
            modality {TEXT} NOT NULL,
            display {TEXT} NOT NULL,
            weight DOUBLE PRECISION NOT NULL,
            is_generic BOOLEAN NOT NULL,
            posted_at TIMESTAMP NOT NULL,
            region {TEXT} NOT NULL,
            category {TEXT} NOT NULL,
            PRIMARY KEY (video_id, keyword, modality, posted_at)
        ){by_posted}""",
    ]


def _rollups() -> list[str]:
    return [
        # Rollup tables are updated in place by every refresh: free room on each page lets PostgreSQL update
        # rows without touching their indexes (HOT updates).
        # The finest slices only (see rollup_sql), with integer sums (weights in micro-units, videos flagged
        # generic), so adding and removing a video's contribution is exact; keyword_buckets shows the contract.
        f"""
        CREATE TABLE keyword_rollup (
            bucket TIMESTAMP NOT NULL,
            grain {TEXT} NOT NULL,
            keyword {TEXT} NOT NULL,
            region {TEXT} NOT NULL,
            category {TEXT} NOT NULL,
            modality {TEXT} NOT NULL,
            display {TEXT} NOT NULL,
            generic_videos BIGINT NOT NULL,
            mention_micros BIGINT NOT NULL,
            videos BIGINT NOT NULL,
            {TOTAL_COLUMNS},
            PRIMARY KEY (bucket, grain, keyword, region, category, modality)
        ) WITH (fillfactor = 70)""",
        f"""
        CREATE TABLE bucket_totals (
            bucket TIMESTAMP NOT NULL,
            grain {TEXT} NOT NULL,
            region {TEXT} NOT NULL,
            category {TEXT} NOT NULL,
            videos BIGINT NOT NULL,
            {TOTAL_COLUMNS},
            PRIMARY KEY (bucket, grain, region, category)
        ) WITH (fillfactor = 70)""",
        # How many mention rows use each spelling: the display of a keyword is its most common one.
        f"""
        CREATE TABLE keyword_spellings (
            bucket TIMESTAMP NOT NULL,
            grain {TEXT} NOT NULL,
            keyword {TEXT} NOT NULL,
            display {TEXT} NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (bucket, grain, keyword, display)
        ) WITH (fillfactor = 70)""",
        # Videos loaded since the last refresh, and what they contributed before their first such load.
        f"CREATE TABLE rollup_videos (video_id {TEXT} PRIMARY KEY)",
        f"""
        CREATE TABLE rollup_before_videos (
            video_id {TEXT} PRIMARY KEY,
            posted_at TIMESTAMP NOT NULL,
            region {TEXT} NOT NULL,
            category {TEXT} NOT NULL,
            {COUNTER_COLUMNS}
        )""",
        f"""
        CREATE TABLE rollup_before_mentions (
            video_id {TEXT} NOT NULL,
            keyword {TEXT} NOT NULL,
            modality {TEXT} NOT NULL,
            display {TEXT} NOT NULL,
            weight DOUBLE PRECISION NOT NULL,
            is_generic BOOLEAN NOT NULL,
            PRIMARY KEY (video_id, keyword, modality)
        )""",
        f"CREATE VIEW keyword_buckets AS {bucket_rows(grain_filter=False)}",
    ]


def _log_tables() -> list[str]:
    return [
        f"""
        CREATE TABLE trends (
            as_of TIMESTAMP NOT NULL,
            time_window {TEXT} NOT NULL,
            detector {TEXT} NOT NULL,
            region {TEXT} NOT NULL,
            category {TEXT} NOT NULL,
            modality {TEXT} NOT NULL,
            keyword {TEXT} NOT NULL,
            display {TEXT} NOT NULL,
            rank INTEGER NOT NULL,
            score DOUBLE PRECISION NOT NULL,
            growth DOUBLE PRECISION NOT NULL,
            videos_now BIGINT NOT NULL,
            videos_before BIGINT NOT NULL,
            mentions_now DOUBLE PRECISION NOT NULL,
            mentions_before DOUBLE PRECISION NOT NULL,
            share_now DOUBLE PRECISION NOT NULL,
            share_before DOUBLE PRECISION NOT NULL,
            {COUNTER_COLUMNS},
            stage {TEXT} NOT NULL,
            explanation {TEXT} NOT NULL,
            run_id {TEXT} NOT NULL,
            PRIMARY KEY (as_of, time_window, detector, region, category, modality, keyword)
        )""",
        f"""
        CREATE TABLE runs (
            run_id {TEXT} PRIMARY KEY,
            command {TEXT} NOT NULL,
            params {TEXT} NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status {TEXT} NOT NULL,
            summary {TEXT},
            error {TEXT}
        )""",
        f"""
        CREATE TABLE pipeline_metrics (
            run_id {TEXT} NOT NULL,
            stage {TEXT} NOT NULL,
            metric {TEXT} NOT NULL,
            value DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, stage, metric)
        )""",
        f"""
        CREATE TABLE quarantine (
            batch_id {TEXT} NOT NULL,
            position BIGINT NOT NULL,
            source {TEXT} NOT NULL,
            format {TEXT} NOT NULL,
            reason {TEXT} NOT NULL,
            excerpt {TEXT} NOT NULL,
            quarantined_at TIMESTAMP NOT NULL,
            PRIMARY KEY (batch_id, position)
        )""",
    ]


def core_tables(storage: str) -> list[str]:
    """The DDL of schema version 1 for a layout (``plain`` or ``timescaledb``), hypertable calls excluded."""
    partitioned = storage == "plain"
    statements = [_videos(), *_series(partitioned), *_rollups(), *_log_tables()]
    if partitioned:
        # min/max(posted_at) and time-range reads; a hypertable gets this index from create_hypertable.
        statements.append("CREATE INDEX keyword_mentions_posted_at ON keyword_mentions (posted_at)")
    return statements


# ---- native partitions -------------------------------------------------------------------------------------


def month_start(moment: datetime | date) -> date:
    """The first day of the month a moment falls in."""
    return date(moment.year, moment.month, 1)


def next_month(first: date) -> date:
    """The first day of the following month."""
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def partition_name(table: str, first: date) -> str:
    """``keyword_mentions_2025_06`` for the June 2025 partition."""
    return f"{table}_{first:%Y_%m}"


def create_partition(table: str, first: date) -> sql.Composed:
    """DDL for the monthly partition of ``table`` that starts on ``first``."""
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
        sql.Identifier(partition_name(table, first)),
        sql.Identifier(table),
        sql.Literal(datetime(first.year, first.month, 1)),
        sql.Literal(datetime(*next_month(first).timetuple()[:3])),
    )


def months_between(first: date, last: date) -> list[date]:
    """Every month start from ``first``'s month to ``last``'s, inclusive."""
    months, current = [], month_start(first)
    while current <= month_start(last):
        months.append(current)
        current = next_month(current)
    return months


def months_ahead(today: date, ahead: int) -> list[date]:
    """This month and the ``ahead`` months after it: the partitions kept ready before data arrives."""
    months, current = [], month_start(today)
    for _ in range(ahead + 1):
        months.append(current)
        current = next_month(current)
    return months


# ---- TimescaleDB -------------------------------------------------------------------------------------------


def _interval(days: int) -> sql.Composable:
    return sql.SQL("INTERVAL {}").format(sql.Literal(f"{int(days)} days"))


def _hours(hours: int) -> sql.Composable:
    return sql.SQL("INTERVAL {}").format(sql.Literal(f"{int(hours)} hours"))


def _minutes(minutes: int) -> sql.Composable:
    return sql.SQL("INTERVAL {}").format(sql.Literal(f"{int(minutes)} minutes"))


def timescale_statements(options: PostgresOptions) -> list[sql.Composed]:
    """Hypertables, compression, retention and continuous aggregates for the ``timescaledb`` layout.

    Needs TimescaleDB 2.11 or later (hierarchical continuous aggregates, upserts into compressed chunks).
    """
    statements: list[sql.Composed] = []
    compress = {"keyword_mentions": ("region", "posted_at, video_id"), "video_stats": ("", "observed_at, video_id")}
    for table, column in PARTITIONED.items():
        statements.append(
            sql.SQL("SELECT create_hypertable({}, {}, chunk_time_interval => {}, if_not_exists => TRUE)").format(
                sql.Literal(table), sql.Literal(column), _interval(options.chunk_days)
            )
        )
        if options.compress_after_days is not None:
            segment_by, order_by = compress[table]
            settings: list[sql.Composable] = [sql.SQL("timescaledb.compress")]
            if segment_by:
                settings.append(sql.SQL("timescaledb.compress_segmentby = {}").format(sql.Literal(segment_by)))
            settings.append(sql.SQL("timescaledb.compress_orderby = {}").format(sql.Literal(order_by)))
            statements.append(
                sql.SQL("ALTER TABLE {} SET ({})").format(sql.Identifier(table), sql.SQL(", ").join(settings))
            )
            statements.append(
                sql.SQL("SELECT add_compression_policy({}, {}, if_not_exists => TRUE)").format(
                    sql.Literal(table), _interval(options.compress_after_days)
                )
            )
        if options.retention_days is not None:
            statements.append(
                sql.SQL("SELECT add_retention_policy({}, {}, if_not_exists => TRUE)").format(
                    sql.Literal(table), _interval(options.retention_days)
                )
            )
    statements.extend(_continuous_aggregates(options))
    return statements


def _continuous_aggregates(options: PostgresOptions) -> list[sql.Composed]:
    keys = sql.SQL("keyword, region, category, modality")
    hourly = sql.SQL(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS keyword_mentions_hourly "
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
        "SELECT time_bucket(INTERVAL '1 hour', posted_at) AS bucket, {keys}, count(*) AS videos, "
        "sum(weight) AS mentions, bool_or(is_generic) AS is_generic "
        "FROM keyword_mentions GROUP BY bucket, {keys} WITH NO DATA"
    ).format(keys=keys)
    # Hierarchical: the day is rolled up from the hours, not from the raw mentions.
    daily = sql.SQL(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS keyword_mentions_daily "
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
        "SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, {keys}, sum(videos) AS videos, "
        "sum(mentions) AS mentions, bool_or(is_generic) AS is_generic "
        "FROM keyword_mentions_hourly GROUP BY 1, {keys} WITH NO DATA"
    ).format(keys=keys)
    every = _minutes(options.refresh_every_minutes)
    lookback = options.refresh_lookback_days
    policy = sql.SQL(
        "SELECT add_continuous_aggregate_policy({}, start_offset => {}, end_offset => {}, "
        "schedule_interval => {}, if_not_exists => TRUE)"
    )
    # A refresh window must span at least two buckets of its aggregate.
    return [
        hourly,
        policy.format(sql.Literal("keyword_mentions_hourly"), _interval(lookback), _hours(1), every),
        daily,
        policy.format(sql.Literal("keyword_mentions_daily"), _interval(lookback + 2), _interval(1), every),
    ]


def drop_timescale_statements() -> list[str]:
    """What removing the continuous aggregates takes (their policies go with them)."""
    return [
        "DROP MATERIALIZED VIEW IF EXISTS keyword_mentions_daily",
        "DROP MATERIALIZED VIEW IF EXISTS keyword_mentions_hourly",
    ]


def all_tables() -> Iterable[str]:
    """Every table and view schema version 1 creates, dependants first (for a full downgrade)."""
    return (
        "keyword_buckets",
        "keyword_rollup",
        "bucket_totals",
        "keyword_spellings",
        "rollup_videos",
        "rollup_before_videos",
        "rollup_before_mentions",
        "keyword_mentions",
        "video_stats",
        "videos",
        "trends",
        "runs",
        "pipeline_metrics",
        "quarantine",
    )
