"""The append-only raw zone and the quarantine: every record is kept, as read, before anything parses it.

Layout under the data directory::

    raw/source=<source>/date=<YYYY-MM-DD>/batch-<id>.jsonl.gz   one envelope per record, in input order
    raw/source=<source>/date=<YYYY-MM-DD>/batch-<id>.meta.json  format, input path, size, record count
    quarantine/source=<source>/date=<YYYY-MM-DD>/batch-<id>.jsonl   rejected records with their reason

A batch id is the content hash of the input, so ingesting the same file twice finds the batch already
written and appends nothing: the zone stays append-only *and* re-runs stay idempotent. Files are written
to a temporary name and renamed into place, so a crash never leaves half a batch that looks complete.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, cast

import orjson

from tiktrend.collect.formats import RawRecord

_HASH_CHUNK = 1 << 20
_EXCERPT_CHARS = 2_000


def file_digest(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def batch_id_for(digest: str, fmt: str, columns: Mapping[str, str] | None = None) -> str:
    """A batch id: the input's content hash, qualified by the format (and CSV column map) it was read as."""
    how = fmt if columns is None else f"{fmt}{json.dumps(dict(columns), sort_keys=True)}"
    return hashlib.sha256(f"{how}:{digest}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class BatchMeta:
    """What the raw zone knows about one batch."""

    batch_id: str
    source: str
    format: str
    input: str
    input_bytes: int
    ingested_at: str
    records: int
    # What normalization needs to give the same result when the batch is replayed or ingested again.
    fallback_observed_at: str = ""
    default_region: str | None = None
    default_category: str | None = None
    columns: dict[str, str] | None = None  # the CSV column map the batch was read with, when not the default


def _envelope(raw: RawRecord) -> dict[str, Any]:
    if raw.record is not None:
        if raw.meta is not None:
            return {"pos": raw.position, "record": raw.record, "meta": raw.meta}
        return {"pos": raw.position, "record": raw.record}
    return {"pos": raw.position, "text": raw.text, "error": raw.error}


def _json_line(value: dict[str, Any]) -> str:
    try:
        # orjson writes the same JSON ten times faster; it refuses what UTF-8 cannot hold and odd types.
        return orjson.dumps(value, default=str).decode("utf-8") + "\n"
    except (orjson.JSONEncodeError, TypeError):
        pass
    line = json.dumps(value, ensure_ascii=False, default=str)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (legal in JSON escapes, not in UTF-8): keep them escaped so the line round-trips.
        line = json.dumps(value, ensure_ascii=True, default=str)
    return line + "\n"


def excerpt(raw: RawRecord) -> str:
    """A bounded, printable excerpt of a record for the quarantine table."""
    text = json.dumps(raw.record, ensure_ascii=False, default=str) if raw.record is not None else raw.text or ""
    return text[:_EXCERPT_CHARS]


class RawZone:
    """Append-only store of raw batches under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find(self, batch_id: str) -> Path | None:
        """The stored file of a batch, if it was written before (on any date)."""
        matches = sorted(self.root.glob(f"source=*/date=*/batch-{batch_id}.jsonl.gz"))
        return matches[0] if matches else None

    def writer(
        self,
        batch_id: str,
        source: str,
        fmt: str,
        input_path: Path,
        context: dict[str, Any],
        *,
        day: date | None = None,
    ) -> BatchWriter:
        """A writer for a new batch (in the partition of ``day``, default today), or a no-op one when it is stored."""
        existing = self.find(batch_id)
        if existing is not None:
            return BatchWriter(None, existing, self.meta(existing))
        day = day or datetime.now(tz=UTC).date()
        folder = self.root / f"source={source}" / f"date={day:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"batch-{batch_id}.jsonl.gz"
        meta = BatchMeta(
            batch_id=batch_id,
            source=source,
            format=fmt,
            input=str(input_path),
            input_bytes=input_path.stat().st_size if input_path.exists() else 0,
            ingested_at=datetime.now(tz=UTC).isoformat(),
            records=0,
            fallback_observed_at=context.get("fallback_observed_at") or "",
            default_region=context.get("default_region"),
            default_category=context.get("default_category"),
            columns=context.get("columns"),
        )
        return BatchWriter(target, target, meta)

    def batches(self) -> list[Path]:
        """Every stored batch file, oldest partition first."""
        return sorted(self.root.glob("source=*/date=*/batch-*.jsonl.gz"))

    def keep_reply(self, source: str, body: bytes, fetched_at: datetime, meta: dict[str, Any]) -> Path:
        """Store a live source's reply exactly as received (gzip), with ``meta`` beside it; returns its path.

        Replies are named by the hash of their bytes, so the same reply kept twice is one file. A reply is kept
        whatever it holds (a captcha page, a 429): the zone shows what the source answered, not what we made of it.
        """
        target = self.reply_path(source, body, fetched_at)
        if target.exists():
            return target
        folder = target.parent
        digest = target.name.removeprefix("page-").removesuffix(".json.gz")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with gzip.GzipFile(tmp, "wb", compresslevel=5, mtime=0) as handle:
            handle.write(body)
        info = {"source": source, "fetched_at": fetched_at.isoformat(), "bytes": len(body), **meta}
        target.with_name(f"page-{digest}.meta.json").write_text(json.dumps(info, indent=1, default=str), "utf-8")
        tmp.replace(target)
        return target

    def reply_path(self, source: str, body: bytes, fetched_at: datetime) -> Path:
        """Where ``keep_reply`` puts a reply (known before it is written)."""
        digest = hashlib.sha256(body).hexdigest()[:24]
        return self.root / f"source={source}" / f"date={fetched_at.astimezone(UTC):%Y-%m-%d}" / f"page-{digest}.json.gz"

    @staticmethod
    def reply_meta(path: Path) -> dict[str, Any]:
        """The metadata kept beside a reply."""
        meta: dict[str, Any] = json.loads(path.with_name(path.name.replace(".json.gz", ".meta.json")).read_text())
        return meta

    def replies(self, source: str | None = None) -> list[Path]:
        """Every kept reply of a live source (all sources when None), oldest partition first."""
        return sorted(self.root.glob(f"source={source or '*'}/date=*/page-*.json.gz"))

    @staticmethod
    def meta(batch_path: Path) -> BatchMeta:
        """The metadata written beside a batch file."""
        meta_path = batch_path.with_name(batch_path.name.replace(".jsonl.gz", ".meta.json"))
        return BatchMeta(**json.loads(meta_path.read_text(encoding="utf-8")))

    @staticmethod
    def replay(batch_path: Path) -> Iterator[RawRecord]:
        """The records of a stored batch, exactly as they were read the first time."""
        with gzip.open(batch_path, "rt", encoding="utf-8") as handle:
            for line in handle:
                envelope = json.loads(line)
                yield RawRecord(
                    position=envelope["pos"],
                    record=envelope.get("record"),
                    text=envelope.get("text"),
                    error=envelope.get("error"),
                    meta=envelope.get("meta"),
                    size=len(line),
                )


class BatchWriter:
    """Writes one batch's envelopes; ``skip`` when the batch was already stored."""

    def __init__(self, target: Path | None, path: Path, meta: BatchMeta) -> None:
        self.path = path
        self.meta = meta
        self._target = target
        self._count = 0
        self._tmp: Path | None = None
        self._handle: IO[bytes] | None = None
        if target is not None:
            self._tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            # mtime=0 keeps the compressed bytes a function of the content alone.
            self._handle = cast(IO[bytes], gzip.GzipFile(self._tmp, "wb", compresslevel=5, mtime=0))

    @property
    def skip(self) -> bool:
        return self._target is None

    def write(self, records: list[RawRecord]) -> None:
        """Append envelopes for records, in order."""
        if self._handle is None:
            return
        write = self._handle.write
        for record in records:  # one line at a time: a chunk of large records joined would double its memory
            write(_json_line(_envelope(record)).encode("utf-8"))
        self._count += len(records)

    def commit(self) -> None:
        """Close the batch and move it into place atomically, metadata first."""
        if self._handle is None or self._target is None or self._tmp is None:
            return
        self._handle.close()
        self._handle = None
        meta = BatchMeta(**{**asdict(self.meta), "records": self._count})
        meta_path = self._target.with_name(self._target.name.replace(".jsonl.gz", ".meta.json"))
        meta_path.write_text(json.dumps(asdict(meta), indent=1), encoding="utf-8")
        self._tmp.replace(self._target)

    def abort(self) -> None:
        """Drop an unfinished batch (the input is still where it was)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()


@dataclass(frozen=True)
class QuarantineEntry:
    """One rejected record and why."""

    batch_id: str
    position: int
    source: str
    format: str
    reason: str
    excerpt: str


class Quarantine:
    """Quarantine files under ``root``: one JSONL file per batch, replaced whole so re-runs never grow it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def writer(self, source: str, batch_id: str) -> QuarantineWriter:
        """A writer for a batch's rejected records (replacing an earlier file of the same batch)."""
        existing = sorted(self.root.glob(f"source=*/date=*/batch-{batch_id}.jsonl"))
        if existing:
            return QuarantineWriter(existing[0])
        day = datetime.now(tz=UTC).strftime("%Y-%m-%d")
        return QuarantineWriter(self.root / f"source={source}" / f"date={day}" / f"batch-{batch_id}.jsonl")

    def files(self) -> list[Path]:
        """Every quarantine file."""
        return sorted(self.root.glob("source=*/date=*/batch-*.jsonl"))


class QuarantineWriter:
    """Streams one batch's rejected records (full raw content and reason) to a file, moved into place at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._handle: IO[str] | None = None

    def write(self, batch_id: str, raw: RawRecord, reason: str) -> None:
        """Append one rejected record."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self._tmp.open("w", encoding="utf-8")
        self._handle.write(_json_line({"batch_id": batch_id, "reason": reason, **_envelope(raw)}))
        self.count += 1

    def commit(self) -> None:
        """Move the file into place; a batch with no rejects leaves no file."""
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        self._tmp.replace(self.path)

    def abort(self) -> None:
        """Drop an unfinished file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self._tmp.unlink(missing_ok=True)
