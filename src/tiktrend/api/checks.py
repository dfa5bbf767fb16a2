"""Parameter checks that need the store (which regions exist...) or span parameters; each says what is allowed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Final

from fastapi import HTTPException

from tiktrend import query
from tiktrend.models import MODALITIES
from tiktrend.query import KnownValues, Reader
from tiktrend.store.base import ALL
from tiktrend.trends.detectors import DETECTORS
from tiktrend.trends.rank import GRAIN_WINDOWS
from tiktrend.trends.windows import WINDOWS

# Times outside these bounds are typing mistakes, and would overflow some conversions.
EARLIEST: Final = datetime(2000, 1, 1)
LATEST: Final = datetime(2100, 1, 1)
MAX_KEYWORD_CHARS: Final = 200


class KnownCache:
    """The store's regions, categories, windows and detectors, re-read at most every ``ttl_s`` seconds."""

    def __init__(self, reader: Reader, ttl_s: float = 30.0) -> None:
        self.reader = reader
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._value: KnownValues | None = None
        self._read_at = 0.0

    def get(self) -> KnownValues:
        with self._lock:
            if self._value is None or time.monotonic() - self._read_at > self.ttl_s:
                self._value = query.known_values(self.reader)
                self._read_at = time.monotonic()
            return self._value


def _unknown(what: str, value: str, allowed: list[str]) -> HTTPException:
    if allowed in ([], [ALL]):
        return HTTPException(
            422, f"unknown {what} {value!r}: the store holds none yet (run the pipeline first); * means all"
        )
    return HTTPException(422, f"unknown {what} {value!r}: allowed values are {', '.join(allowed)}")


def region(known: KnownValues, value: str) -> str:
    """A region of the store, or ``*`` (all); case-insensitive like region codes."""
    if value == ALL or value in known.regions:
        return value
    if value.upper() in known.regions:
        return value.upper()
    raise _unknown("region", value, [ALL, *known.regions])


def regions(known: KnownValues, values: list[str]) -> list[str]:
    return [region(known, v) for v in _split(values) if v != ALL]


def category(known: KnownValues, value: str) -> str:
    if value != ALL and value not in known.categories:
        raise _unknown("category", value, [ALL, *known.categories])
    return value


def categories(known: KnownValues, values: list[str]) -> list[str]:
    return [category(known, v) for v in _split(values) if v != ALL]


def modality(value: str) -> str:
    if value != ALL and value not in MODALITIES:
        raise _unknown("modality", value, [ALL, *MODALITIES])
    return value


def modalities(values: list[str]) -> list[str]:
    return [modality(v) for v in _split(values) if v != ALL]


def window(known: KnownValues, value: str | None) -> str | None:
    """A detection window: 1h, 1d, 7d (threshold) or one a series detection stored."""
    allowed = sorted(set(WINDOWS) | set(GRAIN_WINDOWS.values()) | set(known.windows))
    if value is not None and value not in allowed:
        raise _unknown("window", value, allowed)
    return value


def detector(value: str | None) -> str | None:
    if value is not None and value not in DETECTORS:
        raise _unknown("detector", value, list(DETECTORS))
    return value


def keyword(value: str) -> str:
    """A keyword as stored: at most 200 characters, no control characters."""
    if not value or len(value) > MAX_KEYWORD_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise HTTPException(
            422, f"a keyword is 1 to {MAX_KEYWORD_CHARS} printable characters; got {len(value)} characters"
        )
    return value


def time_range(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Both bounds as UTC without a zone, inside the plausible years, start before end."""
    bounds = []
    for name, value in (("start", start), ("end", end)):
        if value is not None:
            naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
            if not EARLIEST <= naive <= LATEST:
                raise HTTPException(422, f"{name} must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
            value = naive
        bounds.append(value)
    if bounds[0] is not None and bounds[1] is not None and bounds[0] >= bounds[1]:
        raise HTTPException(422, "start must be before end")
    return bounds[0], bounds[1]


def _split(values: list[str]) -> list[str]:
    """Repeated parameters and comma-separated lists alike (?regions=US,VN or ?regions=US&regions=VN)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
