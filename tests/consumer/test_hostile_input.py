"""Hostile single messages through the real consumer on a real broker, each between good records on one partition:
none stops, stalls or crashes the consumer. Each goes to the dead-letter topic with its reason, the good records
around it land, and the group's committed offset reaches the end of the partition."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Message
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from core import metric_names as m
from core.schema import decode_struct, encode, encode_records
from services.consumer.records import REASON_MAX_CHARS
from services.consumer.sinks import LocalSink
from services.consumer.writer import LakeWriter, Summary
from tests.consumer.conftest import (
    Background,
    committed_offsets,
    create_topic,
    free_port,
    headers_of,
    identity_multiset,
    lake_records,
    make_records,
    produce,
    produce_records,
    read_all,
    settings_for,
    wait_until,
)
from tests.strategies import sample_record

pytestmark = pytest.mark.integration

#: Long enough for a few batches on a loaded machine; a consumer that stalls or crashes never gets there.
RUN_TIMEOUT_S = 90


def land(writer: LakeWriter) -> Summary:
    """Run the writer until it has caught up; fails (stopping it) if it crashes or has not caught up in time."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["summary"] = writer.run(until_caught_up=True)
        except BaseException as exc:  # the test reports it
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(RUN_TIMEOUT_S)
    if thread.is_alive():
        writer.force_stop.set()
        writer.stop_event.set()
        thread.join(30)
        pytest.fail(f"the consumer had not caught up after {RUN_TIMEOUT_S} s: stalled")
    if "error" in outcome:
        raise AssertionError(f"the consumer crashed: {outcome['error']!r}") from outcome["error"]  # type: ignore[misc]
    return outcome["summary"]  # type: ignore[return-value]


def run_between_good_records(
    bootstrap: str,
    topic: str,
    lake: Path,
    bad: list[bytes],
    dlq_config: dict[str, str] | None = None,
    keys: list[bytes | None] | None = None,
    **settings: object,
) -> tuple[list[Message], list[dict]]:
    """Produce a good record, then each bad message (with its key of `keys`) followed by a good record, on one
    partition; land them all. Checks what every such run must show; returns the dead letters and the good records."""
    good = make_records(len(bad) + 1, seed=len(bad))
    values: list[bytes] = [encode(good[0])]
    message_keys: list[bytes | None] = [None]
    for message, key, record in zip(bad, keys or [None] * len(bad), good[1:], strict=True):
        values += [message, encode(record)]
        message_keys += [key, None]
    create_topic(bootstrap, topic, partitions=1)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(f"{topic}.dlq", 1, 1, config=dlq_config or {})])[f"{topic}.dlq"].result(30)
    produce(bootstrap, topic, values, message_keys)
    writer = LakeWriter(settings_for(bootstrap, topic, lake_dir=lake, **settings))
    summary = land(writer)
    assert identity_multiset(lake_records(LocalSink(lake))) == identity_multiset(good), "every good record lands"
    assert summary.dead_letters == len(bad)
    assert committed_offsets(bootstrap, f"group-{topic}", topic, 1) == [len(values)], "the partition moves on"
    letters = read_all(bootstrap, f"{topic}.dlq", len(bad))
    assert sorted(int(headers_of(x)["source.offset"]) for x in letters) == list(range(1, len(values), 2))
    for letter in letters:
        assert len(headers_of(letter)["reason"]) <= REASON_MAX_CHARS
    return letters, good


def _good(**overrides: object) -> dict:
    return sample_record(**overrides)


