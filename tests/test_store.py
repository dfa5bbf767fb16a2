"""Every backend (DuckDB, PostgreSQL): idempotent upserts, order-independent merges, rollups equal to a full
recomputation. The ``store`` fixture runs each test once per backend."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tiktrend.models import VIDEO_COLUMNS
from tiktrend.store import DATA_TABLES, Store, StoreError, open_store
from tiktrend.store.schema import DDL, DUCKDB_SCHEMA_VERSION

BACKENDS = ("duckdb", "postgres")

T0 = datetime(2025, 6, 1, 10, tzinfo=UTC)


def observation(video_id: str, hours: float, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(VIDEO_COLUMNS)
    row.update(
        video_id=video_id,
        observed_at=T0 + timedelta(hours=hours),
        created_at=T0,
        region="US",
        category="food",
        caption="",
        hashtags=[],
        source="test",
    )
    row.update(fields)
    return row


def mention(video_id: str, keyword: str, modality: str = "hashtag", generic: bool = False) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "keyword": keyword,
        "display": keyword,
        "modality": modality,
        "weight": 1.0,
        "is_generic": generic,
    }


def frames(obs: list[dict[str, Any]], mentions: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(obs), pd.DataFrame(mentions)


def all_tables(store: Store) -> dict[str, pd.DataFrame]:
    return {table: store.snapshot(table) for table in DATA_TABLES}


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Opens new, empty stores of one backend (a DuckDB file, or a PostgreSQL schema); closes them after."""
    opened: list[Store] = []

    def make() -> Store:
        if request.param == "duckdb":
            url = f"duckdb:///{tmp_path / f'store-{len(opened)}.duckdb'}"
        else:
            url = request.getfixturevalue("pg_schema_url")()
        opened.append(open_store(url))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    return make_store()


def test_counters_come_from_latest_observation_attributes_from_earliest(store: Store) -> None:
    late = observation("v1", 5, views=500, caption="later caption", author=None, hashtags=["late"])
    early = observation("v1", 1, views=100, caption="first caption", author="alice", hashtags=["first", "tag"])
    store.load_batch(*frames([late], [mention("v1", "a")]))
    store.load_batch(*frames([early], [mention("v1", "a")]))
    store.load_batch(*frames([observation("v1", 3, hashtags=["middle"])], [mention("v1", "a")]))
    video = store.snapshot("videos").iloc[0]
    assert video["views"] == 500
    assert video["caption"] == "first caption"
    assert video["author"] == "alice"
    assert list(video["hashtags"]) == ["first", "tag"]
    assert video["first_seen"] == pd.Timestamp("2025-06-01 11:00")
    assert video["last_seen"] == pd.Timestamp("2025-06-01 15:00")
    assert len(store.snapshot("video_stats")) == 3


def test_load_order_does_not_change_the_result(make_store: Callable[[], Store]) -> None:
    batches = [
        frames([observation("v1", 1, views=10), observation("v2", 2, views=7)], [mention("v1", "a")]),
        frames([observation("v1", 3, views=30, likes=4)], [mention("v1", "a"), mention("v1", "b", "caption")]),
        frames([observation("v2", 1, views=5, author="bob")], [mention("v2", "a")]),
    ]
    results = []
    for order in (batches, batches[::-1]):
        store = make_store()
        for batch in order:
            store.load_batch(*batch)
        store.refresh_rollups()
        results.append(all_tables(store))
    for table in DATA_TABLES:
        pd.testing.assert_frame_equal(results[0][table], results[1][table], check_like=True)


def test_reloading_a_batch_changes_nothing(store: Store) -> None:
    batch = frames(
        [observation("v1", 1, views=10), observation("v1", 2, views=20), observation("v2", 1, views=3)],
        [mention("v1", "a"), mention("v2", "a"), mention("v2", "fyp", generic=True)],
    )
    first = store.load_batch(*batch)
    store.refresh_rollups()
    before = all_tables(store)
    second = store.load_batch(*batch)
    store.refresh_rollups()
    assert (first.videos_new, first.stats_new, first.mentions_new) == (2, 3, 3)
    assert (second.videos_new, second.videos_updated, second.stats_new, second.mentions_new) == (0, 0, 0, 0)
    for table, frame in all_tables(store).items():
        pd.testing.assert_frame_equal(frame, before[table], obj=table)


