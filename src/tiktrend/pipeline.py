"""The pieces of one run, as plain functions over a store and the data directory.

collect/ingest -> raw zone -> normalize (bad -> quarantine) -> extract -> load -> rollup -> detect.
``tiktrend ingest`` streams a file through all of them chunk by chunk; ``tiktrend run`` and the Airflow DAG
go through the interval stages of ``tiktrend.orchestrate``, which are built from these.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tiktrend.collect.formats import (
    ImportContext,
    RawRecord,
    detect_format,
    normalize,
    read_records,
)
from tiktrend.collect.rawzone import Quarantine, QuarantineWriter, RawZone, batch_id_for, excerpt, file_digest
from tiktrend.extract.keywords import extract_mentions
from tiktrend.models import VIDEO_COLUMNS, RecordError, Video
from tiktrend.settings import Settings
from tiktrend.store import ALL, GRAINS, LoadResult, Store
from tiktrend.trend_records import record_trends
from tiktrend.trends.detectors import ThresholdDetector
from tiktrend.trends.rank import rank_trends
from tiktrend.trends.series import FREQUENCIES, STEPS, Series, build_series
from tiktrend.trends.windows import WINDOWS, Window, compare_windows

if TYPE_CHECKING:
    from tiktrend.orchestrate import HeavyStaged

Progress = Callable[[int], None]


@dataclass
class IngestReport:
    """What ingesting one or more inputs did; ``read == accepted + quarantined`` always."""

    inputs: int = 0
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    batches_new: int = 0
    batches_replayed: int = 0
    videos_new: int = 0
    videos_updated: int = 0
    stats_new: int = 0
    mentions_new: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    batch_ids: list[str] = field(default_factory=list)

    def add_load(self, result: LoadResult) -> None:
        self.videos_new += result.videos_new
        self.videos_updated += result.videos_updated
        self.stats_new += result.stats_new
        self.mentions_new += result.mentions_new

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random hex."""
    return f"{datetime.now(tz=UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def chunks(records: Iterable[RawRecord], size: int, max_bytes: int | None = None) -> Iterator[list[RawRecord]]:
    """Chunks of ``size`` records, cut earlier once their source text passes ``max_bytes``."""
    # A count alone would let large records (a web item is ~7 KiB of JSON, ten times that once parsed) fill
    # memory: memory must stay flat in the input, whatever the records look like.
    chunk: list[RawRecord] = []
    held = 0
    for record in records:
        chunk.append(record)
        held += record.size
        if len(chunk) >= size or (max_bytes is not None and held >= max_bytes):
            yield chunk
            chunk = []
            held = 0
    if chunk:
        yield chunk


def _short_reason(reason: str) -> str:
    """The reason's kind (before the first colon), to count rejects by kind in summaries."""
    return reason.split(":", 1)[0][:80]


def videos_frame(videos: list[Video]) -> pd.DataFrame:
    """A frame with ``VIDEO_COLUMNS`` from validated videos (pydantic keeps fields in ``__dict__``)."""
    return pd.DataFrame.from_records([v.__dict__ for v in videos], columns=list(VIDEO_COLUMNS))


