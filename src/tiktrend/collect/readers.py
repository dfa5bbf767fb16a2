"""Readers: decode a file into raw records one at a time, without judging what the records say.

A reader never raises for one bad record: it yields it with the reason it could not be decoded, so the
pipeline can quarantine it. It raises :class:`FormatError` only when the file as a whole cannot be read.
JSONL and CSV are streamed (memory stays flat in the file size); a JSON list is loaded whole, because a
list has no record boundaries to stream by without a streaming JSON parser, which the stdlib lacks.
Gzip is recognised by its magic bytes, not by the file name.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

MAX_TEXT_CHARS = 2_000
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_SNIFF_BYTES = 64 * 1024
# The first record of a pretty-printed list may be long; past this we stop looking and say so.
_SNIFF_MAX_BYTES = 4 * 1024 * 1024
_SNIFF_LINES = 20
_JSON_WHITESPACE = b" \t\r\n"
# A JSON string may carry an escaped NUL; PostgreSQL text and JSONB cannot store it, so we refuse it early.
_ESCAPED_NUL = b"\\u0000"
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as read from a file: the decoded record, or its raw text and why it could not be decoded."""

    position: int  # 0-based: the line for JSONL, the item for a JSON list, the data row for CSV
    record: dict[str, Any] | None
    text: str | None = None
    error: str | None = None


class FormatError(ValueError):
    """A file that cannot be read in the format asked for, or whose format cannot be told."""


@dataclass(frozen=True, slots=True)
class Sample:
    """What the start of a file shows: its first JSON object, or its CSV header, and a description."""

    first_object: dict[str, Any] | None
    csv_header: list[str] | None
    seen: str


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing it when it is gzip."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        # typeshed does not count GzipFile as an IO[bytes], though it behaves as one.
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of the (decompressed) file, without a UTF-8 byte-order mark."""
    try:
        with open_binary(path) as f:
            data = f.read(size)
    except _GZIP_ERRORS as exc:
        raise FormatError(f"{path}: the gzip data is truncated or corrupt ({exc})") from exc
    return data.removeprefix(_BOM)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS]


def _as_text(raw: bytes) -> str:
    return _clip(raw.decode("utf-8", errors="replace").rstrip("\r\n"))


def json_kind(value: object) -> str:
    """A person's name for the JSON type of a decoded value ("a list", "a number", ...)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number"


# ---- sniffing ------------------------------------------------------------------------------------


def sniff(path: Path) -> Sample:
    """Look at the start of a file: the first JSON object (JSONL line or list item), else the CSV header."""
    size = _SNIFF_BYTES
    while True:
        head = _head(path, size)
        if not head.strip():
            raise FormatError(f"{path}: the file is empty")
        sample = _sample(head)
        # A cut-off first record needs more bytes; stop when the file (or our patience) ends.
        if sample is not None or len(head) < size or size >= _SNIFF_MAX_BYTES:
            break
        size *= 4
    if sample is None:
        return Sample(None, None, f"JSON whose first record does not parse in its first {len(head):,} bytes")
    return sample


def _sample(head: bytes) -> Sample | None:
    """Read the first record of ``head``; None when the head ends inside a JSON value."""
    if b"\x00" in head:
        return Sample(None, None, f"binary data starting with {head[:16]!r}")
    text = head.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        return _json_sample(stripped)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    header = next(csv.reader([first_line]), [])
    seen = f"text whose first line is {first_line[:160]!r}"
    return Sample(None, header if len(header) > 1 else None, seen)


def _json_sample(text: str) -> Sample | None:
    if text.startswith("["):
        return _list_sample(text)
    return _jsonl_sample(text)


def _list_sample(text: str) -> Sample | None:
    start = len(text) - len(text[1:].lstrip())
    if text[start : start + 1] == "]":
        return Sample(None, None, "an empty JSON list")
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text) - 1 or "Unterminated" in exc.msg:
            return None  # cut off by the end of the head
        return Sample(None, None, f"a JSON list whose first item does not parse ({exc.msg})")
    return _value_sample(value, "first item of a JSON list")


def _jsonl_sample(text: str) -> Sample | None:
    # The first line that parses decides: one broken line is quarantined later, it does not hide the format.
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and other characters splitlines() breaks on.
    lines = [line for line in text.split("\n") if line.strip()][:_SNIFF_LINES]
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return _value_sample(value, "first JSON line that parses")
    if len(lines) <= 1:
        return None  # the first line may be longer than the head
    return Sample(None, None, f"text that starts like JSON but whose first {len(lines)} lines do not parse")


def _value_sample(value: object, where: str) -> Sample:
    if not isinstance(value, dict):
        return Sample(None, None, f"{json_kind(value)} as the {where}")
    keys = ", ".join(list(value)[:12])
    return Sample(value, None, f"an object with keys {keys} as the {where}")


# ---- JSON ----------------------------------------------------------------------------------------


def _first_byte(path: Path) -> bytes:
    """The first byte that is not JSON whitespace (b"" for an empty file)."""
    size = _SNIFF_BYTES
    while True:
        head = _head(path, size)
        stripped = head.lstrip(_JSON_WHITESPACE)
        if stripped or len(head) < size:
            return stripped[:1]
        size *= 4


def read_json(path: Path) -> Iterator[RawRecord]:
    """Records of a JSONL file (streamed) or of a JSON list (loaded whole), plain or gzip."""
    first = _first_byte(path)
    if not first:
        raise FormatError(f"{path}: the file is empty")
    if first == b"[":
        return _list_records(path, _load_list(path))
    return _jsonl_records(path)


