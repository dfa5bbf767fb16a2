"""The endpoints: each checks its parameters, calls one query-layer function and shapes the answer."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from tiktrend import query
from tiktrend.api import checks
from tiktrend.api.app import check_api_key
from tiktrend.api.prometheus import CONTENT_TYPE, render
from tiktrend.api.responses import Format, chosen_format, download, json_body, records_json
from tiktrend.query import KEYWORD_SORTS, VIDEO_SORTS, KnownValues, Reader
from tiktrend.query.queries import video_engagement
from tiktrend.store.base import ALL, GRAINS
from tiktrend.store.rollup_sql import TOP_VIDEOS

router = APIRouter()
protected = APIRouter(dependencies=[Depends(check_api_key)])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "TIKTREND_API_KEY is set and the X-API-Key header does not carry it."},
    422: {"description": "A parameter is invalid; the detail names it and what is allowed."},
    503: {"description": "The store cannot be read now (a pipeline writing a DuckDB file: retry after a moment)."},
}


class Items(BaseModel):
    """A list: its rows (also downloadable as CSV or Parquet with ``format``)."""

    items: list[dict[str, Any]]
    count: int


class TrendPage(Items):
    """One page of ranked trends; pass ``next_cursor`` back as ``cursor`` for the next page."""

    next_cursor: str | None = Field(description="Opaque; null on the last page.")
    snapshot: datetime | None = Field(description="The latest detection time the pages read (fixed by the cursor).")


class KeywordDetailModel(BaseModel):
    """One keyword's evidence over [start, end)."""

    keyword: str
    display: str | None
    start: datetime | None
    end: datetime | None
    totals: dict[str, Any]
    series: list[dict[str, Any]]
    modalities: list[dict[str, Any]]
    regions: list[dict[str, Any]]
    categories: list[dict[str, Any]]
    examples: list[dict[str, Any]]
    trends: list[dict[str, Any]]


class HealthModel(BaseModel):
    """Whether the store answers, its schema version and what the pipeline did last."""

    status: str
    backend: str
    schema_version: int
    latest_run: dict[str, Any] | None
    latest_bucket: datetime | None
    counts: dict[str, int]


def reader(request: Request) -> Reader:
    """The process's one reader, opened at startup."""
    found: Reader = request.app.state.reader
    return found


def known(request: Request) -> KnownValues:
    """What filters may name (cached for half a minute)."""
    cache: checks.KnownCache = request.app.state.known
    return cache.get()


ReaderDep = Annotated[Reader, Depends(reader)]
KnownDep = Annotated[KnownValues, Depends(known)]
FormatParam = Annotated[Format | None, Query(description="json (default), csv or parquet; or use the Accept header.")]
RegionParam = Annotated[str, Query(max_length=64, description="A region code the store holds, or * for all.")]
CategoryParam = Annotated[str, Query(max_length=64, description="A category the store holds, or * for all.")]
ModalityParam = Annotated[str, Query(max_length=32, description="hashtag, caption, music, ... or * for all.")]
StartParam = Annotated[datetime | None, Query(description="From this time (ISO 8601; UTC when no zone).")]
EndParam = Annotated[datetime | None, Query(description="Until this time, excluded.")]


def _frame_answer(request: Request, frame: Any, kind: Format | None, name: str, **extra: str) -> Response:
    chosen = chosen_format(request, kind)
    if chosen is not Format.json:
        return download(frame, chosen, name)
    return json_body(items=records_json(frame), count=str(len(frame)), **extra)


