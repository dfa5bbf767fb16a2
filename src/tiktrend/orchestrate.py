"""The pipeline's stages over one data interval: the functions ``tiktrend run`` and the Airflow DAG both call.

collect -> extract -> heavy -> load -> rollups -> detect -> metrics (-> alerts). Collect writes inputs to the raw
zone as read; extract reads raw batches back, quarantines what cannot be normalized and writes the videos and their
text mentions as Parquet parts under ``<data_dir>/staging/<key>/``; heavy adds the mentions of the heavy
modalities (cover OCR, speech, image captions) beside them, never failing the run for one image or model; load
upserts those parts into the store.
Stages hand each other paths and small summaries, never data. Every stage is idempotent for its interval: raw
batches are named by their content, a staging folder is rewritten whole, loads upsert natural keys, rollups
apply only what changed, and detection replaces its (as_of, window, detector) scope.
"""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from tiktrend.collect.formats import ImportContext, detect_format, read_records
from tiktrend.collect.rawzone import BatchMeta, Quarantine, QuarantineWriter, RawZone, batch_id_for, file_digest
from tiktrend.extract.keywords import extract_mentions
from tiktrend.extract.ocr import tesseract_available
from tiktrend.extract.stages import heavy_mentions, local_path
from tiktrend.metrics import (
    Figures,
    RunMetrics,
    error_figures,
    ingest_figures,
    mention_figures,
    record_stage,
    stats_figures,
    store_figures,
)
from tiktrend.pipeline import (
    DetectReport,
    IngestReport,
    Normalized,
    Progress,
    count_reasons,
    detect,
    detect_series,
    expand_inputs,
    normalized_chunks,
    videos_frame,
)
from tiktrend.settings import Settings
from tiktrend.store import ALL, LoadResult, Store
from tiktrend.trends.detectors import ThresholdDetector, make_detector
from tiktrend.trends.windows import WINDOWS

