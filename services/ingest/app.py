"""The HTTP API: `POST /v1/records`, `GET /healthz`, and its OpenAPI document at `/openapi.json`.

A request's answer, in the order the checks run:

- 401: no API key, or not a valid one (`Authorization: Bearer fpk_...`);
- 429 with `Retry-After`: the client is over its rate;
- 415: neither `application/json` nor `application/x-ndjson`, or an encoding other than gzip;
- 413: a body, a decompressed body or a record count over its limit;
- 400: a body that is not a JSON array (or NDJSON), or a broken gzip stream;
- 422: an `Idempotency-Key` used before with another body;
- 403: a record for a user the client may not write (nothing of the request is produced);
- 503 with `Retry-After`: Kafka did not acknowledge every accepted record within the deadline;
- 200: every valid record is in Kafka (acks=all). The body counts them and lists each refused record by its index,
  with its reasons. A request with refused records is still a 200: the status says the request was processed, the
  body says what became of each record (a 207 Multi-Status is WebDAV's, with an XML body).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.openapi import OpenAPIConfig, ResponseSpec

from core.schema import MinuteRecord, event_window
from services.common.logs import EventLog
from services.common.settings import KafkaClientSettings
from services.ingest.body import JSON, NDJSON, BodyError, Checked, check, read_body, reason_kind, split
from services.ingest.keys import Client, KeyChecker
from services.ingest.limits import IdempotencyStore, RateLimiter, StoredResponse
from services.ingest.metrics import IngestMetrics
from services.ingest.producing import (
    SERVICE_LOGGER,
    DurableProducer,
    NotDurable,
    ensure_topic,
    ingest_producer_config,
)
from services.ingest.settings import IngestSettings

_log = EventLog(f"{SERVICE_LOGGER}.http")
API_VERSION: Final = "1"
USER_NOT_ALLOWED: Final = "user {user} is not one this client may write"


class Refused(msgspec.Struct):
    index: int
    reasons: list[str]


class IngestResult(msgspec.Struct):
    """What became of a request's records: how many are in Kafka, and which were refused and why."""

    accepted: int
    refused: list[Refused]


class Problem(msgspec.Struct):
    """Why a request was refused as a whole; `refused` lists the records to blame, when there are some."""

    error: str
    kind: str
    refused: list[Refused] = []


class Health(msgspec.Struct):
    status: str


_ENCODE: Final = msgspec.json.encode


@dataclass
class _Outcome:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "ok"
    records: int = 0
    accepted: int = 0
    refused: int = 0


def _problem(status: int, error: str, kind: str, headers: dict[str, str] | None = None, **extra: Any) -> _Outcome:
    return _Outcome(status, _ENCODE(Problem(error, kind, **extra)), headers or {}, kind)


