"""Incremental rollups, in the SQL both DuckDB and PostgreSQL run: each refresh applies what changed.

A load records which videos it touched and, the first time each is touched, what the video and its
mentions looked like before (``rollup_before_*``). A refresh adds what those videos contribute now and
subtracts what they contributed before. Every stored sum is an integer (weights in micro-units, videos,
videos flagged generic, counters), so the result equals a full recomputation exactly, and the work follows
the videos loaded, never the size of the tables.

``keyword_rollup`` holds only the finest slices: a real region and category, per modality and for all of a
video's modalities folded (``*``). A video has one region and one category, so the ``*`` region and
category rows are plain sums of those; reads compute them (``keyword_buckets``), which keeps maintenance at
two rows per video, keyword and grain instead of eight.

``keyword_top`` keeps the most viewed videos of each keyword, day, region and category (``TOP_VIDEOS`` of
them), so a keyword's example videos are read from a few rows instead of joining all its mentions with the
videos. A refresh merges the kept videos of each touched group with the loaded videos; a group is read again
from the mentions only when one of its kept videos dropped in views or left it (see :meth:`RollupSQL.top`).

DuckDB keeps ``keyword_top`` in the order of ``kid``, an integer id of the keyword (``keyword_lookup``), so
one keyword's rows are found by row-group min/max. PostgreSQL's primary key leads with the keyword.
"""

from __future__ import annotations

import hashlib
from typing import Final

from tiktrend.models import COUNTERS
from tiktrend.store.base import ALL, GRAINS

MICROS: Final = 1_000_000
SETS: Final = "GROUPING SETS ((region, category), (region), (category), ())"
_C: Final = ", ".join(COUNTERS)
_SIGNED_SUMS: Final = ", ".join(f"sum(sign * coalesce({c}, 0)) AS {c}" for c in COUNTERS)
_ANY_CHANGE: Final = " OR ".join(f"sum(sign * coalesce({c}, 0)) <> 0" for c in COUNTERS)


# Videos kept per keyword, day, region and category: the most example videos a keyword detail can show.
TOP_VIDEOS: Final = 20
TOP_COLUMNS: Final = "keyword, bucket, region, category, video_id, rank_views, modalities"
ROLLUP_KEY: Final = ("bucket", "grain", "keyword", "region", "category", "modality")


def keyword_id(keyword: str, grain: str = "day") -> int:
    """The id of a keyword's rows of one grain: 60 bits of the MD5 of ``keyword|grain`` (as :func:`kid_sql`)."""
    return int(hashlib.md5(f"{keyword}|{grain}".encode()).hexdigest()[:15], 16)


def kid_sql(dialect: str, keyword: str = "keyword", grain: str = "'day'") -> str:
    """:func:`keyword_id` in SQL, for a keyword and a grain expression (the same integer in both engines)."""
    text = f"md5({keyword} || '|' || {grain})"
    if dialect == "postgres":
        return f"('x' || substr({text}, 1, 15))::bit(60)::bigint"
    return f"CAST(('0x' || {text}[1:15]) AS BIGINT)"


def _best(members: str) -> str:
    """The ``TOP_VIDEOS`` most viewed of each group (keyword, day, region, category) of ``members``' rows."""
    return f"""SELECT {TOP_COLUMNS} FROM (
        SELECT c.*, row_number() OVER (
            PARTITION BY keyword, bucket, region, category ORDER BY rank_views DESC, video_id
        ) AS place FROM ({members}) c
    ) ranked WHERE place <= {TOP_VIDEOS}"""  # noqa: S608 - fixed names only


def label(column: str, prefix: str = "") -> str:
    """The grouping-set column: its value, or ``*`` in rows that aggregate over it."""
    return f"CASE WHEN grouping({prefix}{column}) = 1 THEN '{ALL}' ELSE {prefix}{column} END AS {column}"


