"""The one record definition: round-trips, rejection of every kind of bad value, and the lists derived from it."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given

from core import schema
from core.schema import FIELDS, InvalidRecord, decode, encode, validate
from tests.strategies import records, sample_record

# The declaration the issue specifies, written out independently of the module, so that a change to the module that
# drifts from the product's record fails here.
EXPECTED_TYPES = {
    "id": "bigint",
    "date": "string",
    "time": "string",
    "calories": "double",
    "intensity": "int",
    "mets": "int",
    "steps": "int",
    "sleep_value": "double",
    "logid": "bigint",
    "heartrate": "int",
}


def test_fields_are_the_product_record_in_order() -> None:
    assert {f.name: f.type for f in FIELDS} == EXPECTED_TYPES
    assert list(schema.FIELD_NAMES) == list(EXPECTED_TYPES)
    assert [f.name for f in FIELDS if f.nullable] == ["heartrate"]


def test_glue_columns_are_derived_from_the_fields() -> None:
    columns = schema.glue_columns()
    assert [(c["name"], c["type"]) for c in columns] == [(f.name, f.type) for f in FIELDS]
    assert all(c["comment"] for c in columns)


def test_duckdb_types_are_derived_from_the_fields() -> None:
    hive_to_duckdb = {"bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "string": "VARCHAR"}
    assert schema.duckdb_columns() == {f.name: hive_to_duckdb[f.type] for f in FIELDS}


#: The ranges of the README's record table, written from it (not from FIELDS): (lowest, highest, the smallest step
#: beyond them for the field's type). A sleep log id needs a sleep value and the other way round.
README_BOUNDS = {
    "id": (1, 2**63 - 1, 1),
    "calories": (0, 100, 0.001),
    "intensity": (0, 3, 1),
    "mets": (0, 300, 1),
    "steps": (0, 300, 1),
    "sleep_value": (0, 3, 0.001),
    "logid": (0, 2**63 - 1, 1),
    "heartrate": (20, 250, 1),
}
_IN_A_LOG = {"sleep_value": 1.0, "logid": 11380564589}


@pytest.mark.parametrize("name", list(README_BOUNDS))
def test_each_range_is_the_readme_s(name: str) -> None:
    low, high, step = README_BOUNDS[name]
    for value in (low, high):
        record = sample_record(**{name: value})
        if name in _IN_A_LOG and value:
            record = sample_record(**{**_IN_A_LOG, name: value})
        assert validate(record) == [], (name, value)
    below = validate(sample_record(**{name: low - step}))
    assert any(r.startswith(f"{name}: ") and "is below" in r for r in below), (name, below)
    above = validate(sample_record(**{**_IN_A_LOG, name: high + step}))
    assert any(r.startswith(f"{name}: ") and "is above" in r for r in above), (name, above)


def test_every_bounded_field_is_in_the_readme_table() -> None:
    assert {f.name for f in FIELDS if f.minimum is not None or f.maximum is not None} == set(README_BOUNDS)


@given(records())
def test_any_valid_record_round_trips(record: dict) -> None:
    assert validate(record) == []
    assert decode(encode(record)) == record


@given(records())
def test_encoding_keeps_schema_order(record: dict) -> None:
    shuffled = dict(reversed(list(record.items())))
    assert list(orjson.loads(encode(shuffled))) == list(schema.FIELD_NAMES)


BAD_VALUES = [
    ("id", 0, "below"),
    ("id", "1503960366", "expected an integer"),
    ("id", True, "expected an integer"),
    ("date", "2016-4-12", "does not match"),
    ("date", "2016-02-30", "not a real date"),
    ("date", 20160412, "expected a string"),
    ("time", "24:00:00", "not a real time"),
    ("time", "7:00", "does not match"),
    ("calories", -0.1, "below"),
    ("calories", "1.2", "expected a number"),
    ("intensity", 4, "above"),
    ("intensity", 1.0, "expected an integer"),
    ("mets", -1, "below"),
    ("steps", None, "must not be null"),
    ("steps", 1000, "above"),
    ("sleep_value", 3.5, "above"),
    ("logid", -5, "below"),
    ("heartrate", 300, "above"),
    ("heartrate", "80", "expected an integer"),
]


@pytest.mark.parametrize(("name", "value", "reason"), BAD_VALUES)
def test_each_bad_value_is_rejected_with_its_reason(name: str, value: object, reason: str) -> None:
    reasons = validate(sample_record(**{name: value}))
    assert any(r.startswith(f"{name}:") and reason in r for r in reasons), reasons


def test_every_reason_is_reported_at_once() -> None:
    record = sample_record(intensity=9, steps=-1, extra=1)
    del record["date"]
    reasons = validate(record)
    assert "date: missing" in reasons
    assert "extra: unexpected field" in reasons
    assert any(r.startswith("intensity:") for r in reasons)
    assert any(r.startswith("steps:") for r in reasons)


def test_heart_rate_may_be_null() -> None:
    assert validate(sample_record(heartrate=None)) == []


def test_sleep_value_and_logid_must_agree() -> None:
    assert validate(sample_record(sleep_value=1.0, logid=11380564589)) == []
    assert any("sleep log" in r for r in validate(sample_record(sleep_value=1.0, logid=0)))
    assert any("sleep log" in r for r in validate(sample_record(sleep_value=0.0, logid=11380564589)))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b"", "not JSON"),
    ],
)
def test_decode_rejects_what_is_not_a_record(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidRecord) as excinfo:
        decode(data)
    assert any(reason in r for r in excinfo.value.reasons)


def test_partition_is_the_event_date() -> None:
    assert schema.partition_of(sample_record(date="2016-05-01")) == "2016-05-01"


def _float_forms() -> list[bytes]:
    """Short spellings of numbers in the float fields' range: exponent forms of every digit and power, plain ones."""
    forms = [f"{m}{e}{p}".encode() for m in range(1, 100) for e in ("e", "E") for p in range(-330, 3)]
    forms += [f"{m}.{d}".encode() for m in range(0, 4) for d in range(0, 100)]
    return [f for f in forms if 0 < float(f) <= 3]


