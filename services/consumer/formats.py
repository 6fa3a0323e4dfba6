"""Lake file formats: gzip JSON lines (the default), plain JSON lines, Parquet.

A batch arrives as newline-terminated JSON lines (fields in schema order). Each format turns them into the bytes of
one object. Output depends only on the lines, so a batch written again after a crash gives the same object.

A batch collects each date's lines in the `Lines` its format makes (`Format.new_lines`). Gzip's compress as they
come, a chunk at a time, on a worker thread when the consumer gives one (zlib works without holding the GIL): an open
batch then holds its lines compressed, and the hot path never waits for zlib. Deflate's output does not depend on
how its input is cut into chunks, so the object is the same bytes as compressing all the lines at once.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Final

import orjson

from core.names import LAKE_FORMATS
from core.schema import FIELDS

Encoder = Callable[..., bytes]


#: A date's lines are handed to zlib in chunks of about this many bytes.
CHUNK_BYTES: Final = 64 * 1024
#: A lake line's event time (lines are written in schema order).
_EVENT_TIME: Final = re.compile(rb'"time":"(\d\d:\d\d:\d\d)"')


class Lines:
    """One date's JSON lines in an open batch. The hot path appends to `buf` (a bytearray, so msgspec encodes into
    it) and calls `spill()` once it holds `spill_at` bytes; plain lines never spill. `newest` is the latest event
    time (HH:MM:SS) among the lines, kept by whoever appends."""

    __slots__ = ("buf", "newest", "spill_at")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.spill_at = 1 << 62
        self.newest = "00:00:00"

    def append(self, line: bytes) -> None:
        """Append one line (no newline), its event time read from it."""
        self.buf += line
        self.buf += b"\n"
        found = _EVENT_TIME.search(line)
        if found is not None and found[1].decode() > self.newest:
            self.newest = found[1].decode()
        if len(self.buf) >= self.spill_at:
            self.spill()

    def __bytes__(self) -> bytes:
        return bytes(self.buf)

    def spill(self) -> None:
        """Hand what the buffer holds on (only compressed lines do)."""


class GzipLines(Lines):
    """Lines compressed in chunks as they come; `member()` is the gzip member of all of them."""

    __slots__ = ("_compressor", "_executor", "_member", "_parts")

    def __init__(self, level: int, executor: Executor | None):
        super().__init__()
        self.spill_at = CHUNK_BYTES
        # wbits=31: a gzip member with no file name and mtime 0, so equal input gives equal bytes.
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
        self._executor = executor
        self._parts: list[bytes | Future[bytes]] = []
        self._member: bytes | None = None

    def __bytes__(self) -> bytes:
        raise TypeError("compressed lines have no plain bytes; encode them with their format")

    def spill(self) -> None:
        chunk, self.buf = self.buf, bytearray()
        if self._executor is None:
            self._parts.append(self._compressor.compress(chunk))
            return
        # One worker compresses the chunks in the order given, so each stream's chunks stay in order.
        self._parts.append(self._executor.submit(self._compressor.compress, chunk))
        if len(self._parts) >= 3 and isinstance(self._parts[-3], Future):
            self._parts[-3].result()  # at most two chunks of this date wait for the worker

    def member(self) -> bytes:
        """The gzip member of every line given; the same bytes each time it is asked."""
        if self._member is None:
            tail, self.buf = self.buf, bytearray()
            parts = [p.result() if isinstance(p, Future) else p for p in self._parts]
            self._member = b"".join([*parts, self._compressor.compress(tail), self._compressor.flush()])
            self._parts = []
        return self._member


@dataclass(frozen=True)
class Format:
    name: str
    ext: str  # the object name's extension, without the dot
    encode: Encoder  # the lines (bytes, or the `Lines` this format made) to the object's bytes
    new_lines: Callable[[], Lines] = field(default=Lines)


def _gzip(level: int) -> Encoder:
    def encode(lines: bytes | Lines) -> bytes:
        if isinstance(lines, GzipLines):
            return lines.member()
        compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
        return compressor.compress(bytes(lines)) + compressor.flush()

    return encode


def _identity(lines: bytes | Lines) -> bytes:
    return bytes(lines)


def _parquet(lines: bytes | Lines) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(f.name, f.arrow_type, nullable=f.nullable) for f in FIELDS])
    rows = [orjson.loads(line) for line in bytes(lines).splitlines()]
    table = pa.Table.from_pylist(rows, schema=schema)
    out = io.BytesIO()
    pq.write_table(table, out, compression="snappy")
    return out.getvalue()


def get_format(name: str, gzip_level: int = 3, executor: Executor | None = None) -> Format:
    """The format called `name`. Its gzip lines compress on `executor` (one worker) when given, else inline."""
    if name == "jsonl.gz":
        return Format(name, LAKE_FORMATS[name], _gzip(gzip_level), lambda: GzipLines(gzip_level, executor))
    if name == "jsonl":
        return Format(name, LAKE_FORMATS[name], _identity)
    if name == "parquet":
        return Format(name, LAKE_FORMATS[name], _parquet)
    raise ValueError(f"unknown format {name!r}: use {', '.join(LAKE_FORMATS)}")


def format_for_ext(ext: str, gzip_level: int = 3, executor: Executor | None = None) -> Format:
    """The format that wrote objects with this extension (a batch is rewritten in the format it was first written)."""
    for name, name_ext in LAKE_FORMATS.items():
        if name_ext == ext:
            return get_format(name, gzip_level, executor)
    raise ValueError(f"no format writes .{ext} objects")
