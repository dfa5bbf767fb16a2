"""``tiktrend status`` and ``tiktrend alerts``: how the pipeline is doing, and its alerts (thin, like the rest)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tiktrend.alerts import AlertConfigError, AlertReport, Webhook, headline, rules_from_settings, run_alerts
from tiktrend.metrics import RunRow, StatusReport, as_rows, status_report
from tiktrend.settings import Settings
from tiktrend.store import POSTGRES_SCHEMES, Store, StoreError, store_from_settings

console = Console()
if not console.is_terminal:
    console.width = max(console.width, 120)
errors = Console(stderr=True)

# The figures a run's row shows, by stage and metric, with their column titles.
RUN_FIGURES = (
    ("ingest", "records_read", "read"),
    ("ingest", "videos_new", "new"),
    ("ingest", "videos_updated", "updated"),
    ("ingest", "records_quarantined", "quar."),
    ("extract", "mentions_total", "mentions"),
    ("store", "keywords_unique", "keywords"),
    ("alerts", "alerts_sent", "alerts"),
)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except (StoreError, ValueError, FileNotFoundError) as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc


@contextmanager
def opened_store(settings: Settings) -> Iterator[Store]:
    """The configured store, closed afterwards."""
    store = store_from_settings(settings)
    try:
        yield store
    finally:
        store.close()


def where(url: str) -> str:
    """The store's location for people: a DuckDB path, or a PostgreSQL database without its password."""
    if url.startswith(POSTGRES_SCHEMES):
        from tiktrend.store.pg_connect import describe

        return describe(url)
    return url


def status_command(
    runs: Annotated[int, typer.Option(help="How many of the latest runs to show.", min=1)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Latest runs (status, duration, figures), volumes, quarantine by reason, data freshness, what to do."""
    with _friendly_errors():
        settings = Settings()
        with opened_store(settings) as store:
            report = status_report(store, runs=runs)
    report.url = where(report.url)
    if as_json:
        console.print_json(json.dumps(as_rows(report)))
        return
    _print_status(report)


def _print_status(report: StatusReport) -> None:
    console.print(f"[bold]store[/]: {report.url}", highlight=False)
    if report.runs:
        console.print(_runs_table(report.runs))
    console.print(
        "[bold]volumes[/]: " + ", ".join(f"{table} {n:,}" for table, n in report.volumes.items()), highlight=False
    )
    if report.quarantine:
        console.print(
            "[bold]quarantine by reason[/]: " + ", ".join(f"{k} {n:,}" for k, n in report.quarantine.items()),
            highlight=False,
        )
    fresh = report.freshness
    console.print(
        f"[bold]freshness[/]: last observation {_when(fresh.last_observed)}, last post {_when(fresh.last_posted)}, "
        f"last detection {_when(fresh.last_detection)}, last successful run {_when(fresh.last_ok_run)}",
        highlight=False,
    )
    if report.alerts:
        console.print(
            "[bold]alerts[/]: " + ", ".join(f"{k} {n:,}" for k, n in sorted(report.alerts.items())), highlight=False
        )
    for line in report.advice:
        console.print(f"[yellow]→[/] {line}", highlight=False)
    if not report.advice:
        console.print("[green]all is well[/]: the latest run succeeded and the data is fresh.")


def _runs_table(runs: list[RunRow]) -> Table:
    table = Table(title="latest runs")
    table.add_column("run", no_wrap=True)
    for title in ("command", "status"):
        table.add_column(title)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("seconds", justify="right")
    for _, _, title in RUN_FIGURES:
        table.add_column(title, justify="right")
    colours = {"ok": "green", "failed": "red", "running": "yellow"}
    for run in runs:
        seconds = f"{run.seconds:.1f}" if run.seconds is not None else "-"
        figures = [run.figures.get(stage, {}).get(metric) for stage, metric, _ in RUN_FIGURES]
        table.add_row(
            run.run_id,
            run.command,
            f"[{colours.get(run.status, 'white')}]{run.status}[/]",
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            seconds,
            *(f"{v:,.0f}" if v is not None else "-" for v in figures),
        )
    return table


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment is not None else "never"


# ---- tiktrend alerts ---------------------------------------------------------------------------------------

alerts_app = typer.Typer(help="Alert rules on detected trends, delivered once to a webhook and the log.")


@contextmanager
def _alert_errors() -> Iterator[None]:
    try:
        yield
    except (AlertConfigError, StoreError, ValueError) as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc


@alerts_app.command("run")
def alerts_run() -> None:
    """Apply the rules to the latest trends and deliver every pending alert (what the pipeline's stage does)."""
    with _alert_errors():
        settings = Settings()
        if not rules_from_settings(settings):
            raise ValueError(
                "no alert rule is configured: set TIKTREND_ALERT_MIN_SCORE (or another TIKTREND_ALERT_* filter) "
                "or TIKTREND_ALERT_RULES_FILE (a JSON or YAML list of rules); see docs/operations.md"
            )
        with opened_store(settings) as store:
            report = run_alerts(store, settings)
    _print_alerts(report, settings)


@alerts_app.command("send")
def alerts_send() -> None:
    """Deliver the alerts still pending (after the webhook was down), without evaluating the rules again."""
    with _alert_errors():
        settings = Settings()
        with opened_store(settings) as store:
            report = run_alerts(store, settings, deliver_only=True)
    _print_alerts(report, settings)


@alerts_app.command("test")
def alerts_test() -> None:
    """Post one test message to the configured webhook, to check the URL (records nothing)."""
    import httpx

    with _alert_errors():
        hook = Webhook.from_settings(Settings())
        if hook is None:
            raise ValueError("TIKTREND_ALERT_WEBHOOK_URL is not set: alerts go to the log only")
        body = {"text": "tiktrend: test alert (the webhook works)", "blocks": []}
        try:
            answer = httpx.post(hook.url, json=body, timeout=hook.timeout_s)
        except httpx.HTTPError as exc:
            raise ValueError(f"the webhook could not be reached: {type(exc).__name__}: {exc}") from exc
        if not answer.is_success:
            raise ValueError(f"the webhook answered {answer.status_code}: {answer.text[:200]}")
    console.print(f"the webhook answered {answer.status_code}: it takes alerts")


def _print_alerts(report: AlertReport, settings: Settings) -> None:
    for alert in report.alerts:
        console.print(f"[bold]alert[/] {headline(alert)}", highlight=False)
    target = "the webhook" if settings.alert_webhook_url is not None else "the log (no TIKTREND_ALERT_WEBHOOK_URL)"
    console.print(
        f"{report.rules} rule(s); {report.new} new alert(s); {report.sent + report.logged} delivered to {target}; "
        f"{report.pending} pending",
        highlight=False,
    )
    if report.error:
        errors.print(f"[bold yellow]delivery stopped:[/] {report.error}", highlight=False)
        raise typer.Exit(1)
