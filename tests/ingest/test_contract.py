"""The live service against its own OpenAPI document, with schemathesis: whatever it is sent (records drawn from the
record's schema, and bodies, headers and keys that break it), it never answers 5xx, and each answer's status,
content type, headers and body are the document's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from tests.ingest.conftest import USERS, Ingest, start_ingest, stop_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The checks: no 5xx, and every response as documented. (Schemathesis's negative-data check expects a 4xx for a
#: body off the schema; this API answers 200 and lists each refused record, by design.)
CONFORMANCE = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_context: Any, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return b"\n".join(json.dumps(item).encode() for item in (value if isinstance(value, list) else [value]))


@pytest.fixture(scope="module")
def live(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    service = start_ingest(
        kafka_bootstrap,
        "ingest-contract",
        tmp_path_factory.mktemp("contract"),
        rate_per_client=10_000,
        rate_burst=10_000,
        ack_timeout_s=5,
    )
    try:
        yield service
    finally:
        stop_ingest(service)


def _operations(live: Ingest) -> list[Any]:
    loaded = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]


def _authorized(case: Any, live: Ingest) -> None:
    """Half the generated records for a user the key may write (so the produce path runs too), and the key sent
    unless the case tries headers of its own."""
    if isinstance(case.body, list):
        for index, item in enumerate(case.body):
            if isinstance(item, dict) and isinstance(item.get("id"), int) and index % 2 == 0:
                item["id"] = USERS[0]
    headers = dict(case.headers or {})
    headers.setdefault("Authorization", f"Bearer {live.key}")
    case.headers = headers


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_service_matches_its_document_and_never_fails(live: Ingest, mode: GenerationMode) -> None:
    operations = _operations(live)
    assert {op.path for op in operations} >= {"/v1/records", "/healthz"}
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.path == "/healthz":
            continue  # no input to break

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def conforms(case: Any) -> None:
            _authorized(case, live)
            case.call_and_validate(checks=CONFORMANCE)

        conforms()
