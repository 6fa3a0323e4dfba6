"""Names that SQL, users and more than one component depend on. Defined once, here."""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

#: The Kafka topic the producer writes and the consumer reads.
TOPIC = "fitness-data"
#: Messages the consumer cannot land (not JSON, bad fields, ...) go here with the reason in a header.
DEAD_LETTER_TOPIC = "fitness-data.dlq"
#: The consumer group that lands the stream in the lake.
CONSUMER_GROUP = "fitness-lake-writer"

#: The Glue database and table that Athena (and the local DuckDB catalog) query.
GLUE_DATABASE = "fitness-data-kafka-database"
GLUE_TABLE = "fitness_data_kafka_storage"
#: The curated Apache Iceberg table in the same database: the raw table's records, one row per (id, date, time),
#: one Parquet file per day, written only by the compactor.
CURATED_TABLE = "fitness_data_curated"
#: The Hive-style partition column: the record's event date, `YYYY-MM-DD`.
PARTITION_COLUMN = "dt"
#: The first event date the lake takes: the raw table's partition projection starts on it, and the consumer
#: dead-letters a record dated before it (its default `earliest_event_date`). The Fitabase export is of 2016.
EARLIEST_EVENT_DATE: Final = dt.date(2016, 1, 1)

#: Where the table's data lives inside the lake (an S3 bucket or a local folder).
LAKE_DATA_PREFIX = f"data/{GLUE_TABLE}/"
#: The lake's file formats by name (the consumer's `format` setting), each with its objects' extension (no dot):
#: the consumer writes them, the compactor and the local catalog read them.
LakeFormat = Literal["jsonl.gz", "jsonl", "parquet"]
LAKE_FORMATS: Final[dict[LakeFormat, str]] = {"jsonl.gz": "json.gz", "jsonl": "json", "parquet": "parquet"}
DEFAULT_LAKE_FORMAT: Final[LakeFormat] = "jsonl.gz"
#: The curated table's partition field (identity on `dt`: one partition per event day), and its write properties:
#: Parquet with zstd, a data file cut at 128 MiB.
CURATED_PARTITION_FIELD_ID = 1000
CURATED_TABLE_PROPERTIES = {
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
}
#: Where the curated table's data and metadata live inside the lake.
LAKE_CURATED_PREFIX = f"curated/{CURATED_TABLE}/"

#: The Athena workgroup that holds the named queries.
ATHENA_WORKGROUP = "fitness-pipeline"
#: The optional second workgroup, on Athena's DuckDB engine, and the engine version that selects it.
ATHENA_DUCKDB_WORKGROUP = "fitness-pipeline-duckdb"
ATHENA_DUCKDB_ENGINE = "DuckDB"
