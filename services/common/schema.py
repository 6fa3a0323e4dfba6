"""The record: one user's minute, as the Fitabase Fitbit export has it.

This module is the one definition of the record. The producer encodes with it, the consumer validates with it,
the Glue table's columns and the local SQL engine's column types are derived from it, and the tests build their
samples from it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

#: The Glue/Hive column type of each kind of field, and the DuckDB type that matches Athena's reading of it.
_DUCKDB_TYPES: Final = {"bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "string": "VARCHAR"}
_PYTHON_TYPES: Final = {"bigint": int, "int": int, "double": float, "string": str}

_INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Field:
    """One column of the record, with the rule a valid value obeys."""

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
    def python_type(self) -> type:
        return _PYTHON_TYPES[self.type]


FIELDS: Final[tuple[Field, ...]] = (
    Field("id", "bigint", "Fitbit user id", minimum=1, maximum=_INT64_MAX),
    Field("date", "string", "event date, YYYY-MM-DD", pattern=r"\d{4}-\d{2}-\d{2}"),
    Field("time", "string", "event time of the minute, HH:MM:SS", pattern=r"\d{2}:\d{2}:\d{2}"),
    Field("calories", "double", "kcal burnt in the minute", minimum=0, maximum=100),
    Field("intensity", "int", "0 sedentary, 1 light, 2 fairly active, 3 very active", minimum=0, maximum=3),
    Field("mets", "int", "metabolic equivalents x 10, as Fitbit stores them", minimum=0, maximum=300),
    Field("steps", "int", "steps in the minute", minimum=0, maximum=300),
    Field("sleep_value", "double", "0 not in bed, 1 asleep, 2 restless, 3 awake", minimum=0, maximum=3),
    Field("logid", "bigint", "sleep log id; 0 outside a sleep log", minimum=0, maximum=_INT64_MAX),
    Field(
        "heartrate",
        "int",
        "mean heart rate in the minute (bpm); null without a sensor",
        minimum=20,
        maximum=250,
        nullable=True,
    ),
)

FIELD_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS)
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


#: The Iceberg type of each kind of field (the curated table's columns).
_ICEBERG_TYPES: Final = {"bigint": "long", "int": "int", "double": "double", "string": "string"}


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
        return f"{field.name}: {value!r} is below {field.minimum:g}"
    if field.maximum is not None and value > field.maximum:
        return f"{field.name}: {value!r} is above {field.maximum:g}"
    if field.pattern is not None:
        if not _PATTERNS[field.name].fullmatch(value):
            return f"{field.name}: {value!r} does not match {field.pattern}"
        parse = dt.date.fromisoformat if field.name == "date" else dt.time.fromisoformat
        try:
            parse(value)
        except ValueError:
            return f"{field.name}: {value!r} is not a real {field.name}"
    return None


def validate(record: Any) -> list[str]:
    """Every reason `record` is not a valid record; an empty list when it is valid."""
    if not isinstance(record, Mapping):
        return [f"expected a JSON object, got {type(record).__name__}"]
    reasons = [f"{name}: missing" for name in FIELD_NAMES if name not in record]
    reasons += [f"{name}: unexpected field" for name in record if name not in _FIELD_SET]
    for field in FIELDS:
        if field.name in record:
            reason = _check_value(field, record[field.name])
            if reason:
                reasons.append(reason)
    if not reasons:
        in_bed = record["sleep_value"] != 0
        in_log = record["logid"] != 0
        if in_bed != in_log:
            reasons.append("sleep_value and logid: a minute is in bed exactly when it is inside a sleep log")
    return reasons


# -- The fast check ----------------------------------------------------------------------------------------------
# `validate` explains; `is_valid` only answers, on the consumer's hot path. Checking a valid record field by field
# with `validate` costs about 10 µs, too slow for 100,000 records/s on one core, so `is_valid` is straight-line code
# generated from the same FIELDS table. It accepts exactly what `validate` accepts (a property test checks this).

#: Valid dates and times seen so far: a stream has few distinct ones (one per day, 1,440 minutes).
_VALID_STRINGS: dict[str, set[str]] = {}
_CACHE_LIMIT = 100_000


def _string_check(name: str, pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    parse = dt.date.fromisoformat if name == "date" else dt.time.fromisoformat
    seen = _VALID_STRINGS.setdefault(name, set())

    def check(value: str) -> bool:
        if value in seen:
            return True
        if not compiled.fullmatch(value):
            return False
        try:
            parse(value)
        except ValueError:
            return False
        if len(seen) < _CACHE_LIMIT:
            seen.add(value)
        return True

    return check


def _compile_is_valid() -> Callable[[Any], bool]:
    """Generate `is_valid` from FIELDS: straight-line code, one test per field, is three times faster than a loop."""
    lines = [
        "def is_valid(record):",
        f"    if type(record) is not dict or len(record) != {len(FIELD_NAMES)}:",
        "        return False",
        "    try:",
    ]
    namespace: dict[str, Any] = {"isfinite": math.isfinite}
    for i, field in enumerate(FIELDS):
        lines.append(f"        v = record[{field.name!r}]")
        if field.type == "string":
            check = f"check_{i}"
            namespace[check] = _string_check(field.name, field.pattern) if field.pattern else (lambda _v: True)
            namespace[f"seen_{i}"] = _VALID_STRINGS.get(field.name, set())
            bad = f"type(v) is not str or (v not in seen_{i} and not {check}(v))"
        else:
            bad = "(type(v) is not float and type(v) is not int)" if field.type == "double" else "type(v) is not int"
            lo = "" if field.minimum is None else f"{field.minimum!r} <= "
            hi = "" if field.maximum is None else f" <= {field.maximum!r}"
            if lo or hi:
                bad += f" or not ({lo}v{hi})"
            if field.type == "double" and (field.minimum is None or field.maximum is None):
                bad += " or not isfinite(v)"
        if field.nullable:  # otherwise the type test refuses None
            bad = f"v is not None and ({bad})"
        lines += [f"        if {bad}:", "            return False"]
    lines += [
        "    except KeyError:",
        "        return False",
        '    return (record["sleep_value"] != 0) == (record["logid"] != 0)',
    ]
    exec(compile("\n".join(lines), "<records.is_valid>", "exec"), namespace)
    return namespace["is_valid"]


#: True exactly when `validate(record)` is empty, for anything orjson can parse.
is_valid: Callable[[Any], bool] = _compile_is_valid()


def encode(record: Record) -> bytes:
    """The record as compact JSON, fields in schema order."""
    return orjson.dumps({name: record[name] for name in FIELD_NAMES})


def decode(data: bytes) -> Record:
    """Parse and validate one message. Raises InvalidRecord with every reason it is not a record."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRecord([f"not UTF-8: {exc.reason} at byte {exc.start}"]) from None
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord([f"not JSON: {exc}"]) from None
    reasons = validate(record)
    if reasons:
        raise InvalidRecord(reasons)
    return record


def partition_of(record: Record) -> str:
    """The Hive partition value of a record: its event date."""
    return str(record["date"])
