"""Incremental rollup maintenance in PostgreSQL: each refresh applies the change of the videos loaded since.

A load records which videos it touched and, the first time each is touched, what the video and its
mentions looked like before (``rollup_before_*``). A refresh then adds, per bucket and slice, what those
videos contribute now and subtracts what they contributed before. Every stored sum is an integer (weights
in micro-units, videos, videos flagged generic, counters), so the result equals a full recomputation
exactly, and the work is proportional to the videos loaded, never to the table.
"""

from __future__ import annotations

from typing import Final

from tiktrend.models import COUNTERS
from tiktrend.store.base import ALL

MICROS: Final = 1_000_000
_C: Final = ", ".join(COUNTERS)


def _label(column: str) -> str:
    return f"CASE WHEN grouping({column}) = 1 THEN '{ALL}' ELSE {column} END AS {column}"


_SETS: Final = "GROUPING SETS ((region, category), (region), (category), ())"
_SIGNED_SUMS: Final = ", ".join(f"sum(sign * coalesce({c}, 0)) AS {c}" for c in COUNTERS)
_ANY_CHANGE: Final = " OR ".join(f"sum(sign * coalesce({c}, 0)) <> 0" for c in COUNTERS)

# The videos' contributions now (+1) and before their first load since the last refresh (-1).
SIGNED_VIDEOS: Final = f"""
    CREATE TEMP TABLE rollup_signed_videos ON COMMIT DROP AS
    SELECT 1 AS sign, v.video_id, v.posted_at, v.region, v.category, {", ".join(f"v.{c}" for c in COUNTERS)}
    FROM rollup_videos q JOIN videos v USING (video_id)
    UNION ALL
    SELECT -1, b.video_id, b.posted_at, b.region, b.category, {", ".join(f"b.{c}" for c in COUNTERS)}
    FROM rollup_before_videos b
"""  # noqa: S608 - fixed names only

SIGNED_MENTIONS: Final = f"""
    CREATE TEMP TABLE rollup_signed_mentions ON COMMIT DROP AS
    SELECT s.sign, s.video_id, s.posted_at, s.region, s.category, {", ".join(f"s.{c}" for c in COUNTERS)},
           m.keyword, m.modality, m.display, CAST(floor(m.weight * {MICROS} + 0.5) AS BIGINT) AS micros,
           m.is_generic::int AS generic
    FROM rollup_signed_videos s
    JOIN keyword_mentions m ON m.video_id = s.video_id AND m.posted_at = s.posted_at
    WHERE s.sign = 1
    UNION ALL
    SELECT s.sign, s.video_id, s.posted_at, s.region, s.category, {", ".join(f"s.{c}" for c in COUNTERS)},
           m.keyword, m.modality, m.display, CAST(floor(m.weight * {MICROS} + 0.5) AS BIGINT), m.is_generic::int
    FROM rollup_signed_videos s JOIN rollup_before_mentions m USING (video_id)
    WHERE s.sign = -1
"""  # noqa: S608 - fixed names only

TOTALS_DELTA: Final = f"""
    INSERT INTO bucket_totals AS t (bucket, grain, region, category, videos, {_C})
    SELECT date_trunc(%(grain)s, posted_at) AS b, %(grain)s, {_label("region")}, {_label("category")},
           sum(sign), {_SIGNED_SUMS}
    FROM rollup_signed_videos
    GROUP BY b, {_SETS}
    HAVING sum(sign) <> 0 OR {_ANY_CHANGE}
    ON CONFLICT (bucket, grain, region, category) DO UPDATE SET
        videos = t.videos + excluded.videos, {", ".join(f"{c} = t.{c} + excluded.{c}" for c in COUNTERS)}
"""  # noqa: S608 - fixed names only

TOTALS_PRUNE: Final = """
    DELETE FROM bucket_totals t
    WHERE t.grain = %(grain)s AND t.videos = 0
      AND t.bucket IN (SELECT DISTINCT date_trunc(%(grain)s, posted_at) FROM rollup_signed_videos)
"""

SPELLINGS_DELTA: Final = """
    INSERT INTO keyword_spellings AS s (bucket, grain, keyword, display, n)
    SELECT date_trunc(%(grain)s, posted_at) AS b, %(grain)s, keyword, display, sum(sign)
    FROM rollup_signed_mentions
    GROUP BY b, keyword, display
    HAVING sum(sign) <> 0
    ON CONFLICT (bucket, grain, keyword, display) DO UPDATE SET n = s.n + excluded.n
"""

# One row per video and group: its mention rows per modality, and all its modalities folded into one ('*').
KEYWORD_DELTA: Final = f"""
    CREATE TEMP TABLE rollup_delta ON COMMIT DROP AS
    WITH per_video AS (
        SELECT sign, date_trunc(%(grain)s, posted_at) AS b, keyword, modality, region, category, micros, generic,
               {_C}
        FROM rollup_signed_mentions
        UNION ALL
        SELECT sign, date_trunc(%(grain)s, min(posted_at)), keyword, '{ALL}', min(region), min(category),
               sum(micros), max(generic), {", ".join(f"min({c})" for c in COUNTERS)}
        FROM rollup_signed_mentions
        GROUP BY sign, video_id, keyword
    )
    SELECT b AS bucket, keyword, modality, {_label("region")}, {_label("category")},
           sum(sign * micros) AS mention_micros, sum(sign) AS videos, sum(sign * generic) AS generic_videos,
           {_SIGNED_SUMS}
    FROM per_video
    GROUP BY b, keyword, modality, {_SETS}
    HAVING sum(sign) <> 0 OR sum(sign * micros) <> 0 OR sum(sign * generic) <> 0 OR {_ANY_CHANGE}
"""  # noqa: S608 - fixed names only

