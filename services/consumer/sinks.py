"""Where the lake lives: a local folder (the default) or an S3 bucket. Both hold the same relative keys.

A sink does three things: put one object whole (atomically: a reader sees all of it or none), list the batch
ranges of a topic-partition's incarnation, and read an object back.

The lake is append-only, and the storage itself enforces it: a put creates the object only if no object has its
key (S3: a conditional put, `If-None-Match: *`; a folder: a hard link, which never replaces a file). When the key
exists already, the same bytes mean the object was written before (a batch written again after a crash), and the
put succeeds without writing; different bytes are a bug, and the put raises `ObjectConflict`. Nothing is ever
overwritten or deleted (the S3 role has no DeleteObject).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from services.consumer.naming import DT_PREFIX, BatchRange, file_prefix, offset_floor, parse_name
from services.consumer.settings import ConsumerSettings

_TEMP_SUFFIX = ".tmp"
#: The user metadata that keeps an S3 object's SHA-256 (hex) with it: `x-amz-meta-sha256`.
_SHA256_METADATA = "sha256"


class ObjectConflict(Exception):
    """A put would replace an object of the lake with different bytes. Never done: the writer stops on it."""

    def __init__(self, key: str, where: str):
        self.key = key
        super().__init__(
            f"refusing to overwrite {key} in {where}: it already holds different bytes "
            "(the lake is append-only; the object is kept as it is)"
        )


class Sink(Protocol):
    description: str

    def put(self, key: str, data: bytes) -> bool:
        """Create the object; False when it exists already with these very bytes; `ObjectConflict` when it exists
        with others."""
        ...

    def dt_values(self) -> list[str]: ...

    def ranges(self, topic: str, partition: int, incarnation: str, dt: str, min_start: int) -> list[BatchRange]: ...

    def object_keys(self) -> Iterator[str]: ...

    def get(self, key: str) -> bytes: ...


def batch_ranges(sink: Sink, topic: str, partition: int, incarnation: str, min_start: int = 0) -> set[BatchRange]:
    """Every batch range of a topic-partition's incarnation that starts at `min_start` or later, over all event
    dates. Objects of other incarnations, and those named before names carried one, are not listed."""
    found: set[BatchRange] = set()
    for dt in sink.dt_values():
        found.update(sink.ranges(topic, partition, incarnation, dt, min_start))
    return found


class LocalSink:
    """A folder. Each object is written to a hidden temporary file beside it and fsynced, then hard-linked to its
    final name (link(2) fails when the name exists, so no file is ever replaced), and the folder is fsynced: after a
    crash the name holds the whole object or nothing, never a part."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.description = f"folder {self.root}"

    def put(self, key: str, data: bytes) -> bool:
        path = self.root / key
        folder = path.parent
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{path.name}.{os.getpid()}{_TEMP_SUFFIX}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)
            created = True
        except FileExistsError:
            if path.read_bytes() != data:
                raise ObjectConflict(key, self.description) from None
            created = False
        finally:
            os.unlink(temp)
        # Also when the object was there: the process that linked it may have died before this fsync.
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return created

    def dt_values(self) -> list[str]:
        base = self.root / DT_PREFIX
        parent, stem = base.parent, base.name
        if not parent.is_dir():
            return []
        return sorted(e.name[len(stem) :] for e in os.scandir(parent) if e.is_dir() and e.name.startswith(stem))

    def ranges(self, topic: str, partition: int, incarnation: str, dt: str, min_start: int) -> list[BatchRange]:
        folder = self.root / f"{DT_PREFIX}{dt}"
        prefix = file_prefix(topic, partition, incarnation)
        floor = offset_floor(topic, partition, incarnation, min_start)
        found = []
        for entry in os.scandir(folder):
            name = entry.name
            if name.startswith("."):
                if name.startswith(f".{prefix}") and name.endswith(_TEMP_SUFFIX):
                    os.unlink(entry.path)  # this partition's, left by a crash mid-write; never visible to readers
                continue
            if name.startswith(prefix) and name >= floor:
                batch = parse_name(name, topic, partition, incarnation)
                if batch is not None:
                    found.append(batch)
        return found

    def object_keys(self) -> Iterator[str]:
        base = self.root / DT_PREFIX
        if not base.parent.is_dir():
            return
        for path in sorted(base.parent.glob(f"{base.name}*/*")):
            if not path.name.startswith("."):
                yield path.relative_to(self.root).as_posix()

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


class S3Sink:
    """A bucket, through boto3, at AWS or any S3-compatible endpoint. One PutObject is atomic by itself; it is
    conditional (`If-None-Match: *`), and keeps the object's SHA-256 in its metadata to compare a second put with."""

    def __init__(self, bucket: str, endpoint_url: str | None = None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.description = f"s3://{bucket}" + (f" at {endpoint_url}" if endpoint_url else "")
        # Few quick retries inside botocore; the consumer's own loop retries forever with backoff and log lines.
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        self.client = boto3.client("s3", endpoint_url=endpoint_url, config=config)

    def put(self, key: str, data: bytes) -> bool:
        digest = hashlib.sha256(data).hexdigest()
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*", Metadata={_SHA256_METADATA: digest}
            )
            return True
        except self.client.exceptions.ClientError as exc:
            # 412: the key exists. (A 409 ConditionalRequestConflict, a concurrent put of the key, is retried.)
            if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise
        if self._sha256(key) != digest:
            raise ObjectConflict(key, self.description)
        return False

    def _sha256(self, key: str) -> str:
        """The SHA-256 kept with an object; computed from its bytes when it has none (not put by this sink)."""
        kept = self.client.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}).get(_SHA256_METADATA)
        return kept or hashlib.sha256(self.get(key)).hexdigest()

    def _list(self, **kwargs: str) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, **kwargs)

    def dt_values(self) -> list[str]:
        values = []
        for page in self._list(Prefix=DT_PREFIX, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                values.append(common["Prefix"][len(DT_PREFIX) :].rstrip("/"))
        return sorted(values)

    def ranges(self, topic: str, partition: int, incarnation: str, dt: str, min_start: int) -> list[BatchRange]:
        folder = f"{DT_PREFIX}{dt}/"
        found = []
        pages = self._list(
            Prefix=folder + file_prefix(topic, partition, incarnation),
            StartAfter=folder + offset_floor(topic, partition, incarnation, min_start),
        )
        for page in pages:
            for obj in page.get("Contents", []):
                batch = parse_name(obj["Key"][len(folder) :], topic, partition, incarnation)
                if batch is not None:
                    found.append(batch)
        return found

    def object_keys(self) -> Iterator[str]:
        for page in self._list(Prefix=DT_PREFIX):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


def make_sink(settings: ConsumerSettings) -> Sink:
    if settings.sink == "s3":
        assert settings.s3_bucket
        return S3Sink(settings.s3_bucket, settings.s3_endpoint_url)
    return LocalSink(settings.lake_dir)