def test_same_moment_twice_keeps_the_larger_counter(store: Store) -> None:
    store.load_batch(*frames([observation("v1", 1, comments=5), observation("v1", 1, comments=7)], []))
    stats = store.snapshot("video_stats")
    assert len(stats) == 1
    assert stats.iloc[0]["comments"] == 7


def _recomputed(store: Store, grain: str) -> pd.DataFrame:
    """``keyword_buckets`` recomputed from the raw mentions in pandas, every column, to check the SQL against."""
    mentions = store.snapshot("keyword_mentions")
    videos = store.snapshot("videos").set_index("video_id")
    counters = ["views", "likes", "comments", "shares", "saves"]
    freq = {"hour": "h", "day": "D"}[grain]
    mentions["bucket"] = mentions["posted_at"].dt.floor(freq)
    mentions["micros"] = (mentions["weight"] * 1_000_000 + 0.5).apply(math.floor)
    # All of a video's modalities folded into one row per keyword: the '*' modality.
    folded = mentions.groupby(["bucket", "keyword", "region", "category", "video_id"], as_index=False).agg(
        micros=("micros", "sum"), is_generic=("is_generic", "any")
    )
    folded["modality"] = "*"
    rows = pd.concat([mentions, folded])
    rows = rows.join(videos[counters].fillna(0), on="video_id")
    spelling = mentions.groupby(["bucket", "keyword", "display"]).size().rename("n").reset_index()
    spelling = spelling.sort_values(["bucket", "keyword", "n", "display"], ascending=[True, True, False, True])
    spelling = spelling.drop_duplicates(["bucket", "keyword"])[["bucket", "keyword", "display"]]
    totals = videos.assign(bucket=videos["posted_at"].dt.floor(freq))
    frames_ = []
    for region in (True, False):
        for category in (True, False):
            keys = ["bucket", "keyword", "modality"] + [
                c for c, keep in (("region", region), ("category", category)) if keep
            ]
            grouped = rows.groupby(keys, as_index=False).agg(
                is_generic=("is_generic", "any"),
                micros=("micros", "sum"),
                videos=("video_id", "nunique"),
                **{c: (c, "sum") for c in counters},
            )
            total_keys = ["bucket"] + [c for c in ("region", "category") if c in keys]
            all_videos = totals.groupby(total_keys).size().rename("total").reset_index()
            grouped = grouped.merge(all_videos, on=total_keys)
            for column, keep in (("region", region), ("category", category)):
                if not keep:
                    grouped[column] = "*"
            frames_.append(grouped)
    expected = pd.concat(frames_).merge(spelling, on=["bucket", "keyword"])
    expected["grain"] = grain
    expected["mentions"] = expected["micros"] / 1_000_000
    expected["share"] = expected["videos"] / expected["total"]
    columns = ["bucket", "grain", "keyword", "region", "category", "modality", "display", "is_generic", "mentions"]
    expected = expected[[*columns, "videos", *counters, "share"]]
    order = ["bucket", "keyword", "region", "category", "modality"]
    return expected.sort_values(order).reset_index(drop=True).astype({c: "int64" for c in ["videos", *counters]})


