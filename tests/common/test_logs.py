"""The services' JSON log lines: one object a line, with the event's fields."""

from __future__ import annotations

import io

import orjson

from services.common import logs


def test_a_field_keyed_by_partition_number_is_written_as_json() -> None:
    stream = io.StringIO()
    logs.configure("services.test_logs", json=True, stream=stream)
    logs.EventLog("services.test_logs").info("partitions assigned", partitions={0: 12, 2: -2})
    line = orjson.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "partitions assigned"
    assert line["partitions"] == {"0": 12, "2": -2}