ENGINES = ("pandas", "spark")
MANIFEST = "manifest.json"
HEAVY_MANIFEST = "heavy.json"
HEAVY_CHUNK = 256  # videos per call of heavy_mentions: the stage's time budget is checked between chunks
LOGGED_ERRORS = 20  # per-video errors logged one by one; the rest are counted
log = logging.getLogger(__name__)
Extractor = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class Interval:
    """A data interval ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("an interval's start and end must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"an interval must end after it starts ({self.start} .. {self.end})")

    @property
    def key(self) -> str:
        """A name for the interval usable in paths: ``20250604T0000-20250605T0000``."""
        return f"{self.start.astimezone(UTC):%Y%m%dT%H%M}-{self.end.astimezone(UTC):%Y%m%dT%H%M}"

    def days(self) -> list[date]:
        """The raw-zone partition dates that fall in the interval."""
        first = self.start.astimezone(UTC).date()
        end = self.end.astimezone(UTC)
        days = []
        while datetime(first.year, first.month, first.day, tzinfo=UTC) < end:
            days.append(first)
            first += timedelta(days=1)
        return days


# ---- collect ----------------------------------------------------------------------------------------------


@dataclass
class Collected:
    """What a collect stage put in the raw zone: the batches to extract and how many were new."""

    batch_ids: list[str] = field(default_factory=list)
    inputs: int = 0
    batches_new: int = 0
    batches_replayed: int = 0
    records: int = 0
    simulated: str | None = None
    ground_truth: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def collect_file(
    path: Path,
    settings: Settings,
    *,
    fmt: str | None = None,
    source: str | None = None,
    region: str | None = None,
    category: str | None = None,
    columns: Mapping[str, str] | None = None,
    day: date | None = None,
    collected: Collected | None = None,
) -> Collected:
    """Keep one input file in the raw zone as a batch (as read; a batch already kept is not written again)."""
    collected = collected or Collected()
    fmt = fmt or ("csv" if columns else detect_format(path))
    batch_id = batch_id_for(file_digest(path), fmt, columns)
    # Records without an observation time get the file's modification time, remembered with the batch so that
    # the same content collected again (even from a copy with a new mtime) gives the same rows.
    fallback = datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC).isoformat()
    defaults = {
        "fallback_observed_at": fallback,
        "default_region": region,
        "default_category": category,
        "columns": dict(columns) if columns else None,
    }
    writer = RawZone(settings.raw_dir).writer(batch_id, source or fmt, fmt, path, defaults, day=day)
    try:
        if not writer.skip:
            # One record at a time: nothing here needs more than one parsed record in memory.
            for raw in read_records(path, fmt, columns):
                writer.write([raw])
                collected.records += 1
        else:
            collected.records += writer.meta.records
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    collected.inputs += 1
    collected.batch_ids.append(batch_id)
    if writer.skip:
        collected.batches_replayed += 1
    else:
        collected.batches_new += 1
    return collected


def collect_files(
    paths: Iterable[Path],
    settings: Settings,
    *,
    fmt: str | None = None,
    source: str | None = None,
    region: str | None = None,
    category: str | None = None,
    columns: Mapping[str, str] | None = None,
    day: date | None = None,
) -> Collected:
    """Keep several inputs (directories are walked for known extensions) in the raw zone."""
    collected = Collected()
    for path in expand_inputs(paths):
        collect_file(
            path,
            settings,
            fmt=fmt,
            source=source,
            region=region,
            category=category,
            columns=columns,
            day=day,
            collected=collected,
        )
    return collected


def collect_simulated(settings: Settings, interval: Interval, config: Any) -> Collected:
    """The simulator's records observed in the interval, kept as one raw batch in the interval's partition.

    ``config`` is a ``SimConfig`` whose horizon covers the interval; the same config and interval always give
    the same bytes, so collecting an interval again finds its batch already kept.
    """
    from tiktrend.collect.simulator import simulate

    if interval.start < config.start or interval.end > config.end:
        raise ValueError(
            f"the simulated horizon {config.start:%Y-%m-%d %H:%M} .. {config.end:%Y-%m-%d %H:%M} does not cover "
            f"the interval {interval.key}: move sim_start or raise sim_hours"
        )
    folder = settings.sim_dir / "intervals"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"feed-{config.seed}-{interval.key}.jsonl.gz"
    kept = 0
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
        for record in simulate(config):
            observed = datetime.fromisoformat(record["observed_at"])
            if observed >= interval.end:
                break  # the simulator yields records in observation order
            if observed >= interval.start:
                gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
                kept += 1
    if kept == 0:
        path.unlink()
        return Collected()
    collected = collect_file(path, settings, fmt="tiktrend", source="simulator", day=interval.start.date())
    path.unlink()  # the raw zone keeps the batch; the interval's feed would only take the disk twice
    return collected


def collect_live(
    settings: Settings, store: Store, source: str, regions: Sequence[str], count: int, *, fresh: bool = False
) -> Collected:
    """Collect from a live video source (web, research); its batches are also loaded as they arrive."""
    from tiktrend.collect.collector import collect_videos
    from tiktrend.collect.live import open_video_source, retry_policy

    with open_video_source(settings, source) as live:
        summary = collect_videos(live, regions, count, store, settings, policy=retry_policy(settings), fresh=fresh)
    if summary.stopped is not None:
        raise RuntimeError(f"{source} collection stopped ({summary.stopped}): {summary.advice or 'see the log'}")
    report = summary.ingest
    return Collected(
        batch_ids=list(report.batch_ids),
        inputs=report.inputs,
        batches_new=report.batches_new,
        batches_replayed=report.batches_replayed,
        records=report.read,
    )


def batches_for(settings: Settings, *, interval: Interval | None = None, batch_ids: Iterable[str] = ()) -> list[Path]:
    """Raw batch files: the given ids, then every batch kept in the interval's partition dates (no repeats)."""
    zone = RawZone(settings.raw_dir)
    found: list[Path] = []
    for batch_id in batch_ids:
        path = zone.find(batch_id)
        if path is None:
            raise FileNotFoundError(f"raw batch {batch_id} is not in {settings.raw_dir}: collect it again")
        found.append(path)
    for day in interval.days() if interval else []:
        found.extend(sorted(settings.raw_dir.glob(f"source=*/date={day:%Y-%m-%d}/batch-*.jsonl.gz")))
    return list(dict.fromkeys(found))


# ---- extract ----------------------------------------------------------------------------------------------


