"""``/metrics``: the store's run log and pipeline figures in the Prometheus text format (version 0.0.4).

Everything is read from the store at scrape time (``runs``, ``pipeline_metrics``, ``quarantine``,
``trends``), so any number of API processes report the same values; they are gauges, not counters the
API owns. Each (stage, metric) the pipeline recorded is exposed as ``tiktrend_pipeline_metric`` with the
value the latest run that recorded it left.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

import pandas as pd

from tiktrend import query
from tiktrend.query import Reader

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _number(value: Any) -> str:
    if value is None or pd.isna(value):
        return "NaN"
    if isinstance(value, datetime | pd.Timestamp):
        return repr(pd.Timestamp(value).tz_localize(None).timestamp())
    return repr(float(value))


class _Family:
    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self.samples: list[tuple[dict[str, Any], Any]] = []

    def add(self, value: Any, **labels: Any) -> None:
        self.samples.append((labels, value))

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        for labels, value in self.samples:
            yield f"{self.name}{_labels(labels)} {_number(value)}"


def render(reader: Reader) -> str:
    """The exposition text of every family (a store that does not answer is ``tiktrend_store_up 0``)."""
    up = _Family("tiktrend_store_up", "1 when the store answered this scrape.")
    try:
        families = _families(reader)
    except Exception:
        up.add(0)
        return "\n".join(up.lines()) + "\n"
    up.add(1)
    return "\n".join(line for family in (up, *families) for line in family.lines()) + "\n"


def _families(reader: Reader) -> list[_Family]:
    runs = _Family("tiktrend_runs", "Runs recorded in the store, by command and status.")
    last = _Family("tiktrend_run_last_start_timestamp_seconds", "Start of the latest run, by command and status.")
    for row in query.run_counts(reader).itertuples(index=False):
        runs.add(row.runs, command=row.command, status=row.status)
        last.add(row.last_started_at, command=row.command, status=row.status)
    figures = _Family(
        "tiktrend_pipeline_metric", "Each pipeline figure as the latest run that recorded it left it (stage, metric)."
    )
    figure_time = _Family(
        "tiktrend_pipeline_metric_run_start_timestamp_seconds", "Start of the run that recorded each figure."
    )
    for row in query.latest_metrics(reader).itertuples(index=False):
        figures.add(row.value, stage=row.stage, metric=row.metric)
        figure_time.add(row.started_at, stage=row.stage, metric=row.metric)
    quarantined = _Family("tiktrend_quarantine_records", "Rejected records in quarantine, by source and format.")
    summary = query.quarantine_summary(reader)
    if len(summary):
        sums = summary.groupby(["source", "format"], as_index=False)["records"].sum()
        for row in sums.itertuples(index=False):
            quarantined.add(row.records, source=row.source, format=row.format)
    trends = _Family("tiktrend_trends", "Rows of the latest detection, by window and detector.")
    detected = _Family("tiktrend_trends_as_of_timestamp_seconds", "Time of the latest detection.")
    for row in query.trend_scopes(reader).itertuples(index=False):
        trends.add(row.trends, window=row.time_window, detector=row.detector)
        detected.add(row.as_of, window=row.time_window, detector=row.detector)
    latest = _Family("tiktrend_data_latest_bucket_timestamp_seconds", "Start of the latest hour that holds data.")
    bucket = query.latest_bucket(reader, "hour")
    if bucket is not None:
        latest.add(bucket)
    return [runs, last, figures, figure_time, quarantined, trends, detected, latest]
