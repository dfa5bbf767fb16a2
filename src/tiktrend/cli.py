"""The ``tiktrend`` command: parse, open the store, call one library function, print with rich."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tiktrend.cli_api import export_command, serve_command
from tiktrend.cli_dashboard import dashboard_command
from tiktrend.cli_db import db_app
from tiktrend.cli_ops import alerts_app, opened_store, status_command
from tiktrend.cli_trends import moment, print_evidence, print_side_by_side, stored_examples
from tiktrend.collect.formats import FORMATS, FormatError
from tiktrend.interrupts import interrupt_reached_driver
from tiktrend.models import MODALITIES
from tiktrend.pipeline import IngestReport, RunSummary, detect_series, ingest, replay, rollup, run_pipeline
from tiktrend.settings import Settings
from tiktrend.store import ALL, StoreError
from tiktrend.trends.detectors import DETECTORS, ThresholdDetector, make_detector
from tiktrend.trends.rank import SIDE_BY
from tiktrend.trends.windows import WINDOWS

app = typer.Typer(
    help="Find the TikTok keywords, hashtags and sounds that are starting to trend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.command(name="serve")(serve_command)
app.command(name="export")(export_command)
app.command(name="status")(status_command)
app.add_typer(alerts_app, name="alerts")
app.command(name="dashboard")(dashboard_command)
console = Console()
if not console.is_terminal:
    # Piped output (logs, CI) defaults to 80 columns, which truncates the ranking; logs can be wider.
    console.width = max(console.width, 120)
errors = Console(stderr=True)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Errors a person can act on become one red line and exit code 2, not a traceback."""
    try:
        yield
    except (StoreError, FormatError, FileNotFoundError, ValueError) as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc


@contextmanager
def _record_progress(label: str) -> Iterator[Any]:
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda n: progress.advance(task, n)


def _check_choice(value: str | None, allowed: tuple[str, ...], label: str) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"unknown {label} {value!r}: expected one of {', '.join(allowed)}")


def _column_map(value: str) -> dict[str, str]:
    """``caption=vid_caption,views=vid_nview`` as {field: column}."""
    pairs = [part.strip() for part in value.split(",") if part.strip()]
    bad = [pair for pair in pairs if pair.count("=") != 1 or not all(side.strip() for side in pair.split("="))]
    if bad or not pairs:
        raise ValueError(f"--map takes field=column pairs separated by commas, not {value!r}")
    return {field.strip(): column.strip() for field, column in (pair.split("=") for pair in pairs)}


def _windows(value: str) -> tuple[str, ...]:
    names = tuple(w.strip() for w in value.split(",") if w.strip())
    for name in names:
        _check_choice(name, tuple(WINDOWS), "window")
    return names


@app.command()
def simulate(
    hours: Annotated[int, typer.Option(help="Hours of feed to generate.")] = 96,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 7,
    trends: Annotated[int, typer.Option(help="Number of planted trends.")] = 12,
    out: Annotated[Path | None, typer.Option(help="Output directory (default: <data_dir>/sim).")] = None,
) -> None:
    """Write a realistic simulated trending feed and the ground truth of its planted trends."""
    from tiktrend.collect.simulator import SimConfig, write_simulation

    with _friendly_errors():
        settings = Settings()
        result = write_simulation(SimConfig(seed=seed, hours=hours, n_trends=trends), out or settings.sim_dir)
    console.print(f"wrote {result.records:,} records of {result.videos:,} videos to [bold]{result.feed_path}[/]")
    console.print(f"ground truth: [bold]{result.truth_path}[/]")


