"""From a Kafka message to a lake line: validation with the schema's rules, on a fast path for valid records.

`services.common.schema.decode` gives every reason a message is not a record; it is the authority. Checking a valid
record field by field with it costs about 10 µs, too slow for 100,000 records/s on one core, so valid records take
a path compiled from the same `FIELDS` table: it accepts a record only when `schema.validate` would, and anything it
does not accept goes through `schema.decode` for the reasons (the tests check both agree).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from services.common.schema import FIELD_NAMES, FIELDS, InvalidRecord, Record, decode, encode

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


#: True exactly when `schema.validate(record)` is empty, for anything orjson can parse.
is_valid: Callable[[Any], bool] = _compile_is_valid()


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
