"""Lake file formats: gzip JSON lines (the default), plain JSON lines, Parquet.

A batch arrives as newline-terminated JSON lines (fields in schema order). Each format turns them into the bytes of
one object. Output depends only on the lines, so a batch written again after a crash gives the same object.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from services.common.schema import FIELDS

Encoder = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Format:
    name: str
    ext: str  # the object name's extension, without the dot
    encode: Encoder


def _gzip(level: int) -> Encoder:
    def encode(lines: bytes) -> bytes:
        # wbits=31: a gzip member with no file name and mtime 0, so equal input gives equal bytes.
        compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
        return compressor.compress(lines) + compressor.flush()

    return encode


def _identity(lines: bytes) -> bytes:
    return bytes(lines)


_ARROW_TYPES = {"bigint": "int64", "int": "int32", "double": "float64", "string": "string"}


def _parquet(lines: bytes) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(f.name, _ARROW_TYPES[f.type], nullable=f.nullable) for f in FIELDS])
    rows = [orjson.loads(line) for line in bytes(lines).splitlines()]
    table = pa.Table.from_pylist(rows, schema=schema)
    out = io.BytesIO()
    pq.write_table(table, out, compression="snappy")
    return out.getvalue()


def get_format(name: str, gzip_level: int = 3) -> Format:
    if name == "jsonl.gz":
        return Format(name, "json.gz", _gzip(gzip_level))
    if name == "jsonl":
        return Format(name, "json", _identity)
    if name == "parquet":
        return Format(name, "parquet", _parquet)
    raise ValueError(f"unknown format {name!r}: use jsonl.gz, jsonl or parquet")


def format_for_ext(ext: str, gzip_level: int = 3) -> Format:
    """The format that wrote objects with this extension (a batch is rewritten in the format it was first written)."""
    for name in ("jsonl.gz", "jsonl", "parquet"):
        fmt = get_format(name, gzip_level)
        if fmt.ext == ext:
            return fmt
    raise ValueError(f"no format writes .{ext} objects")
