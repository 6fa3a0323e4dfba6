"""From a Kafka message to a lake line: the schema's declaration decodes and checks a message in one C call
(`decode_struct`, plus the count of its quotes against duplicate keys), and anything it refuses goes through
`schema.decode` for every reason it is not a record. The two accept exactly the same messages, whatever their
bytes, and any exception either raises means "not a record": never a crash, never a retry."""

from __future__ import annotations

import msgspec

from core.schema import OUT_OF_WINDOW, RECORD_QUOTES, InvalidRecord, decode, decode_struct, encode, window_reason

#: A reason header holds at most this many characters; a message with thousands of faults names the first ones.
REASON_MAX_CHARS = 1000


def to_line(value: bytes | None, window: tuple[str, str] | None = None) -> tuple[str, bytes]:
    """The event date and the lake line (compact JSON, fields in schema order, no newline) of one message.

    Raises InvalidRecord with every reason when the message is not a valid record, or, given a window (the first
    and last event dates accepted), with the reason `out_of_window` when its date is outside it.
    """
    if not value:
        raise InvalidRecord(["empty message"])
    try:
        record = decode_struct(value)
        if value.count(b'"') != RECORD_QUOTES:
            raise msgspec.ValidationError("duplicate key")
    except Exception:  # whatever the decoder raised, `decode` names every reason
        checked = decode(value)  # raises InvalidRecord; the two checks accept the same records
        date, line = checked["date"], encode(checked)
    else:
        date, line = record.date, msgspec.json.encode(record)
    if window is not None:
        reason = window_reason(date, *window)
        if reason is not None:
            raise InvalidRecord([reason])
    return date, line


def reasons_of(exc: InvalidRecord) -> str:
    """The reasons as a dead letter's header gives them: all of them, or as many as `REASON_MAX_CHARS` holds."""
    text = "; ".join(exc.reasons)
    if len(text) <= REASON_MAX_CHARS:
        return text
    shown: list[str] = []
    size = 0
    for reason in exc.reasons:
        size += len(reason) + 2
        if size > REASON_MAX_CHARS - 40:
            break
        shown.append(reason)
    return "; ".join(shown) + f"; and {len(exc.reasons) - len(shown)} more"


#: The kinds of bad message, the `reason` label of the dead-letter metric (a bounded set, unlike the reasons).
REASON_KINDS = ("empty", "not_utf8", "not_json", "not_an_object", "invalid_fields")
#: Those and the valid records dated outside the consumer's event-time window.
DEAD_LETTER_KINDS = (*REASON_KINDS, OUT_OF_WINDOW)


def reason_kind(exc: InvalidRecord) -> str:
    first = exc.reasons[0] if exc.reasons else ""
    for prefix, kind in (
        ("empty message", "empty"),
        ("not UTF-8", "not_utf8"),
        ("not JSON", "not_json"),
        ("not decodable", "not_json"),
        ("expected a JSON object", "not_an_object"),
        (OUT_OF_WINDOW, OUT_OF_WINDOW),
    ):
        if first.startswith(prefix):
            return kind
    return "invalid_fields"