@dataclass
class Staged:
    """What an extract stage wrote to its staging folder."""

    directory: str
    engine: str = "pandas"
    parts: int = 0
    batches: int = 0
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    mentions: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)  # the ``extract`` stage's metrics

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def staging_dir(settings: Settings, key: str) -> Path:
    """Where the extract stage of ``key`` (an interval key or a run id) leaves its Parquet parts."""
    return settings.data_dir / "staging" / key


@contextmanager
def extractor(engine: str = "pandas", spark_master: str = "local[*]") -> Iterator[Extractor]:
    """``extract_mentions`` run in process (pandas) or by Spark (one session for the whole stage)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "pandas":
        yield extract_mentions
        return
    from tiktrend.extract.spark import extract_mentions_spark, spark_session

    spark = spark_session(spark_master)
    try:
        yield lambda frame: extract_mentions_spark(spark, frame)
    finally:
        spark.stop()


def _context(meta: BatchMeta, batch: Path) -> ImportContext:
    fallback = (
        datetime.fromisoformat(meta.fallback_observed_at)
        if meta.fallback_observed_at
        else datetime.fromtimestamp(int(batch.stat().st_mtime), tz=UTC)
    )
    return ImportContext(
        fallback_observed_at=fallback,
        default_region=meta.default_region,
        default_category=meta.default_category,
        columns=meta.columns,
    )


def extract_batches(
    batches: Sequence[Path],
    settings: Settings,
    staging: Path,
    *,
    engine: str = "pandas",
    spark_master: str | None = None,
    progress: Progress | None = None,
) -> Staged:
    """Normalize raw batches chunk by chunk, quarantine the bad records, stage videos and mentions as Parquet."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    staged = Staged(directory=str(staging), engine=engine)
    zone = RawZone(settings.raw_dir)
    with extractor(engine, spark_master or settings.spark_master) as extract:
        for batch in batches:
            meta = zone.meta(batch)
            context = _context(meta, batch)
            writer = Quarantine(settings.quarantine_dir).writer(meta.source, meta.batch_id)
            try:
                limits = (settings.chunk_size, settings.chunk_mib * 2**20)
                records = zone.replay(batch)
                for part in normalized_chunks(records, meta.format, meta.source, meta.batch_id, context, *limits):
                    _stage_part(part, meta, writer, extract, staging, staged)
                    if progress is not None:
                        progress(part.read)
            except BaseException:
                writer.abort()
                raise
            writer.commit()
            staged.batches += 1
    # Written last: a load finds a manifest only when extraction finished.
    (staging / MANIFEST).write_text(json.dumps(staged.as_dict(), indent=1), encoding="utf-8")
    return staged


def _stage_part(
    part: Normalized,
    meta: BatchMeta,
    writer: QuarantineWriter,
    extract: Extractor,
    staging: Path,
    staged: Staged,
) -> None:
    videos, rejects = part.videos, part.rejects
    for raw, reason, _ in rejects:
        writer.write(meta.batch_id, raw, reason)
    count_reasons(staged.reasons, rejects)
    staged.read += part.read
    staged.accepted += len(videos)
    staged.quarantined += len(rejects)
    stem = staging / f"part-{staged.parts:05d}"
    if rejects:
        pd.DataFrame([row for _, _, row in rejects]).to_parquet(f"{stem}.quarantine.parquet", index=False)
    if videos:
        frame = videos_frame(videos)
        mentions = extract(frame)
        for name, value in (mention_figures(mentions) | stats_figures(frame)).items():
            staged.figures[name] = staged.figures.get(name, 0.0) + value
        frame.to_parquet(f"{stem}.videos.parquet", index=False)
        mentions.to_parquet(f"{stem}.mentions.parquet", index=False)
        staged.mentions += len(mentions)
    staged.parts += 1


# ---- heavy modalities -------------------------------------------------------------------------------------


