"""Every metric the services emit, named once. The services register these names with prometheus-client; the stacks
build the CloudWatch agent's selectors, the dashboard and the alarms from them, so an alarm can only watch a metric
the code emits (a test proves it).

Names follow Prometheus conventions: a `fitness_<service>_` prefix, `_total` for counters, `_seconds` and `_bytes`
for units. The CloudWatch agent keeps the names as they are, sends a counter as its increase since the previous
scrape, and drops histograms, so durations are summaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: The CloudWatch namespace the agent puts the services' metrics in, with the dimension `service`.
CLOUDWATCH_NAMESPACE = "FitnessPipeline"
SERVICE_LABEL = "service"
PRODUCER = "producer"
CONSUMER = "consumer"
COMPACTOR = "compactor"
INGEST = "ingest"

#: The port each service serves `/metrics` on inside the host (off by default on one machine).
METRICS_PORTS = {PRODUCER: 9101, CONSUMER: 9102, COMPACTOR: 9103}


@dataclass(frozen=True, slots=True)
class MetricName:
    name: str
    kind: Literal["counter", "gauge", "summary", "histogram"]
    service: str
    help: str
    labels: tuple[str, ...] = ()


def _metric(
    name: str, kind: Literal["counter", "gauge", "summary", "histogram"], service: str, help: str, *labels: str
) -> MetricName:
    metric = MetricName(name, kind, service, help, labels)
    (INGEST_METRICS if service == INGEST else ALL).append(metric)
    return metric


#: The metrics the host's CloudWatch agent collects, each service's from its port in `METRICS_PORTS`.
ALL: list[MetricName] = []
#: The ingest front end's metrics, served on `INGEST_METRICS_PORT`; they join `ALL` with the deployed front door.
INGEST_METRICS: list[MetricName] = []
INGEST_METRICS_PORT = 9104

# -- producer ---------------------------------------------------------------------------------------------------------
PRODUCER_RECORDS = _metric("fitness_producer_records_total", "counter", PRODUCER, "Records handed to Kafka")
PRODUCER_BYTES = _metric("fitness_producer_bytes_total", "counter", PRODUCER, "Bytes of record values handed to Kafka")
PRODUCER_DELIVERY_ERRORS = _metric(
    "fitness_producer_delivery_errors_total", "counter", PRODUCER, "Records Kafka did not acknowledge", "reason"
)
PRODUCER_QUEUE_MESSAGES = _metric(
    "fitness_producer_queue_messages", "gauge", PRODUCER, "Messages waiting in librdkafka's queue (its statistics)"
)
PRODUCER_QUEUE_BYTES = _metric(
    "fitness_producer_queue_bytes", "gauge", PRODUCER, "Bytes waiting in librdkafka's queue (its statistics)"
)

# -- consumer ---------------------------------------------------------------------------------------------------------
CONSUMER_RECORDS_READ = _metric(
    "fitness_consumer_records_read_total", "counter", CONSUMER, "Messages read from Kafka, good and bad"
)
CONSUMER_RECORDS_LANDED = _metric(
    "fitness_consumer_records_landed_total", "counter", CONSUMER, "Records written to the lake and committed"
)
CONSUMER_DEAD_LETTERS = _metric(
    "fitness_consumer_dead_letters_total", "counter", CONSUMER, "Messages sent to the dead-letter topic", "reason"
)
CONSUMER_FILES = _metric("fitness_consumer_files_written_total", "counter", CONSUMER, "Objects written to the lake")
CONSUMER_BYTES = _metric("fitness_consumer_bytes_written_total", "counter", CONSUMER, "Bytes written to the lake")
CONSUMER_STORAGE_RETRIES = _metric(
    "fitness_consumer_storage_retries_total", "counter", CONSUMER, "Writes and commits tried again after a failure"
)
CONSUMER_RANGES_REPLAYED = _metric(
    "fitness_consumer_ranges_replayed_total",
    "counter",
    CONSUMER,
    "Offset ranges found in the lake beyond the committed offset and written again",
)
CONSUMER_LAG_RECORDS = _metric(
    "fitness_consumer_lag_records",
    "gauge",
    CONSUMER,
    "Records in Kafka not yet landed and committed (librdkafka's consumer_lag)",
    "partition",
)
CONSUMER_LAG_SECONDS = _metric(
    "fitness_consumer_lag_seconds",
    "gauge",
    CONSUMER,
    "Age (Kafka timestamp) of the oldest record of a partition not yet landed; 0 when none waits",
    "partition",
)
CONSUMER_NEWEST_EVENT = _metric(
    "fitness_consumer_newest_event_timestamp_seconds",
    "gauge",
    CONSUMER,
    "Event time (the record's date and time, UTC) of the newest record landed",
)
CONSUMER_FRESHNESS = _metric(
    "fitness_consumer_data_freshness_seconds",
    "gauge",
    CONSUMER,
    "Seconds between now and the event time of the newest record landed",
)
CONSUMER_LAST_COMMIT = _metric(
    "fitness_consumer_last_commit_timestamp_seconds", "gauge", CONSUMER, "Unix time of the last successful commit"
)

# -- compactor ---------------------------------------------------------------------------------------------------------
COMPACTOR_RUNS = _metric("fitness_compactor_runs_total", "counter", COMPACTOR, "Compaction runs, failed ones included")
COMPACTOR_FAILURES = _metric("fitness_compactor_failures_total", "counter", COMPACTOR, "Compaction runs that failed")
COMPACTOR_DAYS_REWRITTEN = _metric(
    "fitness_compactor_days_rewritten_total", "counter", COMPACTOR, "Day partitions rewritten into the curated table"
)
COMPACTOR_DAYS_FAILED = _metric(
    "fitness_compactor_days_failed_total",
    "counter",
    COMPACTOR,
    "Due days left out of a run, not even in part, for a raw object that cannot be read (truncated, corrupt)",
)
COMPACTOR_FILES_IN = _metric(
    "fitness_compactor_files_read_total", "counter", COMPACTOR, "Raw lake files folded into a committed day"
)
COMPACTOR_BYTES_IN = _metric(
    "fitness_compactor_bytes_read_total", "counter", COMPACTOR, "Raw lake bytes folded into a committed day"
)
COMPACTOR_FILES_OUT = _metric(
    "fitness_compactor_files_written_total", "counter", COMPACTOR, "Curated data files the commits added"
)
COMPACTOR_BYTES_OUT = _metric(
    "fitness_compactor_bytes_written_total", "counter", COMPACTOR, "Curated data bytes the commits added"
)
COMPACTOR_RUN_SECONDS = _metric("fitness_compactor_run_seconds", "summary", COMPACTOR, "Seconds per compaction run")

# -- ingest -----------------------------------------------------------------------------------------------------------
INGEST_REQUESTS = _metric("fitness_ingest_requests_total", "counter", INGEST, "HTTP requests answered", "status")
INGEST_RECORDS_ACCEPTED = _metric(
    "fitness_ingest_records_accepted_total", "counter", INGEST, "Records acknowledged by Kafka and answered 200"
)
INGEST_RECORDS_REFUSED = _metric(
    "fitness_ingest_records_refused_total", "counter", INGEST, "Records refused in a request, by reason", "reason"
)
INGEST_REQUEST_SECONDS = _metric(
    "fitness_ingest_request_seconds", "histogram", INGEST, "Seconds from a request's arrival to its answer"
)
INGEST_PRODUCE_SECONDS = _metric(
    "fitness_ingest_produce_seconds",
    "histogram",
    INGEST,
    "Seconds from handing a request's records to Kafka to the last acknowledgement",
)
INGEST_IN_FLIGHT = _metric("fitness_ingest_requests_in_flight", "gauge", INGEST, "Requests being processed")


def of_service(service: str) -> list[MetricName]:
    return [m for m in ALL if m.service == service]


def by_name() -> dict[str, MetricName]:
    return {m.name: m for m in [*ALL, *INGEST_METRICS]}
