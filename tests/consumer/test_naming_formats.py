"""Object names carry the batch range and sort in offset order; formats write every record, deterministically."""

from __future__ import annotations

import gzip
import io

import orjson
import pyarrow.parquet as pq
import pytest

from core.schema import FIELD_NAMES, encode
from services.consumer.formats import format_for_ext, get_format
from services.consumer.naming import (
    BatchRange,
    ObjectName,
    file_prefix,
    incarnation_of,
    object_key,
    offset_floor,
    parse_name,
    parse_object_name,
)
from tests.strategies import sample_record

#: Topic ids as Kafka's tools print them; URL-safe base64 may hold `-` and `_`, and start with either.
INCARNATION = "xeBkv2ZUR527rU5BKoPQAA"
OTHER = "-_Bkv2ZUR527rU5BKoP_-w"


def test_key_layout_and_round_trip() -> None:
    key = object_key("2016-04-12", "fitness-data", 2, INCARNATION, 1000, 1999, "json.gz")
    assert key == (
        "data/fitness_data_kafka_storage/dt=2016-04-12/"
        "fitness-data+2+xeBkv2ZUR527rU5BKoPQAA+00000000000000001000-00000000000000001999.json.gz"
    )
    name = key.rsplit("/", 1)[1]
    assert parse_name(name, "fitness-data", 2, INCARNATION) == BatchRange(1000, 1999, "json.gz")
    assert parse_name(name, "fitness-data", 1, INCARNATION) is None
    assert parse_name(name, "other", 2, INCARNATION) is None
    assert parse_name(name, "fitness-data", 2, OTHER) is None
    assert parse_name(".tmp-" + name, "fitness-data", 2, INCARNATION) is None


def test_names_of_every_incarnation_and_of_none_are_told_apart() -> None:
    for ext in ("json.gz", "json", "parquet"):
        for incarnation in (INCARNATION, OTHER):
            name = object_key("2016-04-12", "fitness-data.v2_x", 0, incarnation, 5, 9, ext).rsplit("/", 1)[1]
            assert parse_object_name(name) == ObjectName("fitness-data.v2_x", 0, incarnation, BatchRange(5, 9, ext))
    # Named before names carried the incarnation: still understood, as incarnation None, and no incarnation's.
    legacy = "fitness-data+0+00000000000000001000-00000000000000001999.json.gz"
    assert parse_object_name(legacy) == ObjectName("fitness-data", 0, None, BatchRange(1000, 1999, "json.gz"))
    assert parse_name(legacy, "fitness-data", 0, INCARNATION) is None
    assert not legacy.startswith(file_prefix("fitness-data", 0, INCARNATION))
    # The name's pattern is strict: a short or long id, a foreign character, another extension are not names.
    good = object_key("2016-04-12", "t", 0, INCARNATION, 5, 9, "json").rsplit("/", 1)[1]
    for bad in (
        good.replace(INCARNATION, INCARNATION[:-1]),
        good.replace(INCARNATION, INCARNATION + "A"),
        good.replace(INCARNATION, INCARNATION[:-1] + "/"),
        good.replace(INCARNATION, INCARNATION[:-1] + "+"),
        good + ".tmp",
        good.replace(".json", ".csv"),
    ):
        assert parse_object_name(bad) is None, bad


def test_an_incarnation_must_be_a_topic_id() -> None:
    with pytest.raises(ValueError, match="not a topic incarnation"):
        object_key("2016-04-12", "t", 0, "a/b", 5, 9, "json")


def test_incarnation_is_spelled_as_kafka_spells_a_topic_id() -> None:
    # The halves Kafka's Uuid holds for the id its tools print as xeBkv2ZUR527rU5BKoPQAA (signed 64-bit each).
    assert incarnation_of(-4188236880236230755, -4923192775852961792) == INCARNATION
    assert incarnation_of(0, 1) == "AAAAAAAAAAAAAAAAAAAAAQ"


def test_names_sort_in_offset_order_and_the_floor_bounds_them() -> None:
    starts = [0, 9, 10, 99, 100, 12_345_678]
    names = [object_key("2016-04-12", "t", 0, INCARNATION, s, s + 5, "json").rsplit("/", 1)[1] for s in starts]
    assert sorted(names) == names
    floor = offset_floor("t", 0, INCARNATION, 99)
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