@dataclass
class HeavyStaged:
    """What the heavy stage staged beside the text parts, and why a step did not run when one did not."""

    directory: str
    steps: list[str] = field(default_factory=list)  # the steps that ran: ocr, image_caption, transcript
    note: str | None = None  # a step off for want of tesseract, the budget reached, the stage failed
    videos: int = 0  # videos with a cover or media file a step could read
    mentions: int = 0
    errors: int = 0  # videos with at least one failed step
    figures: dict[str, float] = field(default_factory=dict)  # the ``heavy`` stage's metrics

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def heavy_steps(settings: Settings) -> tuple[list[str], str | None]:
    """The heavy steps the settings turn on, and why OCR is off when ``auto`` found no tesseract."""
    steps: list[str] = []
    note = None
    if settings.ocr == "on" or (settings.ocr == "auto" and tesseract_available()):
        steps.append("ocr")
    elif settings.ocr == "auto":
        note = "OCR off: tesseract is not installed (apt-get install tesseract-ocr)"
    if settings.caption_model_dir is not None:
        steps.append("image_caption")
    if settings.whisper_model_dir is not None:
        steps.append("transcript")
    return steps, note


def heavy_stage(settings: Settings, staging: Path) -> HeavyStaged:
    """OCR, speech and captions of the staged videos, staged as ``part-*.heavy.parquet`` for the load.

    Runs after extract and before load, as a stage of its own so the text modalities never wait on it or fail
    with it: an image or model that fails is counted and logged (``errors_<step>``), a stage that fails as a
    whole is logged and noted (``stage_failed``), and once ``heavy_budget_s`` has passed no new chunk of videos
    starts (``videos_over_budget``). Re-running it rewrites its parts, so a load of them stays idempotent.
    """
    started = time.perf_counter()
    parts = _staged_parts(staging)
    for old in (*staging.glob("part-*.heavy.parquet"), staging / HEAVY_MANIFEST):
        old.unlink(missing_ok=True)
    steps, note = heavy_steps(settings)
    heavy = HeavyStaged(directory=str(staging), steps=steps, note=note)
    if settings.ocr == "on" and not tesseract_available():
        heavy.note = "OCR on but tesseract is not installed: every cover is an error"
        heavy.figures["tesseract_missing"] = 1.0
    if steps:
        try:
            _run_heavy(settings, staging, parts, heavy, started)
        except Exception as exc:  # the text modalities load without this stage: say why it gave nothing
            log.exception("heavy stage failed in %s; the text mentions load without it", staging)
            heavy.note = _joined(heavy.note, f"stage failed: {type(exc).__name__}: {exc}")
            heavy.figures["stage_failed"] = 1.0
            for old in staging.glob("part-*.heavy.parquet"):
                old.unlink()
            heavy.mentions = 0
    heavy.figures["seconds"] = time.perf_counter() - started
    # Written last: the load uses heavy parts only when the stage finished.
    (staging / HEAVY_MANIFEST).write_text(json.dumps(heavy.as_dict(), indent=1), encoding="utf-8")
    return heavy


def _joined(note: str | None, more: str) -> str:
    return f"{note}; {more}" if note else more


def _staged_parts(staging: Path) -> int:
    manifest = staging / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"nothing staged in {staging}: run the extract stage for this interval first")
    return int(json.loads(manifest.read_text(encoding="utf-8"))["parts"])


def _media_rows(staging: Path, parts: int, steps: Sequence[str], download: bool) -> pd.DataFrame:
    """Each staged video with a cover or media file a step can read, once, with the first part it is in."""
    frames = []
    for number in range(parts):
        path = staging / f"part-{number:05d}.videos.parquet"
        if path.is_file():
            frame = pd.read_parquet(path, columns=["video_id", "cover_url", "video_url"])
            frame["part"] = number
            frames.append(frame[_readable(frame, steps, download)])
    if not frames:
        return pd.DataFrame(columns=["video_id", "cover_url", "video_url", "part"])
    return pd.concat(frames, ignore_index=True).drop_duplicates("video_id", keep="first").reset_index(drop=True)


