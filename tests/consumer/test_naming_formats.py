"""Object names carry the batch range and sort in offset order; formats write every record, deterministically."""

from __future__ import annotations

import gzip
import io

import orjson
import pyarrow.parquet as pq
import pytest

from services.common.schema import FIELD_NAMES, encode
from services.consumer.formats import format_for_ext, get_format
from services.consumer.naming import BatchRange, object_key, offset_floor, parse_name
from tests.strategies import sample_record


def test_key_layout_and_round_trip() -> None:
    key = object_key("2016-04-12", "fitness-data", 2, 1000, 1999, "json.gz")
    assert key == (
        "data/fitness_data_kafka_storage/dt=2016-04-12/fitness-data+2+00000000000000001000-00000000000000001999.json.gz"
    )
    name = key.rsplit("/", 1)[1]
    assert parse_name(name, "fitness-data", 2) == BatchRange(1000, 1999, "json.gz")
    assert parse_name(name, "fitness-data", 1) is None
    assert parse_name(name, "other", 2) is None
    assert parse_name(".tmp-" + name, "fitness-data", 2) is None


def test_names_sort_in_offset_order_and_the_floor_bounds_them() -> None:
    starts = [0, 9, 10, 99, 100, 12_345_678]
    names = [object_key("2016-04-12", "t", 0, s, s + 5, "json").rsplit("/", 1)[1] for s in starts]
    assert sorted(names) == names
    floor = offset_floor("t", 0, 99)
    assert [n for n in names if n >= floor] == names[3:]


def _lines(n: int) -> bytes:
    return b"".join(encode(sample_record(time=f"00:{m:02d}:00", steps=m)) + b"\n" for m in range(n))


@pytest.mark.parametrize("name", ["jsonl.gz", "jsonl", "parquet"])
def test_formats_hold_every_record_and_are_deterministic(name: str) -> None:
    fmt = get_format(name)
    lines = _lines(50)
    data = fmt.encode(lines)
    assert fmt.encode(lines) == data
    assert format_for_ext(fmt.ext).name == name
    if name == "parquet":
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
        assert pq.read_schema(io.BytesIO(data)).names == list(FIELD_NAMES)
    else:
        text = gzip.decompress(data) if name == "jsonl.gz" else data
        assert text.endswith(b"\n")
        rows = [orjson.loads(line) for line in text.splitlines()]
    assert rows == [orjson.loads(line) for line in lines.splitlines()]
