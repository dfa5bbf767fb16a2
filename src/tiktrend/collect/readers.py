"""Readers: decode a file into raw records one at a time, without judging what the records say.

A reader never raises for one bad record: it yields it with the reason it could not be decoded, so the
pipeline can quarantine it. It raises :class:`FormatError` only when the file as a whole cannot be read.
JSONL and CSV are streamed (memory stays flat in the file size); a JSON list is loaded whole, because a
list has no record boundaries to stream by without a streaming JSON parser, which the stdlib lacks.
Gzip is recognised by its magic bytes, not by the file name.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import orjson

MAX_TEXT_CHARS = 2_000
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_SNIFF_BYTES = 64 * 1024
# The first record of a pretty-printed list may be long; past this we stop looking and say so.
_SNIFF_MAX_BYTES = 4 * 1024 * 1024
_SNIFF_LINES = 20
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
    # What the reply around a record says about it (e.g. the server time of a saved itemList reply); None
    # for records that stand alone. Kept in the raw zone beside the record, so a replay sees it too.
    meta: dict[str, Any] | None = None
    size: int = 0  # bytes of source text, when the reader knows them (chunks are bounded by it); 0: unknown


class FormatError(ValueError):
    """A file that cannot be read in the format asked for, or whose format cannot be told."""


@dataclass(frozen=True, slots=True)
class Sample:
    """What the start of a file shows: its first JSON object, or its CSV header, and a description."""

    first_object: dict[str, Any] | None
    csv_header: list[str] | None
    seen: str
    layout: str = "lines"  # for JSON: LINES, LIST or DOCUMENTS


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

# How a JSON file lays out its records: one per line, one list, or whole documents one after another (a
# saved API reply is one pretty-printed object; some tools write pretty objects back to back).
LINES, LIST, DOCUMENTS = "lines", "list", "documents"


def sniff(path: Path) -> Sample:
    """Look at the start of a file: the first JSON object (JSONL line or list item), else the CSV header."""
    size = _SNIFF_BYTES
    while True:
        head = _head(path, size)
        if not head.strip():
            raise FormatError(f"{path}: the file is empty")
        complete = len(head) < size
        sample = _sample(head, complete)
        # A cut-off first record needs more bytes; stop when the file (or our patience) ends.
        if sample is not None or complete or size >= _SNIFF_MAX_BYTES:
            break
        size *= 4
    if sample is None:
        return Sample(None, None, f"JSON whose first record does not parse in its first {len(head):,} bytes")
    return sample


def _sample(head: bytes, complete: bool = True) -> Sample | None:
    """Read the first record of ``head``; None when the head ends inside a JSON value."""
    if b"\x00" in head:
        return Sample(None, None, f"binary data starting with {head[:16]!r}")
    text = head.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        return _json_sample(stripped, complete)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    header = next(csv.reader([first_line]), [])
    seen = f"text whose first line is {first_line[:160]!r}"
    return Sample(None, header if len(header) > 1 else None, seen)


def _json_sample(text: str, complete: bool) -> Sample | None:
    if text.startswith("["):
        return _list_sample(text)
    return _jsonl_sample(text, complete)


def _list_sample(text: str) -> Sample | None:
    start = len(text) - len(text[1:].lstrip())
    if text[start : start + 1] == "]":
        return Sample(None, None, "an empty JSON list", LIST)
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        if _cut_off(exc, text):
            return None  # cut off by the end of the head
        return Sample(None, None, f"a JSON list whose first item does not parse ({exc.msg})", LIST)
    return _value_sample(value, "first item of a JSON list", LIST)


def _cut_off(exc: json.JSONDecodeError, text: str) -> bool:
    """Whether a decoding error may only mean that the text ends too early."""
    return exc.pos >= len(text) - 1 or "Unterminated" in exc.msg


def _jsonl_sample(text: str, complete: bool) -> Sample | None:
    # The first line that parses decides: one broken line is quarantined later, it does not hide the format.
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and other characters splitlines() breaks on.
    lines = [line for line in text.split("\n") if line.strip()][:_SNIFF_LINES]
    if not _parses(lines[0]):
        # A pretty-printed object (a saved API reply) spans many lines: decode it as one document.
        try:
            value, _ = json.JSONDecoder().raw_decode(text)
        except json.JSONDecodeError as exc:
            if not complete and _cut_off(exc, text):
                return None
        else:
            return _value_sample(value, "first JSON document", DOCUMENTS)
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return _value_sample(value, "first JSON line that parses", LINES)
    if len(lines) <= 1:
        return None  # the first line may be longer than the head
    return Sample(None, None, f"text that starts like JSON but whose first {len(lines)} lines do not parse", LINES)


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _value_sample(value: object, where: str, layout: str) -> Sample:
    if not isinstance(value, dict):
        return Sample(None, None, f"{json_kind(value)} as the {where}", layout)
    keys = ", ".join(list(value)[:12])
    return Sample(value, None, f"an object with keys {keys} as the {where}", layout)


# ---- JSON ----------------------------------------------------------------------------------------

# Lists up to this size are loaded whole, so that a broken one is refused before any record is used;
# larger ones, and gzip ones, are streamed item by item and a broken tail is reported as one record.
WHOLE_LIST_BYTES = 64 * 1024 * 1024


def read_json(path: Path) -> Iterator[RawRecord]:
    """Records of a JSONL file, a JSON list, or JSON documents one after another, plain or gzip."""
    layout = sniff(path).layout
    if layout == LIST:
        if _is_gzip(path) or path.stat().st_size > WHOLE_LIST_BYTES:
            return _streamed_records(path, in_list=True)
        try:
            return _list_records(path, _load_list(path))
        except _MoreAfterList:  # JSON lines whose first line is a list: that line is one bad record
            return _jsonl_records(path)
    if layout == DOCUMENTS:
        return _streamed_records(path, in_list=False)
    return _jsonl_records(path)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(2) == _GZIP_MAGIC


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
        if exc.msg == "Extra data":
            raise _MoreAfterList from exc
        raise FormatError(
            f"{path}: a JSON list that does not parse: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(value, list):
        raise FormatError(f"{path}: expected a JSON list of records, found {json_kind(value)}")
    if _ESCAPED_NUL in data:
        return [_NulItem(item) if _has_nul(item) else item for item in value]
    return value


class _MoreAfterList(Exception):
    """A whole JSON list followed by more JSON: the file is JSON lines, not a list."""


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


def _streamed_records(path: Path, *, in_list: bool) -> Iterator[RawRecord]:
    """Records of a JSON list or of back-to-back documents, decoded one value at a time (memory stays flat)."""
    what = "item" if in_list else "document"
    with open_binary(path) as handle:
        stream = ValueStream(handle)
        position = 0
        try:
            for value, source in stream.list_items() if in_list else stream.documents():
                yield _streamed_record(position, value, source, what)
                position += 1
        except _GZIP_ERRORS as exc:
            raise FormatError(f"{path}: the gzip data is truncated or corrupt ({exc})") from exc
        except StreamError as exc:
            yield RawRecord(position, None, _clip(exc.text), f"{exc} (after {what} {position}); the rest is unreadable")


def _streamed_record(position: int, value: object, source: str, what: str) -> RawRecord:
    if type(value) is not dict:
        reason = f"not a JSON object: {what} {position} is {json_kind(value)}"
        return RawRecord(position, None, _clip(source), reason)
    if "\\u0000" in source:
        return RawRecord(position, None, _clip(source), f"NUL character (\\u0000) in {what} {position}")
    return RawRecord(position, value, size=len(source))


class StreamError(ValueError):
    """Where a streamed JSON file stops making sense; ``text`` is what follows."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


