"""The TimescaleDB layout, as generated SQL: TimescaleDB cannot be installed here, so its DDL is checked as text,
and the continuous aggregates' queries run on plain PostgreSQL with a ``time_bucket`` stand-in."""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import pytest

psycopg = pytest.importorskip("psycopg")

from tiktrend.store import StoreError  # noqa: E402
from tiktrend.store.migrations import choose_storage  # noqa: E402
from tiktrend.store.pg_connect import PostgresOptions  # noqa: E402
from tiktrend.store.pg_schema import core_tables, timescale_statements  # noqa: E402
from tiktrend.store.postgres import PostgresStore  # noqa: E402


def rendered(options: PostgresOptions) -> list[str]:
    return [" ".join(s.as_string(None).split()) for s in timescale_statements(options)]


def test_hypertables_on_both_time_series_with_the_chunk_interval() -> None:
    ddl = rendered(PostgresOptions(chunk_days=3))
    assert (
        "SELECT create_hypertable('keyword_mentions', 'posted_at', chunk_time_interval => INTERVAL '3 days', "
        "if_not_exists => TRUE)" in ddl
    )
    assert (
        "SELECT create_hypertable('video_stats', 'observed_at', chunk_time_interval => INTERVAL '3 days', "
        "if_not_exists => TRUE)" in ddl
    )


def test_compression_follows_the_setting() -> None:
    ddl = rendered(PostgresOptions(compress_after_days=14))
    assert (
        "ALTER TABLE \"keyword_mentions\" SET (timescaledb.compress, timescaledb.compress_segmentby = 'region', "
        "timescaledb.compress_orderby = 'posted_at, video_id')" in ddl
    )
    assert "SELECT add_compression_policy('keyword_mentions', INTERVAL '14 days', if_not_exists => TRUE)" in ddl
    assert "SELECT add_compression_policy('video_stats', INTERVAL '14 days', if_not_exists => TRUE)" in ddl
    assert not any("compress" in s for s in rendered(PostgresOptions(compress_after_days=None)))


def test_retention_only_when_asked() -> None:
    assert not any("retention" in s for s in rendered(PostgresOptions()))
    ddl = rendered(PostgresOptions(retention_days=400))
    assert "SELECT add_retention_policy('keyword_mentions', INTERVAL '400 days', if_not_exists => TRUE)" in ddl
    assert "SELECT add_retention_policy('video_stats', INTERVAL '400 days', if_not_exists => TRUE)" in ddl


def test_continuous_aggregates_hourly_then_daily_with_refresh_policies() -> None:
    ddl = rendered(PostgresOptions(refresh_every_minutes=15, refresh_lookback_days=2))
    hourly = next(s for s in ddl if "VIEW IF NOT EXISTS keyword_mentions_hourly" in s)
    daily = next(s for s in ddl if "VIEW IF NOT EXISTS keyword_mentions_daily" in s)
    assert "WITH (timescaledb.continuous, timescaledb.materialized_only = false)" in hourly
    assert "time_bucket(INTERVAL '1 hour', posted_at) AS bucket" in hourly and hourly.endswith("WITH NO DATA")
    assert "FROM keyword_mentions_hourly" in daily  # hierarchical: days from hours
    assert (
        "SELECT add_continuous_aggregate_policy('keyword_mentions_hourly', start_offset => INTERVAL '2 days', "
        "end_offset => INTERVAL '1 hours', schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE)" in ddl
    )
    assert (
        "SELECT add_continuous_aggregate_policy('keyword_mentions_daily', start_offset => INTERVAL '4 days', "
        "end_offset => INTERVAL '1 days', schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE)" in ddl
    )
    # Aggregates before their policies, the hourly one before the daily one built on it.
    assert ddl.index(hourly) < ddl.index(daily)


def test_timescale_layout_tables_are_not_natively_partitioned() -> None:
    plain, timescale = " ".join(core_tables("plain")), " ".join(core_tables("timescaledb"))
    assert plain.count("PARTITION BY RANGE") == 2
    assert "PARTITION BY" not in timescale
    # Hypertables need the time column in every unique key, as native partitions do.
    assert "PRIMARY KEY (video_id, keyword, modality, posted_at)" in timescale


@pytest.mark.parametrize(
    ("mode", "installed", "available", "expected"),
    [
        ("auto", None, None, "plain"),
        ("auto", "2.14.2", "2.14.2", "timescaledb"),
        ("auto", None, "2.14.2", "timescaledb"),
        ("off", "2.14.2", "2.14.2", "plain"),
        ("on", None, "2.13.0", "timescaledb"),
    ],
)
def test_layout_choice(mode: str, installed: str | None, available: str | None, expected: str) -> None:
    assert choose_storage(mode, installed, available) == expected


def test_timescale_required_but_absent_is_refused() -> None:
    with pytest.raises(StoreError, match="TIKTREND_PG_TIMESCALE=on"):
        choose_storage("on", None, None)


def _body(statement: str) -> str:
    """The SELECT of a CREATE MATERIALIZED VIEW ... AS SELECT ... WITH NO DATA."""
    match = re.search(r" AS (SELECT .*) WITH NO DATA$", statement)
    assert match, statement
    return match.group(1)


def test_aggregate_queries_run_and_agree_with_the_rollups(pg_schema_url: Callable[[], str]) -> None:
    from test_postgres import OVERLAPPING

    ddl = rendered(PostgresOptions())
    hourly = _body(next(s for s in ddl if "keyword_mentions_hourly WITH" in s))
    daily = _body(next(s for s in ddl if "keyword_mentions_daily WITH" in s))
    with PostgresStore(pg_schema_url(), PostgresOptions(timescale="off")) as store:
        for batch in OVERLAPPING:
            store.load_batch(*batch)
        store.refresh_rollups()

        def run(conn: psycopg.Connection) -> tuple[list[tuple], list[tuple]]:
            # time_bucket as TimescaleDB computes it for hour and day buckets, in the test's own schema.
            conn.execute(
                "CREATE FUNCTION time_bucket(width interval, ts timestamp) RETURNS timestamp "
                "LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(width, ts, TIMESTAMP '2000-01-03') $$"
            )
            conn.execute(f"CREATE TEMP VIEW keyword_mentions_hourly AS {hourly}")
            days = conn.execute(
                f"SELECT bucket, keyword, region, category, modality, videos FROM ({daily}) d"
            ).fetchall()
            rollup = conn.execute(
                "SELECT bucket, keyword, region, category, modality, videos FROM keyword_rollup "
                "WHERE grain = 'day' AND region <> '*' AND category <> '*' AND modality <> '*' AND videos > 0"
            ).fetchall()
            return days, rollup

        days, rollup = store.transact(run)
    columns = ["bucket", "keyword", "region", "category", "modality", "videos"]
    got = pd.DataFrame(days, columns=columns).sort_values(columns[:5]).reset_index(drop=True)
    expected = pd.DataFrame(rollup, columns=columns).sort_values(columns[:5]).reset_index(drop=True)
    assert len(got) > 0
    pd.testing.assert_frame_equal(got.astype({"videos": "int64"}), expected.astype({"videos": "int64"}))
