"""Where a partition resumes (`recovery.plan`), as properties: the pure decision from the lake's ranges and the
committed offset, over any lake and offset hypothesis draws, and over the lakes the protocol itself leaves behind.

The broker-based checks of the same decision are in test_reconcile.py and the crash matrix."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.consumer.naming import BatchRange
from services.consumer.recovery import OFFSET_BEGINNING, ResumePlan, listing_floor, plan

EXTS = ("json.gz", "json", "parquet")


@st.composite
def ranges(draw: st.DrawFn, max_offset: int = 300) -> BatchRange:
    start = draw(st.integers(0, max_offset))
    return BatchRange(start, start + draw(st.integers(0, 40)), draw(st.sampled_from(EXTS)))


#: Any lake: ranges that may overlap, leave gaps, or repeat; and any committed offset, or none (negative).
lakes = st.lists(ranges(), max_size=12).map(set)
committed_offsets = st.one_of(st.just(OFFSET_BEGINNING), st.just(-1001), st.integers(0, 360))


def listed(committed: int, lake: set[BatchRange]) -> set[BatchRange]:
    """What the writer lists for the plan: the ranges from `listing_floor` on."""
    return {r for r in lake if r.start >= listing_floor(committed)}


def assert_contiguous(result: ResumePlan) -> None:
    position = result.start
    for r in result.forced:
        assert r.start == position, f"the forced ranges follow one another from the resume point: {result}"
        assert r.start <= r.end, f"no empty range: {result}"
        position = r.end + 1


@given(lakes, committed_offsets)
def test_forced_ranges_are_ordered_disjoint_and_start_at_the_resume_point(lake, committed) -> None:
    assert_contiguous(plan(committed, listed(committed, lake)))


@given(lakes, committed_offsets)
def test_every_offset_from_the_resume_point_is_forced_once_or_read_fresh(lake, committed) -> None:
    result = plan(committed, listed(committed, lake))
    if not result.forced:
        return
    last = result.forced[-1].end
    for offset in range(max(result.start, 0), last + 3):
        holders = [r for r in result.forced if r.start <= offset <= r.end]
        fresh = offset > last
        assert len(holders) + fresh == 1, f"offset {offset}: in {holders}, fresh: {fresh}"


@given(lakes, st.integers(0, 360))
def test_a_committed_offset_is_where_reading_resumes_and_nothing_before_it_is_landed_again(lake, committed) -> None:
    result = plan(committed, listed(committed, lake))
    assert result.start == committed
    assert all(r.start >= committed for r in result.forced), "a committed offset is never written again"


@given(lakes, committed_offsets)
def test_every_listed_range_is_replayed_under_its_own_name_or_reported_as_an_overlap(lake, committed) -> None:
    result = plan(committed, listed(committed, lake))
    kept = set(result.forced) & lake
    assert kept.isdisjoint(result.overlaps)
    if committed >= 0:
        assert kept | set(result.overlaps) == listed(committed, lake)
    gaps = [r for r in result.forced if r not in lake]
    assert all(r.ext == "" for r in gaps), "a gap is no object: it is cut again in the current format"
    for overlap in result.overlaps:
        assert any(r.start <= overlap.start <= r.end for r in kept), f"{overlap} overlaps no range kept"
    assert result.announce == bool(result.forced)


@given(lakes)
def test_without_a_committed_offset_the_last_range_of_the_lake_is_replayed(lake) -> None:
    result = plan(OFFSET_BEGINNING, lake)
    if not lake:
        assert result == ResumePlan(OFFSET_BEGINNING), "nothing committed and nothing landed: read from the start"
        return
    last = max(r.start for r in lake)
    assert result.start == last
    assert result.forced[0].start == last and result.forced[0] in lake


@given(lakes)
def test_without_a_committed_offset_every_range_at_the_last_start_is_replayed_or_reported(lake) -> None:
    result = plan(OFFSET_BEGINNING, lake)
    if lake:
        last = max(r.start for r in lake)
        at_last = {r for r in lake if r.start == last}
        assert (set(result.forced) & lake) | set(result.overlaps) == at_last


def test_ranges_at_the_last_start_are_compared_by_value() -> None:
    # Two objects of one start, as two listed object names parse to: the range not replayed is an overlap.
    start = 10**9
    short, long = BatchRange(start, start + 4, "json"), BatchRange(int(str(start)), start + 9)
    assert short.start is not long.start
    result = plan(OFFSET_BEGINNING, {short, long})
    assert set(result.forced) | set(result.overlaps) == {short, long}


@st.composite
def protocol_runs(draw: st.DrawFn) -> tuple[list[BatchRange], int, int, int]:
    """What the protocol leaves: batches cut one after another from offset 0, the first `committed_batches` of
    them committed, perhaps one more written but not committed, and perhaps the committed offset lost."""
    sizes = draw(st.lists(st.integers(1, 50), min_size=1, max_size=10))
    batches, start = [], 0
    for size in sizes:
        batches.append(BatchRange(start, start + size - 1, draw(st.sampled_from(EXTS))))
        start += size
    committed_batches = draw(st.integers(0, len(batches) - 1))
    written = committed_batches + draw(st.integers(0, 1))
    committed = batches[committed_batches].start
    lost = draw(st.booleans())
    return batches[:written], committed, OFFSET_BEGINNING if lost else committed, written


@given(protocol_runs())
def test_after_any_crash_the_lake_ends_with_every_offset_landed_once(run) -> None:
    lake, committed, seen, _written = run
    result = plan(seen, listed(seen, set(lake)))
    assert_contiguous(result)
    # Landed for good: every range before the resume point; then the forced ranges, written again under the same
    # names; then everything is read fresh. Together: each offset from 0 on exactly once.
    before = [r for r in lake if r.end < max(result.start, 0)]
    covered = sorted(before + list(result.forced))
    position = 0
    for r in covered:
        assert r.start == position, f"offset {position} landed twice or never: {covered}"
        position = r.end + 1
    assert position >= committed, "nothing committed is left out"
    if lake and seen >= 0:
        uncommitted = [r for r in lake if r.start >= committed]
        assert list(result.forced) == uncommitted, "only the written but uncommitted range is replayed"
    assert not result.overlaps


def test_a_range_that_holds_the_committed_offset_is_not_replayed() -> None:
    """A group reset to an offset inside a landed range: reading resumes there and the range's objects are left as
    they are; the rest of it is cut as a range of its own, up to the next range found."""
    lake = {BatchRange(0, 9), BatchRange(10, 19), BatchRange(20, 29)}
    assert plan(15, listed(15, lake)) == ResumePlan(15, (BatchRange(15, 19), BatchRange(20, 29)))


def test_a_gap_before_the_first_range_beyond_the_committed_offset_is_read_again_as_a_range() -> None:
    lake = {BatchRange(0, 9), BatchRange(15, 19, "json")}
    assert plan(10, listed(10, lake)) == ResumePlan(10, (BatchRange(10, 14), BatchRange(15, 19, "json")))
