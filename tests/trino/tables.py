"""A local lake's two tables in Trino, declared as the cloud declares them.

- The raw table: its columns, partition key, format and folder are read from the Glue table that the stack's
  `Catalog` construct declares (synthesized here on its own), not written out again.
- The curated table: the compactor's Iceberg table, registered from its current metadata file.

Schema and table names are those of `sql/`, unedited, so a named query runs on Trino as it does on Athena.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from core.names import CURATED_TABLE, GLUE_DATABASE, GLUE_TABLE

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

#: Trino's Hive-connector format for each SerDe the Glue table may name.
TRINO_FORMATS: Final = {"org.openx.data.jsonserde.JsonSerDe": "OPENX_JSON"}
#: Glue (Hive) column types that Trino spells differently.
_TRINO_TYPES: Final = {"string": "varchar", "int": "integer"}


@dataclass(frozen=True)
class RawTableDeclaration:
    name: str
    columns: list[tuple[str, str]]  # (name, Glue type), partition keys last
    partition_keys: list[str]
    serde: str
    data_prefix: str  # the table's folder inside the lake bucket


def _key_of(location: Any) -> str:
    """The object-key part of the table's `s3://<bucket>/<prefix>` location, a Fn::Join in the template."""
    parts = location["Fn::Join"][1] if isinstance(location, dict) else [location]
    tail = parts[-1]
    assert isinstance(tail, str) and tail.startswith("/"), location
    return tail.lstrip("/")


@cache
def raw_table_declaration() -> RawTableDeclaration:
    """The raw table as the stack's Glue table declares it (the `Catalog` construct, synthesized alone)."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk.assertions import Template

    from stacks.constructs.catalog import Catalog

    stack = Stack(App(), "GlueTable")
    Catalog(stack, "Catalog", lake=s3.Bucket(stack, "Lake"), key=kms.Key(stack, "Key"))
    (table,) = Template.from_stack(stack).find_resources("AWS::Glue::Table").values()
    table_input = table["Properties"]["TableInput"]
    descriptor = table_input["StorageDescriptor"]
    partitions = table_input.get("PartitionKeys", [])
    return RawTableDeclaration(
        name=table_input["Name"],
        columns=[(c["Name"], c["Type"]) for c in [*descriptor["Columns"], *partitions]],
        partition_keys=[c["Name"] for c in partitions],
        serde=descriptor["SerdeInfo"]["SerializationLibrary"],
        data_prefix=_key_of(descriptor["Location"]),
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def raw_table_ddl(lake: Path, declaration: RawTableDeclaration | None = None) -> str:
    table = declaration or raw_table_declaration()
    columns = ", ".join(f"{_quoted(n)} {_TRINO_TYPES.get(t, t)}" for n, t in table.columns)
    partitions = ", ".join(_string(k) for k in table.partition_keys)
    location = "local://" + str((Path(lake) / table.data_prefix).resolve())
    return (
        f"CREATE TABLE hive.{_quoted(GLUE_DATABASE)}.{_quoted(table.name)} ({columns}) "
        f"WITH (format = {_string(TRINO_FORMATS[table.serde])}, partitioned_by = ARRAY[{partitions}], "
        f"external_location = {_string(location)})"
    )


def _execute(con, sql: str) -> list[tuple]:
    cursor = con.cursor()
    cursor.execute(sql)
    return cursor.fetchall()


def register_lake(con, lake: Path) -> None:
    """Both tables of `lake` in Trino, in place of whatever lake was registered before."""
    from fitpipe.tables import curated_table

    unregister_lake(con)
    declaration = raw_table_declaration()
    assert declaration.name == GLUE_TABLE, declaration.name
    _execute(con, f"CREATE SCHEMA IF NOT EXISTS hive.{_quoted(GLUE_DATABASE)}")
    _execute(con, raw_table_ddl(lake, declaration))
    _execute(con, f"CALL hive.system.sync_partition_metadata({_string(GLUE_DATABASE)}, {_string(GLUE_TABLE)}, 'FULL')")
    curated = curated_table(lake)
    assert curated is not None, f"no curated table in {lake}"
    metadata = curated.metadata_location
    location, _, file_name = metadata.rpartition("/metadata/")
    _execute(
        con,
        f"CALL iceberg.system.register_table(schema_name => {_string(GLUE_DATABASE)}, "
        f"table_name => {_string(CURATED_TABLE)}, table_location => {_string(location)}, "
        f"metadata_file_name => {_string(file_name)})",
    )


def unregister_lake(con) -> None:
    """Forget the registered tables; their files stay where they are."""
    # (`SHOW SCHEMAS` leaves out the file metastore's schema; information_schema has its tables.)
    tables = {
        row[0]
        for row in _execute(
            con, f"SELECT table_name FROM hive.information_schema.tables WHERE table_schema = {_string(GLUE_DATABASE)}"
        )
    }
    if CURATED_TABLE in tables:
        _execute(
            con,
            f"CALL iceberg.system.unregister_table(schema_name => {_string(GLUE_DATABASE)}, "
            f"table_name => {_string(CURATED_TABLE)})",
        )
    if GLUE_TABLE in tables:
        _execute(con, f"DROP TABLE hive.{_quoted(GLUE_DATABASE)}.{_quoted(GLUE_TABLE)}")
