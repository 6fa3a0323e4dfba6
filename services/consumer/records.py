"""From a Kafka message to a lake line: valid records take the schema's fast check (`is_valid`), and anything it
refuses goes through `schema.decode` for every reason it is not a record."""

from __future__ import annotations

import orjson

from services.common.schema import FIELD_NAMES, InvalidRecord, Record, decode, encode, is_valid


def to_line(value: bytes | None) -> tuple[str, bytes]:
    """The event date and the lake line (compact JSON, fields in schema order, no newline) of one message.

    Raises InvalidRecord with every reason when the message is not a valid record.
    """
    if not value:
        raise InvalidRecord(["empty message"])
    try:
        record: Record = orjson.loads(value)
    except orjson.JSONDecodeError:
        record = decode(value)  # raises with the reason (not UTF-8, not JSON)
    if not is_valid(record):
        record = decode(value)  # raises with every reason
    line = orjson.dumps(record) if tuple(record) == FIELD_NAMES else encode(record)
    return record["date"], line


def reasons_of(exc: InvalidRecord) -> str:
    return "; ".join(exc.reasons)


#: The kinds of bad message, the `reason` label of the dead-letter metric (a bounded set, unlike the reasons).
REASON_KINDS = ("empty", "not_utf8", "not_json", "not_an_object", "invalid_fields")


def reason_kind(exc: InvalidRecord) -> str:
    first = exc.reasons[0] if exc.reasons else ""
    for prefix, kind in (("empty message", "empty"), ("not UTF-8", "not_utf8"), ("not JSON", "not_json"),
                         ("expected a JSON object", "not_an_object")):  # fmt: skip
        if first.startswith(prefix):
            return kind
    return "invalid_fields"