def _readable(frame: pd.DataFrame, steps: Sequence[str], download: bool) -> pd.Series:
    """Rows whose cover (OCR, captions) or media file (speech) is local, or a cover URL when downloads are on."""

    def usable(urls: pd.Series, remote: bool) -> pd.Series:
        text = urls.where(urls.map(lambda url: isinstance(url, str)), "").astype(str)
        web = text.str.startswith(("http:", "https:"))
        if remote:
            return web
        # Only what is not a web URL can be a local file (most covers are web URLs: no stat for them).
        found = pd.Series(False, index=urls.index)
        maybe = ~web & (text != "")
        found[maybe] = text[maybe].map(lambda url: local_path(url) is not None).astype(bool)
        return found

    keep = pd.Series(False, index=frame.index)
    if "ocr" in steps or "image_caption" in steps:
        keep |= usable(frame["cover_url"], False) | (usable(frame["cover_url"], True) if download else False)
    if "transcript" in steps:
        keep |= usable(frame["video_url"], False)
    return keep


def _run_heavy(settings: Settings, staging: Path, parts: int, heavy: HeavyStaged, started: float) -> None:
    rows = _media_rows(staging, parts, heavy.steps, settings.cover_download_dir is not None)
    heavy.videos = len(rows)
    found: list[pd.DataFrame] = []
    errors: dict[str, str] = {}
    images = cached = 0
    for first in range(0, len(rows), HEAVY_CHUNK):
        if time.perf_counter() - started > settings.heavy_budget_s:
            heavy.figures["videos_over_budget"] = float(len(rows) - first)
            heavy.note = _joined(heavy.note, f"budget of {settings.heavy_budget_s:g} s reached")
            break
        result = heavy_mentions(
            rows.iloc[first : first + HEAVY_CHUNK],
            ocr_cache=settings.ocr_cache if "ocr" in heavy.steps else None,
            download_dir=settings.cover_download_dir,
            whisper_model_dir=settings.whisper_model_dir,
            caption_model_dir=settings.caption_model_dir,
            workers=settings.heavy_workers,
            ocr="ocr" in heavy.steps,
        )
        found.append(result.mentions)
        errors.update(result.errors)
        images += result.ocr_images
        cached += result.ocr_cached
    _log_errors(errors, staging)
    mentions = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    heavy.mentions = _stage_heavy(mentions, rows, staging)
    heavy.errors = len(errors)
    heavy.figures |= {"videos_with_media": float(len(rows)), "ocr_images": float(images), "ocr_cached": float(cached)}
    heavy.figures |= mention_figures(mentions) | error_figures(errors)


def _stage_heavy(mentions: pd.DataFrame, rows: pd.DataFrame, staging: Path) -> int:
    """Each video's heavy mentions go with the first part that holds it (the load needs the video beside them)."""
    if mentions.empty:
        return 0
    placed = mentions.merge(rows[["video_id", "part"]], on="video_id", how="inner", validate="many_to_one")
    for number in sorted(set(placed["part"].astype(int))):
        group = placed[placed["part"] == number].drop(columns=["part"])
        group.to_parquet(staging / f"part-{number:05d}.heavy.parquet", index=False)
    return len(placed)


def _log_errors(errors: Mapping[str, str], staging: Path) -> None:
    for video_id, text in list(errors.items())[:LOGGED_ERRORS]:
        log.warning("heavy stage, video %s: %s", video_id, text)
    if len(errors) > LOGGED_ERRORS:
        log.warning("heavy stage: %d more videos with errors in %s", len(errors) - LOGGED_ERRORS, staging)