def ingest_file(
    path: Path,
    store: Store,
    settings: Settings,
    *,
    fmt: str | None = None,
    source: str | None = None,
    region: str | None = None,
    category: str | None = None,
    columns: Mapping[str, str] | None = None,
    observed_at: datetime | None = None,
    report: IngestReport | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Read one file into the raw zone, normalize, quarantine the bad, extract and load the good."""
    report = report or IngestReport()
    fmt = fmt or ("csv" if columns else detect_format(path))
    batch_id = batch_id_for(file_digest(path), fmt, columns)
    source = source or fmt
    # Records without an observation time get ``observed_at`` (a live reply's fetch time) or else the file's
    # modification time, remembered with the batch so that ingesting the same content again (even from a
    # copy with a new mtime) gives the same rows.
    seen = observed_at or datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)
    fallback = seen.astimezone(UTC).isoformat()
    defaults = {
        "fallback_observed_at": fallback,
        "default_region": region,
        "default_category": category,
        "columns": dict(columns) if columns else None,
    }
    raw_writer = RawZone(settings.raw_dir).writer(batch_id, source, fmt, path, defaults)
    context = ImportContext(
        fallback_observed_at=datetime.fromisoformat(raw_writer.meta.fallback_observed_at or fallback),
        default_region=region,
        default_category=category,
        columns=columns,
    )
    try:
        records = read_records(path, fmt, columns)
        _load_records(records, fmt, source, batch_id, context, store, settings, report, progress, raw_writer.write)
    except BaseException:
        raw_writer.abort()
        raise
    raw_writer.commit()
    report.inputs += 1
    report.batch_ids.append(batch_id)
    if raw_writer.skip:
        report.batches_replayed += 1
    else:
        report.batches_new += 1
    return report


def ingest_records(
    records: list[RawRecord],
    store: Store,
    settings: Settings,
    *,
    batch_id: str,
    fmt: str,
    source: str,
    origin: Path,
    observed_at: datetime,
    region: str | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Load records that came from a live reply (``origin``, kept in the raw zone) as one raw-zone batch."""
    report = report or IngestReport()
    defaults = {"fallback_observed_at": observed_at.astimezone(UTC).isoformat(), "default_region": region}
    raw_writer = RawZone(settings.raw_dir).writer(batch_id, source, fmt, origin, defaults)
    context = ImportContext(
        fallback_observed_at=datetime.fromisoformat(raw_writer.meta.fallback_observed_at),
        default_region=region,
    )
    try:
        _load_records(records, fmt, source, batch_id, context, store, settings, report, None, raw_writer.write)
    except BaseException:
        raw_writer.abort()
        raise
    raw_writer.commit()
    report.inputs += 1
    report.batch_ids.append(batch_id)
    if raw_writer.skip:
        report.batches_replayed += 1
    else:
        report.batches_new += 1
    return report


def replay(store: Store, settings: Settings, *, progress: Progress | None = None) -> IngestReport:
    """Load every batch of the raw zone again, exactly as first read (rebuilds a store from raw data)."""
    report = IngestReport()
    zone = RawZone(settings.raw_dir)
    for batch in zone.batches():
        meta = zone.meta(batch)
        context = ImportContext(
            fallback_observed_at=datetime.fromisoformat(meta.fallback_observed_at)
            if meta.fallback_observed_at
            else datetime.fromtimestamp(int(batch.stat().st_mtime), tz=UTC),
            default_region=meta.default_region,
            default_category=meta.default_category,
            columns=meta.columns,
        )
        records = zone.replay(batch)
        _load_records(records, meta.format, meta.source, meta.batch_id, context, store, settings, report, progress)
        report.inputs += 1
        report.batches_replayed += 1
        report.batch_ids.append(meta.batch_id)
    # The trend lists live sources read (Creative Center) are kept as replies, not batches: load them too.
    from tiktrend.collect.collector import replay_trend_lists

    replay_trend_lists(store, settings)
    return report


def _load_records(
    records: Iterable[RawRecord],
    fmt: str,
    source: str,
    batch_id: str,
    context: ImportContext,
    store: Store,
    settings: Settings,
    report: IngestReport,
    progress: Progress | None,
    keep_raw: Callable[[list[RawRecord]], None] | None = None,
) -> None:
    """Chunk by chunk: keep the raw records (when asked), quarantine the bad ones, load the good ones."""
    quarantine_writer = Quarantine(settings.quarantine_dir).writer(source, batch_id)
    limits = (settings.chunk_size, settings.chunk_mib * 2**20)
    try:
        for part in normalized_chunks(records, fmt, source, batch_id, context, *limits, keep_raw=keep_raw):
            _load_part(part, batch_id, store, quarantine_writer, report)
            if progress is not None:
                progress(part.read)
    except BaseException:
        quarantine_writer.abort()
        raise
    quarantine_writer.commit()


Reject = tuple[RawRecord, str, dict[str, Any]]


@dataclass
class Normalized:
    """One chunk of records, normalized: how many were read, the valid videos, and the rejects."""

    read: int = 0
    videos: list[Video] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def normalized_chunks(
    records: Iterable[RawRecord],
    fmt: str,
    source: str,
    batch_id: str,
    context: ImportContext,
    size: int,
    max_bytes: int | None = None,
    *,
    keep_raw: Callable[[list[RawRecord]], None] | None = None,
) -> Iterator[Normalized]:
    """Records normalized as they are read, in chunks of ``size`` records or ``max_bytes`` of source text.

    Each record is kept raw (``keep_raw``, before anything parses it further) and normalized on arrival, so a
    chunk holds small videos rather than parsed records (a web item is ~7 KiB of JSON, ten times that parsed):
    only rejected records are held whole, for the quarantine.
    """
    part = Normalized()
    held = 0
    for raw in records:
        if keep_raw is not None:
            keep_raw([raw])
        outcome = _normalize_one(raw, fmt, source, batch_id, context)
        if isinstance(outcome, Video):
            part.videos.append(outcome)
        else:
            part.rejects.append(outcome)
        part.read += 1
        held += raw.size
        if part.read >= size or (max_bytes is not None and held >= max_bytes):
            yield part
            part = Normalized()
            held = 0
    if part.read:
        yield part


def _normalize_one(raw: RawRecord, fmt: str, source: str, batch_id: str, context: ImportContext) -> Video | Reject:
    try:
        if raw.record is None:
            raise RecordError(raw.error or "record could not be decoded")
        return normalize(raw.record, fmt, context, raw.meta)
    except RecordError as exc:
        row = {
            "batch_id": batch_id,
            "position": raw.position,
            "source": source,
            "format": fmt,
            "reason": exc.reason,
            "excerpt": excerpt(raw),
        }
        return raw, exc.reason, row


def normalize_chunk(
    chunk: list[RawRecord], fmt: str, source: str, batch_id: str, context: ImportContext
) -> tuple[list[Video], list[Reject]]:
    """The chunk's valid videos, and its rejects: each record, its reason and its quarantine table row."""
    part = next(normalized_chunks(chunk, fmt, source, batch_id, context, max(len(chunk), 1)), Normalized())
    return part.videos, part.rejects


def count_reasons(reasons: dict[str, int], rejects: list[Reject]) -> None:
    """Add the rejects' reasons, by kind, to ``reasons``."""
    for _, reason, _ in rejects:
        kind = _short_reason(reason)
        reasons[kind] = reasons.get(kind, 0) + 1


def _load_part(
    part: Normalized, batch_id: str, store: Store, quarantine_writer: QuarantineWriter, report: IngestReport
) -> None:
    for raw, reason, _ in part.rejects:
        quarantine_writer.write(batch_id, raw, reason)
    count_reasons(report.reasons, part.rejects)
    report.read += part.read
    report.accepted += len(part.videos)
    report.quarantined += len(part.rejects)
    if part.rejects:
        store.load_quarantine(pd.DataFrame([row for _, _, row in part.rejects]))
    if part.videos:
        frame = videos_frame(part.videos)
        # Extraction folds repeated observations itself (an edited caption adds its new mentions).
        report.add_load(store.load_batch(frame, extract_mentions(frame)))


def ingest(
    paths: Iterable[Path],
    store: Store,
    settings: Settings,
    *,
    fmt: str | None = None,
    source: str | None = None,
    region: str | None = None,
    category: str | None = None,
    columns: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest several files (directories are walked for known extensions) into one report."""
    report = IngestReport()
    for path in expand_inputs(paths):
        ingest_file(
            path,
            store,
            settings,
            fmt=fmt,
            source=source,
            region=region,
            category=category,
            columns=columns,
            report=report,
            progress=progress,
        )
    return report


_INPUT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".csv.gz")


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the known data files inside given directories (sorted); missing paths fail clearly."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(_INPUT_SUFFIXES)))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return files


def rollup(store: Store) -> int:
    """Bring the hourly and daily rollups up to date with everything loaded."""
    return store.refresh_rollups()


@dataclass
class DetectReport:
    """What a detection pass found per window."""

    as_of: datetime | None = None
    windows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    rows_changed: int = 0


def default_as_of(store: Store) -> datetime | None:
    """The end of the latest hour that holds data: the 'now' of a detection over stored history."""
    span = store.time_range()
    if span is None:
        return None
    latest = span[1].replace(minute=0, second=0, microsecond=0)
    return latest + GRAINS["hour"].to_pytimedelta()


def detect(
    store: Store,
    run_id: str,
    *,
    windows: Iterable[str] = tuple(WINDOWS),
    detector: ThresholdDetector | None = None,
    as_of: datetime | None = None,
) -> DetectReport:
    """Score every keyword of every slice for each window at ``as_of``, and store the ranked trends."""
    detector = detector or ThresholdDetector()
    report = DetectReport(as_of=as_of or default_as_of(store))
    span = store.time_range()
    if report.as_of is None or span is None:
        return report
    for name in windows:
        window = Window(name, report.as_of)
        if span[0] > window.before_start + timedelta(hours=1):
            report.skipped[name] = (
                f"history starts {span[0]:%Y-%m-%d %H:%M}, after the start of the window before "
                f"({window.before_start:%Y-%m-%d %H:%M}): not enough history to compare"
            )
            continue
        buckets = store.bucket_frame("hour", window.before_start, window.as_of)
        totals = store.totals_frame("hour", window.before_start, window.as_of)
        if buckets.empty:
            report.windows[name] = 0
            continue
        scored = detector.score(compare_windows(buckets, totals, window))
        trends = rank_trends(scored, as_of=report.as_of, window=name, detector=detector.name)
        report.rows_changed += record_trends(
            store, trends, run_id, window_start=window.now_start, tolerance=window.length
        ).rows_changed
        report.windows[name] = len(trends)
    return report


class StageTimer:
    """Collects per-stage durations for ``pipeline_metrics``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, stage: str) -> _Timing:
        return _Timing(self, stage)


class _Timing:
    def __init__(self, timer: StageTimer, stage: str) -> None:
        self.timer = timer
        self.stage = stage
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timer.seconds[self.stage] = self.timer.seconds.get(self.stage, 0.0) + time.perf_counter() - self.start


@dataclass
class RunSummary:
    """Everything one ``tiktrend run`` did, as stored in ``runs.summary``."""

    run_id: str
    ingest: IngestReport
    rollup_rows: int
    detect: DetectReport
    seconds: dict[str, float]
    simulated: Path | None = None
    ground_truth: Path | None = None
    heavy: dict[str, Any] | None = None  # the heavy stage's HeavyStaged.as_dict() (OCR, speech, image captions)


def run_pipeline(
    store: Store,
    settings: Settings,
    inputs: list[Path] | None = None,
    *,
    fmt: str | None = None,
    region: str | None = None,
    windows: Iterable[str] = tuple(WINDOWS),
    detector: ThresholdDetector | None = None,
    simulation: Any = None,
    progress: Progress | None = None,
) -> RunSummary:
    """The whole pipeline once; with no inputs, on a fresh simulated feed (the embedded default)."""
    from tiktrend import orchestrate  # the stages are built from this module's pieces, so imported when used
    from tiktrend.collect.simulator import SimConfig, write_simulation

    detector = detector or ThresholdDetector()
    windows = tuple(windows)
    run_id = new_run_id()
    params = {
        "inputs": [str(p) for p in inputs or []],
        "format": fmt,
        "windows": windows,
        **detector.params(),
    }
    store.start_run(run_id, "run", params)
    timer = StageTimer()
    simulated: Any = None
    try:
        source = None
        if not inputs:
            with timer.time("simulate"):
                simulated = write_simulation(simulation or SimConfig(), settings.sim_dir)
            inputs, source = [simulated.feed_path], "simulator"
        with timer.time("ingest"):
            report, extracted, heavy = _collect_extract_load(
                inputs, store, settings, run_id, fmt, source, region, progress
            )
        with timer.time("rollup"):
            rows = rollup(store)
        with timer.time("detect"):
            found = detect(store, run_id, windows=windows, detector=detector)
        summary = RunSummary(
            run_id=run_id,
            ingest=report,
            rollup_rows=rows,
            detect=found,
            seconds=timer.seconds,
            simulated=simulated.feed_path if simulated else None,
            ground_truth=simulated.truth_path if simulated else None,
            heavy=heavy.as_dict(),
        )
        orchestrate.metrics_stage(
            store,
            run_id,
            ingest=report,
            extract=extracted,
            rollup_rows=rows,
            detected=found,
            seconds=timer.seconds,
            heavy=heavy.figures,
        )
        orchestrate.alerts_stage(store, settings, run_id, as_of=found.as_of)
    except BaseException as exc:
        store.finish_run(run_id, "failed", {"seconds": timer.seconds}, error=f"{type(exc).__name__}: {exc}")
        raise
    store.finish_run(run_id, "ok", asdict(summary))
    return summary


def _collect_extract_load(
    inputs: list[Path],
    store: Store,
    settings: Settings,
    run_id: str,
    fmt: str | None,
    source: str | None,
    region: str | None,
    progress: Progress | None,
) -> tuple[IngestReport, dict[str, float], HeavyStaged]:
    """The collect, extract, heavy and load stages of ``tiktrend.orchestrate`` (those the DAG runs)."""
    from tiktrend import orchestrate

    collected = orchestrate.collect_files(inputs, settings, fmt=fmt, source=source, region=region)
    staging = orchestrate.staging_dir(settings, run_id)
    batches = orchestrate.batches_for(settings, batch_ids=collected.batch_ids)
    try:
        staged = orchestrate.extract_batches(batches, settings, staging, progress=progress)
        heavy = orchestrate.heavy_stage(settings, staging)  # never raises for an image or a model: text loads
        loaded = orchestrate.load_staged(store, staging)
    except BaseException:
        # The staging folder is this run's alone (the DAG keeps an interval's for its retries): the raw zone
        # holds the inputs, and the next run extracts them again.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return orchestrate.ingest_report(collected, staged, loaded), staged.figures, heavy


# ---- series detection and backtests (issue 6) -----------------------------------------------------------


def load_series(
    store: Store,
    *,
    grain: str = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
    region: str | None = None,
    category: str | None = ALL,
    modality: str | None = ALL,
    include_generic: bool = False,
    velocity: bool = True,
) -> Series:
    """The keyword x bucket series of a store (every region slice unless ``region`` is given).

    ``start`` and ``end`` default to the stored history; velocities come from ``video_stats`` and only
    count observations made before ``end``.
    """
    span = store.time_range()
    if span is None:
        raise ValueError("the store holds no keyword yet: ingest or run something first")
    step = STEPS[grain].to_pytimedelta()
    start = start or span[0]
    end = end or (pd.Timestamp(span[1]).floor(FREQUENCIES[grain]).to_pydatetime() + step)
    rows = store.bucket_frame(
        grain, start, end, region=region, category=category, modality=modality, include_generic=include_generic
    )
    totals = store.totals_frame(grain, start, end)
    gained = (
        store.velocity_frame(
            grain, start, end, region=region, category=category, modality=modality, include_generic=include_generic
        )
        if velocity
        else None
    )
    gained_totals = store.velocity_totals_frame(grain, start, end) if velocity else None
    return build_series(
        rows,
        totals,
        grain=grain,
        start=start,
        end=end,
        gained=gained,
        gained_totals=gained_totals,
        include_generic=include_generic,
    )


# How much history a series detection reads: the baseline's half-life several times over.
LOOKBACK = {"hour": timedelta(days=7), "day": timedelta(days=60)}


@dataclass
class SeriesDetection:
    """What one series detection ranked (``TREND_COLUMNS``) and stored, with its example videos."""

    as_of: datetime | None
    trends: pd.DataFrame
    rows_changed: int = 0
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)


