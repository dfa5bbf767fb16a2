"""``tiktrend serve`` (the API under uvicorn) and ``tiktrend export`` (mentions as CSV or Parquet)."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tiktrend.settings import Settings
from tiktrend.store import StoreError

console = Console()
errors = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each opens the store once).", min=1)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the read-only API over the store (OpenAPI docs at /docs)."""
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise _fail(f"the API needs {' and '.join(missing)}: pip install 'tiktrend[api]'")
    import uvicorn

    settings = Settings()
    try:  # fail here, with the reason, rather than in every worker
        from tiktrend.query import open_reader
        from tiktrend.store.pg_options import options_from_settings

        open_reader(settings.database_url, options_from_settings(settings)).close()
    except StoreError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"API over [bold]{settings.database_url}[/] at http://{host}:{port} (docs: /docs; Ctrl-C stops it)")
    uvicorn.run(
        "tiktrend.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


def export_command(
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Output file (default: keywords_clean.<format>).")] = None,
    regions: Annotated[str | None, typer.Option("--region", help="Only these regions (comma separated).")] = None,
    categories: Annotated[str | None, typer.Option("--category", help="Only these categories.")] = None,
    modalities: Annotated[str | None, typer.Option("--modality", help="Only these modalities.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Mentions of videos posted from this time.")] = None,
    until: Annotated[datetime | None, typer.Option(help="...and before this time.")] = None,
    generic: Annotated[bool, typer.Option(help="Keep generic reach tags (fyp, viral...).")] = True,
    batch_rows: Annotated[int, typer.Option(help="Rows read and written at a time.", min=1)] = 50_000,
) -> None:
    """Export every keyword mention with its video's engagement (the original keywords_clean.csv columns and more)."""
    from tiktrend.models import MODALITIES
    from tiktrend.query import open_reader
    from tiktrend.query.export import FORMATS, ExportFilter, write_export
    from tiktrend.store.pg_options import options_from_settings

    if format not in FORMATS:
        raise _fail(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
    chosen_modalities = _split(modalities)
    unknown = [m for m in chosen_modalities if m not in MODALITIES]
    if unknown:
        raise _fail(f"unknown modality {unknown[0]!r}: expected one of {', '.join(MODALITIES)}")
    if since is not None and until is not None and since >= until:
        raise _fail("--since must be before --until")
    chosen = ExportFilter(
        regions=_split(regions),
        categories=_split(categories),
        modalities=chosen_modalities,
        start=since,
        end=until,
        include_generic=generic,
    )
    target = out or Path(f"keywords_clean.{format}")
    settings = Settings()
    try:
        reader = open_reader(settings.database_url, options_from_settings(settings), hold_s=0)
        try:
            written = write_export(reader, target, format, chosen, rows=batch_rows)
        finally:
            reader.close()
    except (StoreError, OSError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{written:,} mention rows written to [bold]{target}[/]")


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]
