"""tiktrend as an Airflow DAG: one task per stage over the run's data interval, each a thin call into tiktrend.

collect -> extract -> heavy -> load -> rollups -> detect -> metrics -> alerts. The tasks call the same stage
functions (``tiktrend.orchestrate``, ``tiktrend.pipeline``) that ``tiktrend run`` calls; extract, heavy and load
meet through Parquet files under ``<data_dir>/staging/<interval>/``, and XCom carries only paths and small
summaries. The heavy task (cover OCR, speech, image captions) never holds the text back: it is not retried, has
a time limit, and load runs once extract succeeded whether heavy succeeded or not (its parts are then left out).
Every stage is idempotent for its interval, so a retried task, a cleared run or a backfill replaces the
interval's results instead of doubling them. The store and data directory come from the ``TIKTREND_*``
settings of the worker's environment; docs/orchestration.md explains the params and how to backfill.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from airflow.task.trigger_rule import TriggerRule
from airflow.timetables.interval import CronDataIntervalTimetable


def _retries() -> dict[str, Any]:
    from tiktrend.settings import Settings

    settings = Settings()
    return {
        "retries": settings.airflow_retries,
        "retry_delay": timedelta(seconds=settings.airflow_retry_delay_s),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": _mark_failed,
    }


def _heavy_limits() -> dict[str, Any]:
    """The heavy task gives up rather than delay the load: no retry, and twice its budget plus 5 minutes at most."""
    from tiktrend.settings import Settings

    budget = Settings().heavy_budget_s
    return {
        "retries": 0,
        "execution_timeout": timedelta(seconds=2 * budget + 300),
        "on_failure_callback": _heavy_failed,
    }


def _heavy_failed(context: Any) -> None:
    """A failed heavy task leaves the run going (load takes the text alone) and says so in its figures."""
    from tiktrend.metrics import record_stage

    with closing(_store(_settings())) as store:
        record_stage(store, f"airflow-{context['dag_run'].run_id}", "heavy", {"stage_failed": 1.0})


def _mark_failed(context: Any) -> None:
    """A task that failed for good marks the tiktrend run failed, with its error (``tiktrend status`` shows it)."""
    error = context.get("exception")
    task_id = context["ti"].task_id
    # `airflow dags test` runs tasks without handing the exception to the callback: the task's log has it then.
    why = f"{type(error).__name__}: {error}" if error is not None else "see the task's log in Airflow"
    with closing(_store(_settings())) as store:
        store.finish_run(f"airflow-{context['dag_run'].run_id}", "failed", {}, error=f"task {task_id} failed: {why}")


PARAMS = {
    "sources": Param(
        ["simulator"],
        type="array",
        items={"type": "string", "enum": ["simulator", "web", "research", "raw"]},
        description="Where to collect from; 'raw' collects nothing and reads the interval's raw-zone batches.",
    ),
    "regions": Param(["US"], type="array", items={"type": "string"}, description="Regions of the live sources."),
    "count": Param(100, type="integer", minimum=1, description="Videos per region from a live source."),
    "engine": Param("pandas", type="string", enum=["pandas", "spark"], description="Extraction engine."),
    "detectors": Param(
        ["threshold", "poisson"],
        type="array",
        items={"type": "string", "enum": ["threshold", "poisson", "zscore", "velocity", "ensemble"]},
        description="Detectors run at the end of the interval.",
    ),
    "sim_seed": Param(7, type="integer", minimum=0, description="simulator: seed."),
    "sim_start": Param(
        "",
        type="string",
        description="simulator: start of the simulated horizon (ISO date); empty: the horizon ends with the interval.",
    ),
    "sim_hours": Param(96, type="integer", minimum=48, description="simulator: hours of the simulated horizon."),
    "sim_rate": Param(300.0, type="number", exclusiveMinimum=0, description="simulator: videos per hour."),
}


def _settings() -> Any:
    from tiktrend.settings import Settings

    return Settings()


def _store(settings: Any) -> Any:
    from tiktrend.store import store_from_settings

    return store_from_settings(settings)


def _interval() -> Any:
    from tiktrend.orchestrate import Interval

    context = get_current_context()
    start, end = context["data_interval_start"], context["data_interval_end"]
    if start is None or end is None or end <= start:
        # A manual run without a data interval covers the day before its logical date.
        end = context["logical_date"] or datetime.now(tz=UTC)
        start = end - timedelta(days=1)
    # Plain datetimes: pendulum's arithmetic with datetime.UTC drops the time zone.
    return Interval(datetime.fromtimestamp(start.timestamp(), tz=UTC), datetime.fromtimestamp(end.timestamp(), tz=UTC))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _run_id() -> str:
    return f"airflow-{get_current_context()['dag_run'].run_id}"  # the same for every task and retry of a run


@dag(
    dag_id="tiktrend_pipeline",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=_retries(),
    params=PARAMS,
    tags=["tiktrend"],
    doc_md=__doc__,
)
def tiktrend_pipeline() -> None:
    """The daily pipeline run over the day's data interval."""

    @task
    def collect() -> dict[str, Any]:
        """Keep the interval's records of each source in the raw zone; returns the batch ids and counts."""
        from tiktrend.collect.simulator import SimConfig
        from tiktrend.orchestrate import Collected, begin_run, collect_live, collect_simulated

        started = time.perf_counter()
        params = get_current_context()["params"]
        interval, settings, run_id = _interval(), _settings(), _run_id()
        total = Collected()
        with closing(_store(settings)) as store:
            begin_run(store, run_id, "airflow", {"interval": interval.key, **params})
            for source in params["sources"]:
                if source == "simulator":
                    start = (
                        _utc(datetime.fromisoformat(params["sim_start"]))
                        if params["sim_start"]
                        else interval.end - timedelta(hours=params["sim_hours"])
                    )
                    config = SimConfig(
                        seed=params["sim_seed"],
                        hours=params["sim_hours"],
                        start=start,
                        videos_per_hour=params["sim_rate"],
                    )
                    part = collect_simulated(settings, interval, config)
                elif source in ("web", "research"):
                    regions = [r.upper() for r in params["regions"]]
                    part = collect_live(settings, store, source, regions, params["count"])
                else:
                    continue  # raw: the interval's batches are already in the raw zone
                total.batch_ids += part.batch_ids
                total.inputs += part.inputs
                total.batches_new += part.batches_new
                total.batches_replayed += part.batches_replayed
                total.records += part.records
        return {**total.as_dict(), "run_id": run_id, "interval": interval.key, "seconds": time.perf_counter() - started}

    @task
    def extract(collected: dict[str, Any]) -> dict[str, Any]:
        """Normalize and extract the interval's raw batches into Parquet under the staging folder."""
        from tiktrend.orchestrate import batches_for, extract_batches, staging_dir

        started = time.perf_counter()
        interval, settings = _interval(), _settings()
        batches = batches_for(settings, interval=interval, batch_ids=collected["batch_ids"])
        staging = staging_dir(settings, interval.key)
        engine = get_current_context()["params"]["engine"]
        staged = extract_batches(batches, settings, staging, engine=engine)
        return {**staged.as_dict(), "seconds": time.perf_counter() - started}

    @task(**_heavy_limits())
    def heavy(staged: dict[str, Any]) -> dict[str, Any]:
        """OCR, speech and captions of the staged videos, staged beside them; its figures are recorded at once."""
        from pathlib import Path

        from tiktrend.metrics import record_stage
        from tiktrend.orchestrate import heavy_stage

        settings = _settings()
        done = heavy_stage(settings, Path(staged["directory"]))
        with closing(_store(settings)) as store:
            record_stage(store, _run_id(), "heavy", done.figures)
        return done.as_dict()

    # Runs once extract succeeded, whether heavy did or not: a failed heavy stage costs its mentions, not the run.
    @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def load(staged: dict[str, Any]) -> dict[str, Any]:
        """Upsert the staged videos, mentions (the heavy stage's too) and quarantined records into the store."""
        from pathlib import Path

        from tiktrend.orchestrate import load_staged

        started = time.perf_counter()
        with closing(_store(_settings())) as store:
            loaded = load_staged(store, Path(staged["directory"]))
        return {**loaded.as_dict(), "seconds": time.perf_counter() - started}

    @task
    def rollups(loaded: dict[str, Any]) -> dict[str, Any]:
        """Bring the hourly and daily rollups up to date with what was loaded."""
        from tiktrend.pipeline import rollup

        started = time.perf_counter()
        with closing(_store(_settings())) as store:
            rows = rollup(store)
        return {"rows": rows, "seconds": time.perf_counter() - started}

    @task
    def detect(rolled: dict[str, Any]) -> dict[str, Any]:
        """Run the chosen detectors at the end of the interval and store their trends."""
        from tiktrend.orchestrate import detect_stage

        started = time.perf_counter()
        detectors = get_current_context()["params"]["detectors"]
        with closing(_store(_settings())) as store:
            found = detect_stage(store, _run_id(), detectors, as_of=_interval().end)
        summary = {
            name: value if isinstance(value, int) else {"windows": value.windows, "skipped": value.skipped}
            for name, value in found.items()
        }
        return {"detectors": summary, "seconds": time.perf_counter() - started}

    @task
    def metrics(
        collected: dict[str, Any],
        staged: dict[str, Any],
        loaded: dict[str, Any],
        rolled: dict[str, Any],
        found: dict[str, Any],
    ) -> dict[str, Any]:
        """Record the run's figures per stage in ``pipeline_metrics`` and mark the run finished."""
        from tiktrend.orchestrate import Collected, Loaded, Staged, ingest_report, metrics_stage
        from tiktrend.pipeline import DetectReport

        def fields(kind: Any, values: dict[str, Any]) -> Any:
            return kind(**{k: v for k, v in values.items() if k in kind.__dataclass_fields__})

        interval = _interval()
        report = ingest_report(fields(Collected, collected), fields(Staged, staged), fields(Loaded, loaded))
        threshold = found["detectors"].get("threshold")
        detected = DetectReport(interval.end, threshold["windows"], threshold["skipped"]) if threshold else None
        seconds = {
            "collect": collected["seconds"],
            "extract": staged["seconds"],
            "load": loaded["seconds"],
            "ingest": collected["seconds"] + staged["seconds"] + loaded["seconds"],
            "rollup": rolled["seconds"],
            "detect": found["seconds"],
        }
        run_id = collected["run_id"]
        with closing(_store(_settings())) as store:
            figures = metrics_stage(
                store,
                run_id,
                ingest=report,
                extract=staged["figures"],
                rollup_rows=rolled["rows"],
                detected=detected,
                seconds=seconds,
                since=interval.start,
            )
            summary = {"interval": interval.key, "ingest": asdict(report), "detect": found["detectors"]}
            store.finish_run(run_id, "ok", {**summary, "seconds": seconds})
        return {"run_id": run_id, "figures": figures}

    @task
    def alerts(recorded: dict[str, Any]) -> dict[str, Any]:
        """Fire the alert rules of the settings on the interval's trends, once per keyword and window."""
        from tiktrend.orchestrate import alerts_stage

        settings = _settings()
        with closing(_store(settings)) as store:
            report = alerts_stage(store, settings, recorded["run_id"], as_of=_interval().end)
        return dict(report.figures())

    collected = collect()
    staged = extract(collected)
    loaded = load(staged)
    heavy(staged) >> loaded
    rolled = rollups(loaded)
    found = detect(rolled)
    alerts(metrics(collected, staged, loaded, rolled, found))


tiktrend_pipeline()
