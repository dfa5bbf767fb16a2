"""The checkpoint of a collection run: what each region has, where it stopped, what is not loaded yet.

One JSON file per run key (source + parameters), replaced atomically after every page, so that a run stopped
at any moment (Ctrl-C, kill, crash) resumes from its last page. A reply goes through four steps:

1. it is written here as *pending* (its raw-zone name is the hash of its bytes, known before it is written);
2. it is kept in the raw zone, before anything parses it;
3. it is parsed, and the items this run has not seen yet are written into its *pending* entry;
4. those items are loaded, then it leaves *pending* and its ids join the region's *seen* set.

A run that stops anywhere in between finishes its pending replies first when it resumes: a reply that never
reached the raw zone is dropped (it was not fetched, as far as anyone can tell), one that was not parsed is
parsed from the raw zone, and loading again what was already loaded changes nothing (loads are idempotent).
So nothing fetched is lost and nothing is loaded twice; the *seen* sets keep later pages from repeating videos.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SUMMARY_KEYS = ("requests", "pages", "items", "repeats", "new", "updated", "quarantined", "accepted")


@dataclass
class RegionState:
    """How far one region got."""

    seen: list[str] = field(default_factory=list)  # video ids collected in this run, in order
    cursor: dict[str, Any] = field(default_factory=dict)  # where the next request starts (research)
    pages: int = 0
    stale_pages: int = 0  # pages in a row that brought nothing new: the feed has run dry
    done: bool = False
    stopped: str | None = None  # the failure that stopped the region early, if one did


@dataclass
class PendingPage:
    """A reply on its way from the source to the store (written before the reply is even kept)."""

    region: str
    reply: str  # the raw zone path of the reply (named by its content, so known before it is written)
    fetched_at: str
    status: int
    request_cursor: dict[str, Any]  # the cursor the request was made with
    # Filled once the reply parsed; None means "kept (maybe) but not parsed yet".
    positions: list[int] | None = None  # the items (by place in the reply) to load: repeats left out
    ids: list[str] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)  # where the next request starts
    has_more: bool = True
    repeats: int = 0


@dataclass
class Checkpoint:
    """Everything a run needs to resume."""

    key: str
    source: str
    params: dict[str, Any]
    started_at: str
    regions: dict[str, RegionState] = field(default_factory=dict)
    pending: list[PendingPage] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)  # failed requests by reason, over every resumption
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SUMMARY_KEYS, 0))
    finished: bool = False
    resumptions: int = 0

    def region(self, name: str) -> RegionState:
        return self.regions.setdefault(name, RegionState())

    def count_failure(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1


def run_key(source: str, params: dict[str, Any]) -> str:
    """The key of a run: the same source and parameters resume the same run."""
    text = json.dumps({"source": source, **params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CheckpointFile:
    """A run's checkpoint on disk, under ``<data_dir>/collect/``."""

    def __init__(self, folder: Path, source: str, params: dict[str, Any]) -> None:
        self.source = source
        self.params = params
        self.key = run_key(source, params)
        self.path = folder / f"checkpoint-{source}-{self.key}.json"

    def open(self, *, fresh: bool = False) -> Checkpoint:
        """The unfinished run with these parameters, or a new one (always new with ``fresh``)."""
        if not fresh and self.path.exists():
            found = self.load()
            if not found.finished:
                found.resumptions += 1
                return found
        return Checkpoint(self.key, self.source, self.params, datetime.now(tz=UTC).isoformat())

    def load(self) -> Checkpoint:
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        raw["regions"] = {name: RegionState(**state) for name, state in raw["regions"].items()}
        raw["pending"] = [PendingPage(**page) for page in raw["pending"]]
        return Checkpoint(**raw)

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the file atomically: a crash leaves the old checkpoint or the new one, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(asdict(checkpoint), handle, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)
