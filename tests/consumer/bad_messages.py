"""A corpus of bad messages, each a different way a message can fail to be a record, built from a valid sample."""

from __future__ import annotations

from typing import Any

import orjson

from core.schema import FIELDS, encode
from tests.strategies import sample_record

#: Bigger than the dead-letter limit (900,000 bytes), so its dead letter is cut, and within Kafka's 1 MB message.
HUGE = 950_000
#: Exactly the dead-letter limit: the largest message whose dead letter is sent whole.
AT_LIMIT = 900_000


def _without(name: str) -> bytes:
    record = sample_record()
    del record[name]
    return orjson.dumps(record)


def _with(**overrides: Any) -> bytes:
    return orjson.dumps(sample_record(**overrides))


def _wrong_type(field_type: str) -> Any:
    return 12 if field_type == "string" else "12"


def _of_size(size: int) -> bytes:
    """A record with an unexpected field, padded to exactly `size` bytes."""
    short = _with(note="")
    return _with(note="x" * (size - len(short)))


def bad_messages() -> list[tuple[str, bytes | None, str]]:
    """(kind, message value, a fragment the dead letter's `reason` header must contain)."""
    good = encode(sample_record())
    corpus: list[tuple[str, bytes | None, str]] = [
        ("not UTF-8", b"\xff\xfe\x00{" + good[1:], "not UTF-8"),
        ("not JSON", b"id=1503960366 steps=12", "not JSON"),
        ("truncated JSON", good[:-7], "not JSON"),
        ("JSON array", b'[1503960366, "2016-04-12"]', "expected a JSON object"),
        ("JSON null", b"null", "expected a JSON object"),
        ("JSON string", b'"a record"', "expected a JSON object"),
        ("JSON number", b"42", "expected a JSON object"),
        ("empty message", b"", "empty message"),
        ("tombstone (no value)", None, "empty message"),
        ("NaN literal", good.replace(b'"calories":1.1', b'"calories":NaN'), "not JSON"),
        ("extra field", _with(location="gym"), "location: unexpected field"),
        ("sleep without a sleep log", _with(sleep_value=1.0, logid=0), "sleep_value and logid"),
        ("sleep log without sleep", _with(sleep_value=0.0, logid=11380564589), "sleep_value and logid"),
        ("impossible date", _with(date="2016-02-30"), "is not a real date"),
        ("date in another format", _with(date="12/04/2016"), "does not match"),
        ("impossible time", _with(time="24:00:00"), "is not a real time"),
        ("time in another format", _with(time="0:00"), "does not match"),
        ("boolean for an integer", _with(steps=True), "steps: expected an integer"),
        ("float for an integer", _with(heartrate=66.5), "heartrate: expected an integer"),
        ("id beyond int64", _with(id=2**63), "id: "),
        ("huge message", _with(note="x" * HUGE), "note: unexpected field"),
        ("message at the dead-letter limit", _of_size(AT_LIMIT), "note: unexpected field"),
        ("several faults at once", _with(steps=-1, intensity=9, date="x"), "steps: -1 is below"),
    ]
    for field in FIELDS:
        corpus.append((f"missing {field.name}", _without(field.name), f"{field.name}: missing"))
        wrong = _with(**{field.name: _wrong_type(field.type)})
        corpus.append((f"wrong type of {field.name}", wrong, f"{field.name}: expected"))
        if not field.nullable:
            corpus.append((f"null {field.name}", _with(**{field.name: None}), f"{field.name}: must not be null"))
        if field.minimum is not None:
            low = field.minimum - 1 if field.type != "double" else field.minimum - 0.5
            corpus.append((f"{field.name} below range", _with(**{field.name: low}), f"{field.name}: "))
        if field.maximum is not None and field.maximum < 2**62:
            high = field.maximum + 1 if field.type != "double" else field.maximum + 0.5
            corpus.append((f"{field.name} above range", _with(**{field.name: high}), f"{field.name}: "))
    return corpus
