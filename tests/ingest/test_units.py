"""The service's own logic, alone: the body reader's limits, the record check, the key store, the rate and the
idempotency window."""

from __future__ import annotations

import asyncio
import gzip
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from services.ingest import keys
from services.ingest.body import NDJSON, BodyError, check, read_body, reason_kind, split
from services.ingest.limits import IdempotencyStore, RateLimiter, StoredResponse
from tests.strategies import sample_record


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def _read(data: bytes, gzipped: bool = False, max_body: int = 1 << 20, max_decompressed: int = 1 << 22) -> bytes:
    return asyncio.run(read_body(_chunks(data), gzipped=gzipped, max_body=max_body, max_decompressed=max_decompressed))


def test_the_body_is_read_and_gunzipped():
    data = orjson.dumps([sample_record()] * 100)
    assert _read(data) == data
    assert _read(gzip.compress(data), gzipped=True) == data


@pytest.mark.parametrize(
    ("data", "gzipped", "status", "kind"),
    [
        (b"x" * 2_000_000, False, 413, "body_too_large"),
        (gzip.compress(b" " * 5_000_000), True, 413, "decompressed_too_large"),
        (b"not gzip at all", True, 400, "bad_gzip"),
        (gzip.compress(b"[]")[:-6], True, 400, "bad_gzip"),
        (gzip.compress(b"[]") + b"trailing", True, 400, "bad_gzip"),
    ],
)
def test_the_body_reader_refuses(data: bytes, gzipped: bool, status: int, kind: str):
    with pytest.raises(BodyError) as caught:
        _read(data, gzipped)
    assert (caught.value.status, caught.value.kind) == (status, kind)


def test_a_bomb_stops_at_the_ceiling_not_after_it():
    """The inflater is never asked for more than one byte past the ceiling: a 100 MB bomb costs nothing."""
    bomb = gzip.compress(b"\0" * 100_000_000, 9)
    with pytest.raises(BodyError) as caught:
        _read(bomb, gzipped=True, max_decompressed=1 << 20)
    assert caught.value.kind == "decompressed_too_large"


def test_split_json_and_ndjson():
    one, two = orjson.dumps(sample_record()), orjson.dumps(sample_record(time="00:01:00"))
    assert split(b"[" + one + b"," + two + b"]", "application/json", 10) == [one, two]
    assert split(one + b"\n\n" + two + b"\n", NDJSON, 10) == [one, two]
    with pytest.raises(BodyError) as caught:
        split(b"[" + b",".join([one] * 11) + b"]", "application/json", 10)
    assert caught.value.status == 413


def test_check_keeps_the_schema_rules():
    good = sample_record()
    texts = [orjson.dumps(good), orjson.dumps({**good, "heartrate": 400}), b"[]", b'{"id": 1']
    checked = check(texts, ("2016-01-01", "2100-01-01"))
    assert [(i, u) for i, u, _ in checked.accepted] == [(0, good["id"])]
    assert orjson.loads(checked.accepted[0][2]) == good
    assert [i for i, _ in checked.refused] == [1, 2, 3]
    assert any("heartrate" in r for r in checked.refused[0][1])


def test_keys_store_only_hashes_and_are_bound_to_users(tmp_path: Path):
    store = tmp_path / "keys.json"
    key, entry = keys.create(store, "watch", [3, 1, 3])
    assert entry.users == [1, 3]
    text = store.read_text()
    assert key.split("_", 2)[2] not in text and entry.sha256 in text
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    checker = keys.KeyChecker(store, recheck_s=0)
    client = checker.client(key)
    assert client is not None and client.users == frozenset({1, 3})
    assert checker.client(key + "x") is None
    assert checker.client("fpk_" + entry.id + "_") is None
    assert checker.client("something else") is None
    keys.revoke(store, entry.id)
    assert checker.client(key) is None
    assert json.loads(store.read_text())["keys"][0]["revoked"]


@pytest.mark.parametrize(("client", "users"), [("", [1]), ("x", []), ("x", [0])])
def test_a_key_needs_a_client_and_users(tmp_path: Path, client: str, users: list[int]):
    with pytest.raises(keys.KeyStoreError):
        keys.create(tmp_path / "k.json", client, users)


def test_a_broken_store_is_a_key_store_error(tmp_path: Path):
    store = tmp_path / "k.json"
    store.write_text("{")
    with pytest.raises(keys.KeyStoreError, match="not a key store"):
        keys.entries(store)
    with pytest.raises(keys.KeyStoreError, match="no key"):
        keys.revoke(tmp_path / "empty.json", "abc")


def test_the_rate_limiter_allows_the_burst_then_the_rate():
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0, 0, 0]
    assert limiter.take("a", now=0.0) == pytest.approx(0.5)
    assert limiter.take("b", now=0.0) == 0  # per client
    assert limiter.take("a", now=1.0) == 0  # two tokens back after a second


def test_the_idempotency_store_replays_only_the_same_body_and_only_a_200():
    async def scenario() -> None:
        store = IdempotencyStore(window_s=60, max_keys=10)
        assert await store.begin("c", "k", b"1") is None
        waiting = asyncio.ensure_future(store.begin("c", "k", b"1"))  # a retry while the first is in flight
        await asyncio.sleep(0)
        store.finish("c", "k", StoredResponse(200, b"{}"))
        assert await waiting == StoredResponse(200, b"{}")
        assert await store.begin("c", "k", b"2") is False
        assert await store.begin("other", "k", b"2") is None  # keys are per client
        store.finish("other", "k", None)  # not kept: the key may be used again
        assert await store.begin("other", "k", b"3") is None

    asyncio.run(scenario())


def test_the_idempotency_window_ends():
    async def scenario() -> None:
        store = IdempotencyStore(window_s=0.01, max_keys=10)
        assert await store.begin("c", "k", b"1") is None
        store.finish("c", "k", StoredResponse(200, b"{}"))
        await asyncio.sleep(0.05)
        assert await store.begin("c", "k", b"2") is None

    asyncio.run(scenario())


def test_check_refuses_what_the_consumer_dead_letters_duplicate_keys_and_dates_outside_the_window():
    good = sample_record(date="2016-04-12")
    line = orjson.dumps(good)
    duplicate = line[:-1] + b',"heartrate":60}'
    texts = [
        line,
        duplicate,
        orjson.dumps({**good, "date": "9999-12-31"}),
        orjson.dumps({**good, "date": "2015-12-31"}),
    ]
    checked = check(texts, ("2016-01-01", "2016-05-01"))
    assert [i for i, _, _ in checked.accepted] == [0]
    refused = dict(checked.refused)
    assert refused[1] == ["heartrate: duplicate key"]
    assert refused[2] == ["out_of_window: date 9999-12-31 is after 2016-05-01"]
    assert refused[3] == ["out_of_window: date 2015-12-31 is before 2016-01-01"]
    assert reason_kind(refused[2]) == "out_of_window"


def test_ndjson_without_a_last_newline_keeps_to_the_record_limit():
    one = orjson.dumps(sample_record())
    assert len(split(b"\n".join([one] * 10), NDJSON, 10)) == 10
    with pytest.raises(BodyError) as caught:
        split(b"\n".join([one] * 11), NDJSON, 10)
    assert caught.value.status == 413
