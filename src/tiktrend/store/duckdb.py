"""The embedded default store: one DuckDB file, the same contract the PostgreSQL backend implements."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import pandas as pd
import pyarrow as pa

from tiktrend import __version__
from tiktrend.models import COUNTERS
from tiktrend.store import keyword_lookup
from tiktrend.store.base import ALL, GRAINS, TABLES, LoadResult, StoreError
from tiktrend.store.frames import STATIC_COLUMNS, VIDEO_TABLE_COLUMNS, prepare_batch, utc_naive
from tiktrend.store.params import used
from tiktrend.store.rollup_sql import RollupSQL, bucket_rows
from tiktrend.store.schema import (
    ALERTS_DDL,
    COLLECT_DDL,
    DDL,
    DUCKDB_LAYOUTS,
    DUCKDB_SCHEMA_VERSION,
    KEYS,
    UNINDEXED,
)

_STATIC_COLUMNS = STATIC_COLUMNS
_VIDEO_TABLE_COLUMNS = VIDEO_TABLE_COLUMNS


def _merge_set(column: str) -> str:
    """The SET clause of one column of a stored video (``videos``) merged with its batch row (``b``)."""
    if column in _STATIC_COLUMNS:
        # Attributes come from the earliest observation; a later one only fills what is missing.
        return (
            f"{column} = CASE WHEN b.first_seen < videos.first_seen "
            f"THEN coalesce(b.{column}, videos.{column}) ELSE coalesce(videos.{column}, b.{column}) END"
        )
    if column in COUNTERS:
        # Counters come from the latest observation; equal times keep the larger value, so order never matters.
        return (
            f"{column} = CASE WHEN b.last_seen > videos.last_seen THEN coalesce(b.{column}, videos.{column}) "
            f"WHEN b.last_seen < videos.last_seen THEN coalesce(videos.{column}, b.{column}) "
            f"ELSE greatest(videos.{column}, b.{column}) END"
        )
    rules = {
        "posted_at": "posted_at = coalesce(b.created_at, videos.created_at, least(videos.posted_at, b.posted_at))",
        "first_seen": "first_seen = least(videos.first_seen, b.first_seen)",
        "last_seen": "last_seen = greatest(videos.last_seen, b.last_seen)",
    }
    return rules[column]


# New videos (not in ``batch_known``) are appended; the known ones are merged in place. An upsert (ON CONFLICT
# DO UPDATE) did the same in one statement at twice the cost.
_INSERT_NEW_VIDEOS = (
    f"INSERT INTO videos ({', '.join(_VIDEO_TABLE_COLUMNS)}) "  # noqa: S608 - fixed column names only
    f"SELECT {', '.join(_VIDEO_TABLE_COLUMNS)} FROM batch_videos b "
    "WHERE NOT EXISTS (SELECT 1 FROM batch_known k WHERE k.video_id = b.video_id)"
)
_KNOWN_VIDEO_ROWS = (
    "FROM batch_videos b JOIN batch_known k ON k.video_id = b.video_id "
    # The stored time as well: the scan then reads only the row groups of those times.
    "WHERE videos.video_id = k.video_id AND videos.posted_at = k.old_posted_at"
)
# DuckDB updates a list column by deleting and inserting the row, index entry included: the hashtags go apart,
# only where they change (first, while first_seen still holds the stored value its rule compares with).
_HASHTAGS = _merge_set("hashtags").split(" = ", 1)[1]
_UPDATE_KNOWN_HASHTAGS = (
    f"UPDATE videos SET hashtags = {_HASHTAGS} {_KNOWN_VIDEO_ROWS} "  # noqa: S608 - fixed names
    f"AND videos.hashtags IS DISTINCT FROM ({_HASHTAGS})"
)
_UPDATE_KNOWN_VIDEOS = (
    f"UPDATE videos SET {', '.join(_merge_set(c) for c in _VIDEO_TABLE_COLUMNS[1:] if c != 'hashtags')} "  # noqa: S608
    + _KNOWN_VIDEO_ROWS
)

# video_stats and video_regions have no index (schema.UNINDEXED). Only videos stored before the batch can have
# rows there: theirs are merged in place, then the rows still missing are appended. As for mentions, the stored
# rows are found with a semi join, which filters the scan by the keys' range.
_KNOWN_STATS = "SELECT s.* FROM batch_stats s SEMI JOIN batch_known k ON k.video_id = s.video_id"
_UPDATE_STATS = f"""
    UPDATE video_stats SET {", ".join(f"{c} = greatest(video_stats.{c}, s.{c})" for c in COUNTERS)}
    FROM ({_KNOWN_STATS}) s WHERE video_stats.video_id = s.video_id AND video_stats.observed_at = s.observed_at
"""  # noqa: S608 - fixed names only
_STATS_COLUMNS = f"s.video_id, s.observed_at, {', '.join(f's.{c}' for c in COUNTERS)}"
_INSERT_STATS = f"INSERT INTO video_stats SELECT {_STATS_COLUMNS} FROM batch_stats s"  # noqa: S608
_INSERT_MISSING_STATS = f"""{_INSERT_STATS}
    ANTI JOIN (
        SELECT t.video_id, t.observed_at FROM video_stats t
        SEMI JOIN ({_KNOWN_STATS}) k ON t.video_id = k.video_id AND t.observed_at = k.observed_at
    ) t ON t.video_id = s.video_id AND t.observed_at = s.observed_at
