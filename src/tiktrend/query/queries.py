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
from tiktrend.store.base import ALL, GRAINS

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
    return begin, stop


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
    statement = f"""
        WITH k AS (
            SELECT r.keyword, r.bucket, CAST(sum(r.videos) AS BIGINT) AS videos,
                   CAST(sum(r.mention_micros) AS DOUBLE PRECISION) / 1000000 AS mentions, {_SUMS}
            FROM keyword_rollup r
            WHERE r.grain = $grain AND r.bucket >= $start AND r.bucket < $end AND r.videos > 0
              AND {_in("r.keyword", "kw", list(dict.fromkeys(keywords)), params)} AND r.modality = $modality
              AND ($region = '*' OR r.region = $region) AND ($category = '*' OR r.category = $category)
            GROUP BY r.keyword, r.bucket
        )
        SELECT k.*, CAST(k.videos AS DOUBLE PRECISION) / t.videos AS share
        FROM k LEFT JOIN bucket_totals t
          ON t.bucket = k.bucket AND t.grain = $grain AND t.region = $region AND t.category = $category
        ORDER BY k.keyword, k.bucket
    """  # noqa: S608 - fixed names; values are bound parameters
    found = reader.read(statement, params)
    if not dense:
        return found[columns]
    return _densify(found[columns], list(dict.fromkeys(keywords)), span, grain)


def _densify(found: pd.DataFrame, keywords: list[str], span: tuple[datetime, datetime], grain: str) -> pd.DataFrame:
    """Every (keyword, bucket) of the span, zeros where nothing was mentioned."""
    buckets = pd.date_range(span[0], span[1], freq=GRAINS[grain], inclusive="left").as_unit("us")
    grid = pd.MultiIndex.from_product([keywords, buckets], names=["keyword", "bucket"])
    dense = found.assign(bucket=found["bucket"].astype("datetime64[us]")).set_index(["keyword", "bucket"])
    dense = dense.reindex(grid)
    for column in ("videos", *COUNTERS):
        dense[column] = dense[column].fillna(0).astype("int64")
    dense["mentions"] = dense["mentions"].astype("float64").fillna(0.0)
    dense["share"] = dense["share"].astype("float64").fillna(0.0)
    return dense.reset_index()


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
    params = {"keyword": keyword, "grain": grain, "start": span[0], "end": span[1]}
    breakdown = reader.read(
        f"""
        SELECT r.modality, r.region, r.category, min(r.display) AS display, CAST(sum(r.videos) AS BIGINT) AS videos,
               CAST(sum(r.mention_micros) AS DOUBLE PRECISION) / 1000000 AS mentions, {_SUMS}
        FROM keyword_rollup r
        WHERE r.keyword = $keyword AND r.grain = $grain AND r.bucket >= $start AND r.bucket < $end AND r.videos > 0
        GROUP BY r.modality, r.region, r.category
        """,  # noqa: S608 - fixed names; values are bound parameters
        params,
    )
    sliced = breakdown[
        ((breakdown["region"] == region) | (region == ALL)) & ((breakdown["category"] == category) | (category == ALL))
    ]
    folded = sliced[sliced["modality"] == ALL]
    detail = KeywordDetail(
        keyword=keyword,
        display=str(breakdown["display"].min()) if len(breakdown) else None,
        series=series,
        modalities=_totals(sliced[sliced["modality"] != ALL], "modality"),
        regions=_totals(breakdown[(breakdown["modality"] == ALL) & _match(breakdown, "category", category)], "region"),
        categories=_totals(breakdown[(breakdown["modality"] == ALL) & _match(breakdown, "region", region)], "category"),
        examples=example_videos(
            reader, keyword, start=span[0], end=span[1], region=region, category=category, limit=examples
        ),
        trends=keyword_trends(reader, keyword),
        start=span[0],
        end=span[1],
    )
    if len(folded):
        sums = pd.DataFrame([{c: folded[c].sum() for c in ("videos", "mentions", *COUNTERS)}])
        detail.totals = {str(k): _plain(v) for k, v in _with_rates(sums).to_dict("records")[0].items()}
    return detail


def _match(frame: pd.DataFrame, column: str, value: str) -> pd.Series:
    return frame[column] == value if value != ALL else pd.Series(True, index=frame.index)


def _totals(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Sums per ``by`` with the engagement rates, largest first."""
    columns = [by, "videos", "mentions", *COUNTERS]
    if frame.empty:
        return _with_rates(pd.DataFrame(columns=columns).astype({c: "int64" for c in ("videos", *COUNTERS)}))
    grouped = frame.groupby(by, as_index=False)[["videos", "mentions", *COUNTERS]].sum()
    return _with_rates(grouped).sort_values(["videos", by], ascending=[False, True]).reset_index(drop=True)


def _with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """engagement_total and the per-view rates, computed the way the SQL does."""
    out = frame.copy()
    total = sum(out[c].fillna(0) for c in ENGAGEMENT_PARTS) if len(out) else pd.Series(dtype="int64")
    views = out["views"].astype("float64").where(out["views"] > 0) if len(out) else pd.Series(dtype="float64")
    out["engagement_total"] = total
    out["engagement_rate"] = total / views
    out["virality_index"] = out["shares"] / views
    out["discussion_rate"] = out["comments"] / views
    return out


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
    """The most viewed videos mentioning a keyword in [start, end), with the modalities it appears in."""
    params = {
        "keyword": keyword,
        "start": _naive(start),
        "end": _naive(end),
        "region": region,
        "category": category,
        "limit": limit,
    }
    return reader.read(
        f"""
        WITH m AS (
            SELECT video_id, string_agg(modality, ',' ORDER BY modality) AS modalities
            FROM keyword_mentions
            WHERE keyword = $keyword
              AND (CAST($start AS TIMESTAMP) IS NULL OR posted_at >= $start)
              AND (CAST($end AS TIMESTAMP) IS NULL OR posted_at < $end)
              AND ($region = '*' OR region = $region) AND ($category = '*' OR category = $category)
            GROUP BY video_id
        )
        SELECT v.video_id, v.author, v.caption, v.video_url, v.cover_url, v.posted_at, v.region, v.category,
               m.modalities, {", ".join(f"v.{c}" for c in COUNTERS)}
        FROM m JOIN videos v ON v.video_id = m.video_id
        ORDER BY v.views DESC NULLS LAST, v.video_id
        LIMIT $limit
        """,  # noqa: S608 - fixed names; values are bound parameters
        params,
    )


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
