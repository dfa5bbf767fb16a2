"""Per-run, per-stage figures of the pipeline, kept in ``pipeline_metrics`` (run_id, stage, metric, value).

How a stage reports (``tiktrend run`` and the Airflow tasks call the same functions)::

    metrics = RunMetrics(run_id)
    with metrics.timed("ingest"):
        report = ingest(...)                                   # per chunk, the pipeline may also call
    metrics.add("ingest", ingest_figures(report))              #   metrics.add("extract", mention_figures(m))
    metrics.add("store", store_figures(store, since=start))    #   metrics.add("extract", stats_figures(videos))
    metrics.write(store)                                       # upsert: writing twice never doubles a figure

A task that runs alone (an Airflow task in its own process) writes its stage at once with
``record_stage(store, run_id, "detect", {...}, seconds=...)``. Writes are upserts keyed on
(run_id, stage, metric), so re-running a task replaces its figures.

Metric names by stage (every stage also gets ``seconds`` when timed):

- ``ingest``: ``records_read`` (videos fetched), ``records_accepted``, ``records_quarantined``, ``videos_new``,
  ``videos_updated``, ``stats_new``, ``mentions_new``
- ``extract``: ``mentions_total``, ``mentions_<modality>`` (hashtag, caption, music, emoji, transcript, ocr...),
  ``mentions_generic``, ``observations_missing_stats`` (no counter at all), ``observations_partial_stats``
- ``store`` (from the store, both backends): ``keywords_unique`` and ``keywords_unique_since`` (non-generic
  keywords posted at or after ``since``), ``videos_total``, ``videos_missing_stats``, ``videos_partial_stats``
- ``heavy`` (cover OCR, speech, image captions; ``orchestrate.heavy_stage``): ``videos_with_media``,
  ``ocr_images`` and ``ocr_cached`` (answered by the content-hash cache), ``mentions_total``,
  ``mentions_<modality>``, ``errors`` (videos with a failed step) and ``errors_<step>`` (ocr, cover_download,
  image_caption, transcript), ``tesseract_missing``, ``videos_over_budget``, ``stage_failed``, ``seconds``
- ``rollup``: ``rows``; ``detect``: ``trends_<window>``; ``alerts``: ``alerts_new``, ``alerts_suppressed``,
  ``alerts_sent``, ``alerts_pending``, ``alerts_failed``
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from tiktrend.models import COUNTERS
from tiktrend.store import Store
from tiktrend.store.plain_sql import fetch, has_table

if TYPE_CHECKING:
    from tiktrend.pipeline import IngestReport

Figures = dict[str, float]
# The steps of the heavy stage, as its error texts name them (``step: detail``).
HEAVY_STEPS = ("ocr", "cover download", "image_caption", "transcript")


# ---- gathering figures (pure) ------------------------------------------------------------------------------


def ingest_figures(report: IngestReport) -> Figures:
    """Videos fetched, accepted, new, updated and quarantined, from an ingest report."""
    return {
        "records_read": report.read,
        "records_accepted": report.accepted,
        "records_quarantined": report.quarantined,
        "videos_new": report.videos_new,
        "videos_updated": report.videos_updated,
        "stats_new": report.stats_new,
        "mentions_new": report.mentions_new,
    }


def mention_figures(mentions: pd.DataFrame) -> Figures:
    """Keyword mentions extracted, in total and per modality, from a frame of mentions (``MENTION_COLUMNS``)."""
    figures: Figures = {"mentions_total": float(len(mentions))}
    if mentions.empty:
        return figures
    for modality, count in mentions["modality"].value_counts().items():
        figures[f"mentions_{modality}"] = float(count)
    if "is_generic" in mentions:
        figures["mentions_generic"] = float(mentions["is_generic"].fillna(False).astype(bool).sum())
    return figures


def stats_figures(videos: pd.DataFrame) -> Figures:
    """Observations without any engagement counter, and with only some, from a frame of videos."""
    present = [c for c in COUNTERS if c in videos]
    if videos.empty or not present:
        return {"observations_missing_stats": float(len(videos)), "observations_partial_stats": 0.0}
    missing = videos[present].isna()
    return {
        "observations_missing_stats": float(missing.all(axis=1).sum()),
        "observations_partial_stats": float((missing.any(axis=1) & ~missing.all(axis=1)).sum()),
    }


def error_figures(errors: Mapping[str, str]) -> Figures:
    """Videos with errors, and errors per step, from the heavy stage's ``{video_id: "step: detail; ..."}``."""
    figures: Figures = {"errors": float(len(errors))}
    for text in errors.values():
        for one in text.split("; "):
            step = one.split(":", 1)[0]
            if step in HEAVY_STEPS:  # anything else is the rest of an error message that held "; "
                name = f"errors_{step.replace(' ', '_')}"
                figures[name] = figures.get(name, 0.0) + 1.0
    return figures


# ---- figures only the store knows --------------------------------------------------------------------------

_ALL_MISSING = " AND ".join(f"{c} IS NULL" for c in COUNTERS)
_ANY_MISSING = " OR ".join(f"{c} IS NULL" for c in COUNTERS)

