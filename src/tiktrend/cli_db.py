"""``tiktrend db``: the store's schema version, migrations, partitions and rollups (thin, like the rest of the CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from tiktrend.settings import Settings
from tiktrend.store import POSTGRES_SCHEMES, StoreError, store_from_settings
from tiktrend.store.pg_options import options_from_settings

db_app = typer.Typer(help="The store's schema: version, migrations, partitions, rollups.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except (StoreError, ValueError) as exc:
        errors.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from exc


def _postgres(settings: Settings) -> bool:
    if settings.database_url.startswith(POSTGRES_SCHEMES):
        return True
    console.print(
        f"{settings.database_url} is a DuckDB store: it creates and updates its tables itself when opened, "
        "so there is nothing to migrate."
    )
    return False


@db_app.command("status")
def status_command() -> None:
    """Show the schema version, the layout (partitions or TimescaleDB) and what waits for a rollup refresh."""
    with _friendly_errors():
        settings = Settings()
        if not settings.database_url.startswith(POSTGRES_SCHEMES):
            _duckdb_status(settings)
            return
        from tiktrend.store.pg_admin import status

        found = status(settings.database_url, options_from_settings(settings))
    behind = "" if found.version == found.latest else f" (this tiktrend expects {found.latest}: tiktrend db upgrade)"
    console.print(found.where)
    console.print(f"schema version {found.version}{behind}; layout {found.storage or 'not created yet'}")
    available = f"available ({found.timescale_available}), not installed" if found.timescale_available else "absent"
    timescale = f"installed ({found.timescale_installed})" if found.timescale_installed else available
    console.print(f"TimescaleDB: {timescale}")
    if found.partitions:
        console.print(f"partitions: {len(found.partitions)} ({found.partitions[0]} ... {found.partitions[-1]})")
    console.print(f"videos waiting for the next rollup refresh: {found.pending_videos:,}")


def _duckdb_status(settings: Settings) -> None:
    from tiktrend.store.duckdb import DuckDBStore
    from tiktrend.store.schema import DUCKDB_SCHEMA_VERSION

    with DuckDBStore(settings.database_url, checkpoint_mb=settings.duckdb_checkpoint_mb) as store:  # migrates
        version = store.layout_version()
        counts = store.table_counts()
    console.print(f"DuckDB file {store.path}: layout version {version} (this tiktrend writes {DUCKDB_SCHEMA_VERSION})")
    console.print(", ".join(f"{table} {count:,}" for table, count in counts.items()))


@db_app.command("upgrade")
def upgrade_command(
    to: Annotated[int | None, typer.Option("--to", help="Target schema version (default: the latest).")] = None,
) -> None:
    """Apply the schema migrations this database is missing (stores also do it when first opened)."""
    with _friendly_errors():
        settings = Settings()
        if not _postgres(settings):
            return
        from tiktrend.store.migrations import LATEST
        from tiktrend.store.pg_admin import upgrade_schema

        applied = upgrade_schema(settings.database_url, options_from_settings(settings), LATEST if to is None else to)
    if not applied:
        console.print("the schema is up to date; nothing to apply")
    for migration in applied:
        console.print(f"applied {migration.version}: {migration.name}")


@db_app.command("downgrade")
def downgrade_command(
    to: Annotated[int, typer.Option("--to", help="Schema version to return to.")],
) -> None:
    """Undo migrations above a version, when that loses no data (before installing an older tiktrend)."""
    with _friendly_errors():
        settings = Settings()
        if not _postgres(settings):
            return
        from tiktrend.store.pg_admin import downgrade_schema

        undone = downgrade_schema(settings.database_url, options_from_settings(settings), to)
    if not undone:
        console.print(f"the schema is at version {to} or below already; nothing to undo")
    for migration in undone:
        console.print(f"undid {migration.version}: {migration.name}")


@db_app.command("maintain")
def maintain_command() -> None:
    """Create the monthly partitions ahead and drop those past TIKTREND_PG_RETENTION_DAYS (run it daily)."""
    with _friendly_errors():
        settings = Settings()
        if not _postgres(settings):
            return
        from tiktrend.store.pg_admin import maintain

        report = maintain(settings.database_url, options_from_settings(settings))
    if report.note:
        console.print(report.note)
    console.print(f"partitions created: {', '.join(report.created) or 'none'}")
    console.print(f"partitions dropped (retention): {', '.join(report.dropped) or 'none'}")


@db_app.command("rebuild-rollups")
def rebuild_command() -> None:
    """Recompute every rollup from the stored mentions (a repair; loads keep rollups current on their own)."""
    with _friendly_errors():
        settings = Settings()
        store = store_from_settings(settings)
        try:
            rebuild = getattr(store, "rebuild_rollups", None)
            rows = rebuild() if rebuild is not None else store.refresh_rollups()
        finally:
            store.close()
    console.print(f"rollups rebuilt: {rows:,} rows written")