def detect_series(
    store: Store,
    run_id: str,
    detector: Any,
    *,
    grain: str = "hour",
    as_of: datetime | None = None,
    region: str | None = None,
    category: str | None = ALL,
    modality: str | None = ALL,
    examples: int = 3,
) -> SeriesDetection:
    """Score a series detector over the recent history, rank what it flags now, store it in ``trends``."""
    from tiktrend.trends.rank import TREND_COLUMNS, rank_series

    as_of = as_of or default_as_of(store)
    if as_of is None:
        return SeriesDetection(None, pd.DataFrame(columns=list(TREND_COLUMNS)))
    end = pd.Timestamp(as_of).ceil(FREQUENCIES[grain]).to_pydatetime()
    series = load_series(
        store,
        grain=grain,
        start=end - LOOKBACK[grain],
        end=end,
        region=region,
        category=category,
        modality=modality,
        velocity=any(m.name == "velocity" for m in getattr(detector, "members", [detector])),
    )
    window = int(getattr(detector, "window", 0) or getattr(detector.members[0], "window", 1))
    ranked = rank_series(series, detector.score_series(series), detector=detector.name, window=window, as_of=end)
    now = window * STEPS[grain].to_pytimedelta()  # rank_series's "now" and its longest gap within a run of flags
    recorded = record_trends(store, ranked, run_id, window_start=end - now, tolerance=now, examples=examples)
    return SeriesDetection(end, recorded.trends, recorded.rows_changed, recorded.examples)
