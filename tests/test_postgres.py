"""The PostgreSQL backend on the local server: concurrency, failures mid-batch, errors, migrations, partitions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

psycopg = pytest.importorskip("psycopg")

from tiktrend.store import DATA_TABLES, StoreError, open_store  # noqa: E402
from tiktrend.store.migrations import LATEST, MIGRATIONS  # noqa: E402
from tiktrend.store.pg_admin import downgrade_schema, maintain, partition_month, status, upgrade_schema  # noqa: E402
from tiktrend.store.pg_connect import PostgresOptions, connection_error, is_transient, read_only_error  # noqa: E402
from tiktrend.store.postgres import PostgresStore  # noqa: E402

T0 = datetime(2025, 6, 1, 10, tzinfo=UTC)
OPTIONS = PostgresOptions(retries=6)


def feed(n_videos: int, start: int = 0, *, hours: float = 0, views: int = 100) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n_videos`` observations (ids ``start``...) ``hours`` after T0, with three mentions each."""
    from tiktrend.models import VIDEO_COLUMNS

    ids = [f"v{i:06d}" for i in range(start, start + n_videos)]
    videos = pd.DataFrame({c: [None] * n_videos for c in VIDEO_COLUMNS})
    videos["video_id"] = ids
    videos["observed_at"] = [T0 + timedelta(hours=hours, minutes=i % 50) for i in range(n_videos)]
    videos["created_at"] = [T0 + timedelta(minutes=(start + i) % 600) for i in range(n_videos)]
    videos["region"] = [("US", "VN", "DE")[i % 3] for i in range(n_videos)]
    videos["category"] = [("food", "music")[i % 2] for i in range(n_videos)]
    videos["caption"] = ""
    videos["hashtags"] = [[] for _ in range(n_videos)]
    videos["source"] = "test"
    videos["views"] = [views + i for i in range(n_videos)]
    rows = []
    for i, video_id in enumerate(ids):
        for keyword, modality in ((f"k{i % 17}", "hashtag"), (f"k{i % 5}", "caption"), ("song", "music")):
            rows.append(
                {
                    "video_id": video_id,
                    "keyword": keyword,
                    "display": keyword.upper() if i % 4 == 0 else keyword,
                    "modality": modality,
                    "weight": 0.3 + (i % 7) / 10,
                    "is_generic": keyword == "k0",
                }
            )
    return videos, pd.DataFrame(rows)


def tables(store: Any) -> dict[str, pd.DataFrame]:
    return {t: store.snapshot(t) for t in DATA_TABLES}


