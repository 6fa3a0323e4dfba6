"""The record: one user's minute, as the Fitabase Fitbit export has it.

This module is the one definition of the record: `MinuteRecord`, a `msgspec.Struct` whose annotations carry each
field's type, range, pattern and comment. The producer encodes with it, the consumer decodes and validates a message
with it in one C call, the Glue table's columns, the Iceberg, Arrow and DuckDB column types are derived from it, and
the tests build their samples from it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import msgspec
import orjson
from msgspec import Meta

_INT64_MAX: Final = 2**63 - 1
_INT32_MAX: Final = 2**31 - 1


def _number(low: float, high: float, comment: str) -> Any:
    """A JSON number within [low, high]. An integer stays an integer, so a lake line keeps the message's `0` (not
    `0.0`), as it always has."""
    return Annotated[
        Annotated[int, Meta(ge=low, le=high)] | Annotated[float, Meta(ge=low, le=high)], Meta(description=comment)
    ]


def _shaped(pattern: str, comment: str) -> Any:
    """A string whose whole value matches `pattern`; `MinuteRecord.__post_init__` checks it (see `_REAL`)."""
    return Annotated[str, Meta(description=comment, extra={"pattern": pattern})]


#: The date and time are strings of a fixed shape (the `pattern` of each), and real ones (no 2016-02-30, no
#: 24:00:00): exactly the strings of that length and those separators that these parsers read. msgspec's own
#: `pattern` constraint would call Python's `re` for each value, which costs more than the rest of the decoding;
#: msgspec's time type accepts fractions and offsets.
_parse_date: Final = dt.date.fromisoformat
_parse_time: Final = dt.time.fromisoformat
_REAL: Final[dict[str, Callable[[str], dt.date | dt.time]]] = {"date": _parse_date, "time": _parse_time}
SLEEP_LOG_RULE: Final = "sleep_value and logid: a minute is in bed exactly when it is inside a sleep log"


class MinuteRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One record: the declaration every other view of the record is derived from."""

    id: Annotated[int, Meta(ge=1, le=_INT64_MAX, description="Fitbit user id")]
    date: _shaped(r"\d{4}-\d{2}-\d{2}", "event date, YYYY-MM-DD")  # type: ignore[valid-type]
    time: _shaped(r"\d{2}:\d{2}:\d{2}", "event time of the minute, HH:MM:SS")  # type: ignore[valid-type]
    calories: _number(0, 100, "kcal burnt in the minute")  # type: ignore[valid-type]
    intensity: Annotated[int, Meta(ge=0, le=3, description="0 sedentary, 1 light, 2 fairly active, 3 very active")]
    mets: Annotated[int, Meta(ge=0, le=300, description="metabolic equivalents x 10, as Fitbit stores them")]
    steps: Annotated[int, Meta(ge=0, le=300, description="steps in the minute")]
    sleep_value: _number(0, 3, "0 not in bed, 1 asleep, 2 restless, 3 awake")  # type: ignore[valid-type]
    logid: Annotated[int, Meta(ge=0, le=_INT64_MAX, description="sleep log id; 0 outside a sleep log")]
    heartrate: Annotated[
        Annotated[int, Meta(ge=20, le=250)] | None,
        Meta(description="mean heart rate in the minute (bpm); null without a sensor"),
    ]

    def __post_init__(self) -> None:
        # msgspec turns a ValueError here into a ValidationError, as it does for its own constraints.
        if (self.sleep_value != 0) != (self.logid != 0):
            raise ValueError(SLEEP_LOG_RULE)
        # The parsers also read other ISO 8601 forms (20160412, 2016-W15-2, 12:00, 12:00:00.5, 12:00:00+01:00); of
        # the strings they read, only YYYY-MM-DD and HH:MM:SS have these lengths and separators.
        date, time = self.date, self.time
        if len(date) != 10 or date[7] != "-":
            raise ValueError(f"date: {date[:20]!r} is not YYYY-MM-DD")
        if len(time) != 8 or time[5] != ":" or time[2] != ":":
            raise ValueError(f"time: {time[:20]!r} is not HH:MM:SS")
        _parse_date(date)
        _parse_time(time)


# -- Views derived from the declaration ----------------------------------------------------------------------------

