"""What the writer holds per partition: its state since the assignment, and its one open batch."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from services.consumer.dead_letters import DeadLetter
from services.consumer.formats import Lines
from services.consumer.naming import BatchRange


class Batch:
    """The open batch of one partition: lines per event date, and the dead letters of the same offsets."""

    __slots__ = (
        "bytes",
        "created",
        "dead",
        "end",
        "first_timestamp",
        "forced",
        "lines",
        "new_lines",
        "records",
        "start",
    )

    def __init__(self, start: int, created: float, forced: BatchRange | None, new_lines: Callable[[], Lines] = Lines):
        self.start = start
        self.end = start - 1
        self.created = created
        self.forced = forced  # a range already in the lake: cut exactly at its end, name it exactly as it is
        self.lines: dict[str, Lines] = {}
        self.new_lines = new_lines  # the buffer of one date's lines, made by the format the batch is written in
        self.records = 0
        self.bytes = 0
        self.dead: list[DeadLetter] = []
        self.first_timestamp = time.time()  # Kafka time of the batch's first message (for the lag in seconds)

    def add(self, dt: str, line: bytes) -> int:
        """Append one line of event date `dt`; the bytes it adds. `LakeWriter._drain` has this inlined."""
        lines = self.lines.get(dt)
        if lines is None:
            lines = self.lines[dt] = self.new_lines()
        lines.append(line)
        self.records += 1
        size = len(line) + 1
        self.bytes += size
        return size

    def bounds(self) -> tuple[int, int]:
        return (self.forced.start, self.forced.end) if self.forced else (self.start, self.end)

    def complete(self, position: int | None) -> bool:
        """A replayed range may be written only once all of it is read again, or it would overwrite with less."""
        return self.forced is None or (position is not None and position > self.forced.end)


class PartitionState:
    """One assigned partition: where reading stands, the ranges still to replay, and the open batch."""

    __slots__ = ("batch", "forced", "incarnation", "landed_at", "partition", "position")

    def __init__(self, partition: int, incarnation: str, position: int | None, forced: deque[BatchRange]):
        self.partition = partition
        self.incarnation = incarnation  # the topic's id when the partition was assigned; in every object's name
        self.position = position  # the next offset to read; None until the first message when starting from 0
        self.forced = forced
        self.batch: Batch | None = None
        self.landed_at = time.time()  # when everything read so far was last landed and committed