# count(*) over a DISTINCT subquery, not count(DISTINCT ...): PostgreSQL can hash the former, it sorts the latter.
_STORE_FIGURES = f"""
    SELECT
        (SELECT count(*) FROM (SELECT DISTINCT keyword FROM keyword_mentions WHERE NOT is_generic) k),
        (SELECT count(*) FROM (
            SELECT DISTINCT keyword FROM keyword_mentions WHERE NOT is_generic AND posted_at >= ?
        ) r),
        (SELECT count(*) FROM videos),
        (SELECT count(*) FROM videos WHERE {_ALL_MISSING}),
        (SELECT count(*) FROM videos WHERE ({_ANY_MISSING}) AND NOT ({_ALL_MISSING}))
"""  # noqa: S608 - fixed column names only


def store_figures(store: Store, *, since: datetime | None = None) -> Figures:
    """Unique keywords (all, and posted since ``since``) and videos missing stats, counted in the store."""
    start = _naive(since) if since is not None else datetime(1970, 1, 1)
    rows = fetch(store, _STORE_FIGURES, [start])
    unique, recent, total, missing, partial = (int(v or 0) for v in rows[0])
    return {
        "keywords_unique": float(unique),
        "keywords_unique_since": float(recent),
        "videos_total": float(total),
        "videos_missing_stats": float(missing),
        "videos_partial_stats": float(partial),
    }


# ---- recording ---------------------------------------------------------------------------------------------


def record_stage(
    store: Store, run_id: str, stage: str, figures: Mapping[str, float], *, seconds: float | None = None
) -> None:
    """Upsert one stage's figures of a run (a re-run of the stage replaces them, never adds to them)."""
    values = {name: float(value) for name, value in figures.items()}
    if seconds is not None:
        values["seconds"] = float(seconds)
    store.record_metrics(run_id, stage, values)


@dataclass
class RunMetrics:
    """The figures of one run, gathered stage by stage while it goes and written with :meth:`write`."""

    run_id: str
    stages: dict[str, Figures] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, figures: Mapping[str, float]) -> None:
        """Add figures to a stage's (counts gathered per chunk add up)."""
        held = self.stages.setdefault(stage, {})
        for name, value in figures.items():
            held[name] = held.get(name, 0.0) + float(value)

    def set(self, stage: str, figures: Mapping[str, float]) -> None:
        """Set figures of a stage, replacing what was there (gauges such as store-wide counts)."""
        self.stages.setdefault(stage, {}).update({name: float(v) for name, v in figures.items()})

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Time a block and add its duration to the stage's ``seconds`` (also when the block fails)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def figures(self) -> dict[str, Figures]:
        """Every stage's figures with its ``seconds``, as they will be written."""
        merged = {stage: dict(values) for stage, values in self.stages.items()}
        for stage, seconds in self.seconds.items():
            merged.setdefault(stage, {})["seconds"] = seconds
        return merged

    def write(self, store: Store) -> None:
        """Upsert every stage's figures into ``pipeline_metrics``."""
        for stage, values in self.figures().items():
            record_stage(store, self.run_id, stage, values)


# ---- the summary `tiktrend status` prints ------------------------------------------------------------------


@dataclass
class RunRow:
    """One run as ``tiktrend status`` shows it."""

    run_id: str
    command: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    figures: dict[str, Figures] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        """Wall time from start to finish (None while running or when it never finished)."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class Freshness:
    """The newest time each kind of data reaches (None when there is none)."""

    last_observed: datetime | None
    last_posted: datetime | None
    last_detection: datetime | None
    last_ok_run: datetime | None


@dataclass
class StatusReport:
    """Where a store stands: recent runs, volumes, quarantine by reason, freshness, alerts, advice."""

    url: str
    runs: list[RunRow]
    volumes: dict[str, int]
    quarantine: dict[str, int]
    freshness: Freshness
    alerts: dict[str, int]
    advice: list[str]


_RECENT_RUNS = """
    SELECT run_id, command, status, started_at, finished_at, error FROM runs
    ORDER BY started_at DESC, run_id DESC LIMIT ?
"""

_RUN_FIGURES = """
    SELECT run_id, stage, metric, value FROM pipeline_metrics
    WHERE run_id IN (SELECT run_id FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?)
"""

# The reason's kind is what precedes its first colon ("missing field: id" -> "missing field").
_QUARANTINE = """
    SELECT split_part(reason, ':', 1) AS kind, count(*) AS n FROM quarantine
    GROUP BY kind ORDER BY n DESC, kind LIMIT ?
"""

_FRESHNESS = """
    SELECT (SELECT max(last_seen) FROM videos), (SELECT max(posted_at) FROM keyword_mentions),
           (SELECT max(as_of) FROM trends), (SELECT max(finished_at) FROM runs WHERE status = ?)