def test_incremental_rollups_equal_a_full_recomputation(store: Store) -> None:
    # Three loads touching overlapping hours, regions and modalities, with counters that change later.
    store.load_batch(
        *frames(
            [observation(f"a{i}", 1, created_at=T0 + timedelta(minutes=20 * i), views=i) for i in range(6)],
            [mention(f"a{i}", "dance") for i in range(6)] + [mention("a1", "dance", "caption")],
        )
    )
    store.refresh_rollups()
    store.load_batch(
        *frames(
            [observation(f"b{i}", 2, region="DE", created_at=T0 + timedelta(minutes=50 * i)) for i in range(4)]
            + [observation("a2", 9, views=1000)],
            [mention(f"b{i}", "dance", "music") for i in range(4)] + [mention("b0", "cake")],
        )
    )
    store.refresh_rollups()
    # Fractional weights, competing spellings, a generic tag, and a video that moves to an earlier hour.
    spelled = [{**mention(f"c{i}", "dance"), "display": "Dance" if i % 3 else "DANCE", "weight": 0.37 * (i + 1)}
               for i in range(5)]  # fmt: skip
    store.load_batch(
        *frames(
            [observation(f"c{i}", 3, region="VN", created_at=T0 + timedelta(minutes=13 * i)) for i in range(5)]
            + [observation("b1", 0.2, region="DE", created_at=None)],
            [*spelled, mention("c0", "fyp", generic=True), mention("c1", "fyp", "caption", generic=True)],
        )
    )
    store.refresh_rollups()
    # An earlier observation of c1 respells its mention, same weight: only the bucket's display can change.
    respelled = [{**spelled[1], "display": "DaNcE"}, {**spelled[2], "display": "DaNcE"}]
    store.load_batch(*frames([observation("c1", 2.5, region="VN", created_at=T0 + timedelta(minutes=13)),
                              observation("c2", 2.5, region="VN", created_at=T0 + timedelta(minutes=26))],
                             respelled))  # fmt: skip
    store.refresh_rollups()
    got = store.snapshot("keyword_buckets")
    got = got[got["grain"] == "hour"][["bucket", "keyword", "region", "category", "modality", "videos", "views"]]
    got = got.sort_values(["bucket", "keyword", "region", "category", "modality"]).reset_index(drop=True)
    expected = _recomputed(store, "hour")[["bucket", "keyword", "region", "category", "modality", "videos", "views"]]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    stored = store.snapshot("keyword_buckets")
    for grain in ("hour", "day"):
        got = stored[stored["grain"] == grain].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, _recomputed(store, grain), check_dtype=False, obj=grain)
    totals = store.snapshot("bucket_totals")
    everything = totals[(totals["grain"] == "day") & (totals["region"] == "*") & (totals["category"] == "*")]
    assert everything["videos"].sum() == 15


def _top_recomputed(store: Store, keep: int) -> pd.DataFrame:
    """``keyword_top`` recomputed in pandas: the ``keep`` most viewed videos per keyword, day, region, category."""
    mentions = store.snapshot("keyword_mentions")
    views = store.snapshot("videos").set_index("video_id")["views"]
    mentions["bucket"] = mentions["posted_at"].dt.floor("D")
    group = ["keyword", "bucket", "region", "category"]
    rows = mentions.groupby([*group, "video_id"], as_index=False).agg(
        modalities=("modality", lambda m: ",".join(sorted(m)))
    )
    rows["rank_views"] = rows["video_id"].map(views).fillna(-1).astype("int64")
    rows = rows.sort_values([*group, "rank_views", "video_id"], ascending=[True] * 4 + [False, True])
    rows = rows[rows.groupby(group).cumcount() < keep]
    columns = [*group, "video_id", "rank_views", "modalities"]
    return rows[columns].sort_values([*group, "video_id"]).reset_index(drop=True)


def test_kept_top_videos_equal_a_full_recomputation(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from tiktrend.store import rollup_sql

    monkeypatch.setattr(rollup_sql, "TOP_VIDEOS", 2)  # few videos per group, so the cut is exercised

    def load_and_check(obs: list[dict[str, Any]], mentions: list[dict[str, Any]]) -> pd.DataFrame:
        store.load_batch(*frames(obs, mentions))
        store.refresh_rollups()
        kept = store.snapshot("keyword_top")
        assert list(kept["kid"]) == [rollup_sql.keyword_id(k) for k in kept["keyword"]]
        expected = _top_recomputed(store, 2)
        pd.testing.assert_frame_equal(kept.drop(columns=["kid"]), expected, check_dtype=False)
        return kept

    kept = load_and_check(
        [observation(f"a{i}", 1, views=10 * i) for i in range(1, 6)] + [observation("n1", 1, views=None)],
        [mention(f"a{i}", "dance") for i in range(1, 6)] + [mention("a5", "dance", "caption"), mention("n1", "cake")],
    )
    assert list(kept["video_id"]) == ["n1", "a4", "a5"]
    assert list(kept["modalities"]) == ["hashtag", "hashtag", "caption,hashtag"]
    # A new video enters, a kept one rises: merged without reading the group again.
    kept = load_and_check([observation("a6", 1, views=45), observation("a1", 2, views=100)], [mention("a6", "dance")])
    assert list(kept[kept["keyword"] == "dance"]["video_id"]) == ["a1", "a5"]
    # A kept video falls (a later observation with fewer views): its group is read again from the mentions.
    kept = load_and_check([observation("a1", 3, views=5)], [])
    assert list(kept[kept["keyword"] == "dance"]["video_id"]) == ["a5", "a6"]
    # An earlier observation moves a kept video to another region and day; a video gets views at last.
    kept = load_and_check(
        [observation("a5", 0.5, region="VN", created_at=T0 - timedelta(days=1)), observation("n1", 4, views=7)],
        [mention("n1", "dance")],
    )
    assert set(kept[kept["video_id"] == "a5"]["region"]) == {"VN"}
    # A full rebuild keeps the same rows.
    store.rebuild_rollups()
    pd.testing.assert_frame_equal(store.snapshot("keyword_top"), kept)


@pytest.mark.parametrize("created", [T0, None], ids=["region-only", "time-and-region"])
def test_mentions_and_rollups_follow_a_video_that_moves(store: Store, created: datetime | None) -> None:
    # A later observation first (US), then an earlier one (VN): the video takes the earlier one's region, and
    # without a creation time its posted_at moves back too.
    store.load_batch(*frames([observation("m1", 5, region="US", created_at=created)], [mention("m1", "move")]))
    store.refresh_rollups()
    store.load_batch(*frames([observation("m1", 1, region="VN", created_at=created)], [mention("m1", "move")]))
    store.refresh_rollups()
    mentions = store.snapshot("keyword_mentions")
    assert list(mentions["region"]) == ["VN"]
    assert list(mentions["posted_at"]) == [pd.Timestamp("2025-06-01 10:00" if created else "2025-06-01 11:00")]
    buckets = store.snapshot("keyword_buckets")
    assert set(buckets["region"]) == {"VN", "*"}
    for grain in ("hour", "day"):
        got = buckets[buckets["grain"] == grain].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, _recomputed(store, grain), check_dtype=False, obj=grain)


