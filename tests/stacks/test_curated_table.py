"""The curated Iceberg table in the data stack, Glue's optimizers for it, and the compactor on the streaming host:
its timer, its settings and its least-privilege rights."""

from __future__ import annotations

import json

import pytest
import yaml
from aws_cdk.assertions import Capture, Match, Template

from core import names, schema
from stacks.config import PipelineConfig
from tests.conftest import REPO_ROOT
from tests.stacks.conftest import as_list, role_statements
from tests.stacks.test_data_stack import DATA, assert_the_lake_denies_puts, glue_table, lake_key_arn
from tests.stacks.test_host_files import stack_settings
from tests.stacks.test_streaming_stack import STREAMING, host_statements

HOST_DIR = REPO_ROOT / "stacks" / "host"


@pytest.fixture(scope="module")
def data(synthesis) -> Template:
    return synthesis.template(DATA)


def test_the_curated_table_is_iceberg_v2_partitioned_by_day_with_the_records_columns(data: Template):
    table = glue_table(data, names.CURATED_TABLE)["Properties"]
    assert table["DatabaseName"] == names.GLUE_DATABASE
    iceberg = table["OpenTableFormatInput"]["IcebergInput"]
    assert iceberg["MetadataOperation"] == "CREATE" and iceberg["Version"] == "2"
    spec = iceberg["IcebergTableInput"]
    fields = spec["Schema"]["Fields"]
    assert [f["Name"] for f in fields] == [*schema.FIELD_NAMES, names.PARTITION_COLUMN]
    assert {f["Name"]: f["Type"] for f in fields} == {f["name"]: f["type"] for f in schema.iceberg_fields()}
    assert spec["PartitionSpec"]["Fields"] == [
        {"Name": "dt", "SourceId": len(schema.FIELDS) + 1, "Transform": "identity", "FieldId": 1000}
    ]
    assert spec["Properties"]["write.parquet.compression-codec"] == "zstd"
    assert spec["Properties"]["write.target-file-size-bytes"] == str(128 * 1024 * 1024)
    assert spec["Location"]["Fn::Join"][1][-1] == f"/{names.LAKE_CURATED_PREFIX.rstrip('/')}"


def test_the_raw_table_stays_as_it_was(data: Template):
    raw = {"Properties": {"TableInput": {"Name": names.GLUE_TABLE}}}
    assert len(data.find_resources("AWS::Glue::Table", raw)) == 1
    data.has_resource_properties(
        "AWS::Glue::Table",
        {
            "TableInput": {"Name": names.GLUE_TABLE, "Parameters": {"classification": "json"}},
            "OpenTableFormatInput": Match.absent(),
        },
    )


def test_glue_optimizers_expire_snapshots_and_delete_orphans_but_do_not_compact(data: Template):
    optimizers = data.find_resources("AWS::Glue::TableOptimizer")
    by_type = {o["Properties"]["Type"]: o["Properties"] for o in optimizers.values()}
    assert set(by_type) == {"retention", "orphan_file_deletion"}, "the compactor writes one file a day already"
    days = PipelineConfig().curated_retention_days
    retention = by_type["retention"]["TableOptimizerConfiguration"]["RetentionConfiguration"]["IcebergConfiguration"]
    assert retention["SnapshotRetentionPeriodInDays"] == days and retention["CleanExpiredFiles"] is True
    orphans = by_type["orphan_file_deletion"]["TableOptimizerConfiguration"]["OrphanFileDeletionConfiguration"]
    assert orphans["IcebergConfiguration"]["OrphanFileRetentionPeriodInDays"] == days
    for optimizer in by_type.values():
        assert optimizer["TableName"] == names.CURATED_TABLE


def test_the_optimizers_role_deletes_only_under_the_curated_prefix(data: Template):
    statements = role_statements(data, _optimizer_role_id(data))
    deletes = [s for s in statements if "s3:DeleteObject" in as_list(s["Action"])]
    assert len(deletes) == 1
    assert [r["Fn::Join"][1][-1] for r in as_list(deletes[0]["Resource"])] == [f"/{names.LAKE_CURATED_PREFIX}*"]
    glue = [s for s in statements if any(a.startswith("glue:") for a in as_list(s["Action"]))]
    assert all(a in ("glue:GetTable", "glue:UpdateTable") for s in glue for a in as_list(s["Action"]))


