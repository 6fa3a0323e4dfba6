"""The service against a real broker: what it takes, what it refuses, and that a 200 means the records are in
Kafka."""

from __future__ import annotations

import orjson
import pytest

from tests.ingest.conftest import STRANGER, USERS, Ingest, records
from tests.producer.kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def _in_kafka(service: Ingest, bootstrap: str) -> list[tuple[bytes, dict]]:
    return [(m.key(), orjson.loads(m.value())) for m in read_topic(bootstrap, service.topic)]


def test_valid_records_are_in_kafka_when_the_answer_is_200(ingest: Ingest, kafka_bootstrap: str):
    sent = records(50) + records(30, user=USERS[1])
    response = ingest.post(sent)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 80, "refused": []}
    found = _in_kafka(ingest, kafka_bootstrap)

    def order(r: dict) -> tuple:
        return (r["id"], r["date"], r["time"])

    assert sorted((r for _, r in found), key=order) == sorted(sent, key=order), "every record, as sent"
    assert all(key == str(record["id"]).encode() for key, record in found), "the key is the user id"
    # Each user's records keep their order: one key, one partition, in the order sent.
    first_user = [r["time"] for _, r in found if r["id"] == USERS[0]]
    assert first_user == [r["time"] for r in sent if r["id"] == USERS[0]]


def test_each_refused_record_is_listed_by_index_with_its_reasons(ingest: Ingest, kafka_bootstrap: str):
    good = records(3)
    bad_range = {**good[0], "time": "00:10:00", "steps": 100_000}
    unknown = {**good[0], "time": "00:11:00", "colour": "red"}
    sent = [good[0], bad_range, good[1], "not an object", unknown, good[2], {"id": 1}]
    response = ingest.post(sent)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 3
    refused = {item["index"]: item["reasons"] for item in body["refused"]}
    assert sorted(refused) == [1, 3, 4, 6]
    assert any("steps" in reason for reason in refused[1])
    assert refused[3] == ["expected a JSON object, got str"]
    assert refused[4] == ["colour: unexpected field"]
    assert len(refused[6]) == 9  # every missing field, named
    assert sorted(r["time"] for _, r in _in_kafka(ingest, kafka_bootstrap)) == sorted(r["time"] for r in good)


def test_records_the_consumer_would_dead_letter_are_refused(ingest: Ingest, kafka_bootstrap: str):
    good = records(2)
    duplicate = orjson.dumps(good[1])[:-1] + b',"heartrate":60}'
    future = orjson.dumps({**good[0], "date": "9999-12-31"})
    body = b"[" + b",".join([orjson.dumps(good[0]), duplicate, future]) + b"]"
    response = ingest.post(body)
    assert response.status_code == 200, response.text
    refused = {item["index"]: item["reasons"] for item in response.json()["refused"]}
    assert refused[1] == ["heartrate: duplicate key"]
    assert refused[2][0].startswith("out_of_window: date 9999-12-31 is after ")
    assert [r["time"] for _, r in _in_kafka(ingest, kafka_bootstrap)] == [good[0]["time"]]


def test_ndjson_and_gzip_are_taken(ingest: Ingest, kafka_bootstrap: str):
    lines = b"\n".join(orjson.dumps(r) for r in records(20)) + b"\n"
    response = ingest.post(lines, gzipped=True, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 20
    assert len(_in_kafka(ingest, kafka_bootstrap)) == 20


def test_a_record_for_another_user_refuses_the_request_and_nothing_is_produced(ingest: Ingest, kafka_bootstrap: str):
    sent = [*records(5), *records(1, user=STRANGER)]
    response = ingest.post(sent)
    assert response.status_code == 403
    body = response.json()
    assert body["kind"] == "forbidden_user"
    assert [item["index"] for item in body["refused"]] == [5]
    assert ingest.post(records(1)).status_code == 200  # the same client, its own user: taken
    assert [r["id"] for _, r in _in_kafka(ingest, kafka_bootstrap)] == [USERS[0]]


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer fpk_nope_nope", 401), ("Basic dXNlcjpwYXNz", 401), ("Bearer fpk_", 401)],
)
def test_no_valid_key_is_401(ingest: Ingest, authorization: str | None, status: int):
    headers = {"Authorization": authorization} if authorization is not None else {}
    import httpx

    sent = {"Content-Type": "application/json", **headers}
    response = httpx.post(f"{ingest.url}/v1/records", content=orjson.dumps(records(1)), headers=sent)
    assert response.status_code == status
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_key_stops_working(ingest: Ingest):
    import time

    from services.ingest import keys

    assert ingest.post(records(1)).status_code == 200
    (entry,) = keys.entries(ingest.keys_file)
    keys.revoke(ingest.keys_file, entry.id)
    deadline = time.monotonic() + 10
    while ingest.post(records(1, start_minute=1)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ingest.post(records(1, start_minute=2)).status_code == 401
    assert "sha256" in ingest.keys_file.read_text() and ingest.key.split("_", 2)[2] not in ingest.keys_file.read_text()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/xml"}, 415),
        ({"Content-Encoding": "br"}, 415),
    ],
)
def test_other_media_types_and_encodings_are_415(ingest: Ingest, headers: dict, status: int):
    assert ingest.post(records(1), headers=headers).status_code == status


def test_idempotent_retry_gets_the_first_answer_and_produces_nothing_again(ingest: Ingest, kafka_bootstrap: str):
    sent = records(10)
    first = ingest.post(sent, headers={"Idempotency-Key": "batch-1"})
    again = ingest.post(sent, headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert again.headers.get("idempotent-replayed") == "true"
    other_body = ingest.post(records(2, start_minute=100), headers={"Idempotency-Key": "batch-1"})
    assert other_body.status_code == 422
    assert len(_in_kafka(ingest, kafka_bootstrap)) == 10


def test_over_the_rate_is_429_with_retry_after(kafka_bootstrap: str, topic_name: str, tmp_path):
    from tests.ingest.conftest import start_ingest, stop_ingest

    service = start_ingest(kafka_bootstrap, topic_name, tmp_path, rate_per_client=1, rate_burst=2)
    try:
        statuses = [service.post([]).status_code for _ in range(4)]
        assert statuses[:2] == [200, 200]
        limited = service.post([])
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
    finally:
        stop_ingest(service)


def test_openapi_document_is_served(ingest: Ingest):
    import httpx

    doc = httpx.get(f"{ingest.url}/openapi.json").json()
    operation = doc["paths"]["/v1/records"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "413", "415", "429", "503"}
    items = operation["requestBody"]["content"]["application/json"]["schema"]["items"]
    assert items["$ref"] == "#/components/schemas/MinuteRecord"
    assert set(doc["components"]["schemas"]["MinuteRecord"]["required"]) >= {"id", "date", "time"}


def test_a_full_client_queue_waits_for_room_and_keeps_the_order(kafka_bootstrap: str, topic_name: str):
    """The client's queue holds 10 messages here: a request of 500 waits for room, in order, and all 500 land."""
    import asyncio

    from services.ingest.producing import DurableProducer, ensure_topic, ingest_producer_config

    config = ingest_producer_config(kafka_bootstrap, "lz4", 10, **{"queue.buffering.max.messages": 10})
    ensure_topic(config, topic_name, 1)
    producer = DurableProducer(config, topic_name, 10)
    values = [str(i).encode() for i in range(500)]
    try:
        asyncio.run(producer.produce([b"k"] * 500, values))
    finally:
        assert producer.close(10) == 0
    assert [m.value() for m in read_topic(kafka_bootstrap, topic_name)] == values