@app.command(name="ingest")
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to import.")],
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help=f"One of {', '.join(FORMATS)}; detected when omitted."),
    ] = None,
    region: Annotated[str | None, typer.Option(help="Region for records that carry none (e.g. VN).")] = None,
    category: Annotated[str | None, typer.Option(help="Category for records that carry none.")] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="CSV column map, field=column pairs: --map video_id=id,caption=text,views=plays (implies csv).",
        ),
    ] = None,
) -> None:
    """Import files into the raw zone and the store (bad records go to quarantine), then update rollups."""
    with _friendly_errors():
        _check_choice(format, FORMATS, "format")
        column_map = _column_map(columns) if columns else None
        settings = Settings()
        with opened_store(settings) as store, _record_progress("ingesting") as progress:
            report = ingest(
                paths,
                store,
                settings,
                fmt=format,
                region=region,
                category=category,
                columns=column_map,
                progress=progress,
            )
            rows = rollup(store)
    _print_ingest(report)
    console.print(f"rollups: {rows:,} bucket rows refreshed")


@app.command(name="replay")
def replay_command() -> None:
    """Load every batch of the raw zone into the store again (for example into a new, empty database)."""
    with _friendly_errors():
        settings = Settings()
        with opened_store(settings) as store, _record_progress("replaying") as progress:
            report = replay(store, settings, progress=progress)
            rows = rollup(store)
    if report.inputs == 0:
        console.print(f"The raw zone at {settings.raw_dir} holds no batch yet: ingest or run something first.")
        return
    _print_ingest(report)
    console.print(f"rollups: {rows:,} bucket rows refreshed")


@app.command()
def run(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Inputs; with none, a simulated feed is generated.")
    ] = None,
    format: Annotated[str | None, typer.Option("--format", "-f", help="Input format; detected when omitted.")] = None,
    region: Annotated[str | None, typer.Option(help="Region for records that carry none.")] = None,
    windows: Annotated[str, typer.Option(help="Comma-separated windows to detect over.")] = ",".join(WINDOWS),
    min_growth: Annotated[float, typer.Option(help="Threshold detector: minimum growth (1.0 = +100%).")] = 1.0,
    min_videos: Annotated[int, typer.Option(help="Threshold detector: minimum videos in the window.")] = 10,
    min_views: Annotated[int, typer.Option(help="Threshold detector: minimum views in the window.")] = 0,
    limit: Annotated[int, typer.Option(help="Rows of the printed ranking.")] = 20,
    sim_hours: Annotated[int, typer.Option(help="With no inputs: hours of feed to simulate.")] = 96,
    sim_seed: Annotated[int, typer.Option(help="With no inputs: the simulator's seed.")] = 7,
    sim_rate: Annotated[float, typer.Option(help="With no inputs: simulated videos per hour.")] = 300.0,
) -> None:
    """Run the whole pipeline once: ingest (or simulate), extract, load, roll up, detect, rank."""
    from tiktrend.collect.simulator import SimConfig

    with _friendly_errors():
        simulation = SimConfig(seed=sim_seed, hours=sim_hours, videos_per_hour=sim_rate)
        _check_choice(format, FORMATS, "format")
        settings = Settings()
        detector = ThresholdDetector(min_growth=min_growth, min_videos=min_videos, min_views=min_views)
        with opened_store(settings) as store:
            with _record_progress("ingesting") as progress:
                summary = run_pipeline(
                    store,
                    settings,
                    list(paths or []),
                    fmt=format,
                    region=region,
                    windows=_windows(windows),
                    detector=detector,
                    simulation=simulation,
                    progress=progress,
                )
            _print_summary(summary)
            _print_heavy(summary.heavy)
            # The detector the backtest shows best (docs/detection.md) leads; the original rule follows.
            best = detect_series(store, summary.run_id, make_detector(BEST_DETECTOR, "hour"), grain="hour", region=ALL)
            _print_series(best, BEST_DETECTOR, "hour", limit)
            if summary.ground_truth is not None:
                top = best.trends.sort_values("score", ascending=False).head(limit)
                _print_truth_check(summary.ground_truth, set(top["keyword"]), f"{BEST_DETECTOR} top {limit}")
            window = _headline_window(summary)
            if window is not None:
                frame = store.top_trends(window=window, detector="threshold", limit=limit)
                _print_trends(frame, f"Baseline (threshold rule): top {limit} over the last {window}, all regions")
                if summary.ground_truth is not None:
                    label = f"threshold top {limit}"
                    _print_truth_check(summary.ground_truth, set(frame["keyword"]), label)


