"""A raw zone laid out as the deployed host lands a live stream: small files (a few records each), written through
the consumer's own object names and file formats, without a broker (30,000 files in seconds). The tests and the
benchmarks of the curated table build their lakes with it."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from pathlib import Path

from core.names import DEFAULT_LAKE_FORMAT, TOPIC, LakeFormat
from core.queries import PER_USER_ID
from core.schema import Record, encode
from services.consumer.formats import get_format
from services.consumer.naming import object_key
from services.producer.sim_params import FITABASE_START
from services.producer.simulator import simulate, user_ids

START = FITABASE_START
#: The topic's id in the object names (Kafka's form: 22 characters of URL-safe base64).
INCARNATION = "Zm9vYmFyYmF6cXV4MTIzNA"


def partition_of(user: int, partitions: int) -> int:
    return zlib.crc32(str(user).encode()) % partitions


def land(
    lake: Path,
    records: Iterable[Record],
    records_per_file: int = 11,
    partitions: int = 3,
    fmt: LakeFormat = DEFAULT_LAKE_FORMAT,
    first_offsets: dict[int, int] | None = None,
    topic: str = TOPIC,
    incarnation: str = INCARNATION,
) -> dict[int, int]:
    """Write `records` as the consumer would: by user id onto `partitions` partitions, cut into ranges of
    `records_per_file` offsets, each range one object per event date it holds. Returns each partition's next offset
    (pass it back as `first_offsets` to land more later)."""
    form = get_format(fmt)
    next_offset = dict(first_offsets or dict.fromkeys(range(partitions), 0))
    open_batches: dict[int, list[Record]] = {p: [] for p in range(partitions)}

    def write(partition: int) -> None:
        batch = open_batches[partition]
        start = next_offset[partition]
        end = start + len(batch) - 1
        by_date: dict[str, list[bytes]] = {}
        for record in batch:
            by_date.setdefault(record["date"], []).append(encode(record) + b"\n")
        for date, lines in by_date.items():
            path = lake / object_key(date, topic, partition, incarnation, start, end, form.ext)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(form.encode(b"".join(lines)))
        next_offset[partition] = end + 1
        open_batches[partition] = []

    for record in records:
        partition = partition_of(record["id"], partitions)
        open_batches[partition].append(record)
        if len(open_batches[partition]) == records_per_file:
            write(partition)
    for partition, batch in open_batches.items():
        if batch:
            write(partition)
    return next_offset


def host_like_lake(lake: Path, users: int = 33, days: int = 7, seed: int = 0, **options) -> int:
    """A simulated cohort landed in small files like the host's; the number of records."""
    ids = [PER_USER_ID, *user_ids(users, seed)[1:]]  # the cohort includes the user of the one-user query
    records = list(simulate(ids, START, days, seed))
    land(lake, records, **options)
    return len(records)