def test_invalid_utf8_inside_a_json_string_is_a_dead_letter(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    good = encode(_good())
    bad = [
        good.replace(b'"2016-04-12"', b'"2016-04-\xff2"'),  # msgspec: UnicodeDecodeError, not DecodeError
        good.replace(b'"00:00:00"', b'"00:\xc0\x80:00"'),  # an overlong encoding of NUL
        good.replace(b'"date"', b'"da\xed\xa0\x80te"'),  # a surrogate, in a key
    ]
    letters, _ = run_between_good_records(kafka_bootstrap, topic_name, tmp_path, bad)
    assert sorted(x.value() for x in letters) == sorted(bad), "each dead letter holds its message"
    assert all(headers_of(x)["reason"].startswith(b"not UTF-8") for x in letters)


def test_a_600_kB_string_field_is_dead_lettered_with_a_short_reason(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    huge = orjson.dumps(_good(date="2016-04-" + "1" * 600_000))
    letters, _ = run_between_good_records(kafka_bootstrap, topic_name, tmp_path, [huge])
    (letter,) = letters
    reason = headers_of(letter)["reason"].decode()
    assert reason.startswith("date: '2016-04-111") and len(reason) < 200, reason
    assert letter.value() == huge, "the whole value, within the limit"


def test_dead_letters_fit_the_dead_letter_topic_s_limit_read_from_the_broker(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    limit = 50_000
    big_value = orjson.dumps(_good(note="v" * 200_000))
    small_value, big_key = b"not a record", b"k" * 100_000
    letters, _ = run_between_good_records(
        kafka_bootstrap,
        topic_name,
        tmp_path,
        [big_value, small_value],
        {"max.message.bytes": str(limit)},
        keys=[b"user-1", big_key],
    )
    for letter in letters:
        size = len(letter.value() or b"") + len(letter.key() or b"")
        size += sum(len(k) + len(v) for k, v in headers_of(letter).items())
        assert size < limit, "value, key and headers fit the topic's max.message.bytes"
    cut = next(x for x in letters if x.key() == b"user-1")
    assert headers_of(cut)["truncated.from.bytes"] == str(len(big_value)).encode()
    assert big_value.startswith(cut.value()), "the head of the value"
    assert len(cut.value()) > limit * 0.9, "cut to the limit, not to nothing"
    keyless = next(x for x in letters if x.value() == small_value)
    assert keyless.key() is None, "a key the topic cannot take goes, named by its length and digest"
    assert headers_of(keyless)["key.length"] == b"100000"
    assert headers_of(keyless)["key.sha256"] == hashlib.sha256(big_key).hexdigest().encode()


def test_a_dead_letter_refused_as_too_large_is_sent_once_without_its_value(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    """The dead-letter topic's limit is lowered after the consumer read it: the broker refuses the next letter as too
    large. That is handled once: the letter goes again, without its value, its length and SHA-256 in headers."""
    create_topic(kafka_bootstrap, topic_name, partitions=1)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    first = [b"not a record"] + [encode(r) for r in make_records(3, seed=1)]
    produce(kafka_bootstrap, topic_name, first)
    settings = settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, flush_interval_s=0.5)
    writer = LakeWriter(settings)
    with Background(writer):
        assert wait_until(lambda: writer.summary.dead_letters == 1, 60), "the first letter, at the topic's limit"
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        resource = ConfigResource(
            ResourceType.TOPIC,
            f"{topic_name}.dlq",
            incremental_configs=[
                ConfigEntry("max.message.bytes", "20000", incremental_operation=AlterConfigOpType.SET)
            ],
        )
        admin.incremental_alter_configs([resource])[resource].result(30)
        large = b"\xff" + random.Random(5).randbytes(150_000)  # incompressible: lz4 does not bring it under 20 kB
        produce(kafka_bootstrap, topic_name, [large, *[encode(r) for r in make_records(2, seed=2)]])
        assert wait_until(lambda: writer.summary.dead_letters == 2, RUN_TIMEOUT_S), "not stalled on the refusal"
        assert wait_until(lambda: committed_offsets(kafka_bootstrap, f"group-{topic_name}", topic_name, 1) == [7], 30)
        retries = writer.summary.storage_retries
    assert retries == 0, "a refusal as too large is not retried"
    letters = read_all(kafka_bootstrap, f"{topic_name}.dlq", 2)
    assert len(letters) == 2
    refused = next(x for x in letters if headers_of(x)["source.offset"] == b"4")
    headers = headers_of(refused)
    assert refused.value() is None
    assert headers["value.length"] == str(len(large)).encode()
    assert headers["value.sha256"] == hashlib.sha256(large).hexdigest().encode()
    assert headers["reason"].startswith(b"not UTF-8")


def test_records_dated_outside_the_event_window_are_dead_lettered(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    bad = [encode(_good(date="9999-12-31")), encode(_good(date="0001-01-01")), encode(_good(date="2015-12-31"))]
    letters, good = run_between_good_records(kafka_bootstrap, topic_name, tmp_path, bad)
    reasons = sorted(headers_of(x)["reason"].decode() for x in letters)
    assert all(r.startswith("out_of_window: date ") for r in reasons), reasons
    assert {p.name for p in tmp_path.rglob("dt=*")} == {f"dt={r['date']}" for r in good}, "no folder of its own"


def test_a_record_dated_9999_12_31_leaves_the_freshness_metric_rising(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    """The freshness alarm watches `fitness_consumer_data_freshness_seconds`: after a far-future record, while only
    stale data lands, it must keep rising, not sit at 0."""
    from tests.integration.test_metrics import scrape, value

    create_topic(kafka_bootstrap, topic_name, partitions=1)
    create_topic(kafka_bootstrap, f"{topic_name}.dlq", partitions=1)
    port = free_port()
    settings = settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path, metrics_port=port, flush_interval_s=0.5)
    url = f"http://127.0.0.1:{port}/metrics"
    with Background(LakeWriter(settings)) as running:
        summary = running.writer.summary
        produce(kafka_bootstrap, topic_name, [encode(_good(date="9999-12-31", time="23:59:59"))])
        produce_records(kafka_bootstrap, topic_name, make_records(5, seed=4))
        assert wait_until(lambda: summary.records_out + summary.dead_letters == 6, 60)
        readings = []
        for n in range(1, 4):
            stale = make_records(3, seed=n + 10)  # dated 2016: stale data, landing
            produce_records(kafka_bootstrap, topic_name, stale)
            assert wait_until(lambda n=n: summary.records_out + summary.dead_letters == 6 + 3 * n, 60)
            readings.append(value(scrape(url), m.CONSUMER_FRESHNESS.name))
            time.sleep(1.1)
        dead = dict(summary.dead_letters_by_reason)
    assert all(r is not None and r > 10 * 365 * 86_400 for r in readings), f"the freshness is stale: {readings}"
    assert readings == sorted(readings) and readings[-1] - readings[0] >= 2, f"the freshness rises: {readings}"
    assert dead == {"out_of_window": 1}


def test_duplicate_keys_are_refused_by_both_decoders_naming_the_key(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    good = encode(_good())
    bad = [
        # the hot path refuses it (300 is out of range); the reason-finding path used to land it with 60
        good.replace(b'"heartrate":66', b'"heartrate":300,"heartrate":60'),
        # both values valid: the hot path used to land it with the last
        good.replace(b'"steps":0', b'"steps":5,"steps":7'),
        good.replace(b'"date":"2016-04-12"', b'"date":"2016-04-13","date":"2016-04-12"'),
    ]
    letters, _ = run_between_good_records(kafka_bootstrap, topic_name, tmp_path, bad)
    reasons = {x.value(): headers_of(x)["reason"].decode() for x in letters}
    assert "heartrate: duplicate key" in reasons[bad[0]]
    assert "steps: duplicate key" in reasons[bad[1]]
    assert "date: duplicate key" in reasons[bad[2]]


def test_an_id_beyond_64_bits_is_named_as_the_integer_it_is(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    bad = [encode(_good()).replace(b"1503960366", str(2**70).encode())]
    letters, _ = run_between_good_records(kafka_bootstrap, topic_name, tmp_path, bad)
    reason = headers_of(letters[0])["reason"].decode()
    assert "float" not in reason, reason
    assert reason == f"id: {2**70} is above 9.22337e+18", reason


def test_a_duplicate_key_in_a_run_whose_lengths_balance_out_is_a_dead_letter(
    kafka_bootstrap: str, topic_name: str, tmp_path: Path
) -> None:
    # A run of one partition is landed at once. Its messages add up to exactly as many bytes as its lake lines: the
    # duplicate key's 7 bytes are made up by shorter floats (`1e-5` for `0.00001`, `1e-3` for `0.001`), so only a
    # count of its quotes finds the duplicate.
    good = [sample_record(time=f"00:{minute:02d}:00") for minute in range(14)]
    doubled = encode(sample_record(time="00:14:00", calories=0.00001, sleep_value=0.00001, logid=1))
    doubled = doubled.replace(b'{"id":', b'{"id":7,"id":', 1).replace(b"0.00001", b"1e-5")
    short = sample_record(time="00:15:00", calories=0.001)
    values = [*map(encode, good), doubled, encode(short).replace(b"0.001", b"1e-3")]
    lines = encode_records([decode_struct(v) for v in values])  # what the run lands, had it no duplicate
    assert len(lines) == sum(map(len, values)) + len(values), "the run's lengths balance out"
    create_topic(kafka_bootstrap, topic_name, partitions=1)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(f"{topic_name}.dlq", 1, 1)])[f"{topic_name}.dlq"].result(30)
    produce(kafka_bootstrap, topic_name, values, [None] * len(values))
    summary = land(LakeWriter(settings_for(kafka_bootstrap, topic_name, lake_dir=tmp_path)))
    assert summary.dead_letters == 1
    assert identity_multiset(lake_records(LocalSink(tmp_path))) == identity_multiset([*good, short])
    (letter,) = read_all(kafka_bootstrap, f"{topic_name}.dlq", 1)
    assert headers_of(letter)["reason"].decode() == "id: duplicate key"
    assert int(headers_of(letter)["source.offset"]) == 14
