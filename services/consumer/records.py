"""From a Kafka message to a lake line: the schema's declaration decodes and checks a message in one C call
(`decode_record`), and anything it refuses goes through `schema.decode` for every reason it is not a record."""

from __future__ import annotations

import msgspec

from core.schema import InvalidRecord, decode, decode_record, encode


def to_line(value: bytes | None) -> tuple[str, bytes]:
    """The event date and the lake line (compact JSON, fields in schema order, no newline) of one message.

    Raises InvalidRecord with every reason when the message is not a valid record.
    """
    if not value:
        raise InvalidRecord(["empty message"])
    try:
        record = decode_record(value)
    except msgspec.DecodeError:
        checked = decode(value)  # raises with every reason; the two checks accept the same records
        return checked["date"], encode(checked)
    return record.date, msgspec.json.encode(record)


def reasons_of(exc: InvalidRecord) -> str:
    return "; ".join(exc.reasons)


#: The kinds of bad message, the `reason` label of the dead-letter metric (a bounded set, unlike the reasons).
REASON_KINDS = ("empty", "not_utf8", "not_json", "not_an_object", "invalid_fields")


def reason_kind(exc: InvalidRecord) -> str:
    first = exc.reasons[0] if exc.reasons else ""
    for prefix, kind in (
        ("empty message", "empty"),
        ("not UTF-8", "not_utf8"),
        ("not JSON", "not_json"),
        ("expected a JSON object", "not_an_object"),
    ):
        if first.startswith(prefix):
            return kind
    return "invalid_fields"