def micro_weight(column: str = "weight") -> str:
    """A weight as whole micro-units (the same IEEE arithmetic in both engines)."""
    return f"CAST(floor({column} * {MICROS} + 0.5) AS BIGINT)"


class RollupSQL:
    """The statements of one dialect (``postgres`` or ``duckdb``); they differ only in temporary tables."""

    # What PostgreSQL changes for some statements of a batch's transaction, where hash and merge joins are off
    # so that stored tables are read by key (``postgres._BATCH_SETTINGS``):
    # - joins of two batch-sized tables and no stored one are hashed;
    # - the before-state's mentions are joined in the written order, queued videos, then ``videos`` by key,
    #   then ``keyword_mentions`` by key. The planner estimates ``videos`` joined with the mentions on
    #   (video_id, posted_at) at a few rows, as if the two columns were independent, and planned that join
    #   first, over a scan of every stored mention, then looped over it per queued video (a 1.2M-row batch
    #   into a 1M-row store ran for over 11 minutes).
    POSTGRES_SETTINGS: Final = {
        "INSERT INTO keyword_rollup ": ("enable_hashjoin", "on"),
        "CREATE TEMP TABLE top_fallen ": ("enable_hashjoin", "on"),
        "CREATE TEMP TABLE top_candidates ": ("enable_hashjoin", "on"),
        "CREATE TEMP TABLE top_drop ": ("enable_hashjoin", "on"),
        "INSERT INTO rollup_before_mentions": ("join_collapse_limit", "1"),
    }

    @classmethod
    def postgres_setting(cls, statement: str) -> tuple[str, str] | None:
        """The setting PostgreSQL runs ``statement`` under, if it needs one (``POSTGRES_SETTINGS``)."""
        return next((setting for start, setting in cls.POSTGRES_SETTINGS.items() if statement.startswith(start)), None)

    def __init__(self, dialect: str) -> None:
        if dialect not in ("postgres", "duckdb"):
            raise ValueError(f"unknown dialect {dialect!r}")
        self.dialect = dialect

    def temp(self, name: str, select: str) -> str:
        """A temporary table from a query: dropped at commit in PostgreSQL, replaced when made again in DuckDB."""
        if self.dialect == "postgres":
            return f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}"
        return f"CREATE OR REPLACE TEMP TABLE {name} AS {select}"

    # ---- what a load records before it changes anything ------------------------------------------------------

    def queue_before(self, batch: str) -> tuple[str, ...]:
        """Videos of ``batch`` not queued since the last refresh: remember how they were, then queue them."""
        return (
            self.temp(
                "newly_queued",
                f"SELECT b.video_id FROM {batch} b "  # noqa: S608 - fixed names
                "WHERE NOT EXISTS (SELECT 1 FROM rollup_videos q WHERE q.video_id = b.video_id)",
            ),
            f"""INSERT INTO rollup_before_videos
            SELECT v.video_id, v.posted_at, v.region, v.category, {", ".join(f"v.{c}" for c in COUNTERS)}
            FROM videos v JOIN newly_queued n ON n.video_id = v.video_id""",  # noqa: S608 - fixed names only
            f"""INSERT INTO rollup_before_mentions
            SELECT m.video_id, m.keyword, m.modality, m.display, m.weight, m.is_generic
            FROM newly_queued n JOIN {self._before_source()} b ON b.video_id = n.video_id
            JOIN keyword_mentions m ON m.video_id = b.video_id AND m.posted_at = b.posted_at""",  # noqa: S608
            "INSERT INTO rollup_videos SELECT video_id FROM newly_queued",
        )

    def _before_source(self) -> str:
        """Where the newly queued videos' stored rows are read from to find their mentions.

        ``rollup_before_videos`` holds exactly the ``videos`` rows of the newly queued videos at this point.
        PostgreSQL reads ``videos`` itself: with hash joins off, the planner underestimated the small queue
        table and rescanned it once per queued video (13 s per 120k-row batch at 1M rows); through the
        primary key of ``videos`` every lookup is an index probe. DuckDB hash-joins the small table.
        """
        return "videos" if self.dialect == "postgres" else "rollup_before_videos"

    # ---- a refresh -------------------------------------------------------------------------------------------

    def signed(self) -> tuple[str, ...]:
        """The queued videos' contributions now (+1) and before (-1), and their mentions."""
        now = ", ".join(f"v.{c}" for c in COUNTERS)
        before = ", ".join(f"b.{c}" for c in COUNTERS)
        videos = self.temp(
            "rollup_signed_videos",
            f"SELECT 1 AS sign, v.video_id, v.posted_at, v.region, v.category, {now} "  # noqa: S608 - fixed names
            "FROM rollup_videos q JOIN videos v ON v.video_id = q.video_id "
            f"UNION ALL SELECT -1, b.video_id, b.posted_at, b.region, b.category, {before} FROM rollup_before_videos b",
        )
        columns = ", ".join(f"s.{c}" for c in COUNTERS)
        mentions = self.temp(
            "rollup_signed_mentions",
            f"SELECT s.sign, s.video_id, s.posted_at, s.region, s.category, {columns}, m.keyword, m.modality, "  # noqa: S608 - fixed names
            f"m.display, {micro_weight('m.weight')} AS micros, CAST(m.is_generic AS INTEGER) AS generic "
            "FROM rollup_signed_videos s "
            "JOIN keyword_mentions m ON m.video_id = s.video_id AND m.posted_at = s.posted_at WHERE s.sign = 1 "
            f"UNION ALL SELECT s.sign, s.video_id, s.posted_at, s.region, s.category, {columns}, m.keyword, "
            f"m.modality, m.display, {micro_weight('m.weight')}, CAST(m.is_generic AS INTEGER) "
            "FROM rollup_signed_videos s JOIN rollup_before_mentions m ON m.video_id = s.video_id WHERE s.sign = -1",
        )
        return videos, mentions

    def per_grain(self, grain: str) -> tuple[str, ...]:
        """Apply the signed contributions to one grain's totals, spellings and keyword rows."""
        if grain not in GRAINS:
            raise ValueError(f"grain must be one of {sorted(GRAINS)}, not {grain!r}")
        bucket = f"date_trunc('{grain}', posted_at)"
        return (
            *self.merge(
                "bucket_totals",
                ("bucket", "grain", "region", "category"),
                f"""SELECT {bucket} AS bucket, '{grain}' AS grain, {label("region")}, {label("category")},
                       sum(sign) AS videos, {_SIGNED_SUMS}
                FROM rollup_signed_videos GROUP BY {bucket}, {SETS}
                HAVING sum(sign) <> 0 OR {_ANY_CHANGE}""",  # noqa: S608 - fixed names
                add=("videos", *COUNTERS),
            ),
            f"""DELETE FROM bucket_totals WHERE grain = '{grain}' AND videos = 0
            AND bucket IN (SELECT DISTINCT {bucket} FROM rollup_signed_videos)""",  # noqa: S608
            self.temp(
                "rollup_spelling_delta",
                f"SELECT {bucket} AS bucket, keyword, display, sum(sign) AS n FROM rollup_signed_mentions "  # noqa: S608 - fixed names
                "GROUP BY 1, keyword, display HAVING sum(sign) <> 0",
            ),
            *self.merge(
                "keyword_spellings",
                ("bucket", "grain", "keyword", "display"),
                f"SELECT bucket, '{grain}' AS grain, keyword, display, n FROM rollup_spelling_delta",  # noqa: S608
                add=("n",),
            ),
            self._keyword_delta(grain, bucket),
            # The spelling most mention rows of the bucket use is the one people recognise ("MatchaLatteArt"),
            # chosen again for every keyword whose rows or spellings changed.
            self.temp(
                "rollup_winners",
                "SELECT DISTINCT ON (s.bucket, s.keyword) s.bucket, s.keyword, s.display FROM keyword_spellings s "  # noqa: S608 - fixed names
                "JOIN (SELECT bucket, keyword FROM rollup_delta "
                "UNION SELECT bucket, keyword FROM rollup_spelling_delta) p "
                f"ON p.bucket = s.bucket AND p.keyword = s.keyword WHERE s.grain = '{grain}' AND s.n > 0 "
                "ORDER BY s.bucket, s.keyword, s.n DESC, s.display",
            ),
            # Only counts that went down can have reached zero.
            f"""DELETE FROM keyword_spellings WHERE grain = '{grain}' AND n = 0
            AND (bucket, keyword, display)
                IN (SELECT bucket, keyword, display FROM rollup_spelling_delta WHERE n < 0)""",  # noqa: S608
            *self.merge(
                "keyword_rollup",
                ROLLUP_KEY,
                f"""SELECT d.bucket, '{grain}' AS grain, d.keyword, d.region, d.category, d.modality,
                       coalesce(w.display, '') AS display, d.generic_videos, d.mention_micros, d.videos,
                       {", ".join(f"d.{c}" for c in COUNTERS)}
                FROM rollup_delta d LEFT JOIN rollup_winners w ON w.bucket = d.bucket AND w.keyword = d.keyword""",  # noqa: S608
                add=("generic_videos", "mention_micros", "videos", *COUNTERS),
                replace=("display",),
            ),
            # Rows of a touched keyword that no loaded video is in can still change spelling.
            f"""UPDATE keyword_rollup SET display = w.display FROM rollup_winners w
            WHERE keyword_rollup.bucket = w.bucket AND keyword_rollup.grain = '{grain}'
              AND keyword_rollup.keyword = w.keyword AND keyword_rollup.display <> w.display""",  # noqa: S608
            f"""DELETE FROM keyword_rollup WHERE grain = '{grain}' AND videos = 0
            AND (bucket, keyword, region, category, modality)
                IN (SELECT bucket, keyword, region, category, modality FROM rollup_delta WHERE videos < 0)""",  # noqa: S608
            "DROP TABLE rollup_delta",
            "DROP TABLE rollup_winners",
            "DROP TABLE rollup_spelling_delta",
        )

    def merge(
        self, table: str, key: tuple[str, ...], select: str, add: tuple[str, ...], replace: tuple[str, ...] = ()
    ) -> tuple[str, ...]:
        """Add the rows of ``select`` (columns ``key``, ``replace``, ``add``) to ``table``.

        A row whose key is stored adds its ``add`` columns to the stored ones and overwrites its ``replace``
        columns; the others are inserted. PostgreSQL does it in one ``INSERT ... ON CONFLICT`` through the
        table's primary key. DuckDB's rollup tables have no index (``schema.UNINDEXED``): the stored rows are
        updated first, then the others inserted, found with a semi join that filters the table's scan by the
        range of the added keys.
        """
        columns = (*key, *replace, *add)
        names = ", ".join(columns)
        stored = table if self.dialect == "postgres" else "t"
        added = "excluded" if self.dialect == "postgres" else "x"
        sets = ", ".join(
            [*(f"{c} = {added}.{c}" for c in replace), *(f"{c} = {stored}.{c} + {added}.{c}" for c in add)]
        )
        if self.dialect == "postgres":
            return (f"INSERT INTO {table} ({names}) {select} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}",)
        same = " AND ".join(f"{{a}}.{c} = {{b}}.{c}" for c in key)
        return (
            self.temp("merge_rows", select),
            f"UPDATE {table} t SET {sets} FROM merge_rows x WHERE {same.format(a='t', b='x')}",  # noqa: S608
            f"""INSERT INTO {table} ({names}) SELECT {", ".join(f"x.{c}" for c in columns)} FROM merge_rows x
            ANTI JOIN (SELECT {", ".join(f"t.{c}" for c in key)} FROM {table} t SEMI JOIN merge_rows y
                       ON {same.format(a="t", b="y")}) t ON {same.format(a="t", b="x")}""",  # noqa: S608
            "DROP TABLE merge_rows",
        )

    def top(self) -> tuple[str, ...]:
        """Bring ``keyword_top`` up to date for the groups (keyword, day, region, category) the queue touched.

        A group's new top is the best ``TOP_VIDEOS`` of its kept videos that were not loaded and of the loaded
        videos in it now. That is the exact top as long as no kept video that was loaded fell: every video
        neither kept nor loaded ranked below all kept ones and has not changed. A group where a kept video
        lost views or left it ("broken") is read again from the mentions. Views break ties by video id, and
        a video without views ranks last (-1). Only rows that differ are deleted and inserted.
        """
        group = ("keyword", "bucket", "region", "category")
        same_group = " AND ".join(f"{{a}}.{c} = {{b}}.{c}" for c in group)
        same_row = same_group + " AND {a}.video_id = {b}.video_id"
        unchanged = same_row + " AND {a}.rank_views = {b}.rank_views AND {a}.modalities = {b}.modalities"

        def member(sign: int) -> str:
            return f"""SELECT keyword, date_trunc('day', min(posted_at)) AS bucket, min(region) AS region,
                   min(category) AS category, video_id, coalesce(min(views), -1) AS rank_views,
                   string_agg(modality, ',' ORDER BY modality) AS modalities
            FROM rollup_signed_mentions WHERE sign = {sign} GROUP BY keyword, video_id"""  # noqa: S608 - fixed names

        keys = ", ".join(group)
        columns = TOP_COLUMNS
        kept = ", ".join(f"k.{c}" for c in columns.split(", "))

        def not_broken(t: str) -> str:
            return f"NOT EXISTS (SELECT 1 FROM top_broken b WHERE {same_group.format(a='b', b=t)})"  # noqa: S608

        return (
            self.temp("top_plus", member(1)),
            self.temp("top_minus", member(-1)),
            self.temp("top_groups", f"SELECT {keys} FROM top_plus UNION SELECT {keys} FROM top_minus"),  # noqa: S608
            # The kept rows of the touched groups, read by key.
            self.temp(
                "top_kept",
                f"""SELECT {", ".join(f"t.{c}" for c in columns.split(", "))} FROM top_groups g
                JOIN keyword_top t ON {same_group.format(a="t", b="g")}""",  # noqa: S608
            ),
            # Kept videos that were loaded and are no longer in their group, or are but with fewer views. The
            # batch's before and now meet first; the kept rows are then found by key. (An anti join of
            # keyword_top's matches with top_plus was planned as a nested loop over top_plus, the five-column
            # match estimated at one row: 70 s of a 97 s refresh at 10M mention rows.)
            self.temp(
                "top_fallen",
                f"""SELECT {", ".join(f"m.{c}" for c in (*group, "video_id"))}, p.rank_views AS now_views
                FROM top_minus m LEFT JOIN top_plus p ON {same_row.format(a="p", b="m")}""",  # noqa: S608
            ),
            self.temp(
                "top_broken",
                f"""SELECT DISTINCT t.keyword, t.bucket, t.region, t.category FROM top_fallen f
                JOIN keyword_top t ON {same_row.format(a="t", b="f")}
                WHERE f.now_views IS NULL OR f.now_views < t.rank_views""",  # noqa: S608
            ),
            # Candidates: the kept videos not loaded and the loaded ones, outside broken groups...
            self.temp(
                "top_candidates",
                f"""SELECT {kept} FROM top_kept k
                WHERE NOT EXISTS (SELECT 1 FROM rollup_signed_videos s WHERE s.video_id = k.video_id)
                  AND {not_broken("k")}
                UNION ALL SELECT {columns} FROM top_plus p WHERE {not_broken("p")}""",  # noqa: S608
            ),
            # ...and every video of the broken groups, read again from the mentions.
            """INSERT INTO top_candidates
            SELECT m.keyword, b.bucket, m.region, m.category, m.video_id, coalesce(min(v.views), -1),
                   string_agg(m.modality, ',' ORDER BY m.modality)
            FROM top_broken b
            JOIN keyword_mentions m ON m.keyword = b.keyword AND m.region = b.region AND m.category = b.category
                AND m.posted_at >= b.bucket AND m.posted_at < b.bucket + INTERVAL '1 day'
            JOIN videos v ON v.video_id = m.video_id
            GROUP BY m.keyword, b.bucket, m.region, m.category, m.video_id""",
            self.temp("top_new", _best("SELECT * FROM top_candidates")),
            # Kept rows that are not in the new top as they are: deleted by key.
            self.temp(
                "top_drop",
                f"""SELECT {", ".join(f"k.{c}" for c in (*group, "video_id"))} FROM top_kept k
                WHERE NOT EXISTS (SELECT 1 FROM top_new n WHERE {unchanged.format(a="n", b="k")})""",  # noqa: S608
            ),
            f"""DELETE FROM keyword_top t USING top_drop d WHERE {same_row.format(a="t", b="d")}""",  # noqa: S608
            f"""INSERT INTO keyword_top ({columns}, kid)
            SELECT {columns}, {kid_sql(self.dialect)} FROM top_new n
            WHERE NOT EXISTS (SELECT 1 FROM keyword_top t WHERE {unchanged.format(a="t", b="n")})""",  # noqa: S608
            *(
                f"DROP TABLE {name}"
                for name in (
                    "top_drop",
                    "top_new",
                    "top_candidates",
                    "top_broken",
                    "top_fallen",
                    "top_kept",
                    "top_groups",
                    "top_minus",
                    "top_plus",
                )
            ),
        )

    def top_fill(self) -> str:
        """Fill an empty ``keyword_top`` from the stored mentions and videos (a new table on existing data)."""
        members = """SELECT m.keyword, date_trunc('day', m.posted_at) AS bucket, m.region, m.category, m.video_id,
                   coalesce(min(v.views), -1) AS rank_views, string_agg(m.modality, ',' ORDER BY m.modality)
                   AS modalities
            FROM keyword_mentions m JOIN videos v ON v.video_id = m.video_id
            GROUP BY m.keyword, date_trunc('day', m.posted_at), m.region, m.category, m.video_id"""
        return f"""INSERT INTO keyword_top ({TOP_COLUMNS}, kid)
        SELECT {TOP_COLUMNS}, {kid_sql(self.dialect)} FROM ({_best(members)}) best"""  # noqa: S608 - fixed names

    def _keyword_delta(self, grain: str, bucket: str) -> str:
        # One row per video and keyword: each modality's mention, and all its modalities folded ('*').
        counters_min = ", ".join(f"min({c}) AS {c}" for c in COUNTERS)
        return self.temp(
            "rollup_delta",
            f"""WITH per_video AS (
                SELECT sign, {bucket} AS b, keyword, modality, region, category, micros, generic, {_C}
                FROM rollup_signed_mentions
                UNION ALL
                SELECT sign, date_trunc('{grain}', min(posted_at)), keyword, '{ALL}', min(region), min(category),
                       sum(micros), max(generic), {counters_min}
                FROM rollup_signed_mentions GROUP BY sign, video_id, keyword
            )
            SELECT b AS bucket, keyword, modality, region, category, sum(sign * micros) AS mention_micros,
                   sum(sign) AS videos, sum(sign * generic) AS generic_videos, {_SIGNED_SUMS}
            FROM per_video GROUP BY b, keyword, modality, region, category
            HAVING sum(sign) <> 0 OR sum(sign * micros) <> 0 OR sum(sign * generic) <> 0 OR {_ANY_CHANGE}""",  # noqa: S608
        )

    def finish(self) -> tuple[str, ...]:
        """Empty the queue once every grain has its changes."""
        return (
            "DROP TABLE rollup_signed_mentions",
            "DROP TABLE rollup_signed_videos",
            "DELETE FROM rollup_before_mentions",
            "DELETE FROM rollup_before_videos",
            "DELETE FROM rollup_videos",
        )

    def rebuild(self) -> tuple[str, ...]:
        """A full rebuild is the same refresh from empty rollups, with every video queued and nothing before."""
        return (
            "DELETE FROM keyword_rollup",
            "DELETE FROM keyword_top",
            "DELETE FROM bucket_totals",
            "DELETE FROM keyword_spellings",
            "DELETE FROM rollup_before_mentions",
            "DELETE FROM rollup_before_videos",
            "DELETE FROM rollup_videos",
            "INSERT INTO rollup_videos SELECT video_id FROM videos",
        )


