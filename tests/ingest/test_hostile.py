"""Hostile requests against the running service: each answered with its 4xx (or cut, for headers that never end),
while the service's memory stays bounded and it goes on serving."""

from __future__ import annotations

import socket
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ingest.conftest import Ingest, records, start_ingest, stop_ingest

pytestmark = pytest.mark.integration

#: The service's memory may grow by this much over all the hostile requests (it is some 60 MiB at rest).
RSS_GROWTH_KIB = 64 * 1024


@pytest.fixture(scope="module")
def service(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    tmp = tmp_path_factory.mktemp("hostile")
    ingest = start_ingest(
        kafka_bootstrap, "ingest-hostile", tmp, rate_per_client=10_000, rate_burst=10_000, header_read_timeout_s=2
    )
    baseline = ingest.rss_kib()
    try:
        yield ingest
        assert ingest.process.poll() is None, "the service survived every hostile request"
        assert ingest.post(records(1)).status_code == 200
        assert ingest.rss_kib() - baseline < RSS_GROWTH_KIB, (baseline, ingest.rss_kib())
    finally:
        stop_ingest(ingest)


def _gzip_bomb(decompressed: int) -> bytes:
    """`decompressed` bytes of a JSON array's opening and then spaces, gzip-compressed (about 1/1000 the size)."""
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [out.compress(b"[")]
    block = b" " * (1 << 20)
    for _ in range(decompressed >> 20):
        parts.append(out.compress(block))
    parts.append(out.flush())
    return b"".join(parts)


def test_a_gzip_bomb_is_413_and_never_inflated(service: Ingest):
    bomb = _gzip_bomb(1 << 30)  # 1 GiB once inflated, about 1 MiB sent
    assert len(bomb) < 2 << 20
    response = service.post(bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["kind"] == "decompressed_too_large"


def test_a_declared_1_gb_body_is_413_before_it_is_sent(service: Ingest):
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + service.key.encode() + b"\r\nContent-Length: 1073741824\r\n\r\n[{"
        )
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_body_larger_than_declared_limit_while_streaming_is_413(service: Ingest):
    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked, and far over the limit
        yield b"["
        for _ in range(64):
            yield b" " * (1 << 20)

    response = httpx.post(
        f"{service.url}/v1/records",
        content=chunks(),
        headers={"Authorization": f"Bearer {service.key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["kind"] == "body_too_large"


def test_slow_headers_are_cut_off(service: Ingest):
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(20):  # a header byte a second, never finishing
            try:
                conn.sendall(b"X")
                conn.settimeout(1.0)
                data = conn.recv(4096)
                if data == b"" or data.startswith(b"HTTP/1.1 4"):
                    closed = True
                    break
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
    assert closed, "the server kept a connection whose headers never ended"
    assert service.post(records(1)).status_code == 200  # others were served meanwhile


@pytest.mark.parametrize(
    "body",
    [b'[{"id": 1,', b"{not json", b"[" * 100_000, b'{"id": 1}', b"", b"\xff\xfe[]"],
    ids=["truncated", "garbage", "deep", "object", "empty", "not-utf8"],
)
def test_broken_json_is_400(service: Ingest, body: bytes):
    response = service.post(body)
    assert response.status_code == 400, response.text
    assert response.json()["kind"] in ("not_json", "not_an_array")


def test_a_deeply_nested_ndjson_line_is_a_refused_record(service: Ingest):
    body = b"[" * 100_000 + b"\n" + httpx.Request("POST", "/", json=records(1)[0]).content
    response = service.post(body, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert [item["index"] for item in response.json()["refused"]] == [0]


def test_huge_numbers_are_refused_records(service: Ingest):
    good = records(1)[0]
    text = (
        b'[{"id": 1' + b"0" * 5000 + b', "date": "2016-04-12", "time": "00:00:00", "calories": 1e999999, '
        b'"intensity": 0, "mets": 10, "steps": 0, "sleep_value": 0, "logid": 0, "heartrate": null},'
        + httpx.Request("POST", "/", json=good).content
        + b"]"
    )
    response = service.post(text)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [item["index"] for item in body["refused"]] == [0]


@pytest.mark.parametrize("framing", ["array", "ndjson", "gzip-array"])
def test_a_million_tiny_records_are_413(service: Ingest, framing: str):
    if framing == "ndjson":
        body, headers = b"{}\n" * 1_000_000, {"Content-Type": "application/x-ndjson"}
    else:
        body, headers = b"[" + b",".join([b"{}"] * 1_000_000) + b"]", {}
    response = service.post(body, gzipped=framing.startswith("gzip"), headers=headers)
    assert response.status_code == 413
    assert response.json()["kind"] == "too_many_records"


def test_more_records_than_the_limit_is_413(kafka_bootstrap: str, tmp_path: Path):
    service = start_ingest(kafka_bootstrap, "ingest-limit", tmp_path, max_records=10)
    try:
        assert service.post(records(10)).status_code == 200
        response = service.post(records(11))
        assert response.status_code == 413
    finally:
        stop_ingest(service)