def test_a_valid_message_is_at_most_a_few_bytes_shorter_than_its_line_and_a_duplicate_key_is_longer() -> None:
    """The hot path skips the quote count when a message is exactly as long as its line; that is sound because no
    valid message is shorter than its line by as many bytes as the shortest duplicate key adds."""
    assert schema.LINE_LONGER_BY_AT_MOST < schema.DUPLICATE_KEY_AT_LEAST == 7
    worst = 0
    for form in _float_forms():
        message = encode(sample_record(sleep_value=1.0, logid=1)).replace(
            b'"sleep_value":1.0', b'"sleep_value":' + form
        )
        message = message.replace(b'"calories":1.1', b'"calories":' + form)
        line = schema.msgspec.json.encode(schema.decode_struct(message))
        worst = max(worst, len(line) - len(message))
    assert 0 < worst <= schema.LINE_LONGER_BY_AT_MOST


def test_the_hot_path_refuses_duplicate_keys_as_the_reason_finding_path_does() -> None:
    good = encode(sample_record())
    for duplicate in (b',"id":1', b',"steps":0', b',"heartrate":null', b',"date":"2016-04-12"'):
        message = good[:-1] + duplicate + b"}"
        with pytest.raises(schema.msgspec.DecodeError):
            schema.decode_record(message)
        with pytest.raises(InvalidRecord) as refused:
            decode(message)
        name = duplicate.split(b'"')[1].decode()
        assert f"{name}: duplicate key" in refused.value.reasons
    assert schema.decode_record(good).id == sample_record()["id"]


def test_the_event_window_ends_with_the_calendar_whatever_the_timestamp() -> None:
    import datetime as dt

    year_9999_end = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()
    assert schema.event_window(dt.date(2016, 1, 1), year_9999_end, 86_400) == ("2016-01-01", "9999-12-31")
    assert schema.event_window(dt.date(2016, 1, 1), 1e300, 0) == ("2016-01-01", "9999-12-31")
    assert schema.event_window(dt.date(2016, 1, 1), -1e300, 0) == ("2016-01-01", "0001-01-01")
    assert schema.event_window(dt.date(2016, 1, 1), 0, 86_400) == ("2016-01-01", "1970-01-02")


def test_keys_repeated_thousands_of_times_are_each_named_once_and_few_are_named() -> None:
    line = encode(sample_record())
    message = line[:-1] + b"".join(b',"k%d":1,"k%d":1' % (n, n) for n in range(5_000)) + b',"steps":1' * 5_000 + b"}"
    with pytest.raises(InvalidRecord) as caught:
        decode(message)
    duplicates = [r for r in caught.value.reasons if r.endswith("duplicate key")]
    assert duplicates == [f"k{n}: duplicate key" for n in range(schema.DUPLICATES_NAMED_AT_MOST)]
