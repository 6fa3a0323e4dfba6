"""The fast path from message to lake line agrees with the schema's own validation, and keeps every reason."""

from __future__ import annotations

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.schema import (
    FIELD_NAMES,
    FIELDS,
    InvalidRecord,
    decode,
    decode_record,
    encode,
    is_valid,
    validate,
)
from services.consumer.records import REASON_KINDS, reason_kind, to_line
from tests.consumer.bad_messages import bad_messages
from tests.strategies import records, sample_record

_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["2016-04-12", "2016-02-30", "23:59:59", "24:00:00", "1.5"]),
)


@given(records())
def test_valid_records_take_the_fast_path(record: dict) -> None:
    message = encode(record)
    dt, line = to_line(message)
    assert dt == record["date"]
    assert orjson.loads(line) == record
    assert list(orjson.loads(line)) == list(FIELD_NAMES)


@settings(max_examples=400)
@given(records(), st.sampled_from([f.name for f in FIELDS]), _ANY_VALUE)
def test_fast_path_accepts_exactly_what_the_schema_accepts(record: dict, name: str, value: object) -> None:
    record[name] = value
    parsed = orjson.loads(orjson.dumps(record))
    assert is_valid(parsed) == (validate(parsed) == [])


@settings(max_examples=400)
@given(records(), st.sampled_from([f.name for f in FIELDS]), _ANY_VALUE)
def test_the_hot_path_decoder_accepts_exactly_what_the_schema_accepts(record: dict, name: str, value: object) -> None:
    record[name] = value
    message = orjson.dumps(record)
    try:
        decode_record(message)
    except msgspec.ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted == (validate(orjson.loads(message)) == [])


@given(records(), st.sets(st.sampled_from(FIELD_NAMES)), st.dictionaries(st.text(max_size=5), st.integers()))
def test_missing_and_extra_fields_are_refused(record: dict, missing: set[str], extra: dict) -> None:
    for name in missing:
        del record[name]
    record.update(extra)
    assert is_valid(record) == (validate(record) == [])


def test_fields_are_written_in_schema_order_whatever_the_message_order() -> None:
    record = sample_record()
    shuffled = orjson.dumps(dict(reversed(list(record.items()))))
    _, line = to_line(shuffled)
    assert line == encode(record)


def test_whitespace_and_number_spelling_are_normalised() -> None:
    message = (
        b'{ "id": 1503960366, "date": "2016-04-12", "time": "00:00:00", "calories": 1.10, "intensity": 0,'
        b' "mets": 10, "steps": 0, "sleep_value": 0, "logid": 0, "heartrate": null }'
    )
    _, line = to_line(message)
    assert (
        line == b'{"id":1503960366,"date":"2016-04-12","time":"00:00:00","calories":1.1,"intensity":0,'
        b'"mets":10,"steps":0,"sleep_value":0,"logid":0,"heartrate":null}'
    )


@pytest.mark.parametrize(("kind", "value", "fragment"), bad_messages(), ids=[k for k, _, _ in bad_messages()])
def test_every_bad_message_is_refused_with_its_reason(kind: str, value: bytes | None, fragment: str) -> None:
    with pytest.raises(InvalidRecord) as refused:
        to_line(value)
    assert fragment in "; ".join(refused.value.reasons), kind
    if value:
        with pytest.raises(InvalidRecord) as authority:
            decode(value)
        assert refused.value.reasons == authority.value.reasons


def test_several_faults_give_every_reason() -> None:
    with pytest.raises(InvalidRecord) as refused:
        to_line(orjson.dumps(sample_record(steps=-1, intensity=9)))
    assert len(refused.value.reasons) == 2


def test_every_bad_message_has_a_reason_kind_for_the_dead_letter_metric() -> None:
    expected = {
        "not UTF-8": "not_utf8",
        "not JSON": "not_json",
        "JSON array": "not_an_object",
        "empty message": "empty",
        "tombstone (no value)": "empty",
        "extra field": "invalid_fields",
        "impossible date": "invalid_fields",
    }
    kinds = {}
    for kind, value, _ in bad_messages():
        try:
            to_line(value)
        except InvalidRecord as exc:
            kinds[kind] = reason_kind(exc)
    assert set(kinds.values()) == set(REASON_KINDS)
    assert {k: kinds[k] for k in expected} == expected


#: Strings near the date and time shapes: other ISO 8601 forms, other digits, fractions, offsets, impossible values.
_ARABIC = str.maketrans("0123456789", "".join(chr(0x660 + d) for d in range(10)))
_NEAR_DATES = [
    "2016-04-12",
    "0999-01-01",
    "2016-02-29",
    "2015-02-29",
    "20160412",
    "2016-W15-2",
    "2016-04-12T00:00",
    "2016-04-12".translate(_ARABIC),
    "2016-04-12\n",
    " 2016-04-12",
    "+016-04-12",
    "0000-01-01",
    "2016-4-12",
    "2016W152",
    "2016-W152",
    "2016-103",
    "2016-04-1 ",
    "2016-0412-",
    "2016-04--1",
    "2016-04-+1",
    "20160412  ",
]
_NEAR_TIMES = [
    "00:00:00",
    "23:59:59",
    "24:00:00",
    "23:59:60",
    "12:00",
    "120000",
    "12:00:00.000",
    "12:00:00.5",
    "12:00:00Z",
    "12:00:00+01:00",
    "T12:00:00",
    "00:00:00".translate(_ARABIC),
    "12:00:00\n",
    "1:00:00",
    "12+01:00",
    "12:00+01",
    "120000.5",
    "12:00:0Z",
    "12:00:+1",
    "12:00:-1",
    "12:0:000",
    "12:00:5 ",
    "12:00:00 ",
    "T12:00:0",
    "12:00:0.",
]


@pytest.mark.parametrize(("name", "value"), [("date", d) for d in _NEAR_DATES] + [("time", t) for t in _NEAR_TIMES])
def test_the_fast_check_and_the_reasons_agree_on_every_shape_of_date_and_time(name: str, value: str) -> None:
    record = sample_record(**{name: value})
    valid = validate(record) == []
    assert is_valid(record) == valid
    message = orjson.dumps(record)
    if valid:
        assert to_line(message) == (record["date"], encode(record))
    else:
        with pytest.raises(InvalidRecord):
            to_line(message)


@settings(max_examples=2000)
@given(
    st.sampled_from(["date", "time"]),
    st.text(alphabet="0123456789:-+.ZTWz \u0660", min_size=6, max_size=11)
    | st.dates().map(lambda d: d.isoformat()[:10])
    | st.from_regex(r"\A[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}\Z"),
)
def test_strings_shaped_like_dates_and_times_are_judged_alike(name: str, value: str) -> None:
    record = sample_record(**{name: value})
    assert is_valid(record) == (validate(record) == [])
