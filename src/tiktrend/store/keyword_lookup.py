"""DuckDB's copy of the rollups ordered by keyword, so one keyword's rows are read without scanning them all.

``keyword_rollup`` is laid out in the order refreshes write it (roughly by time), which suits the detectors'
reads of recent buckets; one keyword's rows are spread over the whole table, and DuckDB has no index it
uses well here (fetching a head keyword's thousands of compressed rows by row id costs more than a scan).
``keyword_lookup`` keeps the same rows sorted by ``kid`` (:func:`~tiktrend.store.rollup_sql.keyword_id` of the
keyword and grain), so DuckDB's per-row-group min/max skips all but the few row groups holding a keyword.

It is a log-structured copy:

- each refresh appends what it changed: the signed deltas of the rollup rows (``display`` empty) and, per
  bucket and keyword whose spelling was chosen again, a row holding that spelling (``modality`` empty), each
  tagged with the refresh's number (``seq``);
- a read sums a keyword's rows per key, keeps keys whose videos are not zero, and takes each bucket's
  spelling from its latest row: exactly what ``keyword_rollup`` holds;
- appended rows are not in order, so every read also scans them; once they outnumber half the sorted rows
  (and ``COMPACT_MIN``), the refresh rewrites the copy from ``keyword_rollup`` in order, and re-sorts
  ``keyword_top`` (which a refresh changes by deleting and appending rows) the same way. A rewrite costs a
  sort of the table, so its cost per appended row stays constant as the table grows.

PostgreSQL needs none of this: its B-trees on the keyword serve the same reads.
"""

from __future__ import annotations

from typing import Final

from tiktrend.models import COUNTERS
from tiktrend.store.rollup_sql import kid_sql

# Appended rows (of both tables) that trigger a rewrite, at least: small stores are never rewritten.
COMPACT_MIN: Final = 500_000
# ... and at least this share of the sorted rows.
COMPACT_SHARE: Final = 0.5

SUMS: Final = ("generic_videos", "mention_micros", "videos", *COUNTERS)
_SUM_NAMES: Final = ", ".join(SUMS)

DDL: Final = (
    # The rollup's columns and types, with the keyword id and the refresh's number.
    f"""
    CREATE TABLE IF NOT EXISTS keyword_lookup AS
    SELECT CAST(0 AS BIGINT) AS kid, bucket, grain, keyword, region, category, modality, display,
           CAST(0 AS BIGINT) AS seq, {_SUM_NAMES}
    FROM keyword_rollup LIMIT 0""",  # noqa: S608 - fixed names only
    """
    CREATE TABLE IF NOT EXISTS keyword_lookup_state (
        sorted_rows BIGINT NOT NULL,
        appended_rows BIGINT NOT NULL,
        seq BIGINT NOT NULL
    )""",
    "INSERT INTO keyword_lookup_state SELECT 0, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM keyword_lookup_state)",
)

NEXT_REFRESH: Final = "UPDATE keyword_lookup_state SET seq = seq + 1"
_SEQ: Final = "(SELECT seq FROM keyword_lookup_state)"


def append(grain: str) -> tuple[str, ...]:
    """What one grain's refresh changed (``rollup_delta``, ``rollup_winners``), appended to the copy."""
    zeros = ", ".join("0" for _ in SUMS)
    return (
        f"""INSERT INTO keyword_lookup
        SELECT {kid_sql("duckdb", "keyword", repr(grain))}, bucket, '{grain}', keyword, region, category, modality,
               '', {_SEQ}, {_SUM_NAMES}
        FROM rollup_delta""",  # noqa: S608 - fixed names only
        f"""INSERT INTO keyword_lookup
        SELECT {kid_sql("duckdb", "keyword", repr(grain))}, bucket, '{grain}', keyword, '', '', '', display, {_SEQ},
               {zeros}
        FROM rollup_winners""",  # noqa: S608 - fixed names only
    )


def due(sorted_rows: int, appended_rows: int) -> bool:
    """Whether the appended rows are enough to rewrite the copy in order."""
    return appended_rows >= max(COMPACT_MIN, COMPACT_SHARE * sorted_rows)


COMPACT: Final = (
    f"""CREATE OR REPLACE TABLE keyword_lookup AS
    SELECT {kid_sql("duckdb", "keyword", "grain")} AS kid, bucket, grain, keyword, region, category, modality, display,
           CAST(0 AS BIGINT) AS seq, {_SUM_NAMES}
    FROM keyword_rollup ORDER BY kid, bucket""",  # noqa: S608 - fixed names only
    "CREATE OR REPLACE TABLE keyword_top AS SELECT * FROM keyword_top ORDER BY kid, bucket",
    """UPDATE keyword_lookup_state SET appended_rows = 0,
    sorted_rows = (SELECT count(*) FROM keyword_lookup) + (SELECT count(*) FROM keyword_top)""",
)


def rows(ids: str, keywords: str, *, display: bool = True) -> str:
    """``keyword_rollup``'s rows of some keywords, as a subquery: ``ids`` and ``keywords`` are IN clauses
    on ``kid`` and ``keyword`` (the ids find the row groups, the keywords rule out a shared id).

    ``display=False`` leaves the spelling out (empty): one scan instead of two, for reads that do not show it.
    """
    sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in SUMS)
    summed = f"""
        SELECT bucket, grain, keyword, region, category, modality, {sums}
        FROM keyword_lookup WHERE {ids} AND {keywords} AND modality <> ''
        GROUP BY bucket, grain, keyword, region, category, modality
        HAVING sum(videos) <> 0"""  # noqa: S608 - fixed names; the clauses hold bound parameters only
    if not display:
        columns = f"bucket, grain, keyword, region, category, modality, '' AS display, {_SUM_NAMES}"
        return f"(SELECT {columns} FROM ({summed}) r)"  # noqa: S608 - fixed names; bound parameters only
    return f"""(
        SELECT r.bucket, r.grain, r.keyword, r.region, r.category, r.modality, coalesce(s.display, '') AS display,
               {", ".join(f"r.{c}" for c in SUMS)}
        FROM ({summed}) r
        LEFT JOIN (
            SELECT bucket, grain, keyword, arg_max(display, seq) AS display
            FROM keyword_lookup WHERE {ids} AND {keywords} AND display <> ''
            GROUP BY bucket, grain, keyword
        ) s ON s.bucket = r.bucket AND s.grain = r.grain AND s.keyword = r.keyword
    )"""  # noqa: S608 - fixed names; the clauses hold bound parameters only