def bucket_rows(
    *,
    grain_filter: bool = True,
    region: str | None = None,
    category: str | None = None,
    modality: str | None = None,
    include_generic: bool = True,
    placeholder: str = "$",
) -> str:
    """The ``keyword_buckets`` rows (every region/category level, share of the bucket's videos) of a filter.

    A concrete region or category filter is applied to the finest rows before aggregating, and only the
    grouping sets that can match are computed. Values are bound parameters (``{p}grain``, ``{p}start``,
    ``{p}end``, ``{p}region``...) with ``placeholder`` "$" (DuckDB) or "%" (psycopg: ``%(name)s``).
    """

    def param(name: str) -> str:
        return f"${name}" if placeholder == "$" else f"%({name})s"

    where = ["r.videos > 0"]
    if grain_filter:
        where += [f"r.grain = {param('grain')}", f"r.bucket >= {param('start')}", f"r.bucket < {param('end')}"]
    sets: list[list[str]] = []
    for region_set in (True, False) if region is None else (region != ALL,):
        for category_set in (True, False) if category is None else (category != ALL,):
            sets.append([c for c, keep in (("region", region_set), ("category", category_set)) if keep])
    labels = {}
    for column in ("region", "category"):
        if all(column in s for s in sets):
            labels[column] = f"r.{column} AS {column}"
        elif any(column in s for s in sets):
            labels[column] = label(column, "r.")
        else:  # aggregated over in every set asked for
            labels[column] = f"'{ALL}' AS {column}"
    for name, value in (("region", region), ("category", category)):
        if value is not None and value != ALL:
            where.append(f"r.{name} = {param(name)}")
    if modality is not None:
        where.append(f"r.modality = {param('modality')}")
    having = "" if include_generic else "HAVING sum(r.generic_videos) = 0"
    grouping = ", ".join(f"({', '.join(f'r.{c}' for c in columns)})" for columns in sets)
    sums = ", ".join(f"CAST(sum(r.{c}) AS BIGINT) AS {c}" for c in COUNTERS)
    return f"""
        WITH g AS (
            SELECT r.bucket, r.grain, r.keyword, {labels["region"]}, {labels["category"]}, r.modality,
                   min(r.display) AS display, sum(r.generic_videos) > 0 AS is_generic,
                   CAST(sum(r.mention_micros) AS DOUBLE PRECISION) / {MICROS} AS mentions,
                   CAST(sum(r.videos) AS BIGINT) AS videos, {sums}
            FROM keyword_rollup r
            WHERE {" AND ".join(where)}
            GROUP BY r.bucket, r.grain, r.keyword, r.modality, GROUPING SETS ({grouping})
            {having}
        )
        SELECT g.bucket, g.grain, g.keyword, g.region, g.category, g.modality, g.display, g.is_generic, g.mentions,
               g.videos, {", ".join(f"g.{c}" for c in COUNTERS)},
               CAST(g.videos AS DOUBLE PRECISION) / t.videos AS share
        FROM g JOIN bucket_totals t
          ON t.bucket = g.bucket AND t.grain = g.grain AND t.region = g.region AND t.category = g.category
    """  # noqa: S608 - fixed names; values are bound parameters
