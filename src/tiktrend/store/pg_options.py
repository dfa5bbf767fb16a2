"""The PostgreSQL backend's options, free of any driver import (the CLI builds them from ``Settings``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tiktrend.settings import Settings

TimescaleMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class PostgresOptions:
    """How the PostgreSQL backend connects and lays out its tables."""

    pool_size: int = 4
    connect_timeout_s: int = 10
    retries: int = 4
    auto_upgrade: bool = True
    timescale: TimescaleMode = "auto"
    partition_months_ahead: int = 2
    chunk_days: int = 7
    compress_after_days: int | None = 30
    retention_days: int | None = None
    refresh_every_minutes: int = 30
    refresh_lookback_days: int = 3


def options_from_settings(settings: Settings) -> PostgresOptions:
    """The ``TIKTREND_PG_*`` settings as backend options."""
    return PostgresOptions(
        pool_size=settings.pg_pool_size,
        connect_timeout_s=settings.pg_connect_timeout_s,
        retries=settings.pg_retries,
        auto_upgrade=settings.pg_auto_upgrade,
        timescale=settings.pg_timescale,
        partition_months_ahead=settings.pg_partition_months_ahead,
        chunk_days=settings.pg_chunk_days,
        compress_after_days=settings.pg_compress_after_days,
        retention_days=settings.pg_retention_days,
        refresh_every_minutes=settings.pg_refresh_every_minutes,
        refresh_lookback_days=settings.pg_refresh_lookback_days,
    )
