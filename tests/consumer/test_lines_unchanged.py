"""The lake lines are byte for byte what they were before the declarative record: `schema.encode` of the message as
orjson parses it (fields in schema order, orjson's spelling of every number), on real Fitabase rows and on any valid
record, whatever the message's field order, whitespace or number spelling."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.schema import encode
from services.consumer.records import to_line
from services.producer.replay import load
from tests.strategies import records

#: Real rows checked: enough to cover every user, sleep logs and heart-rate minutes in the first days.
FITABASE_ROWS = 300_000


def _line_before(message: bytes) -> bytes:
    """The line the consumer wrote for a valid message before: orjson's parse, written in schema order."""
    return encode(orjson.loads(message))


def _spellings(record: dict) -> list[bytes]:
    """The same record as a producer might send it: compact, indented, fields reversed, whole doubles as integers."""
    reversed_fields = dict(reversed(list(record.items())))
    as_integers = {
        k: int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else v for k, v in record.items()
    }
    return [
        encode(record),
        orjson.dumps(record, option=orjson.OPT_INDENT_2),
        orjson.dumps(reversed_fields),
        orjson.dumps(as_integers),
    ]


@given(records())
def test_lines_are_unchanged_for_any_valid_record(record: dict) -> None:
    for message in _spellings(record):
        dt, line = to_line(message)
        assert line == _line_before(message)
        assert dt == record["date"]


@given(records(), st.sampled_from(["1.10", "1e0", "0.25E1", "2.50", "-0.0", "0", "1", "3"]))
def test_lines_are_unchanged_for_each_spelling_of_a_number(record: dict, spelling: str) -> None:
    record.update(sleep_value=0.0, logid=0 if float(spelling) == 0 else 11380564589)
    message = encode(record).replace(b'"sleep_value":0.0', b'"sleep_value":' + spelling.encode())
    assert to_line(message)[1] == _line_before(message)


@pytest.mark.slow
def test_lines_are_unchanged_on_real_fitabase_rows(fitabase_dir: Path) -> None:
    checked = 0
    for record in itertools.islice(load(fitabase_dir).records(), FITABASE_ROWS):
        message = encode(record)
        assert to_line(message) == (record["date"], _line_before(message)), record
        checked += 1
    assert checked == FITABASE_ROWS
