"""The product's read queries, one function each, the same SQL on DuckDB and PostgreSQL.

Every function takes a :class:`~tiktrend.query.reader.Reader` (any store, or a read-only DuckDB file) and
plain arguments, and returns a pandas frame or a small dataclass. Values are always bound parameters; the
only text composed into SQL is fixed column names picked from the lists in this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import pandas as pd

from tiktrend.models import COUNTERS, MODALITIES
from tiktrend.query.cursor import TrendCursor
from tiktrend.query.reader import Reader
from tiktrend.store import keyword_lookup
from tiktrend.store.base import ALL, GRAINS
from tiktrend.store.rollup_sql import TOP_VIDEOS, keyword_id

# How far back a series reaches when no start is given.
DEFAULT_SPAN: Final = {"hour": timedelta(days=7), "day": timedelta(days=60)}
ENGAGEMENT_PARTS: Final = ("likes", "comments", "shares", "saves")
# Columns a ranking of keywords or videos may be sorted by (the only names composed into ORDER BY).
KEYWORD_SORTS: Final = ("engagement_total", "engagement_rate", "views", "videos", "mentions", "shares", "comments")
VIDEO_SORTS: Final = ("views", "likes", "comments", "shares", "saves", "engagement_total", "posted_at")

_SUMS: Final = ", ".join(f"CAST(sum(r.{c}) AS BIGINT) AS {c}" for c in COUNTERS)
_ENGAGEMENT: Final = " + ".join(f"coalesce({c}, 0)" for c in ENGAGEMENT_PARTS)
# Rates per view, as in the original project (extract/engagement.py): NULL where views are unknown or zero.
_RATES: Final = f"""
    {_ENGAGEMENT} AS engagement_total,
    CAST({_ENGAGEMENT} AS DOUBLE PRECISION) / nullif(views, 0) AS engagement_rate,
    CAST(shares AS DOUBLE PRECISION) / nullif(views, 0) AS virality_index,
    CAST(comments AS DOUBLE PRECISION) / nullif(views, 0) AS discussion_rate"""


def _in(column: str, name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """``column IN ($name_0, ...)`` with each value bound (the same text on both backends)."""
    names = []
    for i, value in enumerate(values):
        params[f"{name}_{i}"] = value
        names.append(f"${name}_{i}")
    return f"{column} IN ({', '.join(names)})"


def _keyword_rows(
    reader: Reader,
    table: str,
    words: Sequence[str],
    grain: str | None,
    params: dict[str, Any],
    *,
    display: bool = True,
) -> tuple[str, str]:
    """(FROM, WHERE) for the rows of some keywords in ``keyword_rollup`` (of ``grain``) or ``keyword_top`` (None);
    ``display=False``: the rows' spelling is not read (DuckDB then skips a scan).

    PostgreSQL reads both through B-trees on the keyword. DuckDB reads ``keyword_rollup``'s rows from its copy
    ordered by keyword id (``keyword_lookup``), and ``keyword_top``, which is kept in the same order, by the ids.
    """
    where = _in("keyword", "kw", words, params)
    if not reader.url.startswith("duckdb:"):
        return table, where
    ids = _in("kid", "kid", [keyword_id(w, grain or "day") for w in words], params)
    if table == "keyword_rollup":
        return keyword_lookup.rows(ids, where, display=display), where
    return table, f"{ids} AND {where}"


def _naive(value: datetime | None) -> datetime | None:
    """Stored times are UTC without a zone."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return (stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp).to_pydatetime()


def _check_grain(grain: str) -> None:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {', '.join(GRAINS)}, not {grain!r}")


# ---- trends ------------------------------------------------------------------------------------------------


@dataclass
class TrendPage:
    """One page of ranked trends and the cursor of the next page (None on the last)."""

    rows: pd.DataFrame
    next_cursor: str | None
    snapshot: datetime | None


_TRENDS: Final = """
    WITH latest AS (
        SELECT time_window, detector, max(as_of) AS as_of FROM trends
        WHERE (CAST($window AS VARCHAR) IS NULL OR time_window = $window)
          AND (CAST($detector AS VARCHAR) IS NULL OR detector = $detector)
          AND (CAST($snapshot AS TIMESTAMP) IS NULL OR as_of <= $snapshot)
        GROUP BY time_window, detector
    )
    SELECT t.*, (SELECT max(as_of) FROM latest) AS snapshot_as_of
    FROM trends t JOIN latest l ON t.time_window = l.time_window AND t.detector = l.detector AND t.as_of = l.as_of
    WHERE t.region = $region AND t.category = $category AND t.modality = $modality
      AND (CAST($after_window AS VARCHAR) IS NULL
           OR t.time_window > $after_window
           OR (t.time_window = $after_window AND t.detector > $after_detector)
           OR (t.time_window = $after_window AND t.detector = $after_detector AND t.rank > $after_rank)
           OR (t.time_window = $after_window AND t.detector = $after_detector AND t.rank = $after_rank
               AND t.keyword > $after_keyword))
    ORDER BY t.time_window, t.detector, t.rank, t.keyword
    LIMIT $limit
"""