def assert_same_tables(got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    for table in DATA_TABLES:
        pd.testing.assert_frame_equal(got[table], expected[table], obj=table)


OVERLAPPING = [
    feed(400, 0, hours=1),
    feed(400, 200, hours=2, views=500),  # half of these re-observe the first batch, later
    feed(400, 100, hours=0.5, views=50),  # and these earlier
    feed(300, 500, hours=3),
]


def test_concurrent_overlapping_loads_end_with_the_rows_of_one(pg_schema_url: Callable[[], str]) -> None:
    shared_url = pg_schema_url()
    with PostgresStore(pg_schema_url(), OPTIONS) as alone:
        for batch in OVERLAPPING:
            alone.load_batch(*batch)
        alone.refresh_rollups()
        expected = tables(alone)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(order: list[tuple[pd.DataFrame, pd.DataFrame]]) -> None:
        try:
            with PostgresStore(shared_url, OPTIONS) as store:
                start.wait()
                for batch in order:
                    store.load_batch(*batch)
                store.refresh_rollups()
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    runs = [threading.Thread(target=run, args=(order,)) for order in (OVERLAPPING, OVERLAPPING[::-1])]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    assert not failures
    with PostgresStore(shared_url, OPTIONS) as shared:
        assert_same_tables(tables(shared), expected)


def test_a_failure_mid_batch_leaves_no_part_of_it(pg_schema_url: Callable[[], str]) -> None:
    with PostgresStore(pg_schema_url(), OPTIONS) as store:
        store.load_batch(*OVERLAPPING[0])
        before = tables(store)
        videos, mentions = OVERLAPPING[1]
        broken = mentions.copy()
        broken.loc[len(broken) - 1, "keyword"] = None  # the last mention breaks a NOT NULL: after videos merged
        with pytest.raises(psycopg.errors.NotNullViolation):
            store.load_batch(videos, broken)
        assert_same_tables(tables(store), before)
        store.refresh_rollups()
        store.load_batch(*OVERLAPPING[1])  # the store goes on working, and the batch lands whole
        store.refresh_rollups()
        with PostgresStore(pg_schema_url(), OPTIONS) as clean:
            for batch in OVERLAPPING[:2]:
                clean.load_batch(*batch)
            clean.refresh_rollups()
            assert_same_tables(tables(store), tables(clean))


def test_a_connection_killed_mid_batch_is_retried_and_the_batch_lands_once(
    pg_schema_url: Callable[[], str], pg_database: str
) -> None:
    url = pg_schema_url() + "&application_name=tiktrend-killed"
    big = feed(6000, 0, hours=1)
    killed: list[int] = []

    def kill_once() -> None:
        with psycopg.connect(pg_database, autocommit=True) as admin:
            deadline = time.monotonic() + 30
            while not killed and time.monotonic() < deadline:
                # A backend that has written inside its transaction: the batch is half done there.
                row = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'tiktrend-killed' "
                    "AND backend_xid IS NOT NULL"
                ).fetchone()
                if row:
                    admin.execute("SELECT pg_terminate_backend(%s)", [row[0]])
                    killed.append(row[0])
                time.sleep(0.002)

    with PostgresStore(url, OPTIONS) as store:
        killer = threading.Thread(target=kill_once)
        killer.start()
        result = store.load_batch(*big)
        killer.join()
        assert killed, "the load finished before its connection could be killed"
        assert result.videos_new == 6000  # the retry did the whole batch, in one transaction
        store.refresh_rollups()
        with PostgresStore(pg_schema_url(), OPTIONS) as clean:
            clean.load_batch(*big)
            clean.refresh_rollups()
            assert_same_tables(tables(store), tables(clean))


def test_mentions_follow_a_video_that_moves_and_rollups_follow_them(pg_schema_url: Callable[[], str]) -> None:
    late, late_mentions = feed(1, 0, hours=5)
    late["created_at"] = None  # posted_at falls back to the first observation...
    early = late.copy()
    early["observed_at"] = [T0 + timedelta(hours=1)]  # ...which an earlier observation moves back
    early["region"] = ["DE"]
    with PostgresStore(pg_schema_url(), OPTIONS) as store:
        store.load_batch(late, late_mentions)
        store.refresh_rollups()
        store.load_batch(early, late_mentions.iloc[:1])
        store.refresh_rollups()
        mentions = store.snapshot("keyword_mentions")
        assert set(mentions["posted_at"]) == {pd.Timestamp("2025-06-01 11:00")}
        assert set(mentions["region"]) == {"DE"}
        buckets = store.snapshot("keyword_buckets")
        assert set(buckets["bucket"]) == {pd.Timestamp("2025-06-01 11:00"), pd.Timestamp("2025-06-01")}
        after = {t: store.snapshot(t) for t in ("keyword_buckets", "bucket_totals")}
        store.rebuild_rollups()
        for table, frame in after.items():
            pd.testing.assert_frame_equal(store.snapshot(table), frame, obj=table)


