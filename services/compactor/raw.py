"""The raw zone as the compactor sees it: its objects by day, a fingerprint of each day, and a day's records.

Objects are found by their `dt=YYYY-MM-DD/` folder and their extension (`.json.gz`, `.json`, `.parquet`), not by
their names, which are the writer's business. The consumer only ever creates an object or rewrites it with the
same bytes, so a day's listing (names and sizes) says exactly what the day holds.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import os
import re
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from core.names import LAKE_DATA_PREFIX, LAKE_FORMATS, PARTITION_COLUMN
from core.schema import FIELDS
from services.compactor.settings import CompactorSettings

if TYPE_CHECKING:
    import pyarrow as pa

#: The data files the consumer writes, by how their names end.
EXTENSIONS: Final = tuple(f".{ext}" for ext in LAKE_FORMATS.values())
DAY_FOLDER: Final = f"{PARTITION_COLUMN}="
#: An object name that ends with an offset range (`<topic>+<partition>[+<topic id>]+<start>-<end>.<ext>`); what
#: comes before the range names its source.
_RANGE = re.compile(r"^(?P<source>.+)\+(?P<start>\d+)-(?P<end>\d+)\.")


@dataclass(frozen=True, order=True, slots=True)
class RawObject:
    name: str  # the file name inside its day folder
    size: int


@dataclass(frozen=True)
class RawDay:
    """One day folder of the raw zone, as listed: what a compaction of the day folds in."""

    day: str
    objects: tuple[RawObject, ...]

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects)

    @property
    def digest(self) -> str:
        """A fingerprint of the listing: equal exactly when the day holds the same objects."""
        h = hashlib.sha256()
        for obj in self.objects:
            h.update(f"{obj.name}\t{obj.size}\n".encode())
        return h.hexdigest()[:32]

    def ranges(self) -> str:
        """The offset ranges folded in, merged per topic-partition (`fitness-data+0: 0-4321, 5000-5999`), and the
        number of objects whose names carry none."""
        spans: dict[str, list[tuple[int, int]]] = {}
        other = 0
        for obj in self.objects:
            match = _RANGE.match(obj.name)
            if match is None:
                other += 1
                continue
            spans.setdefault(match["source"], []).append((int(match["start"]), int(match["end"])))
        parts = []
        for source in sorted(spans):
            merged: list[list[int]] = []
            for start, end in sorted(spans[source]):
                if merged and start <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            parts.append(f"{source}: " + ", ".join(f"{a}-{b}" for a, b in merged))
        if other:
            parts.append(f"{other} object(s) without an offset range")
        return "; ".join(parts)


class RawZone(Protocol):
    description: str

    def days(self) -> list[RawDay]: ...

    def read(self, day: str, name: str) -> bytes: ...


def _is_day(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_data_file(name: str) -> bool:
    return not name.startswith(".") and name.endswith(EXTENSIONS)


class LocalRawZone:
    def __init__(self, lake: Path):
        self.root = Path(lake) / LAKE_DATA_PREFIX
        self.description = f"folder {self.root}"

    def days(self) -> list[RawDay]:
        if not self.root.is_dir():
            return []
        found = []
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            day = entry.name.removeprefix(DAY_FOLDER)
            if not (entry.is_dir() and entry.name.startswith(DAY_FOLDER) and _is_day(day)):
                continue
            files = [f for f in os.scandir(entry.path) if _is_data_file(f.name) and f.is_file()]
            objects = [RawObject(f.name, f.stat().st_size) for f in files]
            found.append(RawDay(day, tuple(sorted(objects))))
        return found

    def read(self, day: str, name: str) -> bytes:
        return (self.root / f"{DAY_FOLDER}{day}" / name).read_bytes()


class S3RawZone:
    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str | None = None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = LAKE_DATA_PREFIX
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=Config(max_pool_connections=64)
        )
        self.description = f"s3://{bucket}/{self.prefix}"

    def days(self) -> list[RawDay]:
        by_day: dict[str, list[RawObject]] = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", []):
                folder, _, name = item["Key"][len(self.prefix) :].partition("/")
                day = folder.removeprefix(DAY_FOLDER)
                if folder.startswith(DAY_FOLDER) and _is_day(day) and "/" not in name and _is_data_file(name):
                    by_day.setdefault(day, []).append(RawObject(name, int(item["Size"])))
        return [RawDay(day, tuple(sorted(objects))) for day, objects in sorted(by_day.items())]

    def read(self, day: str, name: str) -> bytes:
        key = f"{self.prefix}{DAY_FOLDER}{day}/{name}"
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


def raw_zone(settings: CompactorSettings) -> RawZone:
    if settings.catalog == "glue":
        assert settings.s3_bucket is not None  # the settings' validator requires it
        return S3RawZone(settings.s3_bucket, settings.s3_endpoint_url, settings.region)
    return LocalRawZone(settings.lake_dir)


def _record_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, f.arrow_type) for f in FIELDS])


def _json_lines(chunks: Iterable[bytes]) -> pa.Table:
    """Newline-delimited JSON, many objects' lines at once, parsed by Arrow with the record's column types."""
    import pyarrow.json as pj

    schema = _record_schema()
    data = b"".join(chunks)
    if not data.strip():
        return schema.empty_table()
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    table = pj.read_json(io.BytesIO(data), parse_options=options, read_options=pj.ReadOptions(block_size=1 << 24))
    return table.select(schema.names).cast(schema) if table.schema != schema else table


class CorruptObject(Exception):
    """A raw object that cannot be read as records: a truncated or corrupt gzip or Parquet file, a line that is not
    a record. Its day cannot be folded in whole, so it is not folded in at all."""

    def __init__(self, day: str, name: str, error: BaseException):
        super().__init__(f"dt={day}/{name}: {type(error).__name__}: {error}"[:500])
        self.day = day
        self.name = name
        self.error = error


def _corrupt(exc: BaseException) -> bool:
    """Whether decoding raised because the bytes are bad (not because the machine is: memory, a bug)."""
    import pyarrow as pa

    return isinstance(exc, OSError | EOFError | zlib.error | ValueError | pa.ArrowException)


def _json_lines_of(day: str, objects: list[tuple[RawObject, bytes]]) -> pa.Table:
    """`_json_lines` over many objects' lines; should they not parse, the first object that does not alone is
    named."""
    try:
        return _json_lines(data for _, data in objects)
    except Exception as exc:
        if not _corrupt(exc):
            raise
        for obj, data in objects:
            try:
                _json_lines([data])
            except Exception as one:
                if _corrupt(one):
                    raise CorruptObject(day, obj.name, one) from one
                raise
        raise CorruptObject(day, objects[-1].name, exc) from exc


def read_day(zone: RawZone, day: RawDay, threads: int = 16, progress: Callable[[int], None] | None = None) -> pa.Table:
    """Every record of the day's objects, in object-name order, with the record's column types. Raises
    `CorruptObject` naming the first object that cannot be read as records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def fetch(obj: RawObject) -> bytes:
        data = zone.read(day.day, obj.name)
        try:
            if obj.name.endswith(".gz"):
                data = gzip.decompress(data)
        except Exception as exc:
            if _corrupt(exc):  # a truncated gzip (EOFError), a bad header or checksum (BadGzipFile, zlib.error)
                raise CorruptObject(day.day, obj.name, exc) from exc
            raise
        if data and not obj.name.endswith(".parquet") and not data.endswith(b"\n"):
            data += b"\n"
        return data

    def parquet(obj: RawObject, data: bytes) -> pa.Table:
        try:
            return pq.read_table(io.BytesIO(data)).select(schema.names).cast(schema)
        except Exception as exc:
            if _corrupt(exc):
                raise CorruptObject(day.day, obj.name, exc) from exc
            raise

    json_objects: list[tuple[RawObject, bytes]] = []
    tables: list[pa.Table] = []
    schema = _record_schema()
    with ThreadPoolExecutor(threads) as pool:
        for n, (obj, data) in enumerate(zip(day.objects, pool.map(fetch, day.objects), strict=True), start=1):
            if obj.name.endswith(".parquet"):
                if json_objects:
                    tables.append(_json_lines_of(day.day, json_objects))
                    json_objects = []
                tables.append(parquet(obj, data))
            else:
                json_objects.append((obj, data))
            if progress is not None and n % 500 == 0:
                progress(500)
    if json_objects:
        tables.append(_json_lines_of(day.day, json_objects))
    if progress is not None:
        progress(len(day.objects) % 500)
    return pa.concat_tables(tables) if tables else schema.empty_table()