def trends(
    reader: Reader,
    *,
    window: str | None = None,
    region: str = ALL,
    category: str = ALL,
    modality: str = ALL,
    detector: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TrendPage:
    """The latest ranked trends of a slice, ordered by window, detector and rank, one page at a time.

    A page's cursor pins the detections the first page saw, so later runs never shift the pages that follow.
    """
    filters = {"window": window, "region": region, "category": category, "modality": modality, "detector": detector}
    after = TrendCursor.decode(cursor, filters) if cursor else None
    params: dict[str, Any] = {
        **filters,
        "snapshot": after.snapshot if after else None,
        "after_window": after.time_window if after else None,
        "after_detector": after.detector if after else None,
        "after_rank": after.rank if after else 0,
        "after_keyword": after.keyword if after else "",
        "limit": limit + 1,  # one more tells whether a next page exists
    }
    found = reader.read(_TRENDS, params)
    snapshot = after.snapshot if after else (None if found.empty else found["snapshot_as_of"].iloc[0])
    rows = found.drop(columns=["snapshot_as_of"]).head(limit).reset_index(drop=True)
    next_cursor = None
    if len(found) > limit and snapshot is not None:
        last = rows.iloc[-1]
        next_cursor = TrendCursor(
            snapshot=pd.Timestamp(snapshot).to_pydatetime(),
            time_window=str(last["time_window"]),
            detector=str(last["detector"]),
            rank=int(last["rank"]),
            keyword=str(last["keyword"]),
        ).encode(filters)
    return TrendPage(rows, next_cursor, None if snapshot is None else pd.Timestamp(snapshot).to_pydatetime())


def trend_scopes(reader: Reader) -> pd.DataFrame:
    """Each (time_window, detector) with its latest detection time and how many rows that detection holds."""
    return reader.read(
        """
        WITH latest AS (SELECT time_window, detector, max(as_of) AS as_of FROM trends GROUP BY time_window, detector)
        SELECT l.time_window, l.detector, l.as_of, count(*) AS trends
        FROM latest l JOIN trends t ON t.time_window = l.time_window AND t.detector = l.detector AND t.as_of = l.as_of
        GROUP BY l.time_window, l.detector, l.as_of ORDER BY l.time_window, l.detector
        """
    )


# ---- keyword series ----------------------------------------------------------------------------------------


def latest_bucket(reader: Reader, grain: str = "hour") -> datetime | None:
    """The start of the latest bucket that holds data, or None for an empty store."""
    _check_grain(grain)
    found = reader.read("SELECT max(bucket) AS bucket FROM bucket_totals WHERE grain = $grain", {"grain": grain})
    value = found["bucket"].iloc[0] if len(found) else None
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def data_span(reader: Reader, grain: str = "day") -> tuple[datetime, datetime] | None:
    """The starts of the first and the latest bucket that hold data, or None for an empty store."""
    _check_grain(grain)
    found = reader.read(
        "SELECT min(bucket) AS first, max(bucket) AS last FROM bucket_totals WHERE grain = $grain", {"grain": grain}
    )
    first, last = (found["first"].iloc[0], found["last"].iloc[0]) if len(found) else (None, None)
    if first is None or pd.isna(first) or last is None or pd.isna(last):
        return None
    return pd.Timestamp(first).to_pydatetime(), pd.Timestamp(last).to_pydatetime()


def series_range(
    reader: Reader, grain: str, start: datetime | None = None, end: datetime | None = None
) -> tuple[datetime, datetime] | None:
    """[start, end) of a series: the given bounds, else the span before the end of the stored data."""
    stop = _naive(end)
    if stop is None:
        last = latest_bucket(reader, grain)
        if last is None:
            return None
        stop = last + GRAINS[grain].to_pytimedelta()
    begin = _naive(start) or stop - DEFAULT_SPAN[grain]
    step = GRAINS[grain]
    # Buckets start on whole hours or days: the range covers the buckets it touches.
    return pd.Timestamp(begin).floor(step).to_pydatetime(), pd.Timestamp(stop).ceil(step).to_pydatetime()


def keyword_series(
    reader: Reader,
    keywords: Sequence[str],
    *,
    grain: str = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
    region: str = ALL,
    category: str = ALL,
    modality: str = ALL,
    dense: bool = True,
) -> pd.DataFrame:
    """Per keyword and bucket: videos, mentions, engagement sums and share of the slice's videos.

    Many keywords in one query (sparklines); ``dense`` fills buckets without mentions with zeros.
    """
    _check_grain(grain)
    columns = ["keyword", "bucket", "videos", "mentions", *COUNTERS, "share"]
    span = series_range(reader, grain, start, end)
    if span is None or not keywords:
        return pd.DataFrame(columns=columns)
    params: dict[str, Any] = {
        "grain": grain,
        "start": span[0],
        "end": span[1],
        "region": region,
        "category": category,
        "modality": modality,
    }
    words = list(dict.fromkeys(keywords))
    source, matches = _keyword_rows(reader, "keyword_rollup", words, grain, params, display=False)
    rollup = f"""
        k AS (
            SELECT r.keyword, r.bucket, CAST(sum(r.videos) AS BIGINT) AS videos,
                   CAST(sum(r.mention_micros) AS DOUBLE PRECISION) / 1000000 AS mentions, {_SUMS}
            FROM {source} r
            WHERE r.grain = $grain AND r.bucket >= $start AND r.bucket < $end AND r.videos > 0
              AND {matches} AND r.modality = $modality
              AND ($region = '*' OR r.region = $region) AND ($category = '*' OR r.category = $category)
            GROUP BY r.keyword, r.bucket
        )
    """  # noqa: S608 - fixed names; values are bound parameters
    totals = (
        "LEFT JOIN bucket_totals t "
        "ON t.bucket = {b} AND t.grain = $grain AND t.region = $region AND t.category = $category"
    )
    if not dense:
        statement = f"""
            WITH {rollup}
            SELECT k.*, CAST(k.videos AS DOUBLE PRECISION) / t.videos AS share
            FROM k {totals.format(b="k.bucket")}
            ORDER BY k.keyword, k.bucket
        """  # noqa: S608 - fixed names; values are bound parameters
        return reader.read(statement, params)[columns]
    # Every (keyword, bucket) of the span, zeros where nothing was mentioned (sparklines need the gaps).
    params["last"] = span[1] - GRAINS[grain].to_pytimedelta()
    params["step"] = "1 hour" if grain == "hour" else "1 day"
    values = ", ".join(f"(${name})" for name in sorted(p for p in params if p.startswith("kw_")))
    counters = ", ".join(f"coalesce(k.{c}, 0) AS {c}" for c in COUNTERS)
    statement = f"""
        WITH {rollup},
        words AS (SELECT w.keyword FROM (VALUES {values}) AS w(keyword)),
        buckets AS (
            SELECT g.bucket FROM generate_series(
                CAST($start AS TIMESTAMP), CAST($last AS TIMESTAMP), CAST($step AS INTERVAL)
            ) AS g(bucket)
        )
        SELECT w.keyword, b.bucket, coalesce(k.videos, 0) AS videos,
               coalesce(k.mentions, CAST(0 AS DOUBLE PRECISION)) AS mentions, {counters},
               coalesce(CAST(k.videos AS DOUBLE PRECISION) / t.videos, CAST(0 AS DOUBLE PRECISION)) AS share
        FROM words w CROSS JOIN buckets b
        LEFT JOIN k ON k.keyword = w.keyword AND k.bucket = b.bucket
        {totals.format(b="b.bucket")}
        ORDER BY w.keyword, b.bucket
    """  # noqa: S608 - fixed names; values are bound parameters
    return reader.read(statement, params)[columns]


@dataclass
class KeywordDetail:
    """Everything the API and the dashboard show about one keyword."""

    keyword: str
    display: str | None
    series: pd.DataFrame
    modalities: pd.DataFrame
    regions: pd.DataFrame
    categories: pd.DataFrame
    examples: pd.DataFrame
    trends: pd.DataFrame
    start: datetime | None = None
    end: datetime | None = None
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether the keyword has any mention in the range."""
        return self.display is not None


def keyword_detail(
    reader: Reader,
    keyword: str,
    *,
    grain: str = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
    region: str = ALL,
    category: str = ALL,
    examples: int = 5,
) -> KeywordDetail:
    """A keyword's series per bucket, its modalities, regions and categories, example videos and latest trends."""
    _check_grain(grain)
    span = series_range(reader, grain, start, end)
    empty = pd.DataFrame()
    if span is None:
        return KeywordDetail(keyword, None, empty, empty, empty, empty, empty, empty)
    series = keyword_series(
        reader, [keyword], grain=grain, start=span[0], end=span[1], region=region, category=category
    ).drop(columns=["keyword"])
    params: dict[str, Any] = {"grain": grain, "start": span[0], "end": span[1], "region": region, "category": category}
    source, matches = _keyword_rows(reader, "keyword_rollup", [keyword], grain, params)
    parts = reader.read(_BREAKDOWN.replace("{source}", source).replace("{keyword}", matches), params)
    by = {name: group.drop(columns=["part", "display"]) for name, group in parts.groupby("part", sort=False)}

    def part(name: str) -> pd.DataFrame:
        found = by.get(name, parts.iloc[0:0].drop(columns=["part", "display"]))
        return found.rename(columns={"name": name}).reset_index(drop=True)

    detail = KeywordDetail(
        keyword=keyword,
        display=str(parts["display"].iloc[0]) if len(parts) else None,
        series=series,
        modalities=part("modality"),
        regions=part("region"),
        categories=part("category"),
        examples=example_videos(
            reader, keyword, start=span[0], end=span[1], region=region, category=category, limit=examples
        ),
        trends=keyword_trends(reader, keyword),
        start=span[0],
        end=span[1],
    )
    totals = part("total")
    if len(totals):
        detail.totals = {str(k): _plain(v) for k, v in totals.drop(columns=["total"]).to_dict("records")[0].items()}
    return detail


def _part(kind: str, column: str, where: str) -> str:
    return f"""
        SELECT '{kind}' AS part, {column} AS name, CAST(sum(videos) AS BIGINT) AS videos,
               CAST(sum(mention_micros) AS DOUBLE PRECISION) / 1000000 AS mentions,
               {", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in COUNTERS)}
        FROM r WHERE {where} {"GROUP BY " + column if column != "'*'" else "HAVING count(*) > 0"}
    """  # noqa: S608 - fixed names only


_IN_REGION: Final = "($region = '*' OR region = $region)"
_IN_CATEGORY: Final = "($category = '*' OR category = $category)"
# One round trip for a keyword's breakdowns: per modality (in the slice), per region (in the category),
# per category (in the region), and the slice's total; each video once in all but the modality rows.
_BREAKDOWN: Final = f"""
    WITH r AS (
        SELECT modality, region, category, display, videos, mention_micros, {", ".join(COUNTERS)}
        FROM {{source}} k
        WHERE {{keyword}} AND grain = $grain AND bucket >= $start AND bucket < $end AND videos > 0
    ),
    parts AS (
        {_part("modality", "modality", f"modality <> '{ALL}' AND {_IN_REGION} AND {_IN_CATEGORY}")}
        UNION ALL {_part("region", "region", f"modality = '{ALL}' AND {_IN_CATEGORY}")}
        UNION ALL {_part("category", "category", f"modality = '{ALL}' AND {_IN_REGION}")}
        UNION ALL {_part("total", "'*'", f"modality = '{ALL}' AND {_IN_REGION} AND {_IN_CATEGORY}")}
    )
    SELECT p.*, {_RATES}, (SELECT min(display) FROM r) AS display FROM parts p
    ORDER BY part, videos DESC, name
"""  # noqa: S608 - fixed names; values are bound parameters


def _plain(value: Any) -> Any:
    """A numpy scalar as a Python one (JSON-able); NaN as None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def example_videos(
    reader: Reader,
    keyword: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    region: str = ALL,
    category: str = ALL,
    limit: int = 5,
) -> pd.DataFrame:
    """The most viewed videos mentioning a keyword, posted on the days [start, end) touches, with its modalities.

    They are read from ``keyword_top`` (the most viewed videos per keyword, day, region and category), so the
    range widens to whole days and ``limit`` is at most ``TOP_VIDEOS``; views as of the latest rollup refresh.
    """
    if not 0 <= limit <= TOP_VIDEOS:
        raise ValueError(f"limit must be between 0 and {TOP_VIDEOS}, not {limit}")
    first, last = _naive(start), _naive(end)
    params: dict[str, Any] = {
        "start": None if first is None else pd.Timestamp(first).floor("D").to_pydatetime(),
        "end": None if last is None else pd.Timestamp(last).ceil("D").to_pydatetime(),
        "region": region,
        "category": category,
        "limit": limit,
    }
    source, match = _keyword_rows(reader, "keyword_top", [keyword], None, params)
    top = reader.read(
        f"""
        SELECT t.video_id, t.modalities FROM {source} t
        WHERE {match}
          AND (CAST($start AS TIMESTAMP) IS NULL OR t.bucket >= $start)
          AND (CAST($end AS TIMESTAMP) IS NULL OR t.bucket < $end)
          AND ($region = '*' OR t.region = $region) AND ($category = '*' OR t.category = $category)
        ORDER BY t.rank_views DESC, t.video_id
        LIMIT $limit
        """,  # noqa: S608 - fixed names; values are bound parameters
        params,
    )
    # The videos by their key in a second read: joined in one, DuckDB scans every video instead.
    ids: dict[str, Any] = {}
    videos = reader.read(
        f"""
        SELECT v.video_id, v.author, v.caption, v.video_url, v.cover_url, v.posted_at, v.region, v.category,
               {", ".join(f"v.{c}" for c in COUNTERS)}
        FROM videos v WHERE {_in("v.video_id", "video", list(top["video_id"]) or [""], ids)}
        """,  # noqa: S608 - fixed names; values are bound parameters
        ids,
    )
    found = top.merge(videos, on="video_id", how="inner", validate="one_to_one")
    columns = ["video_id", "author", "caption", "video_url", "cover_url", "posted_at", "region", "category"]
    return found[[*columns, "modalities", *COUNTERS]].reset_index(drop=True)


def keyword_trends(reader: Reader, keyword: str) -> pd.DataFrame:
    """Every slice in which the latest detection of each window and detector ranks this keyword."""
    return reader.read(
        """
        WITH latest AS (SELECT time_window, detector, max(as_of) AS as_of FROM trends GROUP BY time_window, detector)
        SELECT t.* FROM trends t
        JOIN latest l ON t.time_window = l.time_window AND t.detector = l.detector AND t.as_of = l.as_of
        WHERE t.keyword = $keyword
        ORDER BY t.time_window, t.detector, t.region, t.category, t.modality
        """,
        {"keyword": keyword},
    )


@dataclass
class TrendingNow:
    """The top trends of a slice and each keyword's recent series (for sparklines)."""

    trends: pd.DataFrame
    series: pd.DataFrame


def trending_now(
    reader: Reader,
    *,
    window: str | None = "1d",
    region: str = ALL,
    category: str = ALL,
    modality: str = ALL,
    detector: str | None = None,
    limit: int = 20,
    grain: str = "hour",
    points: int = 48,
) -> TrendingNow:
    """What a "trending now" view needs: the latest ranking and the last ``points`` buckets of each keyword."""
    page = trends(
        reader, window=window, region=region, category=category, modality=modality, detector=detector, limit=limit
    )
    keywords = list(dict.fromkeys(page.rows["keyword"].astype(str))) if len(page.rows) else []
    last = latest_bucket(reader, grain)
    if last is None or not keywords:
        return TrendingNow(page.rows, keyword_series(reader, [], grain=grain))
    end = last + GRAINS[grain].to_pytimedelta()
    series = keyword_series(
        reader,
        keywords,
        grain=grain,
        start=end - points * GRAINS[grain].to_pytimedelta(),
        end=end,
        region=region,
        category=category,
        modality=modality,
    )
    return TrendingNow(page.rows, series)


# ---- rankings by engagement (the original's charts) --------------------------------------------------------


def top_keywords(
    reader: Reader,
    *,
    regions: Sequence[str] = (),
    categories: Sequence[str] = (),
    modalities: Sequence[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    top: int = 10,
    sort: str = "engagement_total",
    include_generic: bool = False,
) -> pd.DataFrame:
    """The top keywords by engagement (the original's first chart), with each keyword's main modality.

    Empty filters mean all. With several modalities, a video mentioning a keyword in two of them counts in
    each (the rollups keep modalities apart); with none, each video counts once.
    """
    if sort not in KEYWORD_SORTS:
        raise ValueError(f"sort must be one of {', '.join(KEYWORD_SORTS)}, not {sort!r}")
    params: dict[str, Any] = {"top": top, "generic": include_generic}
    where = ["r.videos > 0", *_range(params, start, end)]
    where.append(_in("r.modality", "modality", list(modalities), params) if modalities else f"r.modality = '{ALL}'")
    if regions:
        where.append(_in("r.region", "region", list(regions), params))
    if categories:
        where.append(_in("r.category", "category", list(categories), params))
    statement = f"""
        WITH k AS (
            SELECT r.keyword, min(r.display) AS display, CAST(sum(r.videos) AS BIGINT) AS videos,
                   CAST(sum(r.mention_micros) AS DOUBLE PRECISION) / 1000000 AS mentions, {_SUMS},
                   sum(r.generic_videos) > 0 AS is_generic
            FROM keyword_rollup r
            WHERE {" AND ".join(where)}
            GROUP BY r.keyword
            HAVING $generic OR sum(r.generic_videos) = 0
        )
        SELECT k.*, {_RATES} FROM k
        ORDER BY {sort} DESC NULLS LAST, keyword
        LIMIT $top
    """  # noqa: S608 - fixed names and a sort column from KEYWORD_SORTS; values are bound parameters
    found = reader.read(statement, params)
    if found.empty:
        return found.assign(modality=pd.Series(dtype="str"))
    main = _main_modality(reader, list(found["keyword"]), params, where)
    found.insert(2, "modality", found["keyword"].map(main).fillna(ALL))
    return found


def _range(params: dict[str, Any], start: datetime | None, end: datetime | None) -> list[str]:
    """Day buckets when both bounds fall on midnight (or are open), hour buckets otherwise."""
    start, end = _naive(start), _naive(end)
    on_days = all(t is None or t == datetime(t.year, t.month, t.day) for t in (start, end))
    params["grain"] = "day" if on_days else "hour"
    where = ["r.grain = $grain"]
    if start is not None:
        params["start"] = start
        where.append("r.bucket >= $start")
    if end is not None:
        params["end"] = end
        where.append("r.bucket < $end")
    return where


def _main_modality(reader: Reader, keywords: list[str], params: dict[str, Any], where: list[str]) -> dict[str, str]:
    """Each keyword's modality with the most videos (ties: the first by name), under the same filters."""
    ask = dict(params)
    clauses = [w for w in where if not w.startswith(("r.modality", "r.keyword"))]
    clauses.append(_in("r.keyword", "kw", keywords, ask))
    chosen = [value for name, value in params.items() if name.startswith("modality_")]
    clauses.append(_in("r.modality", "modality", chosen or list(MODALITIES), ask))
    statement = f"""
        SELECT r.keyword, r.modality, CAST(sum(r.videos) AS BIGINT) AS videos FROM keyword_rollup r
        WHERE {" AND ".join(clauses)}
        GROUP BY r.keyword, r.modality
        ORDER BY r.keyword, videos DESC, r.modality
    """  # noqa: S608 - fixed names; values are bound parameters
    found = reader.read(statement, ask)
    return dict(found.drop_duplicates("keyword")[["keyword", "modality"]].itertuples(index=False, name=None))


def _slice_totals(
    reader: Reader, by: str, start: datetime | None, end: datetime | None, other: str, other_value: str
) -> pd.DataFrame:
    params: dict[str, Any] = {"other": other_value}
    where = [*_range(params, start, end), f"r.{by} <> '{ALL}'", f"r.{other} = $other"]
    statement = f"""
        WITH k AS (
            SELECT r.{by}, CAST(sum(r.videos) AS BIGINT) AS videos, {_SUMS}
            FROM bucket_totals r WHERE {" AND ".join(where)} GROUP BY r.{by}
        )
        SELECT k.*, {_RATES} FROM k ORDER BY videos DESC, {by}
    """  # noqa: S608 - fixed names; values are bound parameters
    return reader.read(statement, params)


def regions(
    reader: Reader, *, start: datetime | None = None, end: datetime | None = None, category: str = ALL
) -> pd.DataFrame:
    """Per region: videos posted, engagement sums and rates (the original's map), for one category or all."""
    return _slice_totals(reader, "region", start, end, "category", category)


def categories(
    reader: Reader, *, start: datetime | None = None, end: datetime | None = None, region: str = ALL
) -> pd.DataFrame:
    """Per category: videos posted, engagement sums and rates (the original's category chart)."""
    return _slice_totals(reader, "category", start, end, "region", region)


def modality_totals(
    reader: Reader,
    by: str,
    modalities: Sequence[str],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    regions: Sequence[str] = (),
    categories: Sequence[str] = (),
) -> pd.DataFrame:
    """Per region or category: the videos with a mention in one of ``modalities``, each once, and their sums.

    The rollups count videos per region x category only (a video has no modality, its mentions do), so these
    totals are read from the videos and their mentions; empty ``regions`` / ``categories`` mean all of them.
    """
    if by not in ("region", "category"):
        raise ValueError(f"by must be region or category, not {by!r}")
    params: dict[str, Any] = {}
    chosen = _in("m.modality", "modality", list(modalities), params) if modalities else "1 = 1"
    mention = "SELECT 1 FROM keyword_mentions m WHERE m.video_id = r.video_id"
    where = [f"EXISTS ({mention} AND {chosen})"]
    if start is not None:
        params["start"] = _naive(start)
        where.append("r.posted_at >= $start")
    if end is not None:
        params["end"] = _naive(end)
        where.append("r.posted_at < $end")
    for column, values in (("region", regions), ("category", categories)):
        if values:
            where.append(_in(f"r.{column}", column, list(values), params))
    statement = f"""
        WITH k AS (
            SELECT r.{by}, CAST(count(*) AS BIGINT) AS videos, {_SUMS}
            FROM videos r WHERE {" AND ".join(where)} GROUP BY r.{by}
        )
        SELECT k.*, {_RATES} FROM k ORDER BY videos DESC, {by}
    """  # noqa: S608 - fixed names; values are bound parameters
    return reader.read(statement, params)


def videos(
    reader: Reader,
    *,
    region: str | None = None,
    category: str | None = None,
    keyword: str | None = None,
    modality: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    sort: str = "views",
    limit: int = 50,
    offset: int = 0,
) -> pd.DataFrame:
    """Videos, most engaging first, filtered by slice, posting time and a keyword they mention."""
    if sort not in VIDEO_SORTS:
        raise ValueError(f"sort must be one of {', '.join(VIDEO_SORTS)}, not {sort!r}")
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    where = ["1 = 1"]
    for name, value in (("region", region), ("category", category)):
        if value is not None and value != ALL:
            params[name] = value
            where.append(f"v.{name} = ${name}")
    if start is not None:
        params["start"] = _naive(start)
        where.append("v.posted_at >= $start")
    if end is not None:
        params["end"] = _naive(end)
        where.append("v.posted_at < $end")
    if keyword is not None:
        params["keyword"] = keyword
        mention = "m.video_id = v.video_id AND m.keyword = $keyword"
        if modality is not None and modality != ALL:
            params["modality"] = modality
            mention += " AND m.modality = $modality"
        where.append(f"EXISTS (SELECT 1 FROM keyword_mentions m WHERE {mention})")  # noqa: S608 - fixed text
    statement = f"""
        SELECT * FROM (
            SELECT v.video_id, v.author, v.region, v.category, v.posted_at, v.caption, v.music_title, v.language,
                   {", ".join(f"v.{c}" for c in COUNTERS)}, {_RATES},
                   v.video_url, v.cover_url, v.first_seen, v.last_seen
            FROM videos v WHERE {" AND ".join(where)}
        ) q
        ORDER BY {sort} DESC NULLS LAST, video_id
        LIMIT $limit OFFSET $offset
    """  # noqa: S608 - fixed names and a sort column from VIDEO_SORTS; values are bound parameters
    return reader.read(statement, params)


# Every observation's figures as extract/engagement.py computes them from a frame: rates per view (NULL without
# views), velocities per hour since the video's previous observation (NULL on its first). The window runs over
# all of a video's observations before the time filter, so the first one kept still has its velocity.
_ENGAGEMENT_FEATURES: Final = """
    SELECT video_id, observed_at, engagement_total, engagement_rate, virality_index, discussion_rate, save_rate,
           CAST(views - previous_views AS DOUBLE PRECISION) / nullif(hours, 0) AS views_velocity,
           CAST(engagement_total - previous_total AS DOUBLE PRECISION) / nullif(hours, 0) AS engagement_velocity
    FROM (
        SELECT video_id, observed_at, views, {rates},
               CAST(saves AS DOUBLE PRECISION) / nullif(views, 0) AS save_rate,
               lag(views) OVER w AS previous_views,
               lag({engagement}) OVER w AS previous_total,
               extract(epoch FROM observed_at - lag(observed_at) OVER w) / 3600.0 AS hours
        FROM video_stats s WHERE {videos}
        WINDOW w AS (PARTITION BY video_id ORDER BY observed_at)
    ) q
    WHERE {times}
    ORDER BY video_id, observed_at
    LIMIT $limit OFFSET $offset
"""


def video_engagement(
    reader: Reader,
    *,
    video_ids: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> pd.DataFrame:
    """Engagement features per video observation (``FEATURE_COLUMNS`` of extract/engagement.py), from video_stats.

    The same figures as :func:`tiktrend.extract.engagement.engagement_features` on the same observations, read
    from the store so the API and reports need not load frames; ``start``/``end`` bound the observation time.
    """
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if video_ids is None:
        videos = "1 = 1"
    else:
        videos = _in("s.video_id", "video", list(video_ids), params) if video_ids else "1 = 0"
    times = ["1 = 1"]
    if start is not None:
        params["start"] = _naive(start)
        times.append("observed_at >= $start")
    if end is not None:
        params["end"] = _naive(end)
        times.append("observed_at < $end")
    statement = _ENGAGEMENT_FEATURES.format(
        rates=_RATES, engagement=_ENGAGEMENT, videos=videos, times=" AND ".join(times)
    )
    frame = reader.read(statement, params)
    for column in frame.columns[2:]:
        frame[column] = frame[column].astype("float64")
    return frame


# ---- the pipeline's own log --------------------------------------------------------------------------------


def runs(reader: Reader, *, limit: int = 50, status: str | None = None) -> pd.DataFrame:
    """The latest runs first: command, parameters, times, status, summary and error."""
    found = reader.read(
        """
        SELECT run_id, command, params, started_at, finished_at, status, summary, error FROM runs
        WHERE CAST($status AS VARCHAR) IS NULL OR status = $status
        ORDER BY started_at DESC, run_id DESC
        LIMIT $limit
        """,
        {"limit": limit, "status": status},
    )
    seconds = (found["finished_at"] - found["started_at"]).dt.total_seconds()
    found.insert(5, "seconds", seconds.astype("float64"))
    return found


def pipeline_metrics(reader: Reader, *, run_id: str | None = None, last_runs: int = 50) -> pd.DataFrame:
    """Every figure the runs recorded (stage, metric, value), latest runs first."""
    return reader.read(
        """
        SELECT m.run_id, r.command, r.status, r.started_at, m.stage, m.metric, m.value
        FROM pipeline_metrics m JOIN runs r ON r.run_id = m.run_id
        WHERE (CAST($run_id AS VARCHAR) IS NULL OR m.run_id = $run_id)
          AND m.run_id IN (SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT $last_runs)
        ORDER BY r.started_at DESC, m.run_id DESC, m.stage, m.metric
        """,
        {"run_id": run_id, "last_runs": last_runs},
    )


def latest_metrics(reader: Reader) -> pd.DataFrame:
    """Each (stage, metric) as the latest run that recorded it left it, with that run's id and start."""
    return reader.read(
        """
        SELECT stage, metric, value, run_id, command, started_at FROM (
            SELECT m.stage, m.metric, m.value, m.run_id, r.command, r.started_at,
                   row_number() OVER (PARTITION BY m.stage, m.metric ORDER BY r.started_at DESC, m.run_id DESC) AS n
            FROM pipeline_metrics m JOIN runs r ON r.run_id = m.run_id
        ) q
        WHERE n = 1
        ORDER BY stage, metric
        """
    )


def run_counts(reader: Reader) -> pd.DataFrame:
    """Runs per command and status, with the start and duration of the latest of each."""
    return reader.read(
        """
        SELECT command, status, count(*) AS runs, max(started_at) AS last_started_at FROM runs
        GROUP BY command, status ORDER BY command, status
        """
    )


def quarantine_summary(reader: Reader) -> pd.DataFrame:
    """Rejected records per source, format and reason, with the first and last time each was seen."""
    return reader.read(
        """
        SELECT source, format, reason, count(*) AS records,
               min(quarantined_at) AS first_at, max(quarantined_at) AS last_at
        FROM quarantine GROUP BY source, format, reason
        ORDER BY records DESC, source, format, reason
        """
    )


def schema_version(reader: Reader) -> int:
    """The store's schema (DuckDB: layout) version."""
    found = reader.read("SELECT max(version) AS version FROM tiktrend_schema")
    value = found["version"].iloc[0] if len(found) else None
    return 0 if value is None or pd.isna(value) else int(value)


@dataclass
class Health:
    """Whether the store answers, its schema version, the latest run and the latest data."""

    backend: str
    schema_version: int
    latest_run: dict[str, Any] | None
    latest_bucket: datetime | None
    counts: dict[str, int]


def health(reader: Reader) -> Health:
    """A cheap check that the store answers, with what a monitor wants to see."""
    latest = runs(reader, limit=1)
    run = None
    if len(latest):
        row = latest.iloc[0]
        run = {
            "run_id": str(row["run_id"]),
            "command": str(row["command"]),
            "status": str(row["status"]),
            "started_at": _plain_time(row["started_at"]),
            "finished_at": _plain_time(row["finished_at"]),
            "error": None if pd.isna(row["error"]) else str(row["error"]),
        }
    counts = reader.read(
        "SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM trends) AS trends, "
        "(SELECT count(*) FROM quarantine) AS quarantine"
    )
    return Health(
        backend="postgresql" if reader.url.startswith(("postgresql:", "postgres:")) else "duckdb",
        schema_version=schema_version(reader),
        latest_run=run,
        latest_bucket=latest_bucket(reader, "hour"),
        counts={str(k): int(v) for k, v in counts.iloc[0].items()},
    )


def _plain_time(value: Any) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


# ---- what filters may say ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownValues:
    """The values a filter may take in this store (``*`` is always allowed for the slices)."""

    regions: tuple[str, ...]
    categories: tuple[str, ...]
    windows: tuple[str, ...]
    detectors: tuple[str, ...]
    modalities: tuple[str, ...] = MODALITIES


def known_values(reader: Reader) -> KnownValues:
    """The regions and categories the store holds, and the windows and detectors its trends were made with."""
    slices = reader.read("SELECT DISTINCT region, category FROM bucket_totals WHERE grain = 'day'")
    scopes = reader.read("SELECT DISTINCT time_window, detector FROM trends")
    return KnownValues(
        regions=tuple(sorted(set(slices["region"]) - {ALL})),
        categories=tuple(sorted(set(slices["category"]) - {ALL})),
        windows=tuple(sorted(set(scopes["time_window"]))),
        detectors=tuple(sorted(set(scopes["detector"]))),
    )


def data_version(reader: Reader) -> str:
    """Changes whenever a run starts or finishes, or trends are saved (what response caches key on)."""
    found = reader.read(
        "SELECT (SELECT count(*) FROM runs) AS n, (SELECT max(started_at) FROM runs) AS started, "
        "(SELECT max(finished_at) FROM runs) AS finished, (SELECT count(*) FROM trends) AS trends"
    )
    return json.dumps([str(v) for v in found.iloc[0].tolist()])