#: The column type of each kind of field in Glue/Hive, DuckDB (as Athena reads it), Arrow and Iceberg.
_DUCKDB_TYPES: Final = {"bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "string": "VARCHAR"}
_ARROW_TYPES: Final = {"bigint": "int64", "int": "int32", "double": "float64", "string": "string"}
_ICEBERG_TYPES: Final = {"bigint": "long", "int": "int", "double": "double", "string": "string"}
_PYTHON_TYPES: Final = {"bigint": int, "int": int, "double": float, "string": str}


@dataclass(frozen=True, slots=True)
class Field:
    """One column of the record, with the rule a valid value obeys (read from `MinuteRecord`)."""

    name: str
    type: str  # Glue/Hive type: bigint, int, double or string
    comment: str
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    pattern: str | None = None  # for strings: a regular expression the whole value must match

    @property
    def duckdb_type(self) -> str:
        return _DUCKDB_TYPES[self.type]

    @property
    def arrow_type(self) -> str:
        return _ARROW_TYPES[self.type]

    @property
    def python_type(self) -> type:
        return _PYTHON_TYPES[self.type]


def _field(info: msgspec.inspect.Field) -> Field:
    kind: Any = info.type
    comment = ""
    pattern = None
    if isinstance(kind, msgspec.inspect.Metadata):
        comment = kind.extra_json_schema["description"]
        pattern = (kind.extra or {}).get("pattern")
        kind = kind.type
    nullable = False
    if isinstance(kind, msgspec.inspect.UnionType):
        nullable = any(isinstance(t, msgspec.inspect.NoneType) for t in kind.types)
        values = [t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)]
        kind = values[-1]  # an int-or-float number is a double; its bounds are the same in both
        double = len(values) > 1
    else:
        double = isinstance(kind, msgspec.inspect.FloatType)
    if isinstance(kind, msgspec.inspect.StrType):
        return Field(info.name, "string", comment, pattern=pattern)
    if double:
        column = "double"
    else:
        assert isinstance(kind, msgspec.inspect.IntType), kind
        column = "int" if kind.le is not None and kind.le <= _INT32_MAX else "bigint"
    return Field(info.name, column, comment, kind.ge, kind.le, nullable)


_STRUCT_INFO: Final = msgspec.inspect.type_info(MinuteRecord)
assert isinstance(_STRUCT_INFO, msgspec.inspect.StructType)
FIELDS: Final[tuple[Field, ...]] = tuple(_field(f) for f in _STRUCT_INFO.fields)
FIELD_NAMES: Final[tuple[str, ...]] = MinuteRecord.__struct_fields__
FIELDS_BY_NAME: Final[dict[str, Field]] = {f.name: f for f in FIELDS}
_FIELD_SET: Final = frozenset(FIELD_NAMES)
_PATTERNS: Final = {f.name: re.compile(f.pattern) for f in FIELDS if f.pattern}

Record = dict[str, Any]


class InvalidRecord(ValueError):
    """A message that is not a valid record. `reasons` lists every rule it breaks."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def glue_columns() -> list[dict[str, str]]:
    """The Glue table's columns, in record order (the partition column `dt` is not among them)."""
    return [{"name": f.name, "type": f.type, "comment": f.comment} for f in FIELDS]


def iceberg_fields() -> list[dict[str, Any]]:
    """The curated Iceberg table's columns: the record's fields with ids 1..n in record order, required unless
    nullable, then the day partition column `dt` (a string, like the raw table's partition)."""
    fields = [
        {"id": i, "name": f.name, "type": _ICEBERG_TYPES[f.type], "required": not f.nullable, "doc": f.comment}
        for i, f in enumerate(FIELDS, start=1)
    ]
    day = {"id": len(FIELDS) + 1, "name": "dt", "type": "string", "required": True, "doc": "event date, yyyy-MM-dd"}
    return [*fields, day]


def duckdb_columns() -> dict[str, str]:
    """Column name to DuckDB type, for `read_json(columns=...)` over the lake."""
    return {f.name: f.duckdb_type for f in FIELDS}


# -- Validation: the fast answer and the full explanation ----------------------------------------------------------
# On the hot path msgspec decodes and checks a message in one C call (`decode_record`), stopping at the first fault.
# A refused message then goes through `validate`, which names every fault for its dead letter. Both read the one
# declaration above, and accept exactly the same records (a property test checks it).

_DECODER: Final = msgspec.json.Decoder(MinuteRecord)
_ENCODER: Final = msgspec.json.Encoder()

