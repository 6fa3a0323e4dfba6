"""The curated table: its Iceberg schema, derived from the record schema, its layout, and the catalogs it lives in.

The columns are the record's (`core/schema.py`) plus the day partition `dt`, so that every `sql/` query
reads the same columns from the raw table and from this one. Partitioned by `dt` (identity: the event day).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

from core.names import (
    CURATED_PARTITION_FIELD_ID,
    CURATED_TABLE,
    CURATED_TABLE_PROPERTIES,
    GLUE_DATABASE,
    LAKE_CURATED_PREFIX,
    PARTITION_COLUMN,
)
from core.schema import FIELDS, iceberg_fields
from services.compactor.settings import CompactorSettings

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

IDENTIFIER: Final = (GLUE_DATABASE, CURATED_TABLE)
#: The local SQLite catalog's file, in the lake folder.
SQL_CATALOG_FILE: Final = "iceberg-catalog.db"
#: The columns a day's rows are unique on, and the order they are sorted in inside a file.
ROW_KEY: Final = ("id", "date", "time")
SORT_KEY: Final = ("id", "time")


def arrow_schema() -> pa.Schema:
    """The curated rows as Arrow: the record's fields (non-null unless nullable), then `dt`."""
    import pyarrow as pa

    fields = [pa.field(f.name, f.arrow_type, nullable=f.nullable) for f in FIELDS]
    return pa.schema([*fields, pa.field(PARTITION_COLUMN, pa.string(), nullable=False)])


def iceberg_schema():
    """The table's Iceberg schema (core.schema.iceberg_fields: the record's fields, then `dt`)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import DoubleType, IntegerType, LongType, NestedField, StringType

    types = {"long": LongType(), "int": IntegerType(), "double": DoubleType(), "string": StringType()}
    return Schema(
        *(
            NestedField(f["id"], f["name"], types[f["type"]], required=f["required"], doc=f["doc"])
            for f in iceberg_fields()
        )
    )


def table_properties(settings: CompactorSettings) -> dict[str, str]:
    return {
        "format-version": "2",
        **CURATED_TABLE_PROPERTIES,
        "write.target-file-size-bytes": str(settings.target_file_bytes),
    }


def table_location(settings: CompactorSettings) -> str:
    if settings.catalog == "glue":
        return f"s3://{settings.s3_bucket}/{LAKE_CURATED_PREFIX.rstrip('/')}"
    return (settings.lake_dir.resolve() / LAKE_CURATED_PREFIX).as_uri().rstrip("/")


def open_catalog(settings: CompactorSettings) -> Catalog:
    """pyiceberg's SQL catalog (SQLite, in the lake folder) locally, or the Glue Data Catalog."""
    if settings.catalog == "sql":
        from pyiceberg.catalog.sql import SqlCatalog

        settings.lake_dir.mkdir(parents=True, exist_ok=True)
        lake = settings.lake_dir.resolve()
        return SqlCatalog("lake", uri=f"sqlite:///{lake / SQL_CATALOG_FILE}", warehouse=lake.as_uri())
    from pyiceberg.catalog.glue import GlueCatalog

    properties: dict[str, str] = {}
    if settings.region:
        properties |= {"glue.region": settings.region, "s3.region": settings.region, "client.region": settings.region}
    if settings.glue_endpoint_url:
        properties["glue.endpoint"] = settings.glue_endpoint_url
    if settings.s3_endpoint_url:
        properties["s3.endpoint"] = settings.s3_endpoint_url
    return GlueCatalog("glue", **properties)


def catalog_has_table(catalog: Catalog) -> bool:
    return catalog.table_exists(IDENTIFIER)


def ensure_table(catalog: Catalog, settings: CompactorSettings) -> Table:
    """The curated table, created when missing (locally; on AWS the CDK app declares it), partitioned by `dt` and
    with the write properties it needs: a table declared elsewhere gets the partition field and properties added."""
    from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchTableError
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    try:
        table = catalog.load_table(IDENTIFIER)
    except NoSuchTableError:
        with contextlib.suppress(NamespaceAlreadyExistsError):
            catalog.create_namespace(GLUE_DATABASE)
        schema = iceberg_schema()
        spec = PartitionSpec(
            PartitionField(
                schema.find_field(PARTITION_COLUMN).field_id,
                CURATED_PARTITION_FIELD_ID,
                IdentityTransform(),
                PARTITION_COLUMN,
            )
        )
        return catalog.create_table(
            IDENTIFIER,
            schema=schema,
            location=table_location(settings),
            partition_spec=spec,
            properties=table_properties(settings),
        )
    wanted = table_properties(settings)
    wanted.pop("format-version")
    if any(table.properties.get(k) != v for k, v in wanted.items()):
        with table.transaction() as tx:
            tx.set_properties(wanted)
    if not any(f.name == PARTITION_COLUMN for f in table.spec().fields):
        with table.update_spec() as update:
            update.add_identity(PARTITION_COLUMN)
    return table