"""  # noqa: S608 - fixed names only

# The batch's videos that were stored already, as they were: the merge rules of their mentions need it.
_BATCH_KNOWN = """
    CREATE OR REPLACE TEMP TABLE batch_known AS
    SELECT b.video_id, b.first_seen AS batch_first_seen, v.first_seen AS old_first_seen,
           v.posted_at AS old_posted_at, b.last_seen > v.last_seen OR b.first_seen < v.first_seen AS is_updated
    FROM batch_videos b JOIN videos v ON v.video_id = b.video_id
"""

_MENTION_COLUMNS = "video_id, keyword, modality, display, weight, is_generic"

# A new video's mentions cannot be stored yet: they are appended, with the video's time, region and category.
_INSERT_NEW_MENTIONS = f"""
    INSERT INTO keyword_mentions
    SELECT {", ".join(f"m.{c}" for c in _MENTION_COLUMNS.split(", "))}, b.posted_at, b.region, b.category
    FROM batch_mentions m JOIN batch_videos b ON b.video_id = m.video_id
    WHERE NOT EXISTS (SELECT 1 FROM batch_known k WHERE k.video_id = m.video_id)
"""  # noqa: S608 - fixed names only

# keyword_mentions has no index: the statements on known videos' mentions also join on posted_at (a mention
# always carries its video's posted_at), so the scan reads only the row groups of those times (zone maps,
# filtered by the join's range of keys) instead of the whole table.

# A merge can move a video (earlier posted_at, region of an earlier observation): all its mentions follow.
_FOLLOW_VIDEOS = """
    UPDATE keyword_mentions m SET posted_at = v.posted_at, region = v.region, category = v.category
    FROM batch_known k JOIN videos v ON v.video_id = k.video_id
    WHERE m.video_id = k.video_id AND m.posted_at = k.old_posted_at
      AND (m.posted_at <> v.posted_at OR m.region <> v.region OR m.category <> v.category)
"""

# A mention's spelling and weight come from the video's earliest observation (on a tie: the larger weight,
# then the smaller spelling), so the order loads arrive in never shows.
_MENTION_ATTRIBUTES = """
    UPDATE keyword_mentions m SET display = s.display, weight = s.weight, is_generic = s.is_generic
    FROM batch_mentions s JOIN batch_known f ON f.video_id = s.video_id
    WHERE m.video_id = s.video_id AND m.keyword = s.keyword AND m.modality = s.modality
      AND m.posted_at = f.old_posted_at
      AND (f.batch_first_seen < f.old_first_seen OR (f.batch_first_seen = f.old_first_seen
           AND (s.weight > m.weight OR (s.weight = m.weight AND s.display < m.display))))
"""

# (video_id, keyword, modality) stays unique without an index: a known video gets only the mentions it lacks.
# The stored ones are found with a semi join (DuckDB filters its scan by the keys' range; not an anti join's).
_INSERT_KNOWN_MENTIONS = f"""
    INSERT INTO keyword_mentions
    SELECT {", ".join(f"s.{c}" for c in _MENTION_COLUMNS.split(", "))}, v.posted_at, v.region, v.category
    FROM batch_mentions s JOIN batch_known k ON k.video_id = s.video_id JOIN videos v ON v.video_id = s.video_id
    ANTI JOIN (
        SELECT m.video_id, m.keyword, m.modality FROM keyword_mentions m
        SEMI JOIN (SELECT v.video_id, v.posted_at FROM batch_known k JOIN videos v ON v.video_id = k.video_id) p
            ON m.video_id = p.video_id AND m.posted_at = p.posted_at
    ) m ON m.video_id = s.video_id AND m.keyword = s.keyword AND m.modality = s.modality
"""  # noqa: S608 - fixed names only

_ROLLUP = RollupSQL("duckdb")
# The statements of a refresh whose row counts are the rollup rows it wrote (the merge's update, not a respelling).
_ROLLUP_WRITES = ("INSERT INTO keyword_rollup", "UPDATE keyword_rollup t ", "DELETE FROM keyword_rollup")

# Every region a video was seen in, with the first and last time (videos keeps only the earliest region);
# merged like video_stats.
_KNOWN_REGIONS = "SELECT r.* FROM batch_regions r SEMI JOIN batch_known k ON k.video_id = r.video_id"
_UPDATE_REGIONS = f"""
    UPDATE video_regions SET first_seen = least(video_regions.first_seen, r.first_seen),
        last_seen = greatest(video_regions.last_seen, r.last_seen)
    FROM ({_KNOWN_REGIONS}) r WHERE video_regions.video_id = r.video_id AND video_regions.region = r.region