#: msgspec's decode of one message into a checked record, in one C call, stopping at the first fault. It takes the
#: last of duplicate keys: a caller that does not also compare the message's quotes with `RECORD_QUOTES` uses
#: `decode_record`. It raises `msgspec.DecodeError` (or its `ValidationError`), `UnicodeDecodeError` for a bad byte
#: inside a string, `TypeError` for no value: a caller treats any exception as "not a record".
decode_struct: Final[Callable[[bytes], MinuteRecord]] = _DECODER.decode
#: The `"` bytes of every message `decode_struct` accepts without a duplicate key: its keys and its two strings,
#: date and time. Once msgspec has accepted a message, each key is a field and each value valid for it, so the only
#: strings are the field names and dates and times, none holding a quote; a duplicate key adds a key and so two
#: quotes. Comparing the count is how the hot path refuses duplicate keys, at the cost of one pass of `memchr`
#: over bytes already in the cache. A message exactly as long as its lake line (the producer's compact JSON) needs
#: no count: a duplicate key adds at least 7 bytes (`,"id":1`), and a valid message is at most 6 bytes shorter than
#: its line, 3 in each of its two float fields (`9e-5` for `0.00009`); whitespace and escapes only lengthen it.
RECORD_QUOTES: Final = 2 * len(FIELD_NAMES) + 2 * len(_PATTERNS)


def decode_record(data: bytes) -> MinuteRecord:
    """Decode one message into a checked record. Raises `msgspec.DecodeError` for anything that is not a record
    (duplicate keys included); `decode` then gives every reason."""
    try:
        record = _DECODER.decode(data)
    except msgspec.DecodeError:
        raise
    except Exception as exc:  # a bad byte in a string, no value at all
        raise msgspec.DecodeError(f"{type(exc).__name__}: {exc}"[:200]) from None
    if data.count(b'"') != RECORD_QUOTES:
        raise msgspec.ValidationError("duplicate key")
    return record


#: Append a record's lake line (compact JSON, fields in schema order, no newline) to a bytearray: `(record, buffer,
#: -1)`.
encode_record_into: Final = _ENCODER.encode_into
#: The lake lines of many records at once: each record's line and a newline, in the order given.
encode_records: Final[Callable[[list[MinuteRecord]], bytes]] = _ENCODER.encode_lines

#: The most bytes a valid message can be shorter than its lake line, and the fewest a duplicate key adds.
LINE_LONGER_BY_AT_MOST: Final = 6
DUPLICATE_KEY_AT_LEAST: Final = min(len(f',"{name}":1') for name in FIELD_NAMES)

#: A reason quotes at most this many characters of a value or a key, so it stays short whatever the message holds.
QUOTE_MAX: Final = 40


def quote(value: Any) -> str:
    """`repr(value)`, cut to `QUOTE_MAX` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**QUOTE_MAX:
        return f"an integer of {len(str(abs(value)))} digits"  # repr of a huge int alone costs quadratic time
    text = repr(value)
    return text if len(text) <= QUOTE_MAX else f"{text[: QUOTE_MAX - 3]}..."


def _check_value(field: Field, value: Any) -> str | None:
    """The reason `value` is not valid for `field`, or None."""
    if value is None:
        return None if field.nullable else f"{field.name}: must not be null"
    kind = field.type
    if kind in ("int", "bigint"):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{field.name}: expected an integer, got {type(value).__name__}"
    elif kind == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{field.name}: expected a number, got {type(value).__name__}"
        if not math.isfinite(value):
            return f"{field.name}: must be finite"
    elif not isinstance(value, str):
        return f"{field.name}: expected a string, got {type(value).__name__}"
    if field.minimum is not None and value < field.minimum:
        return f"{field.name}: {quote(value)} is below {field.minimum:g}"
    if field.maximum is not None and value > field.maximum:
        return f"{field.name}: {quote(value)} is above {field.maximum:g}"
    if field.pattern is not None:
        if not _PATTERNS[field.name].fullmatch(value):
            return f"{field.name}: {quote(value)} does not match {field.pattern}"
        try:
            _REAL[field.name](value)
        except ValueError:
            return f"{field.name}: {quote(value)} is not a real {field.name}"
    return None


def validate(record: Any) -> list[str]:
    """Every reason `record` is not a valid record; an empty list when it is valid."""
    if not isinstance(record, Mapping):
        return [f"expected a JSON object, got {type(record).__name__}"]
    reasons = [f"{name}: missing" for name in FIELD_NAMES if name not in record]
    reasons += [f"{_name(name)}: unexpected field" for name in record if name not in _FIELD_SET]
    for field in FIELDS:
        if field.name in record:
            reason = _check_value(field, record[field.name])
            if reason:
                reasons.append(reason)
    if not reasons:
        in_bed = record["sleep_value"] != 0
        in_log = record["logid"] != 0
        if in_bed != in_log:
            reasons.append(SLEEP_LOG_RULE)
    return reasons


def is_valid(record: Any) -> bool:
    """True exactly when `validate(record)` is empty, for anything orjson can parse: the declaration's own check."""
    try:
        msgspec.convert(record, MinuteRecord, strict=True)
    except msgspec.ValidationError:
        return False
    return True