def _load_list(path: Path) -> list[Any]:
    try:
        with open_binary(path) as f:
            data = f.read()
    except _GZIP_ERRORS as exc:
        raise FormatError(f"{path}: the gzip data is truncated or corrupt ({exc})") from exc
    try:
        value = json.loads(data.removeprefix(_BOM).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: a JSON list that is not valid UTF-8 (byte {exc.start:,})") from exc
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{path}: a JSON list that does not parse: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(value, list):
        raise FormatError(f"{path}: expected a JSON list of records, found {json_kind(value)}")
    if _ESCAPED_NUL in data:
        return [_NulItem(item) if _has_nul(item) else item for item in value]
    return value


class _NulItem:
    """Marks a list item that carries an escaped NUL character, so it is reported instead of passed on."""

    __slots__ = ("item",)

    def __init__(self, item: Any) -> None:
        self.item = item


def _has_nul(item: Any) -> bool:
    return "\\u0000" in json.dumps(item)


def _list_records(path: Path, items: Sequence[Any]) -> Iterator[RawRecord]:
    for position, item in enumerate(items):
        if type(item) is dict:
            yield RawRecord(position, item)
        elif isinstance(item, _NulItem):
            text = _clip(json.dumps(item.item, ensure_ascii=False))
            yield RawRecord(position, None, text, f"NUL character (\\u0000) in item {position} of the list")
        else:
            text = _clip(json.dumps(item, ensure_ascii=False))
            yield RawRecord(position, None, text, f"not a JSON object: item {position} is {json_kind(item)}")


def _jsonl_records(path: Path) -> Iterator[RawRecord]:
    loads = json.loads
    with open_binary(path) as f:
        try:
            for position, line in enumerate(f):
                if position == 0:
                    line = line.removeprefix(_BOM)
                try:
                    value = loads(line.decode("utf-8"))
                except ValueError:  # JSONDecodeError and UnicodeDecodeError both
                    if line.strip():
                        yield RawRecord(position, None, _as_text(line), _jsonl_problem(line, position + 1))
                    continue
                if type(value) is not dict:
                    reason = f"not a JSON object: line {position + 1} holds {json_kind(value)}"
                    yield RawRecord(position, None, _as_text(line), reason)
                elif _ESCAPED_NUL in line:
                    reason = f"NUL character (\\u0000) in a string at line {position + 1}"
                    yield RawRecord(position, None, _as_text(line), reason)
                else:
                    yield RawRecord(position, value)
        except _GZIP_ERRORS as exc:
            raise FormatError(f"{path}: the gzip data is truncated or corrupt ({exc})") from exc


def _jsonl_problem(line: bytes, line_no: int) -> str:
    """Why a JSONL line does not decode, in words (only called on the slow path)."""
    nul = line.find(b"\x00")
    if nul >= 0:
        return f"NUL byte at line {line_no} (column {nul + 1})"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at line {line_no}: byte 0x{line[exc.start]:02x} at column {exc.start + 1}"
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON at line {line_no}: {exc.msg} (column {exc.colno})"
    return f"invalid JSON at line {line_no}"


# ---- CSV -----------------------------------------------------------------------------------------


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (BOM removed); FormatError when there is no header."""
    head = _head(path, _SNIFF_BYTES)
    if not head.strip():
        raise FormatError(f"{path}: the file is empty")
    with _open_csv_text(path) as f:
        header = next(csv.reader(f), [])
    return [name.strip() for name in header]


def read_csv(path: Path, required: Collection[str]) -> Iterator[RawRecord]:
    """Rows of a CSV file as {column: string}, streamed; FormatError when required columns are missing."""
    header = csv_header(path)
    missing = [name for name in required if name not in header]
    if missing:
        raise FormatError(
            f"{path}: the CSV lacks the column(s) {', '.join(missing)}; its header is {', '.join(header)[:500]}"
        )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise FormatError(f"{path}: the CSV header names {', '.join(duplicates)} more than once")
    return _csv_records(path, header)


def _open_csv_text(path: Path) -> io.TextIOWrapper:
    # surrogateescape lets one row with invalid UTF-8 be reported while the rest of the file reads on.
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", errors="surrogateescape", newline="")


def _csv_records(path: Path, header: list[str]) -> Iterator[RawRecord]:
    width = len(header)
    with _open_csv_text(path) as f:
        reader = csv.reader(f)
        position = 0
        try:
            next(reader, None)
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield RawRecord(position, None, "", f"unreadable CSV row ending at line {reader.line_num}: {exc}")
                    position += 1
                    continue
                if row:  # the csv module yields [] for blank lines: they are not records
                    yield _csv_record(position, row, header, width, reader.line_num)
                    position += 1
        except _GZIP_ERRORS as exc:
            raise FormatError(f"{path}: the gzip data is truncated or corrupt ({exc})") from exc


def _csv_record(position: int, row: list[str], header: list[str], width: int, line_no: int) -> RawRecord:
    joined = "\x1f".join(row)
    problem = None
    if len(row) != width:
        problem = f"the row ending at line {line_no} has {len(row)} fields, the header has {width}"
    elif "\x00" in joined:
        problem = f"NUL byte in the row ending at line {line_no}"
    else:
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: an undecodable byte kept by surrogateescape
            problem = f"invalid UTF-8 in the row ending at line {line_no}"
    if problem is None:
        return RawRecord(position, dict(zip(header, row, strict=False)))  # lengths checked above
    text = ",".join(row).encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    return RawRecord(position, None, _clip(text), problem)
