"""The filters every view respects, and their round trip through the page's URL (a view can be shared as a link)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

TOP_N_CHOICES: Final = (5, 10, 20, 30, 50, 100)
DEFAULT_TOP_N: Final = 20


@dataclass(frozen=True)
class Choices:
    """What the store holds: the values a filter can take and the dates with data."""

    regions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    first_day: date | None = None
    last_day: date | None = None

    @property
    def empty(self) -> bool:
        return self.first_day is None


@dataclass(frozen=True)
class Filters:
    """Regions, categories and modalities (empty: all of them), a range of days (inclusive) and a top N."""

    regions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    modalities: tuple[str, ...] = ()
    first_day: date | None = None
    last_day: date | None = None
    top_n: int = DEFAULT_TOP_N
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def start(self) -> datetime | None:
        """The first moment of the range (UTC), or None for no lower bound."""
        return datetime.combine(self.first_day, time(), tzinfo=UTC) if self.first_day else None

    @property
    def end(self) -> datetime | None:
        """The moment after the range (UTC midnight after its last day), or None for no upper bound."""
        return datetime.combine(self.last_day + timedelta(days=1), time(), tzinfo=UTC) if self.last_day else None


def _values(raw: str | list[str] | None) -> list[str]:
    if raw is None:
        return []
    parts = raw if isinstance(raw, list) else [raw]
    return [value.strip() for part in parts for value in part.split(",") if value.strip()]


def _known(name: str, raw: str | list[str] | None, allowed: tuple[str, ...], notes: list[str]) -> tuple[str, ...]:
    chosen = _values(raw)
    unknown = [value for value in chosen if value not in allowed]
    if unknown:
        notes.append(f"ignored unknown {name} {', '.join(unknown)} (the store holds {', '.join(allowed) or 'none'})")
    return tuple(value for value in chosen if value in allowed)


def _day(raw: str | list[str] | None, name: str, notes: list[str]) -> date | None:
    values = _values(raw)
    if not values:
        return None
    try:
        return date.fromisoformat(values[0])
    except ValueError:
        notes.append(f"ignored {name}={values[0]!r}: expected a day as YYYY-MM-DD")
        return None


def _top_n(raw: str | list[str] | None, notes: list[str]) -> int:
    values = _values(raw)
    if not values:
        return DEFAULT_TOP_N
    if values[0].isdigit() and 1 <= int(values[0]) <= max(TOP_N_CHOICES):
        return int(values[0])
    notes.append(f"ignored top={values[0]!r}: expected a whole number from 1 to {max(TOP_N_CHOICES)}")
    return DEFAULT_TOP_N


def from_query(params: Mapping[str, str | list[str]], choices: Choices) -> Filters:
    """Filters from URL parameters (``region=US,VN&top=10&from=2025-05-01``); what is unknown is noted, not fatal."""
    notes: list[str] = []
    filters = Filters(
        regions=_known("region", params.get("region"), choices.regions, notes),
        categories=_known("category", params.get("category"), choices.categories, notes),
        modalities=_known("modality", params.get("modality"), choices.modalities, notes),
        first_day=_day(params.get("from"), "from", notes),
        last_day=_day(params.get("to"), "to", notes),
        top_n=_top_n(params.get("top"), notes),
    )
    return replace(clamp_days(filters, choices), notes=tuple(notes))


def clamp_days(filters: Filters, choices: Choices) -> Filters:
    """The range within the days that hold data (the whole history when unset or out of it)."""
    if choices.first_day is None or choices.last_day is None:
        return replace(filters, first_day=None, last_day=None)
    first = filters.first_day or choices.first_day
    last = filters.last_day or choices.last_day
    first = min(max(first, choices.first_day), choices.last_day)
    last = min(max(last, choices.first_day), choices.last_day)
    if first > last:
        first, last = last, first
    return replace(filters, first_day=first, last_day=last)


def to_query(filters: Filters, choices: Choices) -> dict[str, str]:
    """URL parameters for the filters, leaving out what equals the default."""
    params: dict[str, str] = {}
    for name, values in (("region", filters.regions), ("category", filters.categories)):
        if values:
            params[name] = ",".join(values)
    if filters.modalities:
        params["modality"] = ",".join(filters.modalities)
    if filters.first_day and filters.first_day != choices.first_day:
        params["from"] = filters.first_day.isoformat()
    if filters.last_day and filters.last_day != choices.last_day:
        params["to"] = filters.last_day.isoformat()
    if filters.top_n != DEFAULT_TOP_N:
        params["top"] = str(filters.top_n)
    return params


def describe(filters: Filters) -> str:
    """The filters in one line, for captions under the charts."""
    parts = [
        f"regions {', '.join(filters.regions)}" if filters.regions else "all regions",
        f"categories {', '.join(filters.categories)}" if filters.categories else "all categories",
        f"modalities {', '.join(filters.modalities)}" if filters.modalities else "all modalities",
    ]
    if filters.first_day and filters.last_day:
        parts.append(f"{filters.first_day:%Y-%m-%d} to {filters.last_day:%Y-%m-%d}")
    parts.append(f"top {filters.top_n}")
    return "; ".join(parts)