def test_a_respelling_alone_changes_the_display(store: Store) -> None:
    # The earlier observation wins the mention's spelling; nothing else about the video changes.
    store.load_batch(*frames([observation("x1", 5)], [{**mention("x1", "solo"), "display": "Solo"}]))
    store.refresh_rollups()
    store.load_batch(*frames([observation("x1", 1)], [{**mention("x1", "solo"), "display": "SOLO"}]))
    store.refresh_rollups()
    assert set(store.snapshot("keyword_buckets")["display"]) == {"SOLO"}
    pd.testing.assert_frame_equal(
        store.snapshot("keyword_buckets").query("grain == 'hour'").reset_index(drop=True),
        _recomputed(store, "hour"),
        check_dtype=False,
    )


def test_share_is_against_all_videos_of_the_bucket(store: Store) -> None:
    store.load_batch(
        *frames([observation(f"v{i}", 1) for i in range(4)], [mention("v0", "rare"), mention("v1", "rare")])
    )
    store.refresh_rollups()
    rows = store.snapshot("keyword_buckets")
    row = rows[(rows["grain"] == "hour") & (rows["region"] == "*") & (rows["modality"] == "*")].iloc[0]
    assert row["videos"] == 2
    assert row["share"] == pytest.approx(0.5)


def test_trends_save_is_idempotent_and_replaces_a_scope(store: Store) -> None:
    row = {
        "as_of": T0, "time_window": "1d", "detector": "threshold", "region": "*", "category": "*",
        "modality": "*", "keyword": "dance", "display": "Dance", "rank": 1, "score": 2.0, "growth": 2.0,
        "videos_now": 9, "videos_before": 3, "mentions_now": 9.0, "mentions_before": 3.0, "share_now": 0.1,
        "share_before": 0.05, "views": 1, "likes": 1, "comments": 1, "shares": 1, "saves": 1,
        "stage": "rising", "explanation": "x",
    }  # fmt: skip
    store.save_trends(pd.DataFrame([row]), "run-1")
    store.save_trends(pd.DataFrame([row]), "run-2")
    saved = store.snapshot("trends")
    assert len(saved) == 1
    assert saved.iloc[0]["run_id"] == "run-1"  # unchanged content keeps its first run
    store.save_trends(pd.DataFrame([{**row, "keyword": "cake", "display": "Cake"}]), "run-3")
    assert list(store.snapshot("trends")["keyword"]) == ["cake"]


def test_bad_urls_and_unopenable_files_say_what_to_do(tmp_path: Any) -> None:
    with pytest.raises(StoreError, match="expected duckdb:///"):
        open_store("mysql://x")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the DuckDB store"):
        open_store(f"duckdb:///{blocker}/sub/x.duckdb")
    with pytest.raises(StoreError, match=r"expected duckdb:///path/file\.duckdb or postgresql://"):
        open_store("sqlite:///x.db")