# ---- load -------------------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """What a load stage changed in the store."""

    videos_new: int = 0
    videos_updated: int = 0
    stats_new: int = 0
    mentions_new: int = 0
    quarantine_new: int = 0
    parts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_videos(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    # Parquet gives lists back as arrays; the stores and extraction expect the lists normalization made.
    frame["hashtags"] = [list(v) if v is not None else [] for v in frame["hashtags"]]
    return frame


def _read_mentions(part: Path, heavy: bool) -> pd.DataFrame:
    """A part's text mentions, with its heavy ones when the heavy stage finished and found any."""
    mentions = pd.read_parquet(f"{part}.mentions.parquet")
    extra = Path(f"{part}.heavy.parquet")
    if heavy and extra.is_file():
        mentions = pd.concat([mentions, pd.read_parquet(extra)], ignore_index=True)
    return mentions


def load_staged(store: Store, staging: Path, *, remove: bool = True) -> Loaded:
    """Upsert the staged parts, in order, into the store (with the heavy stage's mentions); then drop them."""
    parts = _staged_parts(staging)
    heavy = (staging / HEAVY_MANIFEST).is_file()  # heavy parts of a stage that did not finish are left out
    loaded = Loaded()
    for number in range(parts):
        part = staging / f"part-{number:05d}"
        quarantined = Path(f"{part}.quarantine.parquet")
        if quarantined.is_file():
            loaded.quarantine_new += store.load_quarantine(pd.read_parquet(quarantined))
        videos = Path(f"{part}.videos.parquet")
        if videos.is_file():
            result = store.load_batch(_read_videos(videos), _read_mentions(part, heavy))
            loaded.videos_new += result.videos_new
            loaded.videos_updated += result.videos_updated
            loaded.stats_new += result.stats_new
            loaded.mentions_new += result.mentions_new
        loaded.parts += 1
    if remove:
        shutil.rmtree(staging, ignore_errors=True)
    return loaded


def ingest_report(collected: Collected, staged: Staged, loaded: Loaded) -> IngestReport:
    """The three stages' figures as the one report ``tiktrend ingest`` and ``tiktrend run`` print."""
    report = IngestReport(
        inputs=collected.inputs,
        read=staged.read,
        accepted=staged.accepted,
        quarantined=staged.quarantined,
        batches_new=collected.batches_new,
        batches_replayed=collected.batches_replayed,
        reasons=dict(staged.reasons),
        batch_ids=list(collected.batch_ids),
    )
    report.add_load(LoadResult(loaded.videos_new, loaded.videos_updated, loaded.stats_new, loaded.mentions_new))
    return report


# ---- detect -----------------------------------------------------------------------------------------------


def detect_stage(
    store: Store,
    run_id: str,
    detectors: Sequence[str],
    *,
    as_of: datetime | None = None,
    windows: Iterable[str] = tuple(WINDOWS),
    threshold: ThresholdDetector | None = None,
) -> dict[str, DetectReport | int]:
    """Run each named detector at ``as_of``: the threshold rule over its windows, series detectors hourly."""
    found: dict[str, DetectReport | int] = {}
    for name in detectors:
        if name == "threshold":
            found[name] = detect(store, run_id, windows=windows, detector=threshold, as_of=as_of)
        else:
            series = detect_series(store, run_id, make_detector(name, "hour"), grain="hour", as_of=as_of, region=ALL)
            found[name] = len(series.trends)
    return found


# ---- metrics and alerts -----------------------------------------------------------------------------------


def metrics_stage(
    store: Store,
    run_id: str,
    *,
    ingest: IngestReport,
    extract: Mapping[str, float],
    rollup_rows: int,
    detected: DetectReport | None,
    seconds: Mapping[str, float],
    since: datetime | None = None,
    heavy: Mapping[str, float] | None = None,
) -> dict[str, Figures]:
    """Write the run's figures per stage to ``pipeline_metrics`` (an upsert: writing again never doubles them)."""
    metrics = RunMetrics(run_id)
    metrics.add("ingest", ingest_figures(ingest))
    metrics.add("extract", extract)
    if heavy is not None:
        metrics.add("heavy", heavy)
    metrics.set("store", store_figures(store, since=since))
    metrics.add("rollup", {"rows": rollup_rows})
    if detected is not None:
        metrics.add("detect", {f"trends_{window}": n for window, n in detected.windows.items()})
    metrics.seconds.update(seconds)
    metrics.write(store)
    return metrics.figures()


def alerts_stage(store: Store, settings: Settings, run_id: str, *, as_of: datetime | None = None) -> Any:
    """Evaluate the alert rules of the settings on the latest trends, deliver what is pending, record figures."""
    from tiktrend.alerts import run_alerts

    started = time.perf_counter()
    report = run_alerts(store, settings, as_of=as_of)
    record_stage(store, run_id, "alerts", report.figures(), seconds=time.perf_counter() - started)
    return report


# ---- runs -------------------------------------------------------------------------------------------------


def begin_run(store: Store, run_id: str, command: str, params: dict[str, Any]) -> bool:
    """Record a run as started unless it already is (a retried task); True when it was new."""
    runs = store.snapshot("runs")
    if not runs.empty and run_id in set(runs["run_id"]):
        return False
    store.start_run(run_id, command, params)
    return True
