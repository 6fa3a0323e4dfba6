"""A small, fixed lake for the golden tests: deterministic minute records written as the consumer lays them out."""

from __future__ import annotations

import datetime as dt
import gzip
import random
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from core.names import LAKE_DATA_PREFIX, PARTITION_COLUMN
from core.schema import FIELDS, Record, partition_of, validate
from fitpipe.catalog import crawl
from fitpipe.compact import compact_lake
from tests.strategies import sample_record

USERS = (1503960366, 2022484408, 8877689391)  # the first is the user query 01 asks about
START = dt.date(2016, 4, 12)
DAYS = 3


def _sleep_logs(rng: random.Random, user: int) -> list[tuple[dt.datetime, dt.datetime, int]]:
    """(start, end, logid): a night that crosses midnight after each day, and one afternoon nap."""
    logs = []
    for day in range(DAYS):
        start = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(22, rng.randrange(60)))
        end = start + dt.timedelta(minutes=rng.randrange(300, 560))
        logs.append((start, end, 11_000_000_000 + user % 1000 * 100 + day))
    nap = dt.datetime.combine(START + dt.timedelta(days=1), dt.time(14, 5))
    logs.append((nap, nap + dt.timedelta(minutes=40), 12_000_000_000 + user % 1000))
    return logs


def golden_records(seed: int = 20160412) -> list[Record]:
    """Every minute of each user and day, less a few gaps, with sleep logs, naps and missing heart rates."""
    rng = random.Random(seed)
    records: list[Record] = []
    for user in USERS:
        has_heart_rate = user != USERS[2]
        logs = _sleep_logs(rng, user)
        minute = dt.datetime.combine(START, dt.time())
        end = minute + dt.timedelta(days=DAYS)
        while minute < end:
            log = next((log for log in logs if log[0] <= minute < log[1]), None)
            if rng.random() < 0.02:  # a gap: the tracker was off
                minute += dt.timedelta(minutes=1)
                continue
            if log is not None:
                stage = rng.choices([1.0, 2.0, 3.0], [0.9, 0.08, 0.02])[0]
                intensity = 0 if stage == 1.0 else rng.choice([0, 1])
                logid = log[2]
            else:
                stage, logid = 0.0, 0
                intensity = rng.choices([0, 1, 2, 3], [0.80, 0.15, 0.02, 0.03])[0]
            steps = 0 if intensity == 0 else rng.randrange(1, 40 * intensity + 20)
            heartrate = 60 + 15 * intensity + rng.randrange(10) if has_heart_rate and rng.random() > 0.05 else None
            record = sample_record(
                id=user,
                date=minute.date().isoformat(),
                time=minute.time().isoformat(),
                calories=round(1.0 + intensity * 2.5 + rng.random(), 4),
                intensity=intensity,
                mets=10 + intensity * 20,
                steps=steps,
                sleep_value=stage,
                logid=logid,
                heartrate=heartrate,
            )
            assert not validate(record), validate(record)
            records.append(record)
            minute += dt.timedelta(minutes=1)
    return records


def write_lake(lake: Path, records: list[Record]) -> Path:
    """The records under `lake`, one partition per day; the days rotate through the three file formats."""
    by_day: dict[str, list[Record]] = {}
    for record in records:
        by_day.setdefault(partition_of(record), []).append(record)
    for index, (day, rows) in enumerate(sorted(by_day.items())):
        folder = lake / LAKE_DATA_PREFIX / f"{PARTITION_COLUMN}={day}"
        folder.mkdir(parents=True, exist_ok=True)
        halves = (rows[: len(rows) // 2], rows[len(rows) // 2 :])  # two files per partition
        for part, chunk in enumerate(halves):
            lines = b"".join(orjson.dumps(r) + b"\n" for r in chunk)
            kind = index % 3
            if kind == 0:
                (folder / f"part-{part}.json.gz").write_bytes(gzip.compress(lines))
            elif kind == 1:
                (folder / f"part-{part}.json").write_bytes(lines)
            else:
                schema = pa.schema([(f.name, f.arrow_type) for f in FIELDS])
                pq.write_table(pa.Table.from_pylist(chunk, schema=schema), folder / f"part-{part}.parquet")
    return lake


def crawled_golden_lake(folder: Path, records: list[Record] | None = None) -> Path:
    """The golden records (or `records`) written as `folder/lake`, crawled into the lake's default catalog and
    compacted into its curated table."""
    lake = write_lake(folder / "lake", golden_records() if records is None else records)
    crawl(lake)
    compact_lake(lake)
    return lake