class Service:
    """What the handler needs, built once per process when the server starts."""

    def __init__(self, settings: IngestSettings):
        self.settings = settings
        self.keys = KeyChecker(settings.keys_file)
        self.rate = RateLimiter(settings.rate_per_client, settings.rate_burst)
        self.retries = IdempotencyStore(settings.idempotency_window_s, settings.idempotency_max_keys)
        self.metrics = IngestMetrics()
        self.producer: DurableProducer | None = None

    def start(self) -> None:
        s = self.settings
        config = ingest_producer_config(
            s.bootstrap_servers, s.compression, s.ack_timeout_s, s.linger_ms, **KafkaClientSettings.kafka_security(s)
        )
        ensure_topic(config, s.topic, s.partitions)
        self.producer = DurableProducer(config, s.topic, s.ack_timeout_s)
        if s.metrics_port is not None:
            self.metrics.serve(s.metrics_port, s.metrics_address)
        _log.info("serving", host=s.host, port=s.port, topic=s.topic, bootstrap=s.bootstrap_servers)

    def stop(self) -> None:
        if self.producer is not None:
            remaining = self.producer.close(self.settings.ack_timeout_s)
            _log.info("stopped", unflushed=remaining)

    def authenticate(self, request: Request) -> Client | None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return self.keys.client(token.strip())

    async def handle(self, request: Request) -> _Outcome:
        s = self.settings
        client = self.authenticate(request)
        if client is None:
            return _problem(
                401,
                "a valid API key is needed: Authorization: Bearer fpk_...",
                "unauthenticated",
                {"WWW-Authenticate": 'Bearer realm="ingest"'},
            )
        wait = self.rate.take(client.key_id)
        if wait > 0:
            return _problem(
                429,
                f"over {s.rate_per_client:g} requests/s",
                "rate_limited",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in (JSON, NDJSON):
            return _problem(415, f"the body must be {JSON} or {NDJSON}", "unsupported_media_type")
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("gzip", "identity", ""):
            return _problem(415, "the only content encoding taken is gzip", "unsupported_encoding")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > s.max_body_bytes:
            return _problem(413, f"the body is over {s.max_body_bytes} bytes", "body_too_large")
        try:
            raw = await read_body(
                request.stream(),
                gzipped=encoding == "gzip",
                max_body=s.max_body_bytes,
                max_decompressed=s.max_decompressed_bytes,
            )
        except BodyError as exc:
            return _problem(exc.status, exc.reason, exc.kind)
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key is None:
            return await self._process(client, raw, media_type)
        if not 1 <= len(idempotency_key) <= 255:
            return _problem(400, "an Idempotency-Key has 1 to 255 characters", "bad_idempotency_key")
        digest = hashlib.sha256(media_type.encode() + b"\n" + raw).digest()
        first = await self.retries.begin(client.key_id, idempotency_key, digest)
        if first is False:
            return _problem(422, "this Idempotency-Key was used with another body", "idempotency_key_reused")
        if isinstance(first, StoredResponse):
            outcome = _Outcome(first.status, first.body, {"Idempotent-Replayed": "true"}, "replayed")
            return outcome
        outcome = None
        try:
            outcome = await self._process(client, raw, media_type)
        finally:
            kept = StoredResponse(outcome.status, outcome.body) if outcome and outcome.status == 200 else None
            self.retries.finish(client.key_id, idempotency_key, kept)
        return outcome

    async def _process(self, client: Client, raw: bytes, media_type: str) -> _Outcome:
        s = self.settings
        try:
            texts = split(raw, media_type, s.max_records)
        except BodyError as exc:
            return _problem(exc.status, exc.reason, exc.kind)
        window = event_window(s.earliest_event_date, time.time(), s.max_event_skew_s)
        checked: Checked = check(texts, window)
        users = client.users
        foreign = [Refused(i, [USER_NOT_ALLOWED.format(user=u)]) for i, u, _ in checked.accepted if u not in users]
        if foreign:
            self.metrics.refused.labels("user_not_allowed").inc(len(foreign))
            return _problem(
                403,
                f"{len(foreign)} records are for users this client may not write",
                "forbidden_user",
                refused=foreign[:100],
            )
        assert self.producer is not None
        try:
            accepted = checked.accepted
            seconds = await self.producer.produce([str(u).encode() for _, u, _ in accepted], [v for *_, v in accepted])
        except NotDurable as exc:
            outcome = _problem(
                503,
                f"{exc}; nothing of this request is acknowledged",
                "kafka_unavailable",
                {"Retry-After": str(s.retry_after_s)},
            )
            outcome.records = len(texts)
            return outcome
        if checked.accepted:
            self.metrics.produce_seconds.observe(seconds)
        self.metrics.accepted.inc(len(checked.accepted))
        for _, reasons in checked.refused:
            self.metrics.refused.labels(reason_kind(reasons)).inc()
        result = IngestResult(len(checked.accepted), [Refused(i, r) for i, r in checked.refused])
        return _Outcome(200, _ENCODE(result), {}, "ok", len(texts), len(checked.accepted), len(checked.refused))


_PROBLEM_CODES: Final = {
    400: "the body is not a JSON array or NDJSON of objects, or its gzip stream is broken",
    401: "no valid API key",
    403: "a record is for a user this client may not write; nothing was produced",
    413: "a body, decompressed body or record count over its limit",
    415: "not application/json or application/x-ndjson, or an encoding other than gzip",
    422: "the Idempotency-Key was used before with another body",
    429: "over the client's rate; see Retry-After",
    503: "Kafka did not acknowledge every record in time; nothing is acknowledged; see Retry-After",
}


def create_app(settings: IngestSettings | None = None) -> Litestar:
    """The application. With no settings, they come from the `INGEST_*` environment (the server's factory)."""
    service = Service(settings or IngestSettings())

    @post(
        "/v1/records",
        status_code=200,
        summary="Send records",
        description="A JSON array of records, or NDJSON, optionally gzip-encoded. 200 once every valid record "
        "is in Kafka; the body lists each refused record by its index.",
        request_max_body_size=None,
        responses={code: ResponseSpec(Problem, description=text) for code, text in _PROBLEM_CODES.items()},
        operation_id="sendRecords",
    )
    async def send_records(request: Request) -> Response[IngestResult]:
        started = time.perf_counter()
        metrics = service.metrics
        metrics.in_flight.inc()
        outcome: _Outcome | None = None
        try:
            outcome = await service.handle(request)
            return Response(outcome.body, status_code=outcome.status, headers=outcome.headers, media_type=JSON)
        finally:
            metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            status = outcome.status if outcome is not None else 500
            metrics.requests.labels(str(status)).inc()
            metrics.request_seconds.observe(seconds)
            if service.settings.log_requests:
                _log.info(
                    "request",
                    method="POST",
                    path="/v1/records",
                    status=status,
                    kind=outcome.kind if outcome else "error",
                    records=outcome.records if outcome else 0,
                    accepted=outcome.accepted if outcome else 0,
                    refused=outcome.refused if outcome else 0,
                    bytes=int(request.headers.get("content-length") or 0),
                    ms=round(seconds * 1000, 1),
                )

    @get("/healthz", summary="Liveness", operation_id="health")
    async def health() -> Health:
        return Health("ok")

    @get("/openapi.json", include_in_schema=False, media_type=JSON)
    async def openapi(request: Request) -> Response[bytes]:
        return Response(_ENCODE(document(request.app)), media_type=JSON)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = Litestar(
        route_handlers=[send_records, health, openapi],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Fitness pipeline ingest API", version=API_VERSION, path="/schema", render_plugins=[]
        ),
        state={"service": service},
        logging_config=None,
    )
    return app


