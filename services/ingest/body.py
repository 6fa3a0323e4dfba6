"""From a request's body to checked records: size limits while it streams in, gzip undone under a ceiling, then
each record checked by the record's one declaration (`core.schema`), as the consumer checks a message.

The limits are enforced before memory is spent: a declared length over the limit is refused before a byte is
read; the body stops being read at the limit; the decompression never produces more than the ceiling allows
(`max_length`), so a gzip bomb costs at most the ceiling; and a body whose byte count cannot hold so few records
is refused before anything is decoded into objects.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final

import msgspec

from core.schema import (
    FIELD_NAMES,
    OUT_OF_WINDOW,
    InvalidRecord,
    MinuteRecord,
    decode,
    decode_record,
    window_reason,
)

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"
#: A valid record is an object of this many fields, so it holds this many commas at most (none in its values):
#: a body with more commas than `max_records` records can hold is refused before it is decoded.
_COMMAS_PER_RECORD: Final = len(FIELD_NAMES)


class BodyError(Exception):
    """The request is bad as a whole: `status` (400, 413, 415) and a one-line reason."""

    def __init__(self, status: int, reason: str, kind: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.kind = kind


@dataclass(slots=True)
class Checked:
    """A body's records: the accepted ones (index, user id, Kafka value) and the refused ones by index."""

    accepted: list[tuple[int, int, bytes]] = field(default_factory=list)
    refused: list[tuple[int, list[str]]] = field(default_factory=list)


async def read_body(chunks: AsyncIterator[bytes], *, gzipped: bool, max_body: int, max_decompressed: int) -> bytes:
    """The body, gunzipped when `gzipped`; BodyError 413 past either limit, 400 when the gzip stream is broken."""
    received = 0
    parts: list[bytes] = []
    inflater = zlib.decompressobj(wbits=31) if gzipped else None
    produced = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > max_body:
            raise BodyError(413, f"the body is over {max_body} bytes", "body_too_large")
        if inflater is None:
            parts.append(chunk)
            continue
        data = chunk
        while data:
            room = max_decompressed - produced + 1  # one byte more than allowed shows the ceiling is passed
            try:
                out = inflater.decompress(data, room)
            except zlib.error as exc:
                raise BodyError(400, f"the gzip body is broken: {exc}", "bad_gzip") from None
            produced += len(out)
            if produced > max_decompressed:
                raise BodyError(
                    413, f"the body is over {max_decompressed} bytes once decompressed", "decompressed_too_large"
                )
            parts.append(out)
            data = inflater.unconsumed_tail
            if inflater.eof:
                if inflater.unused_data.strip() or data.strip():
                    raise BodyError(400, "data after the end of the gzip stream", "bad_gzip")
                data = b""
    if inflater is not None and not inflater.eof:
        raise BodyError(400, "the gzip body ends early", "bad_gzip")
    body = b"".join(parts)
    if inflater is None and len(body) > max_decompressed:
        raise BodyError(413, f"the body is over {max_decompressed} bytes", "decompressed_too_large")
    return body


_RAW_ARRAY: Final = msgspec.json.Decoder(list[msgspec.Raw])


def split(body: bytes, content_type: str, max_records: int) -> list[bytes]:
    """The body's records, each as its own JSON text, undecoded. BodyError 400 when the body is not a JSON array
    (or NDJSON), 413 past `max_records`."""
    too_many = BodyError(413, f"more than {max_records} records in one request", "too_many_records")
    if content_type == NDJSON:
        if body.count(b"\n") > max_records:  # a line per record; counted before any line is cut out
            raise too_many
        lines = [line for line in body.split(b"\n") if line.strip()]
        if len(lines) > max_records:  # the last line need not end with a newline
            raise too_many
        return lines
    if body.count(b",") >= max_records * _COMMAS_PER_RECORD:
        raise too_many
    try:
        raws = _RAW_ARRAY.decode(body)
    except msgspec.ValidationError:
        raise BodyError(400, "the body must be a JSON array of records", "not_an_array") from None
    except msgspec.DecodeError as exc:
        raise BodyError(400, f"the body is not JSON: {exc}", "not_json") from None
    except RecursionError:
        raise BodyError(400, "the body is not JSON records: nested too deeply", "not_json") from None
    if len(raws) > max_records:
        raise too_many
    return [bytes(raw) for raw in raws]


def check(texts: list[bytes], window: tuple[str, str]) -> Checked:
    """Each record checked by the record's declaration: the one C call that decodes and checks it, and for a
    refused one every reason, as the consumer explains a dead letter. A valid record dated outside `window`
    (`core.schema.event_window`: the first and last dates accepted) is refused as the consumer refuses it,
    `out_of_window`."""
    checked = Checked()
    accepted, refused = checked.accepted, checked.refused
    encode = msgspec.json.encode
    earliest, latest = window
    for index, text in enumerate(texts):
        try:
            record: MinuteRecord = decode_record(text)
        except (msgspec.DecodeError, RecursionError):
            try:
                decode(text)
            except InvalidRecord as exc:
                refused.append((index, exc.reasons))
            else:  # the two checks accept the same records (a property test of the schema says so)
                refused.append((index, ["refused by the record's declaration"]))
            continue
        if not earliest <= record.date <= latest:
            refused.append((index, [window_reason(record.date, earliest, latest) or OUT_OF_WINDOW]))
            continue
        accepted.append((index, record.id, encode(record)))
    return checked


def reason_kind(reasons: list[str]) -> str:
    """The bounded label of a refusal, for the metrics (the reasons themselves carry values)."""
    first = reasons[0] if reasons else ""
    for prefix, kind in (
        ("not UTF-8", "not_utf8"),
        ("not JSON", "not_json"),
        ("expected a JSON object", "not_an_object"),
        ("user ", "user_not_allowed"),
        (OUT_OF_WINDOW, OUT_OF_WINDOW),
    ):
        if first.startswith(prefix):
            return kind
    return "invalid_fields"