def wide_feed(n_videos: int, start: int = 0, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`feed` shaped like TikTok's data at scale: 4,000 keywords, a posting second of each video's own."""
    videos, mentions = feed(n_videos, start, **kwargs)
    videos["created_at"] = [T0 + timedelta(seconds=start + i) for i in range(n_videos)]
    number = mentions["video_id"].str[1:].astype(int) * 3 + mentions.groupby("video_id").cumcount()
    mentions["keyword"] = "w" + (number * 7919 % 4000).astype(str)
    mentions["display"] = mentions["keyword"]
    return videos, mentions


# Tables a load or refresh may read whole: the queue (what the batch touched) and one row per bucket, region
# and category.
BATCH_SIZED = {"rollup_videos", "rollup_before_videos", "rollup_before_mentions", "bucket_totals"}


def _whole_scans(store: PostgresStore, monkeypatch: pytest.MonkeyPatch, work: Callable[[], object]) -> list[str]:
    """The stored tables (not empty) that the plans of ``work``'s statements scan whole: each is explained first."""
    with store.pool.connection() as conn:
        conn.execute("ANALYZE")
        stored = {
            name
            for (name,) in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
                "AND relkind = 'r' AND relpages > 0"
            )
        } - BATCH_SIZED
    scans: list[str] = []
    execute = psycopg.Cursor.execute

    def explained(cur: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        text = str(statement)
        query = text.split(" AS ", 1)[-1] if text.startswith("CREATE TEMP TABLE") else text
        reads = query.lstrip().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"))
        if reads and not args and not text.rstrip().endswith("LIMIT 0"):  # LIMIT 0: a table's shape
            plan = execute(cur, "EXPLAIN (FORMAT JSON) " + query).fetchone()[0][0]["Plan"]
            scans.extend(f"{table}: {' '.join(text.split())[:80]}" for table in _seq_scans(plan) if table in stored)
        return execute(cur, statement, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(psycopg.Cursor, "execute", explained)
        work()
    return scans


def _seq_scans(node: dict[str, Any]) -> list[str]:
    here = [node["Relation Name"]] if node["Node Type"] == "Seq Scan" else []
    return here + [name for child in node.get("Plans", []) for name in _seq_scans(child)]


def test_loads_and_refreshes_read_stored_tables_through_their_keys(
    pg_schema_url: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work follows the batch: no statement of a load or a refresh plans a scan of a whole stored table.

    Each statement is explained before it runs, on a store large enough (45,000 mention rows) for the
    planner's choices to be the ones it makes at millions of rows. A keyword_top upkeep that hashed the whole
    table made a refresh at 10M rows take 97 s instead of 10; a before-state joined in the planner's order
    scanned every stored mention (a 1.2M-row batch ran for over 11 minutes at 1M rows).
    """
    with PostgresStore(pg_schema_url(), OPTIONS) as store:
        store.load_batch(*wide_feed(15_000))
        store.refresh_rollups()
        # A batch as large as the store: new videos, and known ones that lose views (their kept rows fall).
        new, new_mentions = wide_feed(15_000, 15_000, hours=2)
        fallen, fallen_mentions = wide_feed(5_000, 0, hours=3, views=1)
        batch = pd.concat([new, fallen]), pd.concat([new_mentions, fallen_mentions])
        assert _whole_scans(store, monkeypatch, lambda: store.load_batch(*batch)) == []
        store.refresh_rollups()  # touching most of the kept groups: reading keyword_top whole is fair here
        # A small batch into the larger store.
        small_new, small_new_mentions = wide_feed(100, 30_000, hours=4)
        small_fallen, small_fallen_mentions = wide_feed(100, 20_000, hours=5, views=0)
        small = pd.concat([small_new, small_fallen]), pd.concat([small_new_mentions, small_fallen_mentions])
        assert _whole_scans(store, monkeypatch, lambda: store.load_batch(*small)) == []
        assert _whole_scans(store, monkeypatch, store.refresh_rollups) == []
        assert store.snapshot("keyword_top").shape[0] > 0


def test_loads_analyse_tables_whose_statistics_are_missing(pg_schema_url: Callable[[], str]) -> None:
    # Autovacuum off for the partition (as on a server where it is off, or behind): the store analyses it.
    with PostgresStore(pg_schema_url(), OPTIONS) as store:
        store.ensure_partitions({"keyword_mentions": [date(2025, 6, 1)]})
        with store.pool.connection() as conn:
            conn.execute("ALTER TABLE keyword_mentions_2025_06 SET (autovacuum_enabled = false)")
        store.load_batch(*feed(50))
        analysed: list[str] = []
        deadline = time.monotonic() + 30  # the server publishes a backend's row counts within seconds
        while "keyword_mentions_2025_06" not in analysed and time.monotonic() < deadline:
            analysed += store.analyze_stale_tables()
            time.sleep(0.2)
        assert "keyword_mentions_2025_06" in analysed
        with store.pool.connection() as conn:
            row = conn.execute(
                "SELECT last_analyze, n_live_tup FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = 'keyword_mentions_2025_06'"
            ).fetchone()
        assert row is not None and row[0] is not None


# ---- errors a person can act on --------------------------------------------------------------------------------


def test_unreachable_server() -> None:
    with pytest.raises(StoreError, match=r"cannot reach PostgreSQL .*127\.0\.0\.1:1 .*server is running"):
        open_store("postgresql://postgres@127.0.0.1:1/tiktrend", PostgresOptions(connect_timeout_s=2))


def test_missing_database(pg_database: str) -> None:
    url = pg_database.rsplit("/", 1)[0] + "/no_such_tiktrend_db"
    with pytest.raises(StoreError, match=r"does not exist\. Create it \(createdb no_such_tiktrend_db"):
        open_store(url)


def test_wrong_credentials(pg_database: str) -> None:
    url = pg_database.replace("postgres@", "no_such_user@", 1)
    with pytest.raises(StoreError, match=r"refused the credentials.*Check the user and password"):
        open_store(url)


def test_password_and_replica_messages_say_what_to_do() -> None:
    refused = connection_error(
        "postgresql://u:secret@db:5432/t", Exception('FATAL:  password authentication failed for user "u"')
    )
    assert "Check the user and password" in str(refused) and "secret" not in str(refused)
    replica = read_only_error("postgresql://u@replica/t", in_recovery=True)
    assert "read-only replica" in str(replica) and "primary" in str(replica)


def test_read_only_database(pg_schema_url: Callable[[], str], pg_database: str) -> None:
    url = pg_schema_url()
    name = pg_database.rsplit("/", 1)[1]
    ro = pg_database.rsplit("/", 1)[0] + f"/{name}_ro"
    with psycopg.connect(pg_database, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}_ro"')
        admin.execute(f'ALTER DATABASE "{name}_ro" SET default_transaction_read_only = on')
    try:
        with pytest.raises(StoreError, match=r"only allows read-only transactions.*primary"):
            open_store(ro)
    finally:
        with psycopg.connect(pg_database, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}_ro" WITH (FORCE)')
    assert url  # the session database itself stays writable


def test_transient_errors_are_the_ones_retried() -> None:
    assert is_transient(psycopg.errors.DeadlockDetected())
    assert is_transient(psycopg.errors.SerializationFailure())
    assert is_transient(psycopg.errors.AdminShutdown())
    assert is_transient(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert not is_transient(psycopg.errors.NotNullViolation())
    assert not is_transient(psycopg.errors.ReadOnlySqlTransaction())
    assert not is_transient(ValueError())


# ---- migrations ------------------------------------------------------------------------------------------------


def test_first_use_migrates_and_records_every_version(pg_schema_url: Callable[[], str]) -> None:
    url = pg_schema_url()
    with PostgresStore(url, OPTIONS) as store:
        assert store.storage == "plain"
        recorded = store.transact(lambda c: c.execute("SELECT version, storage FROM tiktrend_schema").fetchall())
    assert recorded == [(m.version, "plain") for m in MIGRATIONS]
    assert status(url, OPTIONS).version == LATEST


def test_concurrent_first_uses_migrate_once(pg_schema_url: Callable[[], str]) -> None:
    url = pg_schema_url()
    failures: list[BaseException] = []

    def open_and_close() -> None:
        try:
            PostgresStore(url, OPTIONS).close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert status(url, OPTIONS).version == LATEST


def test_a_newer_schema_is_refused(pg_schema_url: Callable[[], str]) -> None:
    url = pg_schema_url()
    with PostgresStore(url, OPTIONS) as store:
        store.transact(
            lambda c: c.execute(
                "INSERT INTO tiktrend_schema VALUES (%s, 'from the future', 'plain', now(), '9.9')", [LATEST + 3]
            )
        )
    with pytest.raises(StoreError, match=f"schema version {LATEST + 3}, newer than this tiktrend"):
        open_store(url)
    with pytest.raises(StoreError, match="newer than this tiktrend"):
        upgrade_schema(url, OPTIONS)


def test_a_downgrade_that_would_lose_collected_rows_is_refused(pg_schema_url: Callable[[], str]) -> None:
    url = pg_schema_url()
    with PostgresStore(url, OPTIONS) as store:
        videos, mentions = feed(3)
        store.load_batch(videos, mentions)  # every video's region is recorded in video_regions
    with pytest.raises(StoreError, match="video_regions holds 3 rows that would be lost"):
        downgrade_schema(url, OPTIONS, 2)
    assert status(url, OPTIONS).version == 3  # the (empty) later migrations were undone, 3 was refused


def test_downgrade_where_safe_and_upgrade_again(pg_schema_url: Callable[[], str]) -> None:
    url = pg_schema_url()
    with PostgresStore(url, OPTIONS) as store:
        store.load_batch(*OVERLAPPING[0])
        store.refresh_rollups()
        store.transact(lambda c: c.execute("DELETE FROM video_regions"))  # nothing collected: safe to undo 3
        before = tables(store)
    assert [m.version for m in downgrade_schema(url, OPTIONS, 1)] == [m.version for m in reversed(MIGRATIONS[1:])]
    assert status(url, OPTIONS).version == 1
    with pytest.raises(StoreError, match=r"cannot downgrade below schema version 1.*drop every table"):
        downgrade_schema(url, OPTIONS, 0)
    with pytest.raises(StoreError, match="Run `tiktrend db upgrade`"):
        PostgresStore(url, PostgresOptions(auto_upgrade=False))
    assert [m.version for m in upgrade_schema(url, OPTIONS)] == [m.version for m in MIGRATIONS[1:]]
    with PostgresStore(url, OPTIONS) as store:
        assert_same_tables(tables(store), before)


# ---- partitions ------------------------------------------------------------------------------------------------


def test_partitions_are_made_ahead_and_for_old_data(pg_schema_url: Callable[[], str]) -> None:
    url = pg_schema_url()
    today = datetime.now(tz=UTC).date()
    with PostgresStore(url, PostgresOptions(partition_months_ahead=2)) as store:
        store.load_batch(*feed(10, 0, hours=1))
        where = store.transact(
            lambda c: c.execute(
                "SELECT DISTINCT tableoid::regclass::text FROM keyword_mentions "
                "UNION ALL SELECT DISTINCT tableoid::regclass::text FROM video_stats ORDER BY 1"
            ).fetchall()
        )
    assert [r[0] for r in where] == ["keyword_mentions_2025_06", "video_stats_2025_06"]
    months = {partition_month(p) for p in status(url, OPTIONS).partitions}
    assert today.replace(day=1) in months
    assert len([m for m in months if m and m > today]) >= 2


def test_retention_drops_whole_old_months_only(pg_schema_url: Callable[[], str]) -> None:
    url = pg_schema_url()
    with PostgresStore(url, OPTIONS) as store:
        store.load_batch(*feed(10, 0, hours=1))
    kept = maintain(url, PostgresOptions(retention_days=10), today=datetime(2025, 7, 5).date())
    assert kept.dropped == []  # June ends less than 10 days before July 5
    dropped = maintain(url, PostgresOptions(retention_days=10), today=datetime(2025, 7, 20).date())
    assert dropped.dropped == ["keyword_mentions_2025_06", "video_stats_2025_06"]
    with PostgresStore(url, OPTIONS) as store:
        assert store.time_range() is None