def _optimizer_role_id(template: Template) -> str:
    """The role both of Glue's optimizers of the curated table run as."""
    role = Capture()
    template.has_resource_properties(
        "AWS::Glue::TableOptimizer", {"TableOptimizerConfiguration": {"RoleArn": {"Fn::GetAtt": [role, "Arn"]}}}
    )
    runs_as_it = {"Properties": {"TableOptimizerConfiguration": {"RoleArn": {"Fn::GetAtt": [role.as_string(), "Arn"]}}}}
    assert template.find_resources("AWS::Glue::TableOptimizer", runs_as_it) == template.find_resources(
        "AWS::Glue::TableOptimizer"
    )
    return role.as_string()


def test_the_optimizers_role_uses_the_lake_key_only_through_s3_and_trusts_glue_for_this_account_only(data: Template):
    role_id = _optimizer_role_id(data)
    kms = [s for s in role_statements(data, role_id) if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert len(kms) == 1
    assert sorted(as_list(kms[0]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms[0]["Resource"] == lake_key_arn(data)
    assert "s3." in json.dumps(kms[0]["Condition"]["StringEquals"]["kms:ViaService"])
    (trust,) = data.find_resources("AWS::IAM::Role")[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "glue.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_lake_refuses_curated_writes_from_outside_a_vpc_endpoint_but_those_of_the_optimizers(data: Template):
    """The compactor on the host writes through the VPC's S3 gateway endpoint (every route table has it: see the
    streaming stack's tests); Glue's optimizers run outside any VPC, so their role alone is let through."""
    assert_the_lake_denies_puts(
        data,
        "CuratedWritesOnlyThroughAVpcEndpointOrByTheOptimizers",
        names.LAKE_CURATED_PREFIX,
        {
            "Null": {"aws:SourceVpce": "true"},
            "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [_optimizer_role_id(data), "Arn"]}},
        },
    )


def test_the_host_uses_the_lake_key_only_through_s3(synthesis):
    """The curated table's files are under the lake key like the raw zone's: the host's one kms grant covers both."""
    statements = host_statements(synthesis.template(STREAMING))
    kms = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"])) and "s3." in json.dumps(s)]
    assert len(kms) == 1
    assert sorted(as_list(kms[0]["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "LakeKeyArn" in json.dumps(kms[0]["Resource"])


def test_the_host_may_commit_to_the_curated_table_only(synthesis):
    statements = host_statements(synthesis.template(STREAMING))
    glue = [s for s in statements if any(a.startswith("glue:") for a in as_list(s["Action"]))]
    assert len(glue) == 1
    assert sorted(as_list(glue[0]["Action"])) == ["glue:GetTable", "glue:UpdateTable"]
    tables = [json.dumps(r) for r in as_list(glue[0]["Resource"]) if ":table/" in json.dumps(r)]
    assert len(tables) == 1 and f"table/{names.GLUE_DATABASE}/{names.CURATED_TABLE}" in tables[0]
    lists = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]
    prefixes = {p for s in lists for p in as_list(s["Condition"]["StringLike"]["s3:prefix"])}
    assert f"{names.LAKE_CURATED_PREFIX}*" in prefixes and f"{names.LAKE_DATA_PREFIX}*" in prefixes


def test_the_host_runs_the_compactor_every_compact_every_minutes(synthesis, synthesize_with):
    assert PipelineConfig().compact_every_minutes == 15
    assert stack_settings(synthesis)["COMPACT_EVERY_MINUTES"] == "15"
    assert stack_settings(synthesize_with(context={"compactEveryMinutes": 5}))["COMPACT_EVERY_MINUTES"] == "5"
    configure = (HOST_DIR / "configure.sh").read_text()
    assert "COMPACT_EVERY_S=$((COMPACT_EVERY_MINUTES * 60))" in configure, "the setting reaches compose in seconds"
    setup = (HOST_DIR / "setup.sh").read_text()
    assert "systemctl disable --now fitness-compactor.timer" in setup, "an older host's timer is removed"
    assert not (HOST_DIR / "fitness-compactor.timer").exists()


def test_the_compose_file_keeps_the_compactor_running_with_the_glue_catalog_and_its_interval():
    compose = yaml.safe_load((HOST_DIR / "compose.yaml").read_text())
    compactor = compose["services"]["compactor"]
    assert "profiles" not in compactor, "`up` starts it with the others"
    assert compactor["restart"] == "unless-stopped"
    assert compactor["build"]["dockerfile"] == "services/Dockerfile"
    assert compactor["build"]["args"] == {"SERVICE": "compactor"}
    env = compactor["environment"]
    assert env["COMPACTOR_CATALOG"] == "glue" and env["COMPACTOR_S3_BUCKET"] == "${LAKE_BUCKET:?}"
    assert env["COMPACTOR_INTERVAL_S"] == "${COMPACT_EVERY_S:?}"
    assert env["COMPACTOR_MAINTENANCE"] == "false", "Glue's optimizers do the upkeep; the host deletes nothing"
