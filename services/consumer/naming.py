"""Deterministic object names: the lake itself records every batch's topic, Kafka partition and offset range.

    data/fitness_data_kafka_storage/dt=2016-04-12/fitness-data+0+00000000000000001000-00000000000000001999.json.gz

A batch covers offsets `start..end` (both included) of one partition and is written as one object per event date
it holds, all with the same range. Zero-padded offsets make the names sort in offset order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.names import LAKE_DATA_PREFIX, PARTITION_COLUMN

OFFSET_DIGITS = 20
DT_PREFIX = f"{LAKE_DATA_PREFIX}{PARTITION_COLUMN}="
_NAME = re.compile(
    r"(?P<topic>[A-Za-z0-9._-]+)\+(?P<partition>\d+)\+(?P<start>\d{20})-(?P<end>\d{20})\.(?P<ext>[a-z.]+)"
)


@dataclass(frozen=True, order=True, slots=True)
class BatchRange:
    """Offsets `start..end` (inclusive) of one partition, and the file extension its objects were written with."""

    start: int
    end: int
    ext: str = ""


def file_prefix(topic: str, partition: int) -> str:
    """The start of every object name of one topic-partition inside a `dt=` folder."""
    return f"{topic}+{partition}+"


def object_name(topic: str, partition: int, start: int, end: int, ext: str) -> str:
    return f"{file_prefix(topic, partition)}{start:0{OFFSET_DIGITS}d}-{end:0{OFFSET_DIGITS}d}.{ext}"


def object_key(dt: str, topic: str, partition: int, start: int, end: int, ext: str) -> str:
    """The key of one batch's object for one event date, relative to the lake's root."""
    return f"{DT_PREFIX}{dt}/{object_name(topic, partition, start, end, ext)}"


def parse_name(name: str, topic: str, partition: int) -> BatchRange | None:
    """The range an object name carries, or None when the name is not one of this topic-partition's objects."""
    match = _NAME.fullmatch(name)
    if not match or match["topic"] != topic or int(match["partition"]) != partition:
        return None
    return BatchRange(int(match["start"]), int(match["end"]), match["ext"])


def offset_floor(topic: str, partition: int, offset: int) -> str:
    """A name that sorts just before every object of this topic-partition whose range starts at `offset` or later."""
    return f"{file_prefix(topic, partition)}{offset:0{OFFSET_DIGITS}d}"