# The spelling most mention rows of the bucket use is the one people recognise ("MatchaLatteArt").
WINNERS: Final = """
    CREATE TEMP TABLE rollup_winners ON COMMIT DROP AS
    SELECT DISTINCT ON (s.bucket, s.keyword) s.bucket, s.keyword, s.display
    FROM keyword_spellings s
    JOIN (SELECT DISTINCT bucket, keyword FROM rollup_delta) p ON p.bucket = s.bucket AND p.keyword = s.keyword
    WHERE s.grain = %(grain)s AND s.n > 0
    ORDER BY s.bucket, s.keyword, s.n DESC, s.display
"""

SPELLINGS_PRUNE: Final = """
    DELETE FROM keyword_spellings s USING (SELECT DISTINCT bucket, keyword FROM rollup_delta) p
    WHERE s.grain = %(grain)s AND s.bucket = p.bucket AND s.keyword = p.keyword AND s.n = 0
"""

KEYWORD_APPLY: Final = f"""
    INSERT INTO keyword_rollup AS r
        (bucket, grain, keyword, region, category, modality, display, generic_videos, mention_micros, videos, {_C})
    SELECT d.bucket, %(grain)s, d.keyword, d.region, d.category, d.modality, coalesce(w.display, ''),
           d.generic_videos, d.mention_micros, d.videos, {", ".join(f"d.{c}" for c in COUNTERS)}
    FROM rollup_delta d LEFT JOIN rollup_winners w ON w.bucket = d.bucket AND w.keyword = d.keyword
    ON CONFLICT (bucket, grain, keyword, region, category, modality) DO UPDATE SET
        display = excluded.display,
        generic_videos = r.generic_videos + excluded.generic_videos,
        mention_micros = r.mention_micros + excluded.mention_micros,
        videos = r.videos + excluded.videos,
        {", ".join(f"{c} = r.{c} + excluded.{c}" for c in COUNTERS)}
"""  # noqa: S608 - fixed names only

# Rows of a touched keyword in slices no loaded video is in can still change spelling.
DISPLAY_APPLY: Final = """
    UPDATE keyword_rollup r SET display = w.display
    FROM rollup_winners w
    WHERE r.bucket = w.bucket AND r.grain = %(grain)s AND r.keyword = w.keyword AND r.display <> w.display
"""

KEYWORD_PRUNE: Final = """
    DELETE FROM keyword_rollup r USING rollup_delta d
    WHERE r.bucket = d.bucket AND r.grain = %(grain)s AND r.keyword = d.keyword AND r.region = d.region
      AND r.category = d.category AND r.modality = d.modality AND r.videos = 0
"""

PER_GRAIN: Final = (
    TOTALS_DELTA,
    TOTALS_PRUNE,
    SPELLINGS_DELTA,
    KEYWORD_DELTA,
    WINNERS,
    SPELLINGS_PRUNE,
    KEYWORD_APPLY,
    DISPLAY_APPLY,
    KEYWORD_PRUNE,
)
DROP_PER_GRAIN: Final = ("DROP TABLE rollup_delta", "DROP TABLE rollup_winners")
CLEAR_QUEUE: Final = (
    "DELETE FROM rollup_before_mentions",
    "DELETE FROM rollup_before_videos",
    "DELETE FROM rollup_videos",
)

# ---- what a load records before it changes anything ----------------------------------------------------------

# Videos of this load not yet queued since the last refresh: remember how they were, then queue them.
QUEUE_BEFORE: Final = (
    """
    CREATE TEMP TABLE newly_queued ON COMMIT DROP AS
    SELECT s.video_id FROM stage_videos s
    WHERE NOT EXISTS (SELECT 1 FROM rollup_videos q WHERE q.video_id = s.video_id)
    """,
    f"""
    INSERT INTO rollup_before_videos
    SELECT v.video_id, v.posted_at, v.region, v.category, {", ".join(f"v.{c}" for c in COUNTERS)}
    FROM videos v JOIN newly_queued n USING (video_id)
    """,  # noqa: S608 - fixed names only
    """
    INSERT INTO rollup_before_mentions
    SELECT m.video_id, m.keyword, m.modality, m.display, m.weight, m.is_generic
    FROM rollup_before_videos b JOIN newly_queued n USING (video_id)
    JOIN keyword_mentions m ON m.video_id = b.video_id AND m.posted_at = b.posted_at
    """,
    "INSERT INTO rollup_videos SELECT video_id FROM newly_queued",
)

# A full rebuild is the same refresh from empty rollups, with every video queued and nothing before.
REBUILD: Final = (
    "DELETE FROM keyword_rollup",
    "DELETE FROM bucket_totals",
    "DELETE FROM keyword_spellings",
    *CLEAR_QUEUE,
    "INSERT INTO rollup_videos SELECT video_id FROM videos",
)