def document(app: Litestar) -> dict[str, Any]:
    """The OpenAPI document: Litestar's, from the handlers and the response types, with the request body (the
    record's declaration, `MinuteRecord`) and the API key's security scheme."""
    cached = app.state.get("openapi_document")
    if cached is not None:
        return cached
    doc = app.openapi_schema.to_schema()
    (record,), components = msgspec.json.schema_components([MinuteRecord], ref_template="#/components/schemas/{name}")
    doc.setdefault("components", {}).setdefault("schemas", {}).update(components)
    array = {"type": "array", "items": record}
    operation = doc["paths"]["/v1/records"]["post"]
    operation["requestBody"] = {
        "required": True,
        "content": {
            JSON: {"schema": array},
            NDJSON: {"schema": {"type": "string", "description": "one record (a JSON object) per line"}},
        },
    }
    operation["parameters"] = [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "a retry with the same key and body gets the first 200 again; nothing is produced twice",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        },
        {
            "name": "Content-Encoding",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": ["gzip", "identity"]},
        },
    ]
    operation["security"] = [{"apiKey": []}]
    doc["components"].setdefault("securitySchemes", {})["apiKey"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from `fitpipe ingest keys create`, bound to the user ids it may write",
    }
    app.state["openapi_document"] = doc
    return doc


def from_environment() -> Litestar:
    """The server's factory: the app configured by the `INGEST_*` environment."""
    from services.common import logs

    logs.configure(SERVICE_LOGGER)
    return create_app()