# The first release's layout: mentions keyed, keyword_buckets a table rebuilt per hour.
LEGACY_DDL = (
    *(s for s in DDL if "TABLE IF NOT EXISTS videos " in s or "TABLE IF NOT EXISTS video_stats " in s),
    """CREATE TABLE keyword_mentions (video_id VARCHAR NOT NULL, keyword VARCHAR NOT NULL, modality VARCHAR NOT NULL,
        display VARCHAR NOT NULL, weight DOUBLE NOT NULL, is_generic BOOLEAN NOT NULL, posted_at TIMESTAMP NOT NULL,
        region VARCHAR NOT NULL, category VARCHAR NOT NULL, PRIMARY KEY (video_id, keyword, modality))""",
    "CREATE TABLE keyword_buckets AS SELECT * FROM a.keyword_buckets",
    """CREATE TABLE bucket_totals (bucket TIMESTAMP NOT NULL, grain VARCHAR NOT NULL, region VARCHAR NOT NULL,
        category VARCHAR NOT NULL, videos BIGINT NOT NULL, views BIGINT, likes BIGINT, comments BIGINT, shares BIGINT,
        saves BIGINT, PRIMARY KEY (bucket, grain, region, category))""",
    "INSERT INTO bucket_totals SELECT * FROM a.bucket_totals",
    "CREATE TABLE rollup_queue (bucket TIMESTAMP PRIMARY KEY)",
)