@app.command()
def trends(
    window: Annotated[str, typer.Option(help=f"One of {', '.join(WINDOWS)}.")] = "1d",
    region: Annotated[str, typer.Option(help="Region code, or * for all.")] = ALL,
    category: Annotated[str, typer.Option(help="Category, or * for all.")] = ALL,
    modality: Annotated[str, typer.Option(help=f"One of {', '.join(MODALITIES)}, or * for all.")] = ALL,
    detector: Annotated[
        str | None,
        typer.Option(help="threshold reads stored windows; poisson, zscore, velocity, ensemble detect now."),
    ] = None,
    grain: Annotated[str, typer.Option(help="With a series detector: hour or day buckets.")] = "hour",
    limit: Annotated[int, typer.Option(min=1, help="Rows to show.")] = 20,
    by: Annotated[
        str | None, typer.Option("--by", help="region or category: every slice's score and stage side by side.")
    ] = None,
) -> None:
    """Show the current top trends for a window and slice, with when each was first flagged and example videos."""
    if detector is not None and detector != "threshold":
        _series_trends(detector, grain, region, category, modality, limit, by)
        return
    with _friendly_errors():
        _check_choice(window, tuple(WINDOWS), "window")
        _check_choice(modality, (ALL, *MODALITIES), "modality")
        if by is not None:
            _check_choice(by, SIDE_BY, "--by")
        settings = Settings()
        region, category = _slice_args(region, category)
        with opened_store(settings) as store:
            frame = store.top_trends(
                window=window,
                region=None if by == "region" else region,
                category=None if by == "category" else category,
                modality=modality,
                detector="threshold" if by else detector,
                limit=None if by else limit,
            )
            examples = stored_examples(store, frame) if not by and not frame.empty else pd.DataFrame()
    if frame.empty:
        console.print(
            f"No trends stored for window {window}, region {region}, category {category}, modality {modality}. "
            "Run [bold]tiktrend run[/] first, or widen the filters."
        )
        return
    if by:
        as_of = pd.Timestamp(frame["as_of"].iloc[0])
        title = f"threshold over the last {window}, {SIDE_BY_TITLES[by]} side by side · as of {as_of:%Y-%m-%d %H:%M}"
        print_side_by_side(console, frame, by, limit, title)
        return
    _print_trends(frame, f"Top {limit} trends over the last {window} · region {region} · category {category}")
    print_evidence(console, frame, examples)


SIDE_BY_TITLES = {"region": "regions", "category": "categories"}


def _slice_args(region: str, category: str) -> tuple[str, str]:
    """Region codes are upper case and categories lower case in the store; ``*`` stays."""
    return (region.upper() if region != ALL else ALL, category.lower() if category != ALL else ALL)


def _series_trends(
    name: str, grain: str, region: str, category: str, modality: str, limit: int, by: str | None = None
) -> None:
    """Detect with a series detector at the end of the stored history, store and print the ranking."""
    from tiktrend.pipeline import new_run_id

    with _friendly_errors():
        _check_choice(name, tuple(DETECTORS), "detector")
        _check_choice(grain, ("hour", "day"), "grain")
        _check_choice(modality, (ALL, *MODALITIES), "modality")
        if by is not None:
            _check_choice(by, SIDE_BY, "--by")
        settings = Settings()
        region, category = _slice_args(region, category)
        with opened_store(settings) as store:
            run_id = new_run_id()
            store.start_run(run_id, "trends", {"detector": name, "grain": grain})
            found = detect_series(
                store,
                run_id,
                make_detector(name, grain),
                grain=grain,
                region=None if by == "region" else region,
                category=None if by == "category" else category,
                modality=modality,
            )
            store.finish_run(run_id, "ok", {"trends": len(found.trends), "rows_changed": found.rows_changed})
    if by and not found.trends.empty:
        title = f"{name} ({grain} buckets), {SIDE_BY_TITLES[by]} side by side · as of {found.as_of:%Y-%m-%d %H:%M}"
        print_side_by_side(console, found.trends, by, limit, title)
        return
    _print_series(found, name, grain, limit)


