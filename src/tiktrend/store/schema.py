"""The DuckDB store's tables (DESIGN.md); ``pg_schema`` holds the PostgreSQL layout of the same tables.

Timestamps are stored as UTC without a zone (``TIMESTAMP``); every writer converts to UTC first.
``keyword_mentions`` has no key constraint here: the load keeps (video_id, keyword, modality) unique itself,
because an index on three strings would cost half of DuckDB's load speed. Since layout 4 the same holds for the
tables loads and refreshes write to (``UNINDEXED``: observations, regions, the rollup queue, the rollups): the
load and the refresh keep their keys unique (``RollupSQL.merge``), and only ``videos`` keeps its index (the API
reads videos by id). Those indexes made a load's commit, a checkpoint, take 0.27 s instead of 0.04 s for
700,000 mention rows. ``keyword_buckets`` is a view over the finest rollup rows (``rollup_sql``).
"""

from __future__ import annotations

from typing import Final

from tiktrend.store.rollup_sql import bucket_rows

# Layout versions of DuckDB files: 0 is the first release's (keyword_buckets a table, rebuilt per hour).
DUCKDB_LAYOUTS: Final = {
    1: "finest-level rollups, maintained incrementally",
    2: "trends: first detection time, example videos",
    3: "one keyword's rows: kept top videos per keyword and day, a copy of the rollups ordered by keyword",
    4: "observations, regions, the rollup queue and the rollups without an index: writers keep keys unique",
}
DUCKDB_SCHEMA_VERSION: Final = max(DUCKDB_LAYOUTS)

COUNTER_COLUMNS: Final = "views BIGINT, likes BIGINT, comments BIGINT, shares BIGINT, saves BIGINT"
TOTAL_COLUMNS: Final = ", ".join(f"{c} BIGINT NOT NULL" for c in ("views", "likes", "comments", "shares", "saves"))

