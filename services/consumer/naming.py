"""Deterministic object names: the lake itself records every batch's topic, Kafka partition, topic incarnation and
offset range.

    data/fitness_data_kafka_storage/dt=2016-04-12/fitness-data+0+Ab3dEf-hIjKlMnOpQr_tUw+00000000000000001000-00000000000000001999.json.gz

A batch covers offsets `start..end` (both included) of one partition and is written as one object per event date
it holds, all with the same range. Zero-padded offsets make the names sort in offset order.

The incarnation is the topic's id in Kafka (a UUID, written as Kafka's tools write it: 22 characters of URL-safe
base64, so `A-Z a-z 0-9 - _`). A topic deleted and created again, or a cluster built anew, gets a new id and starts
its offsets at 0 again; with the id in the name, its ranges never take the names of the old incarnation's ranges.
`+` separates the parts: it appears in no topic name, no incarnation and no offset, so every part is unambiguous.

Objects landed before names carried the incarnation (`fitness-data+0+00000000000000001000-...json.gz`) stay as they
are; `parse_object_name` reads them as incarnation None, and the consumer never lists them again.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from core.names import LAKE_DATA_PREFIX, LAKE_FORMATS, PARTITION_COLUMN

OFFSET_DIGITS = 20
DT_PREFIX = f"{LAKE_DATA_PREFIX}{PARTITION_COLUMN}="
#: Kafka's spelling of a UUID: 16 bytes in URL-safe base64, without padding.
INCARNATION_PATTERN = r"[A-Za-z0-9_-]{22}"
#: The formats' extensions, the longest first (`json.gz` before `json`).
_EXTS = "|".join(re.escape(ext) for ext in sorted(LAKE_FORMATS.values(), key=len, reverse=True))
_NAME = re.compile(
    rf"(?P<topic>[A-Za-z0-9._-]+)\+(?P<partition>\d+)\+(?:(?P<incarnation>{INCARNATION_PATTERN})\+)?"
    rf"(?P<start>\d{{{OFFSET_DIGITS}}})-(?P<end>\d{{{OFFSET_DIGITS}}})\.(?P<ext>{_EXTS})"
)
_INCARNATION = re.compile(INCARNATION_PATTERN)


@dataclass(frozen=True, order=True, slots=True)
class BatchRange:
    """Offsets `start..end` (inclusive) of one partition, and the file extension its objects were written with."""

    start: int
    end: int
    ext: str = ""


@dataclass(frozen=True, slots=True)
class ObjectName:
    """Everything an object's name says. `incarnation` is None for a name written before names carried it."""

    topic: str
    partition: int
    incarnation: str | None
    batch: BatchRange


def incarnation_of(most_significant: int, least_significant: int) -> str:
    """A topic id, from its two 64-bit halves, as Kafka's tools print it (`kafka-topics.sh --describe`)."""
    raw = (most_significant & (2**64 - 1)).to_bytes(8, "big") + (least_significant & (2**64 - 1)).to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _checked(incarnation: str) -> str:
    if not _INCARNATION.fullmatch(incarnation):
        raise ValueError(f"not a topic incarnation: {incarnation!r}")
    return incarnation


def file_prefix(topic: str, partition: int, incarnation: str) -> str:
    """The start of every object name of one topic-partition's incarnation inside a `dt=` folder."""
    return f"{topic}+{partition}+{_checked(incarnation)}+"


def object_name(topic: str, partition: int, incarnation: str, start: int, end: int, ext: str) -> str:
    return f"{file_prefix(topic, partition, incarnation)}{start:0{OFFSET_DIGITS}d}-{end:0{OFFSET_DIGITS}d}.{ext}"


def object_key(dt: str, topic: str, partition: int, incarnation: str, start: int, end: int, ext: str) -> str:
    """The key of one batch's object for one event date, relative to the lake's root."""
    return f"{DT_PREFIX}{dt}/{object_name(topic, partition, incarnation, start, end, ext)}"


def parse_object_name(name: str) -> ObjectName | None:
    """What a name says, or None when it is not the name of a batch's object."""
    match = _NAME.fullmatch(name)
    if not match:
        return None
    batch = BatchRange(int(match["start"]), int(match["end"]), match["ext"])
    return ObjectName(match["topic"], int(match["partition"]), match["incarnation"], batch)


def parse_name(name: str, topic: str, partition: int, incarnation: str) -> BatchRange | None:
    """The range an object name carries, or None when the name is not one of this topic-partition-incarnation's
    objects (another topic, partition or incarnation, or a name without an incarnation)."""
    parsed = parse_object_name(name)
    if parsed is None or (parsed.topic, parsed.partition, parsed.incarnation) != (topic, partition, incarnation):
        return None
    return parsed.batch


def offset_floor(topic: str, partition: int, incarnation: str, offset: int) -> str:
    """A name that sorts just before every object of this topic-partition-incarnation whose range starts at
    `offset` or later."""
    return f"{file_prefix(topic, partition, incarnation)}{offset:0{OFFSET_DIGITS}d}"
