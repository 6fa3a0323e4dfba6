"""The opt-in second Athena workgroup on the DuckDB engine, with the named queries in DuckDB's dialect."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from core import names
from core.queries import named_queries
from core.translate import to_duckdb
from tests.stacks.test_data_stack import DATA


@pytest.fixture(scope="module")
def with_duckdb(synthesize_with) -> Template:
    return synthesize_with(context={"duckdbWorkgroup": "true"}).template(DATA)


def _workgroups(template: Template) -> dict[str, dict]:
    return {
        r["Properties"]["Name"]: {"id": rid, **r["Properties"]}
        for rid, r in template.find_resources("AWS::Athena::WorkGroup").items()
    }


def test_the_default_has_the_trino_workgroup_only(synthesis) -> None:
    template = synthesis.template(DATA)
    assert list(_workgroups(template)) == [names.ATHENA_WORKGROUP]


def test_the_setting_adds_a_duckdb_workgroup_beside_the_trino_one(with_duckdb: Template) -> None:
    workgroups = _workgroups(with_duckdb)
    assert set(workgroups) == {names.ATHENA_WORKGROUP, names.ATHENA_DUCKDB_WORKGROUP}
    trino, duckdb = workgroups[names.ATHENA_WORKGROUP], workgroups[names.ATHENA_DUCKDB_WORKGROUP]
    assert trino["WorkGroupConfiguration"]["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    config = duckdb["WorkGroupConfiguration"]
    assert config["EngineVersion"] == {"SelectedEngineVersion": "DuckDB"}
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    # Settings a DuckDB workgroup refuses.
    assert not {"MonitoringConfiguration", "CustomerContentEncryptionConfiguration"} & set(config)


def test_its_named_queries_are_the_local_engines_translation(with_duckdb: Template) -> None:
    duckdb_id = _workgroups(with_duckdb)[names.ATHENA_DUCKDB_WORKGROUP]["id"]
    queries = named_queries()
    with_duckdb.resource_count_is("AWS::Athena::NamedQuery", 2 * len(queries))
    for query in queries:
        with_duckdb.has_resource_properties(
            "AWS::Athena::NamedQuery",
            {"Name": query.name, "QueryString": to_duckdb(query.sql), "WorkGroup": {"Ref": duckdb_id}},
        )
        with_duckdb.has_resource_properties(
            "AWS::Athena::NamedQuery", {"Name": query.name, "QueryString": query.sql, "WorkGroup": Match.any_value()}
        )


def test_prepared_statements_stay_on_the_trino_workgroup(with_duckdb: Template) -> None:
    trino_id = _workgroups(with_duckdb)[names.ATHENA_WORKGROUP]["id"]
    statements = with_duckdb.find_resources("AWS::Athena::PreparedStatement")
    assert statements and all(s["Properties"]["WorkGroup"] == {"Ref": trino_id} for s in statements.values())
