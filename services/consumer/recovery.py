"""Where a partition resumes after an assignment: a pure decision from the ranges the lake holds for the partition's
current incarnation and the group's committed offset. The writer lists the lake, calls `plan`, and logs what the plan
says; nothing here reads or writes anything.

Every range in the lake at or beyond the committed offset was written (perhaps only some of its dates) but not
committed: it is read again with exactly its boundaries and written again under the same names. A gap between such
ranges is read again as a range of its own, so the offsets after the resume point are cut exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING

from services.consumer.naming import BatchRange


@dataclass(frozen=True)
class ResumePlan:
    """`start`: the offset to read from (`OFFSET_BEGINNING` when neither the group nor the lake knows one).
    `forced`: the ranges to read again and write exactly as they are, in offset order, one after another from
    `start`; offsets beyond the last are read fresh. `overlaps`: ranges left out because they overlap an earlier one
    (the lake should never hold them)."""

    start: int
    forced: tuple[BatchRange, ...] = ()
    overlaps: tuple[BatchRange, ...] = ()

    @property
    def announce(self) -> bool:
        """Whether anything is replayed, and so worth a warning."""
        return bool(self.forced)


def listing_floor(committed: int) -> int:
    """The lowest range start worth listing: the committed offset, or every range when none is committed."""
    return committed if committed >= 0 else 0


def plan(committed: int, ranges: Iterable[BatchRange]) -> ResumePlan:
    """The plan for a partition whose group committed `committed` (negative: none) and whose lake holds `ranges`
    (those starting at `listing_floor(committed)` or beyond; any others are ignored)."""
    floor = listing_floor(committed)
    listed = {r for r in ranges if r.start >= floor}
    if committed >= 0:
        start = committed
    else:
        # No committed offset (a new group, offsets expired, or a new incarnation): the lake alone tells where the
        # stream stands. Every range but the last was committed before the next was read, so only the last can be
        # partial.
        if not listed:
            return ResumePlan(OFFSET_BEGINNING)
        start = max(r.start for r in listed)
        listed = {r for r in listed if r.start >= start}
    forced: list[BatchRange] = []
    overlaps: list[BatchRange] = []
    position = start
    for batch in sorted(listed):
        if batch.start < position:
            overlaps.append(batch)
            continue
        if batch.start > position:
            forced.append(BatchRange(position, batch.start - 1))
        forced.append(batch)
        position = batch.end + 1
    return ResumePlan(start, tuple(forced), tuple(overlaps))