@protected.get("/trends", response_model=TrendPage, tags=["trends"], responses={**ERRORS, 400: {}})
def get_trends(
    request: Request,
    store: ReaderDep,
    known: KnownDep,
    window: Annotated[str | None, Query(max_length=16, description="1h, 1d, 7d (default: every window).")] = None,
    region: RegionParam = ALL,
    category: CategoryParam = ALL,
    modality: ModalityParam = ALL,
    detector: Annotated[str | None, Query(max_length=32, description="threshold, poisson, ... (default: all).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=4000, description="next_cursor of the previous page.")] = None,
    format: FormatParam = None,
) -> Response:
    """The latest ranked trends of a slice, by window, detector and rank; paged with a stable cursor."""
    page = query.trends(
        store,
        window=checks.window(known, window),
        region=checks.region(known, region),
        category=checks.category(known, category),
        modality=checks.modality(modality),
        detector=checks.detector(detector),
        limit=limit,
        cursor=cursor,
    )
    snapshot = None if page.snapshot is None else page.snapshot.isoformat()
    chosen = chosen_format(request, format)
    if chosen is not Format.json:
        answer = download(page.rows, chosen, "trends")
        if page.next_cursor:
            answer.headers["X-Next-Cursor"] = page.next_cursor
        return answer
    return json_body(
        items=records_json(page.rows),
        count=str(len(page.rows)),
        next_cursor=json.dumps(page.next_cursor),
        snapshot=json.dumps(snapshot),
    )


@protected.get("/keywords/top", response_model=Items, tags=["keywords"], responses=ERRORS)
def get_top_keywords(
    request: Request,
    store: ReaderDep,
    known: KnownDep,
    regions: Annotated[list[str], Query(description="Regions (repeat or comma-separate; none: all).")] = [],  # noqa: B006
    categories: Annotated[list[str], Query(description="Categories (none: all).")] = [],  # noqa: B006
    modalities: Annotated[list[str], Query(description="Modalities (none: all, each video once).")] = [],  # noqa: B006
    start: StartParam = None,
    end: EndParam = None,
    top: Annotated[int, Query(ge=1, le=1000)] = 10,
    sort: Annotated[str, Query(description=f"One of {', '.join(KEYWORD_SORTS)}.")] = "engagement_total",
    include_generic: Annotated[bool, Query(description="Keep generic reach tags (fyp, viral...).")] = False,
    format: FormatParam = None,
) -> Response:
    """The top keywords by engagement with the original's filters, each with its main modality."""
    if sort not in KEYWORD_SORTS:
        raise HTTPException(422, f"unknown sort {sort!r}: allowed values are {', '.join(KEYWORD_SORTS)}")
    start, end = checks.time_range(start, end)
    frame = query.top_keywords(
        store,
        regions=checks.regions(known, regions),
        categories=checks.categories(known, categories),
        modalities=checks.modalities(modalities),
        start=start,
        end=end,
        top=top,
        sort=sort,
        include_generic=include_generic,
    )
    return _frame_answer(request, frame, format, "top_keywords")


@protected.get(
    "/keywords/{keyword}",
    response_model=KeywordDetailModel,
    tags=["keywords"],
    responses={**ERRORS, 404: {"description": "The keyword has no mention in the range."}},
)
def get_keyword(
    request: Request,
    store: ReaderDep,
    known: KnownDep,
    keyword: Annotated[str, Path(description="The keyword as stored (lower case; hashtags without #).")],
    grain: Annotated[str, Query(description="hour or day buckets.")] = "hour",
    start: StartParam = None,
    end: EndParam = None,
    region: RegionParam = ALL,
    category: CategoryParam = ALL,
    examples: Annotated[
        int, Query(ge=0, le=TOP_VIDEOS, description="Example videos: the most viewed of the days the range touches.")
    ] = 5,
    format: Annotated[Format | None, Query(description="csv or parquet: download the series.")] = None,
) -> Response:
    """A keyword's series per bucket, modalities, regions, categories, example videos and current trends."""
    if grain not in GRAINS:
        raise HTTPException(422, f"unknown grain {grain!r}: allowed values are {', '.join(GRAINS)}")
    start, end = checks.time_range(start, end)
    detail = query.keyword_detail(
        store,
        checks.keyword(keyword),
        grain=grain,
        start=start,
        end=end,
        region=checks.region(known, region),
        category=checks.category(known, category),
        examples=examples,
    )
    if not detail.found and detail.trends.empty:
        span = "" if detail.start is None else f" between {detail.start:%Y-%m-%d %H:%M} and {detail.end:%Y-%m-%d %H:%M}"
        raise HTTPException(
            404, f"no mention of {keyword!r}{span}: check the spelling, or widen the range with start and end"
        )
    chosen = chosen_format(request, format)
    if chosen is not Format.json:
        return download(detail.series, chosen, "keyword_series")
    return json_body(
        keyword=json.dumps(detail.keyword, ensure_ascii=False),
        display=json.dumps(detail.display, ensure_ascii=False),
        start=json.dumps(None if detail.start is None else detail.start.isoformat()),
        end=json.dumps(None if detail.end is None else detail.end.isoformat()),
        totals=json.dumps(detail.totals),
        series=records_json(detail.series),
        modalities=records_json(detail.modalities),
        regions=records_json(detail.regions),
        categories=records_json(detail.categories),
        examples=records_json(detail.examples),
        trends=records_json(detail.trends),
    )


@protected.get("/videos", response_model=Items, tags=["videos"], responses=ERRORS)
def get_videos(
    request: Request,
    store: ReaderDep,
    known: KnownDep,
    region: RegionParam = ALL,
    category: CategoryParam = ALL,
    keyword: Annotated[str | None, Query(description="Only videos mentioning this keyword.")] = None,
    modality: Annotated[str, Query(max_length=32, description="...in this modality (with keyword).")] = ALL,
    start: StartParam = None,
    end: EndParam = None,
    sort: Annotated[str, Query(description=f"One of {', '.join(VIDEO_SORTS)} (largest first).")] = "views",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    format: FormatParam = None,
) -> Response:
    """Videos, most viewed first (or by ``sort``), by slice, posting time and keyword."""
    if sort not in VIDEO_SORTS:
        raise HTTPException(422, f"unknown sort {sort!r}: allowed values are {', '.join(VIDEO_SORTS)}")
    start, end = checks.time_range(start, end)
    frame = query.videos(
        store,
        region=checks.region(known, region),
        category=checks.category(known, category),
        keyword=None if keyword is None else checks.keyword(keyword),
        modality=checks.modality(modality),
        start=start,
        end=end,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return _frame_answer(request, frame, format, "videos")


@protected.get(
    "/videos/{video_id}/engagement",
    response_model=Items,
    tags=["videos"],
    responses={**ERRORS, 404: {"description": "No observation of that video in the range."}},
)
def get_video_engagement(
    request: Request,
    store: ReaderDep,
    video_id: Annotated[
        str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="The platform's video id, as in /videos.")
    ],
    start: StartParam = None,
    end: EndParam = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    format: FormatParam = None,
) -> Response:
    """One video's engagement per observation: rates per view and growth per hour since the previous one."""
    start, end = checks.time_range(start, end)
    frame = video_engagement(store, video_ids=[video_id], start=start, end=end, limit=limit)
    if frame.empty:
        raise HTTPException(404, f"no observation of video {video_id!r} in that range: check the id, or widen it")
    return _frame_answer(request, frame, format, "video_engagement")


@protected.get("/regions", response_model=Items, tags=["slices"], responses=ERRORS)
def get_regions(
    request: Request,
    store: ReaderDep,
    known: KnownDep,
    start: StartParam = None,
    end: EndParam = None,
    category: CategoryParam = ALL,
    format: FormatParam = None,
) -> Response:
    """Per region: videos posted, engagement sums and rates (the original's map)."""
    start, end = checks.time_range(start, end)
    frame = query.regions(store, start=start, end=end, category=checks.category(known, category))
    return _frame_answer(request, frame, format, "regions")


@protected.get("/categories", response_model=Items, tags=["slices"], responses=ERRORS)
def get_categories(
    request: Request,
    store: ReaderDep,
    known: KnownDep,
    start: StartParam = None,
    end: EndParam = None,
    region: RegionParam = ALL,
    format: FormatParam = None,
) -> Response:
    """Per category: videos posted, engagement sums and rates (the original's category chart)."""
    start, end = checks.time_range(start, end)
    frame = query.categories(store, start=start, end=end, region=checks.region(known, region))
    return _frame_answer(request, frame, format, "categories")


@protected.get("/runs", response_model=Items, tags=["pipeline"], responses=ERRORS)
def get_runs(
    request: Request,
    store: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    status: Annotated[str | None, Query(max_length=32, description="ok, failed or running.")] = None,
    format: FormatParam = None,
) -> Response:
    """The latest runs: command, parameters, times, status, summary, error."""
    return _frame_answer(request, query.runs(store, limit=limit, status=status), format, "runs")


@protected.get("/runs/metrics", response_model=Items, tags=["pipeline"], responses=ERRORS)
def get_run_metrics(
    request: Request,
    store: ReaderDep,
    run_id: Annotated[str | None, Query(max_length=64, description="One run (default: the latest runs).")] = None,
    last_runs: Annotated[int, Query(ge=1, le=1000)] = 20,
    format: FormatParam = None,
) -> Response:
    """Every figure the latest runs recorded per stage (volumes, seconds...)."""
    frame = query.pipeline_metrics(store, run_id=run_id, last_runs=last_runs)
    return _frame_answer(request, frame, format, "pipeline_metrics")


@protected.get("/quarantine", response_model=Items, tags=["pipeline"], responses=ERRORS)
def get_quarantine(request: Request, store: ReaderDep, format: FormatParam = None) -> Response:
    """Rejected records per source, format and reason."""
    return _frame_answer(request, query.quarantine_summary(store), format, "quarantine")


@protected.get("/backtests", response_model=Items, tags=["backtests"], responses=ERRORS)
def get_backtests(request: Request, format: FormatParam = None) -> Response:
    """Every detector's figures in every report `tiktrend backtest --out` wrote under TIKTREND_REPORTS_DIR."""
    frame = query.backtest_reports(request.app.state.settings.reports_dir)
    return _frame_answer(request, frame, format, "backtests")


@protected.get(
    "/backtests/{report:path}",
    tags=["backtests"],
    responses={**ERRORS, 404: {"description": "No report of that name."}},
)
def get_backtest(request: Request, report: str) -> dict[str, Any]:
    """One whole backtest report (its ``report`` name from /backtests): figures, ROC curves, misses."""
    try:
        return query.backtest_report(request.app.state.settings.reports_dir, report)
    except query.ReportNotFound as exc:
        raise HTTPException(404, f"{exc}; /backtests lists the reports") from exc


@protected.get("/metrics", tags=["pipeline"], response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}})
def get_metrics(store: ReaderDep) -> Response:
    """Runs, pipeline figures, quarantine and detections in the Prometheus text format."""
    return Response(render(store), media_type=CONTENT_TYPE)


@router.get("/health", response_model=HealthModel, tags=["pipeline"], responses={503: ERRORS[503]})
def get_health(store: ReaderDep) -> HealthModel:
    """Whether the store answers, its schema version, the latest run and the latest data (no API key needed)."""
    found = query.health(store)
    return HealthModel(
        status="ok",
        backend=found.backend,
        schema_version=found.schema_version,
        latest_run=found.latest_run,
        latest_bucket=found.latest_bucket,
        counts=found.counts,
    )


router.include_router(protected)