DDL: Final = (
    f"""
    CREATE TABLE IF NOT EXISTS videos (
        video_id VARCHAR PRIMARY KEY,
        author VARCHAR,
        author_followers BIGINT,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        created_at TIMESTAMP,
        posted_at TIMESTAMP NOT NULL,
        caption VARCHAR,
        hashtags VARCHAR[],
        music_id VARCHAR,
        music_title VARCHAR,
        music_author VARCHAR,
        music_original BOOLEAN,
        duration_s DOUBLE,
        language VARCHAR,
        cover_url VARCHAR,
        video_url VARCHAR,
        source VARCHAR NOT NULL,
        first_seen TIMESTAMP NOT NULL,
        last_seen TIMESTAMP NOT NULL,
        {COUNTER_COLUMNS}
    )""",
    f"""
    CREATE TABLE IF NOT EXISTS video_stats (
        video_id VARCHAR NOT NULL,
        observed_at TIMESTAMP NOT NULL,
        {COUNTER_COLUMNS}
    )""",
    """
    CREATE TABLE IF NOT EXISTS keyword_mentions (
        video_id VARCHAR NOT NULL,
        keyword VARCHAR NOT NULL,
        modality VARCHAR NOT NULL,
        display VARCHAR NOT NULL,
        weight DOUBLE NOT NULL,
        is_generic BOOLEAN NOT NULL,
        posted_at TIMESTAMP NOT NULL,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL
    )""",
    f"""
    CREATE TABLE IF NOT EXISTS keyword_rollup (
        bucket TIMESTAMP NOT NULL,
        grain VARCHAR NOT NULL,
        keyword VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        modality VARCHAR NOT NULL,
        display VARCHAR NOT NULL,
        generic_videos BIGINT NOT NULL,
        mention_micros BIGINT NOT NULL,
        videos BIGINT NOT NULL,
        {TOTAL_COLUMNS}
    )""",
    """
    CREATE TABLE IF NOT EXISTS keyword_top (
        keyword VARCHAR NOT NULL,
        bucket TIMESTAMP NOT NULL,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        video_id VARCHAR NOT NULL,
        rank_views BIGINT NOT NULL,
        modalities VARCHAR NOT NULL,
        kid BIGINT NOT NULL
    )""",
    f"""
    CREATE TABLE IF NOT EXISTS bucket_totals (
        bucket TIMESTAMP NOT NULL,
        grain VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        videos BIGINT NOT NULL,
        {TOTAL_COLUMNS}
    )""",
    """
    CREATE TABLE IF NOT EXISTS keyword_spellings (
        bucket TIMESTAMP NOT NULL,
        grain VARCHAR NOT NULL,
        keyword VARCHAR NOT NULL,
        display VARCHAR NOT NULL,
        n BIGINT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS rollup_videos (video_id VARCHAR NOT NULL)",
    f"""
    CREATE TABLE IF NOT EXISTS rollup_before_videos (
        video_id VARCHAR NOT NULL,
        posted_at TIMESTAMP NOT NULL,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        {COUNTER_COLUMNS}
    )""",
    """
    CREATE TABLE IF NOT EXISTS rollup_before_mentions (
        video_id VARCHAR NOT NULL,
        keyword VARCHAR NOT NULL,
        modality VARCHAR NOT NULL,
        display VARCHAR NOT NULL,
        weight DOUBLE NOT NULL,
        is_generic BOOLEAN NOT NULL
    )""",
    f"CREATE OR REPLACE VIEW keyword_buckets AS {bucket_rows(grain_filter=False)}",
    """
    CREATE TABLE IF NOT EXISTS tiktrend_schema (
        version INTEGER PRIMARY KEY,
        name VARCHAR NOT NULL,
        applied_at TIMESTAMP NOT NULL,
        tiktrend VARCHAR NOT NULL
    )""",
    f"""
    CREATE TABLE IF NOT EXISTS trends (
        as_of TIMESTAMP NOT NULL,
        time_window VARCHAR NOT NULL,
        detector VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        modality VARCHAR NOT NULL,
        keyword VARCHAR NOT NULL,
        display VARCHAR NOT NULL,
        rank INTEGER NOT NULL,
        score DOUBLE NOT NULL,
        growth DOUBLE NOT NULL,
        videos_now BIGINT NOT NULL,
        videos_before BIGINT NOT NULL,
        mentions_now DOUBLE NOT NULL,
        mentions_before DOUBLE NOT NULL,
        share_now DOUBLE NOT NULL,
        share_before DOUBLE NOT NULL,
        {COUNTER_COLUMNS},
        stage VARCHAR NOT NULL,
        explanation VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        first_detected_at TIMESTAMP,
        PRIMARY KEY (as_of, time_window, detector, region, category, modality, keyword)
    )""",
    """
    CREATE TABLE IF NOT EXISTS trend_examples (
        as_of TIMESTAMP NOT NULL,
        time_window VARCHAR NOT NULL,
        detector VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        modality VARCHAR NOT NULL,
        keyword VARCHAR NOT NULL,
        rank INTEGER NOT NULL,
        video_id VARCHAR NOT NULL,
        views BIGINT NOT NULL,
        PRIMARY KEY (as_of, time_window, detector, region, category, modality, keyword, rank)
    )""",
    """
    CREATE TABLE IF NOT EXISTS runs (
        run_id VARCHAR PRIMARY KEY,
        command VARCHAR NOT NULL,
        params VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        status VARCHAR NOT NULL,
        summary VARCHAR,
        error VARCHAR
    )""",
    """
    CREATE TABLE IF NOT EXISTS pipeline_metrics (
        run_id VARCHAR NOT NULL,
        stage VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        value DOUBLE NOT NULL,
        PRIMARY KEY (run_id, stage, metric)
    )""",
    """
    CREATE TABLE IF NOT EXISTS quarantine (
        batch_id VARCHAR NOT NULL,
        position BIGINT NOT NULL,
        source VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        excerpt VARCHAR NOT NULL,
        quarantined_at TIMESTAMP NOT NULL,
        PRIMARY KEY (batch_id, position)
    )""",
)

# Tables of the collection stage (collect/): every region a video was seen in, and the trend lists TikTok
# publishes (Creative Center), kept apart from the videos as an external signal and the backtest's ground truth.
COLLECT_DDL: Final = (
    """
    CREATE TABLE IF NOT EXISTS video_regions (
        video_id VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        first_seen TIMESTAMP NOT NULL,
        last_seen TIMESTAMP NOT NULL
    )""",
    """
    CREATE TABLE IF NOT EXISTS external_trends (
        source VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        period_days INTEGER NOT NULL,
        industry VARCHAR NOT NULL,
        list_date DATE NOT NULL,
        keyword VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        item_id VARCHAR,
        rank INTEGER NOT NULL,
        rank_diff INTEGER,
        is_new BOOLEAN,
        posts BIGINT,
        views BIGINT,
        trend VARCHAR,
        listed_at TIMESTAMP NOT NULL,
        PRIMARY KEY (source, kind, region, period_days, industry, list_date, keyword)
    )""",
)

# Alerts (alerts.py): one row per rule, keyword, slice, window and detection time; ``status`` is ``pending``
# until the webhook answered 2xx, then ``sent``, so an alert is delivered once and a failed one is retried.
ALERTS_COLUMNS: Final = """
        rule VARCHAR NOT NULL,
        keyword VARCHAR NOT NULL,
        region VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        time_window VARCHAR NOT NULL,
        as_of TIMESTAMP NOT NULL,
        modality VARCHAR NOT NULL,
        detector VARCHAR NOT NULL,
        display VARCHAR NOT NULL,
        score DOUBLE NOT NULL,
        growth DOUBLE NOT NULL,
        videos_now BIGINT NOT NULL,
        views BIGINT NOT NULL,
        engagement BIGINT NOT NULL,
        explanation VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        attempts INTEGER NOT NULL,
        last_error VARCHAR,
        created_at TIMESTAMP NOT NULL,
        sent_at TIMESTAMP,
        PRIMARY KEY (rule, keyword, region, category, time_window, as_of)"""
ALERTS_DDL: Final = (f"CREATE TABLE IF NOT EXISTS alerts_sent ({ALERTS_COLUMNS}\n    )",)

# Tables that had a primary key before layout 4 and have none since (see the module's docstring).
UNINDEXED: Final = (
    "video_stats",
    "video_regions",
    "rollup_videos",
    "rollup_before_videos",
    "keyword_rollup",
    "keyword_spellings",
    "bucket_totals",
)

# Natural keys, used for stable ordering in snapshots and exports.
KEYS: Final = {
    "videos": ("video_id",),
    "video_stats": ("video_id", "observed_at"),
    "keyword_mentions": ("video_id", "keyword", "modality"),
    "keyword_buckets": ("bucket", "grain", "keyword", "region", "category", "modality"),
    "keyword_top": ("keyword", "bucket", "region", "category", "video_id"),
    "bucket_totals": ("bucket", "grain", "region", "category"),
    "trends": ("as_of", "time_window", "detector", "region", "category", "modality", "keyword"),
    "trend_examples": ("as_of", "time_window", "detector", "region", "category", "modality", "keyword", "rank"),
    "runs": ("run_id",),
    "pipeline_metrics": ("run_id", "stage", "metric"),
    "quarantine": ("batch_id", "position"),
    "video_regions": ("video_id", "region"),
    "external_trends": ("source", "kind", "region", "period_days", "industry", "list_date", "keyword"),
    "alerts_sent": ("rule", "keyword", "region", "category", "time_window", "as_of"),
}