def test_a_first_release_duckdb_file_is_migrated_and_its_rollups_rebuilt(tmp_path: Path) -> None:
    import duckdb

    from tiktrend.store.duckdb import DuckDBStore

    fresh_path = tmp_path / "fresh.duckdb"
    with DuckDBStore(f"duckdb:///{fresh_path}") as fresh:
        for batch in (
            frames([observation(f"v{i}", i % 3, views=i) for i in range(8)], [mention(f"v{i}", "a") for i in range(8)]),
            frames([observation("v1", 5, views=99)], [mention("v1", "b", "caption")]),
        ):
            fresh.load_batch(*batch)
        fresh.refresh_rollups()
        expected = all_tables(fresh)
    legacy_path = tmp_path / "legacy.duckdb"
    with duckdb.connect(str(legacy_path)) as con:
        con.execute(f"ATTACH '{fresh_path}' AS a (READ_ONLY)")
        for statement in LEGACY_DDL:
            con.execute(statement)
        con.execute("INSERT INTO videos SELECT * FROM a.videos")
        con.execute("INSERT INTO video_stats SELECT * FROM a.video_stats")
        con.execute("INSERT INTO keyword_mentions SELECT * FROM a.keyword_mentions")
        con.execute("UPDATE keyword_mentions SET region = 'stale'")  # what the first release could leave behind
    with DuckDBStore(f"duckdb:///{legacy_path}") as migrated:
        got = all_tables(migrated)
        kinds = dict(migrated.con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
        assert migrated._schema_version() == DUCKDB_SCHEMA_VERSION
    assert kinds["keyword_buckets"] == "VIEW" and "rollup_queue" not in kinds
    for table in DATA_TABLES:
        pd.testing.assert_frame_equal(got[table], expected[table], obj=table)


def test_the_keyword_ordered_copy_reads_what_the_rollups_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tiktrend.store import keyword_lookup
    from tiktrend.store.duckdb import DuckDBStore
    from tiktrend.store.rollup_sql import keyword_id

    sums = "generic_videos, mention_micros, videos, views, likes, comments, shares, saves"
    columns = f"bucket, grain, keyword, region, category, modality, display, {sums}"

    def check(store: DuckDBStore) -> None:
        for grain in ("hour", "day"):
            held = f"SELECT {columns} FROM keyword_rollup WHERE grain = ? ORDER BY ALL"
            expected = store.con.execute(held, [grain]).df()
            words = [*sorted(set(expected["keyword"])), "never-seen"]
            ids = f"kid IN ({', '.join(str(keyword_id(w, grain)) for w in words)})"
            keywords = f"keyword IN ({', '.join(repr(w) for w in words)})"
            read = f"SELECT {columns} FROM {keyword_lookup.rows(ids, keywords)} r WHERE grain = ? ORDER BY ALL"
            pd.testing.assert_frame_equal(store.con.execute(read, [grain]).df(), expected, obj=grain)

    def load(store: DuckDBStore, obs: list[dict[str, Any]], mentions: list[dict[str, Any]]) -> None:
        store.load_batch(*frames(obs, mentions))
        store.refresh_rollups()
        check(store)

    monkeypatch.setattr(keyword_lookup, "COMPACT_MIN", 10**9)  # appended rows only
    with DuckDBStore(f"duckdb:///{tmp_path / 'copy.duckdb'}") as store:
        load(store, [observation(f"a{i}", i / 3, views=i) for i in range(6)],
             [mention(f"a{i}", "dance") for i in range(6)] + [mention("a1", "dance", "caption")])  # fmt: skip
        spelled = [{**mention(f"c{i}", "salsa"), "display": "Salsa" if i % 2 else "SALSA"} for i in range(4)]
        load(store, [observation(f"c{i}", 1, region="VN") for i in range(4)] + [observation("a2", 3, views=50)],
             [*spelled, mention("c0", "fyp", generic=True)])  # fmt: skip
        assert store.con.execute("SELECT appended_rows FROM keyword_lookup_state").fetchall()[0][0] > 0
        monkeypatch.setattr(keyword_lookup, "COMPACT_MIN", 0)  # the next refresh rewrites the copy in order
        load(store, [observation("a1", 0.1, region="DE", created_at=None)], [])
        state = store.con.execute("SELECT sorted_rows, appended_rows FROM keyword_lookup_state").fetchall()[0]
        assert state[0] > 0 and state[1] == 0
        ordered = store.con.execute("SELECT kid FROM keyword_lookup").df()["kid"]
        assert ordered.is_monotonic_increasing
        monkeypatch.setattr(keyword_lookup, "COMPACT_MIN", 10**9)
        # After the rewrite: a respelling alone, and a video that falls out of a kept top.
        respelled = [{**spelled[i], "display": "SaLsA"} for i in (1, 2, 3)]
        load(store, [observation(f"c{i}", 0.5, region="VN") for i in (1, 2, 3)], respelled)
        assert "SaLsA" in set(store.snapshot("keyword_buckets")["display"])
        top = store.snapshot("keyword_top")
        pd.testing.assert_frame_equal(top.drop(columns=["kid"]), _top_recomputed(store, 20), check_dtype=False)


def test_a_version_2_duckdb_file_gets_its_kept_top_videos(tmp_path: Path) -> None:
    from tiktrend.store.duckdb import DuckDBStore
    from tiktrend.store.rollup_sql import keyword_id

    url = f"duckdb:///{tmp_path / 'v2.duckdb'}"
    with DuckDBStore(url) as store:
        store.load_batch(*frames([observation(f"v{i}", 1, views=i) for i in range(30)],
                                 [mention(f"v{i}", f"k{i % 3}") for i in range(30)]))  # fmt: skip
        store.refresh_rollups()
        expected = {t: store.snapshot(t) for t in ("keyword_top", "keyword_buckets")}
        # Back to layout 2: no keyword ids, no kept top videos.
        for statement in ("DROP TABLE keyword_top", "DELETE FROM tiktrend_schema WHERE version >= 3"):
            store.con.execute(statement)
    with DuckDBStore(url) as store:
        assert store.layout_version() == DUCKDB_SCHEMA_VERSION
        for table, frame in expected.items():
            pd.testing.assert_frame_equal(store.snapshot(table), frame, obj=table)
        ids = store.con.execute("SELECT DISTINCT keyword, kid FROM keyword_top").fetchall()
        assert len(ids) == 3 and all(kid == keyword_id(keyword) for keyword, kid in ids)


def test_a_version_3_duckdb_file_loses_the_indexes_writes_paid_for(tmp_path: Path) -> None:
    from tiktrend.store.duckdb import DuckDBStore
    from tiktrend.store.schema import UNINDEXED

    url = f"duckdb:///{tmp_path / 'v3.duckdb'}"
    first = frames([observation(f"v{i}", 1, views=i) for i in range(6)], [mention(f"v{i}", "a") for i in range(6)])
    again = frames([observation("v1", 2, views=50, region="DE"), observation("v9", 2)], [mention("v9", "b")])
    with DuckDBStore(url) as store:
        store.load_batch(*first)
        store.refresh_rollups()
        store.load_batch(*again)  # queued, not refreshed: the queue tables are migrated with rows in them
        # Back to layout 3: the same tables with their primary keys.
        keys = {"video_stats": "video_id, observed_at", "video_regions": "video_id, region",
                "rollup_videos": "video_id", "rollup_before_videos": "video_id",
                "keyword_rollup": "bucket, grain, keyword, region, category, modality",
                "keyword_spellings": "bucket, grain, keyword, display",
                "bucket_totals": "bucket, grain, region, category"}  # fmt: skip
        for table, key in keys.items():
            store.con.execute(f"CREATE TABLE {table}_keyed AS SELECT * FROM {table} LIMIT 0")
            store.con.execute(f"ALTER TABLE {table}_keyed ADD PRIMARY KEY ({key})")
            store.con.execute(f"INSERT INTO {table}_keyed SELECT * FROM {table}")
            store.con.execute(f"DROP TABLE {table}")
            store.con.execute(f"ALTER TABLE {table}_keyed RENAME TO {table}")
        store.con.execute("DELETE FROM tiktrend_schema WHERE version = 4")
        expected = {t: store.read(f"SELECT * FROM {t} ORDER BY ALL") for t in UNINDEXED}
    with DuckDBStore(url) as store:
        assert store.layout_version() == DUCKDB_SCHEMA_VERSION
        for table, frame in expected.items():
            pd.testing.assert_frame_equal(store.read(f"SELECT * FROM {table} ORDER BY ALL"), frame, obj=table)
        indexed = store.con.execute(
            "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        )
        assert not set(UNINDEXED) & {r[0] for r in indexed.fetchall()}
        store.refresh_rollups()
        refreshed = {t: store.read(f"SELECT * FROM {t} ORDER BY ALL") for t in UNINDEXED}
        store.load_batch(*again)  # the same batch again changes nothing
        store.refresh_rollups()
        for table, frame in refreshed.items():
            pd.testing.assert_frame_equal(store.read(f"SELECT * FROM {table} ORDER BY ALL"), frame, obj=table)
        # The rollups merged without their keys equal a recomputation from the mentions.
        merged = store.snapshot("keyword_buckets")
        store.rebuild_rollups()
        pd.testing.assert_frame_equal(store.snapshot("keyword_buckets"), merged)


def test_a_newer_duckdb_file_is_refused(tmp_path: Path) -> None:
    from tiktrend.store.duckdb import DuckDBStore

    url = f"duckdb:///{tmp_path / 'x.duckdb'}"
    with DuckDBStore(url) as store:
        store.con.execute("INSERT INTO tiktrend_schema VALUES (99, 'future', now()::TIMESTAMP, '9')")
    with pytest.raises(StoreError, match="layout version 99, newer than this tiktrend"):
        DuckDBStore(url)


def test_duckdb_commits_survive_a_crash_before_any_checkpoint(tmp_path: Path) -> None:
    """Loads are committed to the write-ahead log; a process killed before a checkpoint loses none of them."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "crash.duckdb"
    child = textwrap.dedent(
        f"""
        import os, sys
        sys.path[:0] = {sys.path!r}
        from test_store import frames, mention, observation
        from tiktrend.store import open_store
        store = open_store("duckdb:///{path}")
        store.load_batch(*frames([observation(f"v{{i}}", 1, views=i) for i in range(50)],
                                 [mention(f"v{{i}}", "crash") for i in range(50)]))
        store.refresh_rollups()
        os._exit(0)  # killed: no close, no checkpoint
        """
    )
    subprocess.run([sys.executable, "-c", child], check=True, cwd=Path(__file__).parents[1])
    assert path.with_name("crash.duckdb.wal").stat().st_size > 0  # the batch is only in the log
    with open_store(f"duckdb:///{path}") as store:
        assert store.table_counts()["keyword_mentions"] == 50
        assert int(store.snapshot("keyword_buckets")["videos"].max()) == 50
    assert not path.with_name("crash.duckdb.wal").exists()  # a clean close leaves everything in the file


def test_the_duckdb_checkpoint_size_comes_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tiktrend.settings import Settings
    from tiktrend.store import store_from_settings

    monkeypatch.setenv("TIKTREND_DUCKDB_CHECKPOINT_MB", "64")
    with store_from_settings(Settings(data_dir=tmp_path)) as store:
        assert store.read("SELECT current_setting('checkpoint_threshold') AS t")["t"][0] == "64.0 MiB"