def _print_series(found: Any, name: str, grain: str, limit: int) -> None:
    """A series detector's ranking with explanations and example videos for the top five."""
    ranked = found.trends
    if ranked.empty:
        console.print(f"{name} flags nothing at the end of the stored history ({found.as_of or 'empty store'}).")
        return
    table = Table(
        title=f"Trending now ({name}, {grain} buckets) as of {found.as_of:%Y-%m-%d %H:%M}", title_justify="left"
    )
    for column in ("#", "keyword", "region", "stage", "score", "growth", "videos", "before", "share", "since"):
        table.add_column(column, justify="left" if column in ("keyword", "region", "stage") else "right")
    for row in ranked.sort_values(["score"], ascending=False).head(limit).itertuples(index=False):
        table.add_row(
            str(row.rank), str(row.display), str(row.region), str(row.stage), f"{row.score:.1f}",
            f"{row.growth:+.0%}", f"{row.videos_now:,}", f"{row.videos_before:,}", f"{row.share_now:.2%}",
            f"{row.first_detected_at:%m-%d %H:%M}",
        )  # fmt: skip
    console.print(table)
    print_evidence(console, ranked.sort_values(["score"], ascending=False), found.examples, min(limit, 5))


BEST_DETECTOR = "poisson"


def _headline_window(summary: RunSummary) -> str | None:
    for name in ("1d", "1h", "7d"):
        if summary.detect.windows.get(name):
            return name
    return None


def _print_ingest(report: IngestReport) -> None:
    console.print(
        f"read {report.read:,} records from {report.inputs} input(s): {report.accepted:,} accepted, "
        f"{report.quarantined:,} quarantined · videos {report.videos_new:,} new, {report.videos_updated:,} updated "
        f"· {report.stats_new:,} observations · {report.mentions_new:,} keyword mentions"
    )
    if report.batches_replayed:
        console.print(f"{report.batches_replayed} input(s) were already in the raw zone (loaded again, idempotently)")
    for reason, count in sorted(report.reasons.items(), key=lambda item: -item[1]):
        console.print(f"  quarantined {count:,}: {reason}", highlight=False)


def _print_summary(summary: RunSummary) -> None:
    if summary.simulated is not None:
        console.print(f"simulated feed: {summary.simulated}")
    _print_ingest(summary.ingest)
    timings = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in summary.seconds.items())
    found = ", ".join(f"{w}: {n}" for w, n in summary.detect.windows.items())
    console.print(f"rollups: {summary.rollup_rows:,} rows · trends flagged per window: {found or 'none'} · {timings}")
    for window, why in summary.detect.skipped.items():
        console.print(f"  window {window} skipped: {why}", style="dim")
    console.print(f"run [bold]{summary.run_id}[/]")


def _print_heavy(heavy: dict[str, Any] | None) -> None:
    """The heavy stage's line of ``tiktrend run``: OCR figures when it ran, why not when a step was off."""
    if heavy is None:
        return
    figures = heavy["figures"]
    if heavy["steps"]:
        images, cached = int(figures.get("ocr_images", 0)), int(figures.get("ocr_cached", 0))
        ocr = int(figures.get("mentions_ocr", 0))
        console.print(
            f"heavy stage ({', '.join(heavy['steps'])}): {heavy['videos']:,} videos with a readable cover or media · "
            f"OCR {images:,} images ({cached:,} from the cache) → {ocr:,} ocr mentions · "
            f"{heavy['mentions']:,} mentions in all · videos with errors: {heavy['errors']:,} · "
            f"{figures.get('seconds', 0.0):.1f}s"
        )
    if heavy["note"]:
        console.print(f"  heavy stage: {heavy['note']}", style="dim")


