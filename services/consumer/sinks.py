"""Where the lake lives: a local folder (the default) or an S3 bucket. Both hold the same relative keys.

A sink does three things: put one object whole (atomically: a reader sees all of it or none), list the batch
ranges of a topic-partition, and read an object back. Objects are only ever created or overwritten with the same
content, never deleted (the S3 role has no DeleteObject).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from services.consumer.naming import DT_PREFIX, BatchRange, file_prefix, offset_floor, parse_name
from services.consumer.settings import ConsumerSettings

_TEMP_SUFFIX = ".tmp"


class Sink(Protocol):
    description: str

    def put(self, key: str, data: bytes) -> None: ...

    def dt_values(self) -> list[str]: ...

    def ranges(self, topic: str, partition: int, dt: str, min_start: int) -> list[BatchRange]: ...

    def object_keys(self) -> Iterator[str]: ...

    def get(self, key: str) -> bytes: ...


def batch_ranges(sink: Sink, topic: str, partition: int, min_start: int = 0) -> set[BatchRange]:
    """Every batch range of a topic-partition that starts at `min_start` or later, over all event dates."""
    found: set[BatchRange] = set()
    for dt in sink.dt_values():
        found.update(sink.ranges(topic, partition, dt, min_start))
    return found


class LocalSink:
    """A folder. Each object is written to a hidden temporary file beside it, fsynced, renamed over the final name,
    and the folder is fsynced: after a crash the name holds the old object, the new one, or nothing, never a part."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.description = f"folder {self.root}"

    def put(self, key: str, data: bytes) -> None:
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
        os.replace(temp, path)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def dt_values(self) -> list[str]:
        base = self.root / DT_PREFIX
        parent, stem = base.parent, base.name
        if not parent.is_dir():
            return []
        return sorted(e.name[len(stem) :] for e in os.scandir(parent) if e.is_dir() and e.name.startswith(stem))

    def ranges(self, topic: str, partition: int, dt: str, min_start: int) -> list[BatchRange]:
        folder = self.root / f"{DT_PREFIX}{dt}"
        prefix, floor = file_prefix(topic, partition), offset_floor(topic, partition, min_start)
        found = []
        for entry in os.scandir(folder):
            name = entry.name
            if name.startswith("."):
                if name.endswith(_TEMP_SUFFIX):  # left by a crash mid-write; never visible to readers
                    os.unlink(entry.path)
                continue
            if name.startswith(prefix) and name >= floor:
                batch = parse_name(name, topic, partition)
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
    """A bucket, through boto3, at AWS or any S3-compatible endpoint. One PutObject is atomic by itself."""

    def __init__(self, bucket: str, endpoint_url: str | None = None):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.description = f"s3://{bucket}" + (f" at {endpoint_url}" if endpoint_url else "")
        # Few quick retries inside botocore; the consumer's own loop retries forever with backoff and log lines.
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
        self.client = boto3.client("s3", endpoint_url=endpoint_url, config=config)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def _list(self, **kwargs: str) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, **kwargs)

    def dt_values(self) -> list[str]:
        values = []
        for page in self._list(Prefix=DT_PREFIX, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                values.append(common["Prefix"][len(DT_PREFIX) :].rstrip("/"))
        return sorted(values)

    def ranges(self, topic: str, partition: int, dt: str, min_start: int) -> list[BatchRange]:
        folder = f"{DT_PREFIX}{dt}/"
        found = []
        pages = self._list(
            Prefix=folder + file_prefix(topic, partition),
            StartAfter=folder + offset_floor(topic, partition, min_start),
        )
        for page in pages:
            for obj in page.get("Contents", []):
                batch = parse_name(obj["Key"][len(folder) :], topic, partition)
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