_WHITESPACE = re.compile(r"[ \t\r\n]*")
_STREAM_CHUNK = 1 << 20
# One value larger than this is not a record of any shape we know; stop rather than buffer the file.
MAX_VALUE_CHARS = 64 * 1024 * 1024
_DECODER = json.JSONDecoder()


class ValueStream:
    """Successive JSON values of a byte stream, decoded one at a time from a bounded buffer."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self._buffer = ""
        self._at = 0
        self._read = 0  # bytes read so far, for messages
        self._eof = False
        self._first = True

    def documents(self) -> Iterator[tuple[Any, str]]:
        """Top-level values separated by whitespace, each with its source text."""
        while self._next_char():
            yield self._value()

    def list_items(self) -> Iterator[tuple[Any, str]]:
        """The items of the top-level list the stream holds, each with its source text."""
        if self._next_char() != "[":
            raise StreamError("expected a JSON list", self._rest())
        self._at += 1
        if self._next_char() == "]":
            self._at += 1
            return
        while True:
            yield self._value()
            separator = self._next_char()
            self._at += 1
            if separator == "]":
                break
            if not separator:
                raise StreamError("the file ends inside the JSON list", "")
            if separator != ",":
                raise StreamError(f"expected ',' or ']' between list items near byte {self._read:,}", self._rest())
        if self._next_char():
            raise StreamError("text after the end of the JSON list", self._rest())

    def _fill(self) -> None:
        chunk = self._handle.read(_STREAM_CHUNK)
        self._read += len(chunk)
        if self._first:
            chunk, self._first = chunk.removeprefix(_BOM), False
        try:
            text = self._utf8.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise StreamError(f"invalid UTF-8 near byte {self._read - len(chunk) + exc.start:,}", "") from None
        self._eof = not chunk
        self._buffer = self._buffer[self._at :] + text
        self._at = 0

    def _next_char(self) -> str:
        """The next character that is not whitespace ("" at the end), left unconsumed."""
        while True:
            match = _WHITESPACE.match(self._buffer, self._at)
            self._at = match.end() if match else self._at
            if self._at < len(self._buffer):
                return self._buffer[self._at]
            if self._eof:
                return ""
            self._fill()

    def _value(self) -> tuple[Any, str]:
        self._next_char()  # raw_decode does not skip leading whitespace
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._at)
            except json.JSONDecodeError as exc:
                if self._eof or not self._may_continue(exc):
                    where = "the file ends inside a JSON value" if self._eof else "invalid JSON"
                    raise StreamError(f"{where}: {exc.msg} near byte {self._read:,}", self._rest()) from None
            else:
                # A number or a literal that ends with the buffer may go on in the next chunk.
                if end < len(self._buffer) or self._eof:
                    source = self._buffer[self._at : end]
                    self._at = end
                    return value, source
            if len(self._buffer) - self._at > MAX_VALUE_CHARS:
                raise StreamError(f"a JSON value longer than {MAX_VALUE_CHARS:,} characters", self._rest())
            self._fill()

    def _may_continue(self, exc: json.JSONDecodeError) -> bool:
        return exc.pos >= len(self._buffer) - 64 or "Unterminated" in exc.msg

    def _rest(self) -> str:
        return self._buffer[self._at : self._at + MAX_TEXT_CHARS]


def loads_line(line: bytes) -> Any:
    """One JSON value from bytes: orjson (three times the standard library's speed), else the standard library.

    orjson refuses what the standard library reads (lone surrogate escapes, NaN, 1e400), so those lines get
    a second reading; both raise ValueError for what neither reads. orjson reads integers beyond 64 bits as
    floats: no TikTok field holds one, and a counter that large is refused either way.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line.decode("utf-8"))


def _jsonl_records(path: Path) -> Iterator[RawRecord]:
    loads = loads_line
    with open_binary(path) as f:
        try:
            for position, line in enumerate(f):
                if position == 0:
                    line = line.removeprefix(_BOM)
                try:
                    value = loads(line)
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
                    yield RawRecord(position, value, size=len(line))
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
