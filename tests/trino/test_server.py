"""The Trino set-up's own logic: where its Java comes from, and the raw table it declares from the stack's code."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import names, schema
from tests.trino import server
from tests.trino.tables import TRINO_FORMATS, raw_table_ddl, raw_table_declaration


def test_without_a_java_24_trino_is_unavailable_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "_java_homes", lambda: [Path("/nonexistent")])
    with pytest.raises(server.TrinoUnavailable, match=r"needs Java 24\+ and none was found") as caught:
        server.find_java_home()
    assert "\n" not in str(caught.value)


def test_the_raw_table_is_the_stacks_glue_table() -> None:
    table = raw_table_declaration()
    assert table.name == names.GLUE_TABLE
    assert table.columns == [
        *((c["name"], c["type"]) for c in schema.glue_columns()),
        (names.PARTITION_COLUMN, "string"),
    ]
    assert table.partition_keys == [names.PARTITION_COLUMN]
    assert table.serde in TRINO_FORMATS
    assert table.data_prefix == names.LAKE_DATA_PREFIX


def test_the_raw_tables_ddl_reads_the_lakes_data_folder_as_openx_json(tmp_path: Path) -> None:
    ddl = raw_table_ddl(tmp_path)
    assert f"external_location = 'local://{tmp_path.resolve() / names.LAKE_DATA_PREFIX}'" in ddl
    assert "format = 'OPENX_JSON'" in ddl and "partitioned_by = ARRAY['dt']" in ddl
    assert '"date" varchar' in ddl and '"intensity" integer' in ddl
