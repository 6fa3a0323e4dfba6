"""A lake landed partly before object names carried the topic's incarnation, and partly after, by two incarnations:
the crawl, the compactor and the named queries read every object, whatever its name."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from core.names import LAKE_FORMATS
from core.queries import named_queries
from core.schema import encode, partition_of
from fitpipe.catalog import crawl
from fitpipe.compact import compact_lake
from fitpipe.query import SQL_DIR, connect, run, run_named_queries
from services.consumer.formats import get_format
from services.consumer.naming import DT_PREFIX, object_key, parse_object_name
from tests.sql.lake import golden_records

#: As the consumer named its objects before names carried the incarnation (topic + partition + offset range).
LEGACY_NAME = "fitness-data+{partition}+{start:020d}-{end:020d}.{ext}"
INCARNATIONS = ("xeBkv2ZUR527rU5BKoPQAA", "-_Bkv2ZUR527rU5BKoP_-w")


def _mixed_lake(root: Path) -> tuple[Path, list[dict]]:
    """The golden records, landed by day in three kinds of objects: legacy names, and two incarnations' names, all
    with the same offset ranges (a new incarnation's offsets start at 0 again)."""
    records = golden_records()
    by_day: dict[str, list[dict]] = {}
    for record in records:
        by_day.setdefault(partition_of(record), []).append(record)
    lake = root / "lake"
    for index, (day, rows) in enumerate(sorted(by_day.items())):
        fmt = get_format(list(LAKE_FORMATS)[index % len(LAKE_FORMATS)])
        third = len(rows) // 3
        chunks = (rows[:third], rows[third : 2 * third], rows[2 * third :])
        for kind, chunk in enumerate(chunks):
            start, end = 0, len(chunk) - 1
            if kind == 0:
                key = f"{DT_PREFIX}{day}/" + LEGACY_NAME.format(partition=0, start=start, end=end, ext=fmt.ext)
            else:
                key = object_key(day, "fitness-data", 0, INCARNATIONS[kind - 1], start, end, fmt.ext)
            path = lake / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(fmt.encode(b"".join(encode(r) + b"\n" for r in chunk)))
    return lake, records


def test_legacy_and_incarnation_names_are_crawled_and_queried_alike(tmp_path: Path) -> None:
    lake, records = _mixed_lake(tmp_path)
    names = [p.name for p in lake.rglob("*") if p.is_file()]
    kinds = Counter(parsed.incarnation if (parsed := parse_object_name(n)) else "not a name" for n in names)
    assert kinds == {None: 3, INCARNATIONS[0]: 3, INCARNATIONS[1]: 3}, kinds

    result = crawl(lake)
    assert not result.drift, result.drift.lines()
    assert sum(result.files.values()) == 9
    assert [p.files for p in result.partitions] == [3, 3, 3]

    compact_lake(lake)

    per_day = Counter(partition_of(r) for r in records)
    freshness = {q.name: q for q in named_queries(SQL_DIR)}["07_partition_freshness"]
    with connect(result.catalog) as con:
        query = run(con, freshness.sql)
        total = run(con, 'SELECT count(*) FROM "fitness-data-kafka-database"."fitness_data_kafka_storage"').rows
    rows = query.records()
    # The curated table and the raw one, side by side: every record of every kind of name in both.
    assert {row["dt"]: row["records"] for row in rows} == per_day
    assert {row["dt"]: row["raw_records"] for row in rows} == per_day
    assert total == [(len(records),)]
    # Every named query runs over the mixed lake.
    assert all(result.columns for result in run_named_queries(result.catalog).values())