def encode(record: Record) -> bytes:
    """The record as compact JSON, fields in schema order."""
    return orjson.dumps({name: record[name] for name in FIELD_NAMES})


def _name(key: Any) -> str:
    """A key as a reason names it: as it is when short and plain, else quoted and cut."""
    return key if isinstance(key, str) and len(key) <= QUOTE_MAX and key.isprintable() else quote(key)


class _Pairs(dict[str, Any]):
    """A JSON object as `json` parses it with `_pairs`: the last value of each key, and the keys given twice."""

    duplicates: list[str]


#: A reason names at most this many duplicate keys (a message may repeat a key thousands of times).
DUPLICATES_NAMED_AT_MOST: Final = 10


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = _Pairs(pairs)
    found.duplicates = []
    if len(found) != len(pairs):
        seen: set[str] = set()
        duplicates: dict[str, None] = {}  # in the order met, each once: linear in the keys, whatever they repeat
        for key, _ in pairs:
            if key in seen:
                duplicates[key] = None
            seen.add(key)
        found.duplicates = list(duplicates)[:DUPLICATES_NAMED_AT_MOST]
    return found


def duplicate_keys(text: str) -> tuple[Any, list[str]]:
    """The top-level value of a JSON text orjson has already accepted, with integers exact (orjson reads one
    beyond 64 bits as a float), and the keys its top-level object gives more than once. Raises `ValueError` or
    `RecursionError` for what Python's `json` cannot read (an integer of thousands of digits, a nesting too deep
    for it); the caller then keeps orjson's value."""
    value = json.loads(text, object_pairs_hook=_pairs)
    return value, list(getattr(value, "duplicates", ()))


def decode(data: bytes) -> Record:
    """Parse and validate one message. Raises InvalidRecord with every reason it is not a record, and nothing else,
    whatever the bytes."""
    try:
        return _decode(data)
    except InvalidRecord:
        raise
    except Exception as exc:  # a parser's surprise is a reason too, never a crash
        raise InvalidRecord([f"not decodable: {type(exc).__name__}"]) from None


def _decode(data: bytes) -> Record:
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord([f"not UTF-8: {exc.reason} at byte {exc.start}"]) from None
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord([f"not JSON: {str(exc)[:200]}"]) from None
    duplicates: list[str] = []
    if isinstance(record, dict):
        # Should Python's parser fail, the message is not a record either way: orjson's value gives the reasons.
        with contextlib.suppress(ValueError, RecursionError):
            record, duplicates = duplicate_keys(text)
    reasons = [f"{_name(key)}: duplicate key" for key in duplicates] + validate(record)
    if reasons:
        raise InvalidRecord(reasons)
    return dict(record)


# -- The event-time window ----------------------------------------------------------------------------------------
#: The reason, and the first word of the reason, of a valid record dated outside the window.
OUT_OF_WINDOW: Final = "out_of_window"


def event_window(earliest: dt.date, now: float, skew_s: float) -> tuple[str, str]:
    """The first and last event dates (YYYY-MM-DD) accepted at Unix time `now`: from `earliest` to the UTC date of
    `now + skew_s`."""
    try:
        latest = dt.datetime.fromtimestamp(now + skew_s, dt.UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):  # beyond the calendar's years (a producer's timestamp): its end
        latest = dt.date.max.isoformat() if now + skew_s > 0 else dt.date.min.isoformat()
    return earliest.isoformat(), latest


def window_reason(date: str, earliest: str, latest: str) -> str | None:
    """Why a valid record's date is outside the window `[earliest, latest]`, or None. Dates of the form
    YYYY-MM-DD compare as strings exactly as they compare as dates."""
    if date < earliest:
        return f"{OUT_OF_WINDOW}: date {date} is before {earliest}"
    if date > latest:
        return f"{OUT_OF_WINDOW}: date {date} is after {latest}"
    return None


def partition_of(record: Record) -> str:
    """The Hive partition value of a record: its event date."""
    return str(record["date"])