def _compact(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def _print_trends(frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("keyword", no_wrap=True, overflow="ellipsis", max_width=40)
    show_modality = bool((frame["modality"] != ALL).any())
    if show_modality:
        table.add_column("modality")
    for name in ("stage", "growth", "videos", "before", "share", "views", "since"):
        table.add_column(name, justify="left" if name == "stage" else "right", no_wrap=True)
    for row in frame.itertuples(index=False):
        cells = [str(row.rank), str(row.display)]
        if show_modality:
            cells.append(str(row.modality))
        cells += [
            str(row.stage),
            f"{row.growth:+.0%}",
            f"{row.videos_now:,}",
            f"{row.videos_before:,}",
            f"{row.share_now:.2%}",
            _compact(cast(float, row.views)),
            moment(row.first_detected_at),
        ]
        table.add_row(*cells)
    console.print(table)


def _print_truth_check(truth_path: Path, shown: set[str], label: str) -> None:
    """For a simulated run: how many planted trends a ranking shows."""
    with truth_path.open(encoding="utf-8") as handle:
        planted = {row["keyword"] for row in csv.DictReader(handle)}
    hits = sorted(planted & shown)
    console.print(
        f"planted trends in the {label}: {len(hits)} of {len(planted)} ({', '.join(hits) if hits else 'none'})"
    )


@app.command()
def backtest(
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Backtest on a fresh simulation (planted trends).")
    ] = False,
    seed: Annotated[int, typer.Option(help="--simulate: the simulator's seed.")] = 7,
    hours: Annotated[int, typer.Option(help="--simulate: hours of feed.")] = 96,
    rate: Annotated[float, typer.Option(help="--simulate: videos per hour.")] = 300.0,
    planted: Annotated[int, typer.Option("--trends", help="--simulate: planted trends.")] = 12,
    grain: Annotated[str, typer.Option(help="Stored history: hour or day buckets.")] = "day",
    region: Annotated[str | None, typer.Option(help="Stored history: only this region's slice.")] = None,
    truth: Annotated[Path | None, typer.Option(help="Stored history: planted-trend CSV (the simulator's).")] = None,
    top_k: Annotated[int, typer.Option(help="Future labels: entering the top K by share of volume.")] = 20,
    horizon: Annotated[int, typer.Option(help="Future labels: within this many buckets.")] = 3,
    future: Annotated[bool, typer.Option(help="Stored history: use future-based labels.")] = True,
    since: Annotated[
        datetime | None, typer.Option(help="Stored history: judge only buckets from this day (held-out period).")
    ] = None,
    detectors: Annotated[str, typer.Option(help="Comma-separated detectors to compare.")] = ",".join(DETECTORS),
    k: Annotated[int, typer.Option("--k", help="Length of the ranked lists for precision@k.")] = 20,
    out: Annotated[Path | None, typer.Option(help="Directory for backtest.md/.html/.json.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
    series: Annotated[Path | None, typer.Option(help="External series CSV: series_id,t,value.")] = None,
    labels: Annotated[Path | None, typer.Option(help="External labels CSV: series_id,label[,onset_t].")] = None,
) -> None:
    """Replay history bucket by bucket and compare every detector with ground truth."""
    from tiktrend.backtest import report
    from tiktrend.backtest.sources import FutureLabels, simulation_backtest, store_backtest
    from tiktrend.collect.simulator import SimConfig

    with _friendly_errors():
        names = [n.strip() for n in detectors.split(",") if n.strip()]
        for name in names:
            _check_choice(name, tuple(DETECTORS), "detector")
        if series is not None or labels is not None:
            _external_backtest(series, labels, names, json_output)
            return
        _check_choice(grain, ("hour", "day"), "grain")
        settings = Settings()
        if simulate:
            config = SimConfig(seed=seed, hours=hours, videos_per_hour=rate, n_trends=planted)
            chosen = [make_detector(n, "hour") for n in names]
            with _spinner("simulating and replaying"):
                result = simulation_backtest(
                    config, settings.data_dir / "backtest" / f"sim-{seed}", detectors=chosen, k=k
                )
        else:
            labels_config = FutureLabels(k=top_k, horizon=horizon) if future else None
            with opened_store(settings) as store, _spinner("replaying"):
                result = store_backtest(
                    store,
                    grain=grain,
                    detectors=[make_detector(n, grain) for n in names],
                    region=region.upper() if region else None,
                    future=labels_config,
                    truth_csv=truth,
                    k=k,
                    since=since,
                )
        paths = report.write_reports(result, out) if out is not None else {}
    if json_output:
        console.print_json(report.to_json(result))
        return
    _print_backtest(result, paths)


@contextmanager
def _spinner(label: str) -> Iterator[None]:
    with Progress(SpinnerColumn(), TextColumn(f"[bold]{label}"), TimeElapsedColumn(), console=errors, transient=True):
        yield


def _print_backtest(result: Any, paths: dict[str, Path]) -> None:
    from tiktrend.backtest import report

    console.print(f"[bold]{result.title}[/]")
    for line in report._preamble(result):
        console.print(line, highlight=False)
    for truth in result.truths:
        table = Table(
            title=f"{truth.name}: {report.judged_events(result, truth.name)} events judged", title_justify="left"
        )
        frame = report.metrics_table(result, truth.name)
        table.add_column("detector")
        for column in frame.columns:
            table.add_column(str(column), justify="right")
        for name, row in frame.astype(object).iterrows():
            table.add_row(str(name), *(report._fmt(v) for v in row))
        console.print(table)
        if result.metrics[truth.name]:
            console.print(f"best by F1: [bold]{result.best(truth.name)}[/]")
    for note in result.notes:
        console.print(note, style="dim")
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")


def _external_backtest(series: Path | None, labels: Path | None, names: list[str], json_output: bool) -> None:
    from tiktrend.backtest.external import evaluate_external, read_labels_csv, read_series_csv

    if series is None or labels is None:
        raise ValueError("--series and --labels go together: series_id,t,value and series_id,label[,onset_t]")
    result = evaluate_external(read_series_csv(series), read_labels_csv(labels), [make_detector(n) for n in names])
    table = result.table()
    if json_output:
        payload = {
            "series": result.series,
            "positives": result.positives,
            "buckets": result.buckets,
            "detectors": table.reset_index().to_dict(orient="records"),
            "skipped": result.skipped,
        }
        console.print_json(json.dumps(payload, default=float))
        return
    console.print(f"{result.series:,} labelled series ({result.positives:,} trends) over {result.buckets:,} steps")
    rich_table = Table(title="ROC per detector", title_justify="left")
    rich_table.add_column("detector")
    for column in table.columns:
        rich_table.add_column(str(column), justify="right")
    for name, row in table.iterrows():
        rich_table.add_row(str(name), *(f"{v:.3f}" for v in row))
    console.print(rich_table)
    for name, why in result.skipped.items():
        console.print(f"{name} skipped: {why}", style="dim")


@app.command(name="collect")
def collect_command(
    source: Annotated[str, typer.Option(help="web (trending feed), research (Research API) or creative-center.")],
    regions: Annotated[str, typer.Option(help="Comma-separated region (country) codes.")] = "US",
    count: Annotated[int, typer.Option(min=1, help="Videos per region (list entries for creative-center).")] = 100,
    fresh: Annotated[bool, typer.Option(help="Start a new run instead of resuming an unfinished one.")] = False,
    session: Annotated[bool, typer.Option(help="web: read the feed in a browser (TikTokApi + chromium).")] = False,
    since: Annotated[str | None, typer.Option(help="research: first creation day (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="research: last creation day (default: yesterday).")] = None,
    hashtags: Annotated[str | None, typer.Option(help="research: comma-separated hashtags (any of them).")] = None,
    keywords: Annotated[str | None, typer.Option(help="research: comma-separated keywords (any of them).")] = None,
    kinds: Annotated[str, typer.Option(help="creative-center: lists to read.")] = "hashtag,keyword,sound",
    period: Annotated[int, typer.Option(help="creative-center: 7, 30 or 120 days.")] = 7,
    industry: Annotated[str, typer.Option(help="creative-center: industry id (default: all).")] = "",
) -> None:
    """Collect from a live source into the raw zone and the store; an interrupted run resumes where it stopped."""
    from tiktrend.collect.collector import collect_trend_lists, collect_videos
    from tiktrend.collect.live import SOURCES, SettingsError, open_creative_center, open_video_source, retry_policy
    from tiktrend.collect.sources.creative_center import TrendList

    with _friendly_errors():
        _check_choice(source, SOURCES, "source")
        names = [r.strip().upper() for r in regions.split(",") if r.strip()]
        if not names:
            raise ValueError("--regions names no region")
        settings = Settings()
        policy = retry_policy(settings)
        try:
            with opened_store(settings) as store, _collect_progress() as progress:
                if source == "creative-center":
                    lists = [TrendList(k.strip(), r, period, industry) for r in names for k in kinds.split(",")]
                    with open_creative_center(settings) as center:
                        summary = collect_trend_lists(
                            center, lists, count, store, settings, policy=policy, fresh=fresh, progress=progress
                        )
                else:
                    with open_video_source(
                        settings,
                        source,
                        session=session,
                        since=datetime.strptime(since, "%Y-%m-%d").date() if since else None,
                        until=datetime.strptime(until, "%Y-%m-%d").date() if until else None,
                        hashtags=[t.strip() for t in (hashtags or "").split(",") if t.strip()],
                        keywords=[k.strip() for k in (keywords or "").split(",") if k.strip()],
                    ) as live:
                        summary = collect_videos(
                            live, names, count, store, settings, policy=policy, fresh=fresh, progress=progress
                        )
                    rollup(store)
        except SettingsError as exc:
            raise ValueError(str(exc)) from exc
        except (KeyboardInterrupt, Exception) as exc:
            # Loads hold Ctrl-C until they commit; one that lands in the closing rollup reaches DuckDB first.
            if not interrupt_reached_driver(exc):
                raise
            errors.print("[yellow]interrupted:[/] nothing fetched is lost; run the same command to resume.")
            raise typer.Exit(130) from None
    _print_collect(summary)
    if summary.stopped is not None:
        raise typer.Exit(3)


@contextmanager
def _collect_progress() -> Iterator[Any]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def update(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=min(done, total))

        yield update


def _print_collect(summary: Any) -> None:
    t = summary.totals
    state = "finished" if summary.finished else ("stopped" if summary.stopped else "unfinished")
    resumed = " (resumed)" if summary.resumed else ""
    console.print(
        f"{summary.source}: {state}{resumed} · {t['requests']:,} requests, {t['pages']:,} pages, "
        f"{t['items']:,} items fetched · {t['new']:,} new, {t['updated']:,} updated, {t['quarantined']:,} quarantined, "
        f"{t['repeats']:,} repeats left out",
        highlight=False,
    )
    for name, region in summary.regions.items():
        done = "done" if region["done"] else f"stopped: {region['stopped']}" if region["stopped"] else "to resume"
        got = region.get("videos", region.get("entries", 0))
        console.print(f"  {name}: {got:,} collected in {region['pages']:,} pages ({done})", highlight=False)
    if summary.failures:
        failed = ", ".join(
            f"{reason} {n:,}" for reason, n in sorted(summary.failures.items(), key=lambda i: (-i[1], i[0]))
        )
        console.print(f"failed requests by reason: {failed}", highlight=False)
    if summary.advice:
        errors.print(f"[bold red]stopped ({summary.stopped}):[/] {summary.advice}", highlight=False)
    elif not summary.finished:
        console.print(f"run the same command again to resume (checkpoint {summary.checkpoint})", highlight=False)


@app.callback()
def main() -> None:
    """tiktrend: early, evidenced TikTok trends."""


@app.command(name="extract")
def extract_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to extract keyword mentions from.")],
    engine: Annotated[str, typer.Option(help="pandas (in process) or spark (the same functions on Spark).")] = "pandas",
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL (default: TIKTREND_SPARK_MASTER, local[*]).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Parquet file the mentions are written to.")] = Path("mentions.parquet"),
    format: Annotated[str | None, typer.Option("--format", "-f", help="Input format; detected when omitted.")] = None,
) -> None:
    """Extract keyword mentions from files with the pandas or the Spark engine (no store needed)."""
    import time
    from datetime import UTC, datetime

    from tiktrend.collect.formats import ImportContext, detect_format, normalize, read_records
    from tiktrend.extract.keywords import extract_mentions
    from tiktrend.models import RecordError
    from tiktrend.pipeline import expand_inputs, videos_frame

    with _friendly_errors():
        _check_choice(engine, ("pandas", "spark"), "engine")
        _check_choice(format, FORMATS, "format")
        settings = Settings()
        videos = []
        for path in expand_inputs(paths):
            fmt = format or detect_format(path)
            context = ImportContext(fallback_observed_at=datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC))
            for raw in read_records(path, fmt):
                try:
                    if raw.record is not None:
                        videos.append(normalize(raw.record, fmt, context))
                except RecordError:
                    continue  # `tiktrend ingest` quarantines these; extraction alone skips them
        frame = videos_frame(videos)
        started = time.perf_counter()
        if engine == "spark":
            from tiktrend.extract.spark import extract_mentions_spark, spark_session

            spark = spark_session(spark_master or settings.spark_master)
            try:
                mentions = extract_mentions_spark(spark, frame)
            finally:
                spark.stop()
        else:
            mentions = extract_mentions(frame)
        seconds = time.perf_counter() - started
        mentions.to_parquet(out, index=False)
    console.print(
        f"{len(frame):,} observations -> {len(mentions):,} mentions with the {engine} engine "
        f"in {seconds:.1f} s, written to [bold]{out}[/]"
    )


@app.command(name="merges")
def merges_command(
    mentions: Annotated[Path, typer.Argument(help="Parquet file of mentions (from `tiktrend extract`).")],
    out: Annotated[Path, typer.Option(help="CSV file the merge table is written to.")] = Path("merges.csv"),
    embed: Annotated[bool, typer.Option(help="Also merge by embeddings (extra 'embed').")] = True,
    fold_accents: Annotated[bool, typer.Option(help="Fold accents when matching spellings.")] = False,
) -> None:
    """Propose keyword merges (spelling variants, near-duplicates by embedding) as a reviewable table."""
    from tiktrend.extract.variants import load_embedder, merge_table

    with _friendly_errors():
        settings = Settings()
        frame = pd.read_parquet(mentions, columns=["keyword", "modality"])
        # Word keywords only: a sound is named by its title, an emoji is itself.
        frame = frame[frame["modality"].isin(["hashtag", "caption", "transcript", "ocr", "image_caption"])]
        embedder = load_embedder(settings.embed_model_path) if embed else None
        table = merge_table(
            frame["keyword"].value_counts(), embed=embedder, threshold=settings.merge_threshold, fold=fold_accents
        )
        table.to_csv(out, index=False)
    console.print(f"{len(table):,} merges proposed, written to [bold]{out}[/] (apply with extract.variants)")