"""

_ALERTS = "SELECT status, count(*) FROM alerts_sent GROUP BY status"

# Data older than this at the time of asking is called stale.
STALE_AFTER = timedelta(days=1)


def recent_runs(store: Store, limit: int = 5) -> list[RunRow]:
    """The latest runs, newest first, each with its figures per stage."""
    runs = [
        RunRow(str(r[0]), str(r[1]), str(r[2]), r[3], r[4], None if r[5] is None else str(r[5]))
        for r in fetch(store, _RECENT_RUNS, [limit])
    ]
    by_id = {run.run_id: run for run in runs}
    for run_id, stage, metric, value in fetch(store, _RUN_FIGURES, [limit]):
        run = by_id.get(str(run_id))
        if run is not None:
            run.figures.setdefault(str(stage), {})[str(metric)] = float(value)
    return runs


# The tables whose sizes `tiktrend status` shows (run logs included; rollups are derived, so left out).
VOLUME_TABLES = ("videos", "video_stats", "keyword_mentions", "trends", "runs", "pipeline_metrics", "quarantine")


def volumes(store: Store) -> dict[str, int]:
    """Row counts of the main tables."""
    counts: dict[str, int] = {}
    for table in VOLUME_TABLES:
        rows = fetch(store, f"SELECT count(*) FROM {table}")  # noqa: S608 - names from the fixed list above
        counts[table] = int(rows[0][0])
    return counts


def quarantine_by_reason(store: Store, limit: int = 10) -> dict[str, int]:
    """Quarantined records per kind of reason, most frequent first."""
    return {str(kind): int(n) for kind, n in fetch(store, _QUARANTINE, [limit])}


def freshness(store: Store) -> Freshness:
    """The newest observation, post, detection and successful run in the store."""
    row = fetch(store, _FRESHNESS, ["ok"])[0]
    return Freshness(*(v if isinstance(v, datetime) else None for v in row))


def alert_counts(store: Store) -> dict[str, int]:
    """Alerts by delivery status (``sent``, ``pending``...), empty when the store has no alert table yet."""
    if not has_table(store, "alerts_sent"):
        return {}
    return {str(status): int(n) for status, n in fetch(store, _ALERTS)}


def status_report(store: Store, *, runs: int = 5, now: datetime | None = None) -> StatusReport:
    """Everything ``tiktrend status`` prints, with advice when the store is empty, stale or its last run failed."""
    report = StatusReport(
        url=store.url,
        runs=recent_runs(store, runs),
        volumes=volumes(store),
        quarantine=quarantine_by_reason(store),
        freshness=freshness(store),
        alerts=alert_counts(store),
        advice=[],
    )
    report.advice = advise(report, now or datetime.now(tz=UTC))
    return report


def advise(report: StatusReport, now: datetime) -> list[str]:
    """What to do next, from what the report shows (empty when all is well)."""
    advice: list[str] = []
    if not report.runs and not report.volumes.get("videos"):
        advice.append(
            "The store is empty: run `tiktrend run` (a simulated demo feed), or load data with "
            "`tiktrend ingest FILE` or `tiktrend collect --source ...`, then `tiktrend status` again."
        )
        return advice
    latest = report.runs[0] if report.runs else None
    if latest is not None and latest.status == "failed":
        advice.append(
            f"The last run ({latest.run_id}, `{latest.command}`) failed: {latest.error or 'no error recorded'}. "
            "Fix the cause and run it again: loads are idempotent, so a re-run neither loses nor doubles data."
        )
    elif latest is not None and latest.status == "running" and now - _aware(latest.started_at) > STALE_AFTER:
        advice.append(
            f"Run {latest.run_id} started {latest.started_at:%Y-%m-%d %H:%M} UTC and never finished (killed?). "
            "Run the same command again: it resumes from the raw zone without duplicates."
        )
    newest = report.freshness.last_observed
    if newest is not None and now - _aware(newest) > STALE_AFTER:
        advice.append(
            f"The newest observation is from {newest:%Y-%m-%d %H:%M} UTC: collect again "
            "(`tiktrend collect`, or check that the scheduler's DAG is running) for current trends."
        )
    if report.volumes.get("videos") and not report.volumes.get("trends"):
        advice.append("Videos are loaded but nothing was detected yet: run `tiktrend trends` or `tiktrend run`.")
    if report.alerts.get("pending"):
        advice.append(
            f"{report.alerts['pending']} alert(s) are waiting for the webhook: check TIKTREND_ALERT_WEBHOOK_URL, "
            "then `tiktrend alerts send` (they are sent once, on the next delivery that succeeds)."
        )
    if report.quarantine:
        advice.append(
            f"{sum(report.quarantine.values()):,} records are in quarantine: see the `quarantine` table or "
            "<data_dir>/quarantine/ for each record and its reason."
        )
    return advice


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def as_rows(report: StatusReport) -> dict[str, Any]:
    """The report as plain JSON-ready data (``tiktrend status --json``)."""
    return {
        "url": report.url,
        "runs": [
            {
                "run_id": r.run_id,
                "command": r.command,
                "status": r.status,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "seconds": r.seconds,
                "error": r.error,
                "figures": r.figures,
            }
            for r in report.runs
        ],
        "volumes": report.volumes,
        "quarantine": report.quarantine,
        "freshness": {k: v.isoformat() if v else None for k, v in vars(report.freshness).items()},
        "alerts": report.alerts,
        "advice": report.advice,
    }