"""  # noqa: S608 - fixed names only
_INSERT_REGIONS = (
    "INSERT INTO video_regions SELECT r.video_id, r.region, r.first_seen, r.last_seen FROM batch_regions r"
)
_INSERT_MISSING_REGIONS = f"""{_INSERT_REGIONS}
    ANTI JOIN (
        SELECT t.video_id, t.region FROM video_regions t
        SEMI JOIN ({_KNOWN_REGIONS}) k ON t.video_id = k.video_id AND t.region = k.region
    ) t ON t.video_id = r.video_id AND t.region = r.region
"""  # noqa: S608 - fixed names only

EXTERNAL_TREND_COLUMNS = (
    "source",
    "kind",
    "region",
    "period_days",
    "industry",
    "list_date",
    "keyword",
    "name",
    "item_id",
    "rank",
    "rank_diff",
    "is_new",
    "posts",
    "views",
    "trend",
    "listed_at",
)


def region_sightings(observations: pd.DataFrame) -> pd.DataFrame:
    """(video_id, region, first_seen, last_seen) of a batch of observations."""
    seen = observations[["video_id", "region"]].assign(observed_at=utc_naive(observations["observed_at"]))
    grouped = seen.groupby(["video_id", "region"])["observed_at"]
    return pd.DataFrame({"first_seen": grouped.min(), "last_seen": grouped.max()}).reset_index()


_LABEL = "CASE WHEN grouping({col}) = 1 THEN '{all}' ELSE {col} END AS {col}"
_REGION = _LABEL.format(col="region", all=ALL)
_CATEGORY = _LABEL.format(col="category", all=ALL)
_SETS = "GROUPING SETS ((region, category), (region), (category), ())"

# A file of the first release: its mentions get the layout without a key (and their videos' time, region and
# category, which that release could leave stale), its rollups are dropped and rebuilt once from the mentions.
_LEGACY_MIGRATION = (
    """CREATE TABLE keyword_mentions_v1 AS
    SELECT m.video_id, m.keyword, m.modality, m.display, m.weight, m.is_generic, v.posted_at, v.region, v.category
    FROM keyword_mentions m JOIN videos v USING (video_id)""",
    "DROP TABLE keyword_mentions",
    "ALTER TABLE keyword_mentions_v1 RENAME TO keyword_mentions",
    "DROP TABLE keyword_buckets",
    "DROP TABLE IF EXISTS rollup_queue",
    "DELETE FROM bucket_totals",
)


def _path_of(url: str) -> Path:
    if not url.startswith("duckdb://"):
        raise StoreError(f"not a DuckDB URL: {url!r}; expected duckdb:///path/to/file.duckdb")
    raw = url.removeprefix("duckdb://")
    # SQLAlchemy's convention: duckdb:///relative/x.duckdb and duckdb:////absolute/x.duckdb.
    path = raw[1:] if raw.startswith("/") else raw
    if not path:
        raise StoreError(f"the DuckDB URL {url!r} names no file; expected duckdb:///path/to/file.duckdb")
    return Path(path)


# What each observation added to a video's counters since its previous one (a first observation adds from 0),
# in the bucket of the observation: the engagement velocity known at that moment. A running max, not lag(),
# so a missing counter in one observation does not count its whole value twice.
_GAIN_COLUMNS = ", ".join(f"greatest(coalesce({c}, 0) - coalesce(max({c}) OVER seen, 0), 0) AS {c}" for c in COUNTERS)
_GAINS = f"""
    obs AS (
        SELECT video_id, observed_at, {_GAIN_COLUMNS}
        FROM video_stats WHERE observed_at < $end
        WINDOW seen AS (PARTITION BY video_id ORDER BY observed_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    gains AS (
        SELECT date_trunc($grain, observed_at) AS bkt, video_id, {", ".join(f"sum({c}) AS {c}" for c in COUNTERS)}
        FROM obs WHERE observed_at >= $start GROUP BY ALL
    )
"""  # noqa: S608 - composed from fixed names

_KEYWORD_VELOCITY = f"""
    WITH {_GAINS},
    kw AS (
        SELECT DISTINCT video_id, keyword, modality, region, category FROM keyword_mentions
        WHERE $generic OR NOT is_generic
        UNION ALL
        SELECT DISTINCT video_id, keyword, '{ALL}', region, category FROM keyword_mentions
        WHERE $generic OR NOT is_generic
    ),
    grouped AS (
        SELECT g.bkt AS bucket, k.keyword, {_REGION.replace("region", "k.region", 2)},
               {_CATEGORY.replace("category", "k.category", 2)}, k.modality,
               {", ".join(f"sum(g.{c}) AS {c}" for c in COUNTERS)}
        FROM gains g JOIN kw k USING (video_id)
        GROUP BY g.bkt, k.keyword, k.modality, GROUPING SETS ((k.region, k.category), (k.region), (k.category), ())
    )
    SELECT * FROM grouped
    WHERE ($region IS NULL OR region = $region) AND ($category IS NULL OR category = $category)
      AND ($modality IS NULL OR modality = $modality)
    ORDER BY bucket, keyword, region, category, modality
"""  # noqa: S608 - composed from fixed names

_TOTAL_VELOCITY = f"""
    WITH {_GAINS}
    SELECT g.bkt AS bucket, {_REGION.replace("region", "v.region", 2)},
           {_CATEGORY.replace("category", "v.category", 2)}, {", ".join(f"sum(g.{c}) AS {c}" for c in COUNTERS)}
    FROM gains g JOIN videos v USING (video_id)
    GROUP BY g.bkt, GROUPING SETS ((v.region, v.category), (v.region), (v.category), ())
    ORDER BY bucket, region, category
"""  # noqa: S608 - composed from fixed names


_HISTORY_COLUMNS = ("region", "category", "modality", "keyword", "as_of", "first_detected_at")

# Per trend key, the videos posted in the window that mention the keyword in the key's slice (``*``: any), ranked
# by the views observed before the window's end: what was known at that moment, the same on every re-run.
_SELECT_EXAMPLES = f"""
    WITH found AS (
        SELECT DISTINCT k.region, k.category, k.modality, k.keyword, m.video_id
        FROM example_keys k JOIN keyword_mentions m ON m.keyword = k.keyword
        WHERE m.posted_at >= $start AND m.posted_at < $end
          AND (k.region = '{ALL}' OR m.region = k.region) AND (k.category = '{ALL}' OR m.category = k.category)
          AND (k.modality = '{ALL}' OR m.modality = k.modality)
    ),
    seen AS (
        SELECT video_id, max(views) AS views FROM video_stats
        WHERE observed_at < $end AND video_id IN (SELECT video_id FROM found)
        GROUP BY video_id
    ),
    ranked AS (
        SELECT f.region, f.category, f.modality, f.keyword, f.video_id, coalesce(s.views, 0) AS views,
               row_number() OVER (
                   PARTITION BY f.region, f.category, f.modality, f.keyword
                   ORDER BY coalesce(s.views, 0) DESC, f.video_id
               ) AS rank
        FROM found f LEFT JOIN seen s USING (video_id)
    )
    SELECT region, category, modality, keyword, rank, video_id, views FROM ranked WHERE rank <= $limit
"""  # noqa: S608 - composed from fixed names

EXAMPLE_COLUMNS = ("region", "category", "modality", "keyword", "rank", "video_id", "views")


def ordered_examples(found: pd.DataFrame) -> pd.DataFrame:
    """Examples in one order and one set of dtypes, whatever the backend returned."""
    frame = found.reindex(columns=list(EXAMPLE_COLUMNS))
    frame = frame.astype({"rank": "int64", "views": "int64"}) if not frame.empty else frame
    return frame.sort_values(["region", "category", "modality", "keyword", "rank"]).reset_index(drop=True)


def example_rows(examples: pd.DataFrame | None, columns: list[str]) -> pd.DataFrame | None:
    """``trend_examples`` rows in the table's column order, or None when there are none."""
    if examples is None or examples.empty:
        return None
    frame = examples.reindex(columns=columns)
    frame["as_of"] = utc_naive(frame["as_of"])
    return frame.astype({"rank": "int32", "views": "int64"})


# A commit is durable once it is in the write-ahead log. DuckDB copies the log into the file (a checkpoint) when
# the log passes this size, and when the store closes. At DuckDB's 16 MiB, almost every commit of a load was a
# checkpoint (0.25-0.8 s for a 120,000-row batch, against 0.1 s for the log alone; docs/storage.md).
CHECKPOINT_MB: Final = 64


class DuckDBStore:
    """A :class:`~tiktrend.store.base.Store` in one DuckDB file."""

    def __init__(self, url: str, *, checkpoint_mb: int = CHECKPOINT_MB) -> None:
        self.url = url
        self.path = _path_of(url)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path))
            # No progress bar on stderr: long statements (a layout upgrade) would fill logs with it.
            self.con.execute("SET enable_progress_bar = false")
            self.con.execute(f"SET checkpoint_threshold = '{int(checkpoint_mb)}MiB'")
        except (OSError, duckdb.Error) as exc:
            raise StoreError(
                f"cannot open the DuckDB store at {self.path}: {exc}. "
                "Check that the directory is writable and that no other tiktrend process holds the file "
                "(set TIKTREND_DATABASE_URL to use another file)."
            ) from exc
        self._prepare_schema()

    def _prepare_schema(self) -> None:
        """Create the tables, or bring a file of an older layout up to this one (refusing a newer one)."""
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        version = self._schema_version() if "tiktrend_schema" in tables else (0 if "videos" in tables else None)
        if version is not None and version > DUCKDB_SCHEMA_VERSION:
            raise StoreError(
                f"the DuckDB store at {self.path} has layout version {version}, newer than this tiktrend knows "
                f"({DUCKDB_SCHEMA_VERSION}): install the tiktrend release that wrote it, or use another file."
            )
        self.con.begin()
        if version == 0:
            for statement in _LEGACY_MIGRATION:
                self.con.execute(statement)
        # Version 4: tables loads append to lose their index; DuckDB drops a key only with its table.
        reindexed = [t for t in UNINDEXED if t in tables] if version is not None and version < 4 else []
        for table in reindexed:
            self.con.execute(f"ALTER TABLE {table} RENAME TO {table}_v3")
        for statement in (*DDL, *keyword_lookup.DDL, *COLLECT_DDL, *ALERTS_DDL):
            self.con.execute(statement)
        for table in reindexed:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM {table}_v3")  # noqa: S608 - fixed names
            self.con.execute(f"DROP TABLE {table}_v3")
        if version is not None and version < 2:
            # Trends stored before version 2 keep an unknown first detection (NULL: their as_of is the earliest known).
            self.con.execute("ALTER TABLE trends ADD COLUMN IF NOT EXISTS first_detected_at TIMESTAMP")
        if version in (1, 2):
            # Version 3: the kept top videos and the copy ordered by keyword, made once from what is stored.
            for statement in ("DELETE FROM keyword_top", _ROLLUP.top_fill(), *keyword_lookup.COMPACT):
                self.con.execute(statement)
        for number, name in DUCKDB_LAYOUTS.items():
            if version is None or version < number:
                self.con.execute(
                    "INSERT INTO tiktrend_schema VALUES (?, ?, ?, ?)",
                    [number, name, _naive(datetime.now(tz=UTC)), __version__],
                )
        if version == 0:
            self.con.execute("INSERT INTO rollup_videos SELECT video_id FROM videos")
        self.con.commit()
        if version == 0:
            self.refresh_rollups()  # the queue holds every video: a full rebuild, once

    def _schema_version(self) -> int:
        return self._scalar("SELECT max(version) FROM tiktrend_schema")

    def layout_version(self) -> int:
        """The layout version of this file (``tiktrend_schema``)."""
        return self._schema_version()

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- loads -------------------------------------------------------------------------------------------

    def load_batch(self, videos: pd.DataFrame, mentions: pd.DataFrame) -> LoadResult:
        if videos.empty:
            return LoadResult()
        batch = prepare_batch(videos, mentions)
        con = self.con
        # Arrow tables: DuckDB scans them without converting each string.
        staged = {
            "batch_videos": batch.videos,
            "batch_stats": batch.stats,
            "batch_mentions": batch.mentions,
            "batch_regions": region_sightings(videos),
        }
        try:
            for name, frame in staged.items():
                con.register(name, pa.Table.from_pandas(frame, preserve_index=False))
            con.begin()
            for statement in _ROLLUP.queue_before("batch_videos"):
                con.execute(statement)
            con.execute(_BATCH_KNOWN)
            known, updated = self._known()
            con.execute(_INSERT_NEW_VIDEOS)
            if known:
                for statement in (_UPDATE_KNOWN_HASHTAGS, _UPDATE_KNOWN_VIDEOS, _UPDATE_STATS, _UPDATE_REGIONS):
                    con.execute(statement)
                stats_new = self._scalar(_INSERT_MISSING_STATS)
                con.execute(_INSERT_MISSING_REGIONS)
            else:
                stats_new = self._scalar(_INSERT_STATS)
                con.execute(_INSERT_REGIONS)
            mentions_new = self._scalar(_INSERT_NEW_MENTIONS)
            if known:
                # Attributes first: they find the mentions at the time the videos had before this load.
                con.execute(_MENTION_ATTRIBUTES)
                con.execute(_FOLLOW_VIDEOS)
                mentions_new += self._scalar(_INSERT_KNOWN_MENTIONS)
            con.commit()
        except BaseException:
            _rollback(con)
            raise
        finally:
            for name in staged:
                con.unregister(name)
        return LoadResult(
            videos_new=len(batch.videos) - known,
            videos_updated=updated,
            stats_new=stats_new,
            mentions_new=mentions_new,
        )

    def _known(self) -> tuple[int, int]:
        rows = self.con.execute("SELECT count(*), count(*) FILTER (WHERE is_updated) FROM batch_known").fetchall()
        return int(rows[0][0]), int(rows[0][1])

    # ---- collection: external trend lists ----------------------------------------------------------------

    def load_external_trends(self, rows: pd.DataFrame) -> int:
        """Upsert trend-list rows (``EXTERNAL_TREND_COLUMNS``); the latest reading of a list's day wins."""
        if rows.empty:
            return 0
        frame = rows.reindex(columns=list(EXTERNAL_TREND_COLUMNS)).copy()
        frame["listed_at"] = utc_naive(frame["listed_at"])
        frame["list_date"] = pd.to_datetime(frame["list_date"]).dt.date
        frame = frame.drop_duplicates(list(KEYS["external_trends"]), keep="last")
        columns = ", ".join(EXTERNAL_TREND_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in EXTERNAL_TREND_COLUMNS if c not in KEYS["external_trends"])
        self.con.register("batch_trends", frame)
        try:
            self.con.execute(
                f"INSERT INTO external_trends ({columns}) SELECT {columns} FROM batch_trends "  # noqa: S608
                f"ON CONFLICT DO UPDATE SET {updates}"
            )
        finally:
            self.con.unregister("batch_trends")
        return len(frame)

    def creative_center_frame(
        self, *, kind: str | None = None, region: str | None = None, period_days: int | None = None
    ) -> pd.DataFrame:
        """Creative Center list entries (``keyword``, ``listed_at``, ``region``, ``rank``, ...), oldest first."""
        sql = (
            "SELECT * FROM external_trends WHERE source = 'creative_center' "
            "AND ($kind IS NULL OR kind = $kind) AND ($region IS NULL OR region = $region) "
            "AND ($period IS NULL OR period_days = $period) ORDER BY listed_at, kind, region, rank"
        )
        return self.con.execute(sql, {"kind": kind, "region": region, "period": period_days}).df()

    def load_quarantine(self, rows: pd.DataFrame) -> int:
        if rows.empty:
            return 0
        frame = rows[["batch_id", "position", "source", "format", "reason", "excerpt"]].copy()
        frame["quarantined_at"] = datetime.now(tz=UTC).replace(tzinfo=None)
        self.con.register("batch_quarantine", frame)
        try:
            before = self._scalar("SELECT count(*) FROM quarantine")
            # The first time a record was quarantined is the fact worth keeping.
            self.con.execute("INSERT INTO quarantine SELECT * FROM batch_quarantine ON CONFLICT DO NOTHING")
            return self._scalar("SELECT count(*) FROM quarantine") - before
        finally:
            self.con.unregister("batch_quarantine")

    def refresh_rollups(self) -> int:
        con = self.con
        if self._scalar("SELECT count(*) FROM (SELECT 1 FROM rollup_videos LIMIT 1)") == 0:
            return 0
        written = appended = 0
        try:
            con.begin()
            for statement in (*_ROLLUP.signed(), keyword_lookup.NEXT_REFRESH):
                con.execute(statement)
            for grain in GRAINS:
                for statement in _ROLLUP.per_grain(grain):
                    if statement == "DROP TABLE rollup_delta":  # what changed goes to the copy first
                        appended += sum(self._scalar(add) for add in keyword_lookup.append(grain))
                    if statement.startswith(_ROLLUP_WRITES):
                        written += self._scalar(statement)
                    else:
                        con.execute(statement)
            for statement in (*_ROLLUP.top(), *_ROLLUP.finish()):
                if statement.startswith("INSERT INTO keyword_top"):
                    appended += self._scalar(statement)
                else:
                    con.execute(statement)
            con.execute("UPDATE keyword_lookup_state SET appended_rows = appended_rows + ?", [appended])
            self._compact_if_due()
            con.commit()
        except BaseException:
            _rollback(con)
            raise
        return written

    def _compact_if_due(self) -> None:
        """Rewrite the keyword-ordered copy once enough rows were appended to it (``keyword_lookup``)."""
        found = self.con.execute("SELECT sorted_rows, appended_rows FROM keyword_lookup_state").fetchall()
        if found and keyword_lookup.due(*found[0]):
            for statement in keyword_lookup.COMPACT:
                self.con.execute(statement)

    def rebuild_rollups(self) -> int:
        """Recompute every rollup from the stored mentions (a check or a repair; loads never need it)."""
        self.con.begin()
        for statement in (*_ROLLUP.rebuild(), "DELETE FROM keyword_lookup"):
            self.con.execute(statement)
        self.con.execute("UPDATE keyword_lookup_state SET sorted_rows = 0, appended_rows = 0")
        self.con.commit()
        return self.refresh_rollups()

    # ---- queries -----------------------------------------------------------------------------------------

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
        statement = bucket_rows(region=region, category=category, modality=modality, include_generic=include_generic)
        params: dict[str, Any] = {"grain": grain, "start": _naive(start), "end": _naive(end)}
        for name, value in (("region", region), ("category", category)):
            if value is not None and value != ALL:
                params[name] = value
        if modality is not None:
            params["modality"] = modality
        order = " ORDER BY g.bucket, g.keyword, g.region, g.category, g.modality"
        return self.con.execute(statement + order, params).df()

    def totals_frame(self, grain: str, start: datetime, end: datetime) -> pd.DataFrame:
        sql = (
            "SELECT * FROM bucket_totals WHERE grain = $grain AND bucket >= $start AND bucket < $end "
            "ORDER BY bucket, region, category"
        )
        return self.con.execute(sql, {"grain": grain, "start": _naive(start), "end": _naive(end)}).df()

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
        params = {
            "grain": grain,
            "start": _naive(start),
            "end": _naive(end),
            "region": region,
            "category": category,
            "modality": modality,
            "generic": include_generic,
        }
        return self.con.execute(_KEYWORD_VELOCITY, params).df()

    def velocity_totals_frame(self, grain: str, start: datetime, end: datetime) -> pd.DataFrame:
        if grain not in GRAINS:
            raise ValueError(f"grain must be one of {sorted(GRAINS)}, not {grain!r}")
        params = {"grain": grain, "start": _naive(start), "end": _naive(end)}
        return self.con.execute(_TOTAL_VELOCITY, params).df()

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
        sql = """
            SELECT keyword, video_id, author, views, caption, video_url FROM (
                SELECT DISTINCT m.keyword, v.video_id, v.author, v.views, v.caption, v.video_url, v.posted_at
                FROM keyword_mentions m JOIN videos v USING (video_id)
                WHERE m.keyword IN (SELECT unnest($keywords)) AND m.posted_at >= $start AND m.posted_at < $end
                  AND ($region IS NULL OR $region = '*' OR m.region = $region)
                  AND ($category IS NULL OR $category = '*' OR m.category = $category)
            )
            QUALIFY row_number() OVER (PARTITION BY keyword ORDER BY views DESC NULLS LAST, video_id) <= $limit
            ORDER BY keyword, views DESC NULLS LAST, video_id
        """
        params = {
            "keywords": list(keywords),
            "start": _naive(start),
            "end": _naive(end),
            "region": region,
            "category": category,
            "limit": limit,
        }
        return self.con.execute(sql, params).df()

    def time_range(self) -> tuple[datetime, datetime] | None:
        rows = self.con.execute("SELECT min(posted_at), max(posted_at) FROM keyword_mentions").fetchall()
        row = rows[0] if rows else None
        if row is None or row[0] is None:
            return None
        return row[0].replace(tzinfo=UTC), row[1].replace(tzinfo=UTC)

    def save_trends(self, trends: pd.DataFrame, run_id: str, examples: pd.DataFrame | None = None) -> int:
        if trends.empty:
            return 0
        frame = trends.copy()
        frame["as_of"] = utc_naive(frame["as_of"])
        frame["run_id"] = run_id
        columns = [c for c in self._columns("trends")]
        frame = frame.reindex(columns=columns)
        frame["first_detected_at"] = utc_naive(frame["first_detected_at"])  # NULL when the caller had none
        value_columns = [c for c in columns if c != "run_id"]
        cols = ", ".join(value_columns)
        shown = example_rows(examples, self._columns("trend_examples"))
        self.con.register("new_trends", frame)
        try:
            self.con.begin()
            # Only rows whose content changed are touched: re-running a detection on the same data is a no-op.
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE trend_scopes AS "
                "SELECT DISTINCT as_of, time_window, detector FROM new_trends"
            )
            removed = self._scalar(
                f"SELECT count(*) FROM (SELECT {cols} FROM trends "  # noqa: S608 - fixed column names
                "SEMI JOIN trend_scopes USING (as_of, time_window, detector) "
                f"EXCEPT SELECT {cols} FROM new_trends)"
            )
            self.con.execute(
                f"DELETE FROM trends WHERE (as_of, time_window, detector) IN "  # noqa: S608
                "(SELECT (as_of, time_window, detector) FROM trend_scopes) "
                f"AND ({cols}) NOT IN (SELECT ({cols}) FROM new_trends)"
            )
            self.con.execute(
                f"INSERT INTO trends SELECT * FROM new_trends WHERE ({cols}) NOT IN "  # noqa: S608
                f"(SELECT ({cols}) FROM trends)"
            )
            self._save_examples(shown)
            self.con.execute("DROP TABLE trend_scopes")
            self.con.commit()
        except BaseException:
            _rollback(self.con)
            raise
        finally:
            self.con.unregister("new_trends")
        return removed

    def _save_examples(self, examples: pd.DataFrame | None) -> None:
        """Make the examples of the scopes in ``trend_scopes`` equal ``examples`` (changed rows only)."""
        if examples is None:
            self.con.execute(
                "DELETE FROM trend_examples WHERE (as_of, time_window, detector) IN "
                "(SELECT (as_of, time_window, detector) FROM trend_scopes)"
            )
            return
        self.con.register("new_examples", examples)
        try:
            self.con.execute(
                "DELETE FROM trend_examples WHERE (as_of, time_window, detector) IN "
                "(SELECT (as_of, time_window, detector) FROM trend_scopes) "
                "AND (as_of, time_window, detector, region, category, modality, keyword, rank, video_id, views) "
                "NOT IN (SELECT (as_of, time_window, detector, region, category, modality, keyword, rank, video_id, "
                "views) FROM new_examples)"
            )
            self.con.execute(
                "INSERT INTO trend_examples SELECT * FROM new_examples WHERE "
                "(as_of, time_window, detector, region, category, modality, keyword, rank) NOT IN "
                "(SELECT (as_of, time_window, detector, region, category, modality, keyword, rank) FROM trend_examples)"
            )
        finally:
            self.con.unregister("new_examples")

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
        sql = """
            WITH latest AS (
                SELECT time_window, detector, max(as_of) AS as_of FROM trends
                WHERE ($window IS NULL OR time_window = $window) AND ($detector IS NULL OR detector = $detector)
                GROUP BY time_window, detector
            )
            SELECT t.* FROM trends t JOIN latest USING (time_window, detector, as_of)
            WHERE ($region IS NULL OR t.region = $region) AND ($category IS NULL OR t.category = $category)
              AND ($modality IS NULL OR t.modality = $modality)
            ORDER BY t.time_window, t.detector, t.region, t.category, t.modality, t.rank, t.keyword
            LIMIT $limit
        """
        params = {
            "window": window,
            "detector": detector,
            "region": region,
            "category": category,
            "modality": modality,
            "limit": limit,
        }
        return self.con.execute(sql, params).df()

    def trend_history(
        self, *, time_window: str, detector: str, keywords: list[str], start: datetime, end: datetime
    ) -> pd.DataFrame:
        sql = f"""
            SELECT {", ".join(_HISTORY_COLUMNS)} FROM trends
            WHERE time_window = $window AND detector = $detector AND as_of >= $start AND as_of < $end
              AND keyword IN (SELECT unnest($keywords))
            ORDER BY {", ".join(_HISTORY_COLUMNS)}
        """  # noqa: S608 - fixed column names
        params = {
            "window": time_window,
            "detector": detector,
            "keywords": list(keywords),
            "start": _naive(start),
            "end": _naive(end),
        }
        return self.con.execute(sql, params).df()

    def select_examples(self, keys: pd.DataFrame, start: datetime, end: datetime, limit: int = 3) -> pd.DataFrame:
        frame = keys[["region", "category", "modality", "keyword"]].drop_duplicates().reset_index(drop=True)
        self.con.register("example_keys", frame)
        try:
            found = self.con.execute(
                _SELECT_EXAMPLES, {"start": _naive(start), "end": _naive(end), "limit": limit}
            ).df()
        finally:
            self.con.unregister("example_keys")
        return ordered_examples(found)

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
        sql = """
            SELECT e.*, v.author, v.caption, v.video_url FROM trend_examples e LEFT JOIN videos v USING (video_id)
            WHERE e.as_of = $as_of AND e.time_window = $window AND e.detector = $detector
              AND ($region IS NULL OR e.region = $region) AND ($category IS NULL OR e.category = $category)
              AND ($modality IS NULL OR e.modality = $modality)
            ORDER BY e.region, e.category, e.modality, e.keyword, e.rank
        """
        params = {
            "as_of": _naive(as_of),
            "window": time_window,
            "detector": detector,
            "region": region,
            "category": category,
            "modality": modality,
        }
        return self.con.execute(sql, params).df()

    # ---- runs and metrics --------------------------------------------------------------------------------

    def start_run(self, run_id: str, command: str, params: dict[str, Any]) -> None:
        self.con.execute(
            "INSERT INTO runs (run_id, command, params, started_at, status) VALUES (?, ?, ?, ?, 'running')",
            [run_id, command, json.dumps(params, default=str, sort_keys=True), _naive(datetime.now(tz=UTC))],
        )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any], error: str | None = None) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, summary = ?, error = ? WHERE run_id = ?",
            [
                _naive(datetime.now(tz=UTC)),
                status,
                json.dumps(summary, default=str, sort_keys=True),
                error,
                run_id,
            ],
        )

    def record_metrics(self, run_id: str, stage: str, metrics: dict[str, float]) -> None:
        rows = [(run_id, stage, name, float(value)) for name, value in metrics.items()]
        if rows:
            self.con.executemany(
                "INSERT INTO pipeline_metrics VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
                rows,
            )

    def table_counts(self) -> dict[str, int]:
        return self._counts(TABLES)

    def snapshot(self, table: str) -> pd.DataFrame:
        if table not in KEYS:
            raise ValueError(f"unknown table {table!r}")
        order = ", ".join(KEYS[table])
        return self.con.execute(f"SELECT * FROM {table} ORDER BY {order}").df()  # noqa: S608 - fixed names

    def read(self, statement: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """One read-only query with ``$name`` parameters, on a cursor of its own (safe from any thread)."""
        cursor = self.con.cursor()
        try:
            return cursor.execute(statement, used(statement, params)).df()
        finally:
            cursor.close()

    def read_batches(
        self, statement: str, params: Mapping[str, Any] | None = None, *, rows: int = 50_000
    ) -> Iterator[pa.RecordBatch]:
        """The same, streamed as Arrow batches of at most ``rows`` rows."""
        cursor = self.con.cursor()
        try:
            yield from stream_batches(cursor, statement, used(statement, params), rows)
        finally:
            cursor.close()

    # ---- helpers -----------------------------------------------------------------------------------------

    def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> int:
        # fetchall, not fetchone: DuckDB refuses new work while a result is only partly fetched.
        rows = self.con.execute(sql, params or {}).fetchall()
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def _counts(self, tables: tuple[str, ...]) -> dict[str, int]:
        return {t: self._scalar(f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608 - fixed names

    def _columns(self, table: str) -> list[str]:
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return [r[0] for r in rows]


def stream_batches(
    cursor: duckdb.DuckDBPyConnection, statement: str, params: dict[str, Any], rows: int
) -> Iterator[pa.RecordBatch]:
    """A query's result as Arrow batches of at most ``rows`` rows, never all of it in memory."""
    yield from cursor.sql(statement, params=params).to_arrow_reader(rows)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back, unless the failure (a Ctrl-C inside a query, say) already ended the transaction."""
    # The original exception, re-raised by the caller, is the one worth seeing.
    with contextlib.suppress(duckdb.TransactionException):
        con.rollback()
