"""The stateful stack: lake bucket, Glue table and crawler, Athena workgroup, named queries, prepared statement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Capture, Match, Template

from core import names, schema
from core.queries import PER_USER_ID, PER_USER_QUERY, named_queries
from services.consumer.naming import object_key
from tests.stacks.conftest import as_list, role_statements

PER_USER_ID_LITERAL = str(PER_USER_ID)

DATA = "FitnessPipelineData"


@pytest.fixture(scope="module")
def data(synthesis) -> Template:
    """The stateful stack's template, for `aws_cdk.assertions`."""
    return synthesis.template(DATA)


def glue_table(template: Template, name: str) -> dict:
    """The Glue table `name` (the stack declares the raw table and the curated Iceberg table)."""
    (table,) = template.find_resources("AWS::Glue::Table", {"Properties": {"TableInput": {"Name": name}}}).values()
    return table


def raw_table(template: Template) -> dict:
    """The raw table (the curated Iceberg table is tested in test_curated_table.py)."""
    return glue_table(template, names.GLUE_TABLE)


def lake_bucket(template: Template) -> tuple[str, dict]:
    """The bucket the Glue table's location points at."""
    bucket = Capture()
    location = {"Fn::Join": ["", Match.array_with([{"Ref": bucket}])]}
    template.has_resource_properties(
        "AWS::Glue::Table",
        {"TableInput": {"Name": names.GLUE_TABLE, "StorageDescriptor": {"Location": location}}},
    )
    logical_id = bucket.as_string()
    return logical_id, template.find_resources("AWS::S3::Bucket")[logical_id]


def test_glue_columns_are_the_schemas(data: Template):
    assert len(data.find_resources("AWS::Glue::Table", {"Properties": {"TableInput": {"Name": names.GLUE_TABLE}}})) == 1
    columns = [{"Name": c["name"], "Type": c["type"], "Comment": c["comment"]} for c in schema.glue_columns()]
    data.has_resource_properties(
        "AWS::Glue::Table",
        {
            "DatabaseName": names.GLUE_DATABASE,
            "TableInput": {"Name": names.GLUE_TABLE, "StorageDescriptor": {"Columns": Match.exact(columns)}},
        },
    )
    data.resource_count_is("AWS::Glue::Database", 1)
    data.has_resource_properties("AWS::Glue::Database", {"DatabaseInput": {"Name": names.GLUE_DATABASE}})


def test_table_is_projected_by_day_and_read_with_the_json_serde_at_the_lake_prefix(data: Template):
    table_input = raw_table(data)["Properties"]["TableInput"]
    assert table_input["PartitionKeys"] == [
        {"Name": names.PARTITION_COLUMN, "Type": "string", "Comment": "event date, yyyy-MM-dd"}
    ]
    parameters = table_input["Parameters"]
    dt = names.PARTITION_COLUMN
    assert parameters["projection.enabled"] == "true"
    assert parameters[f"projection.{dt}.type"] == "date"
    assert parameters[f"projection.{dt}.format"] == "yyyy-MM-dd"
    assert parameters[f"projection.{dt}.range"].endswith("NOW+1DAYS")
    template = parameters["storage.location.template"]["Fn::Join"][1]
    assert template[-1] == f"/{names.LAKE_DATA_PREFIX}{dt}=${{{dt}}}/"
    descriptor = table_input["StorageDescriptor"]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert descriptor["Location"]["Fn::Join"][1][-1] == f"/{names.LAKE_DATA_PREFIX}"


def test_table_and_crawler_read_every_object_of_a_day_whatever_its_name(data: Template):
    """Objects named with the topic's incarnation and those named before it are read alike: the table and the
    crawler select by the day's folder alone, and no name is one Athena skips as hidden (`_...` or `.`...)."""
    table_input = raw_table(data)["Properties"]["TableInput"]
    assert table_input["Parameters"]["storage.location.template"]["Fn::Join"][1][-1].endswith("=${dt}/")
    assert not {"skip.header.line.count", "input.regex"} & table_input["Parameters"].keys()
    data.resource_count_is("AWS::Glue::Crawler", 1)
    # The crawler reads the table's own location, with no exclusions.
    data.has_resource_properties("AWS::Glue::Crawler", {"Targets": {"S3Targets": Match.absent()}})
    legacy = "fitness-data+0+00000000000000000000-00000000000000000999.json.gz"
    current = object_key("2016-04-12", names.TOPIC, 0, "-_Bkv2ZUR527rU5BKoP_-w", 0, 999, "json.gz").rsplit("/")[-1]
    assert not any(name.startswith(("_", ".")) for name in (legacy, current))


def test_lake_bucket_is_encrypted_private_logged_and_aborts_incomplete_uploads(data: Template):
    _, bucket = lake_bucket(data)
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "DestinationBucketName" in props["LoggingConfiguration"]
    assert any("AbortIncompleteMultipartUpload" in rule for rule in props["LifecycleConfiguration"]["Rules"])
    assert bucket["DeletionPolicy"] == "Retain"


def test_lake_bucket_is_versioned_and_expires_noncurrent_versions_after_the_setting(retention_synthesis):
    """An overwrite or a delete by mistake leaves the old bytes as a noncurrent version, kept for the setting's days."""
    template = retention_synthesis.template(DATA)
    _, bucket = lake_bucket(template)
    noncurrent_rule = Match.object_like({"Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 45}})
    template.has_resource_properties(
        "AWS::S3::Bucket",
        Match.object_like(
            {
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": Match.array_with([noncurrent_rule])},
            }
        ),
    )
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [rule["NoncurrentVersionExpiration"]["NoncurrentDays"] for rule in rules] == [45], "the lake's own rule"
    assert not any("ExpirationInDays" in rule for rule in rules), "current versions never expire"


def test_lake_keeps_noncurrent_versions_30_days_by_default(data: Template):
    _, bucket = lake_bucket(data)
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert [rule.get("NoncurrentVersionExpiration") for rule in rules] == [{"NoncurrentDays": 30}]


@pytest.mark.slow
def test_destroy_data_switch_deletes_the_lake_with_the_stack(destroy_data_synthesis):
    template = destroy_data_synthesis.template(DATA)
    _, bucket = lake_bucket(template)
    assert bucket["DeletionPolicy"] == "Delete"
    assert template.find_resources("Custom::S3AutoDeleteObjects"), "a deleted bucket must be emptied first"


def test_every_bucket_policy_denies_requests_without_tls(data: Template):
    buckets = data.find_resources("AWS::S3::Bucket")
    policies = data.find_resources("AWS::S3::BucketPolicy").values()
    denied = set()
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                assert statement["Principal"] == {"AWS": "*"}
                assert statement["Action"] == "s3:*"
                denied.add(policy["Properties"]["Bucket"]["Ref"])
    assert denied == set(buckets), "every bucket, the lake first, must refuse plain HTTP"
    assert lake_bucket(data)[0] in denied


def test_workgroup_enforces_engine_3_encrypted_results_and_a_scan_cutoff(data: Template):
    data.resource_count_is("AWS::Athena::WorkGroup", 1)
    results_bucket = Capture()
    data.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": names.ATHENA_WORKGROUP,
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "EngineVersion": Match.exact({"SelectedEngineVersion": "Athena engine version 3"}),
                "BytesScannedCutoffPerQuery": 10 * 1024**3,
                "ResultConfiguration": {
                    "EncryptionConfiguration": Match.exact(
                        {"EncryptionOption": "SSE_KMS", "KmsKey": lake_key_arn(data)}
                    ),
                    "OutputLocation": {"Fn::Join": ["", Match.array_with([{"Ref": results_bucket}])]},
                },
            },
        },
    )
    rules = data.find_resources("AWS::S3::Bucket")[results_bucket.as_string()]["Properties"]["LifecycleConfiguration"]
    assert any(rule.get("ExpirationInDays") for rule in rules["Rules"]), "query results must expire"


def test_one_named_query_per_sql_file_with_its_text(data: Template, sql_dir: Path):
    (workgroup_id,) = data.find_resources("AWS::Athena::WorkGroup")
    files = sorted(sql_dir.glob("*.sql"))
    data.resource_count_is("AWS::Athena::NamedQuery", len(files))
    for path in files:
        text = path.read_text(encoding="utf-8")
        description = text.splitlines()[0].removeprefix(f"-- {path.stem}: ")
        data.has_resource_properties(
            "AWS::Athena::NamedQuery",
            {
                "Name": path.stem,
                "QueryString": text,
                "Description": description,
                "Database": names.GLUE_DATABASE,
                "WorkGroup": {"Ref": workgroup_id},
            },
        )
        assert text.splitlines()[0] == f"-- {path.stem}: {description}"


def test_prepared_statement_makes_the_user_id_a_parameter(data: Template, sql_dir: Path):
    source = (sql_dir / f"{PER_USER_QUERY}.sql").read_text(encoding="utf-8")
    (workgroup_id,) = data.find_resources("AWS::Athena::WorkGroup")
    data.resource_count_is("AWS::Athena::PreparedStatement", 1)
    statement = Capture()
    data.has_resource_properties(
        "AWS::Athena::PreparedStatement", {"QueryStatement": statement, "WorkGroup": {"Ref": workgroup_id}}
    )
    text = statement.as_string()
    assert PER_USER_ID_LITERAL not in text
    assert text.count("?") == source.count(PER_USER_ID_LITERAL) + source.count("?")
    assert text == source.replace(PER_USER_ID_LITERAL, "?").rstrip().rstrip(";").rstrip()


def test_crawler_runs_on_a_schedule_logs_schema_changes_and_combines_compatible_schemas(data: Template):
    data.resource_count_is("AWS::Glue::Crawler", 1)
    data.resource_count_is("AWS::Glue::SecurityConfiguration", 1)
    configuration, security_name = Capture(), Capture()
    data.has_resource_properties(
        "AWS::Glue::Crawler",
        {
            "Schedule": {"ScheduleExpression": Match.string_like_regexp(r"^cron\(")},
            "SchemaChangePolicy": Match.exact({"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}),
            "Targets": {
                "CatalogTargets": Match.exact([{"DatabaseName": names.GLUE_DATABASE, "Tables": [names.GLUE_TABLE]}])
            },
            "Configuration": configuration,
            "CrawlerSecurityConfiguration": security_name,
        },
    )
    grouping = json.loads(configuration.as_string())["Grouping"]
    assert grouping["TableGroupingPolicy"] == "CombineCompatibleSchemas"
    data.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "Name": security_name.as_string(),
            "EncryptionConfiguration": {"CloudWatchEncryption": {"CloudWatchEncryptionMode": "SSE-KMS"}},
        },
    )


def crawler_role_id(template: Template) -> str:
    template.resource_count_is("AWS::Glue::Crawler", 1)
    role = Capture()
    template.has_resource_properties("AWS::Glue::Crawler", {"Role": {"Fn::GetAtt": [role, "Arn"]}})
    return role.as_string()


def test_crawler_role_has_no_broad_s3_policy(data: Template):
    role_id = crawler_role_id(data)
    role = data.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    managed = json.dumps(role.get("ManagedPolicyArns", []))
    assert "AmazonS3FullAccess" not in managed
    assert "S3" not in managed, "no AWS managed S3 policy at all"
    s3_actions = {
        action
        for statement in role_statements(data, role_id)
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
        if action.startswith("s3:")
    }
    assert s3_actions == {"s3:GetObject", "s3:ListBucket"}


@pytest.mark.slow
def test_named_queries_follow_whatever_sql_files_exist(synthesize_with, tmp_path: Path):
    (tmp_path / "00_count.sql").write_text("-- 00_count: how many records.\nSELECT count(*) FROM t;\n")
    (tmp_path / "01_sedentary_minutes_per_day.sql").write_text(
        "-- 01_sedentary_minutes_per_day: one user's minutes.\nSELECT * FROM t WHERE id = 1503960366;\n"
    )
    variant = synthesize_with(sql_dir=tmp_path)
    template = variant.template(DATA)
    template.resource_count_is("AWS::Athena::NamedQuery", 2)
    template.has_resource_properties(
        "AWS::Athena::NamedQuery", {"Name": "00_count", "Description": "how many records."}
    )
    template.has_resource_properties("AWS::Athena::NamedQuery", {"Name": "01_sedentary_minutes_per_day"})
    template.resource_count_is("AWS::Athena::PreparedStatement", 1)
    template.has_resource_properties(
        "AWS::Athena::PreparedStatement", {"QueryStatement": Match.string_like_regexp(r"WHERE id = \?$")}
    )
    assert [q.name for q in named_queries(tmp_path)] == ["00_count", "01_sedentary_minutes_per_day"]


def lake_key_arn(template: Template) -> dict:
    (key_id,) = template.find_resources("AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def sse(bucket: dict) -> dict:
    return bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]


def test_one_rotating_key_encrypts_the_lake_the_results_the_trail_and_the_crawlers_logs(data: Template):
    key_arn = lake_key_arn(data)
    (key,) = data.find_resources("AWS::KMS::Key").values()
    # Kept with the data it encrypts.
    data.has_resource(
        "AWS::KMS::Key", {"Properties": Match.object_like({"EnableKeyRotation": True}), "DeletionPolicy": "Retain"}
    )
    buckets = data.find_resources("AWS::S3::Bucket")
    lake_id, _ = lake_bucket(data)
    results = Capture()
    data.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": {
                "ResultConfiguration": {"OutputLocation": {"Fn::Join": ["", Match.array_with([{"Ref": results}])]}}
            }
        },
    )
    results_id = results.as_string()
    for bucket_id in (lake_id, results_id):
        rule = sse(buckets[bucket_id])
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
        assert rule["BucketKeyEnabled"] is True, "a bucket key keeps the KMS requests (and cost) low"
    # The buckets that take server access logs or trail logs can only be SSE-S3 (S3's and CloudTrail's delivery);
    # the trail's log files themselves are encrypted with the key.
    others = {i: b for i, b in buckets.items() if i not in (lake_id, results_id)}
    assert all(sse(b)["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256" for b in others.values())
    data.resource_count_is("AWS::CloudTrail::Trail", 1)
    data.has_resource_properties("AWS::CloudTrail::Trail", {"KMSKeyId": key_arn})
    data.resource_count_is("AWS::Glue::SecurityConfiguration", 1)
    data.has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {"EncryptionConfiguration": {"CloudWatchEncryption": Match.object_like({"KmsKeyArn": key_arn})}},
    )
    # CloudWatch Logs may use it for the crawler's log groups only; CloudTrail for this account's one trail only.
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    assert "/aws-glue/crawlers" in json.dumps(statements["CloudWatchLogsOfTheCrawler"]["Condition"])
    trail = statements["CloudTrailEncryptsThisTrail"]
    assert trail["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert ":trail/" in json.dumps(trail["Condition"]["StringEquals"]["aws:SourceArn"])
    assert (
        trail["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]
        == (trail["Condition"]["StringEquals"]["aws:SourceArn"])
    )


def test_the_crawler_decrypts_the_lake_only_through_s3_and_its_logs_only_through_cloudwatch(data: Template):
    kms = [
        s
        for s in role_statements(data, crawler_role_id(data))
        if any(a.startswith("kms:") for a in as_list(s["Action"]))
    ]
    assert kms and all(s["Resource"] == lake_key_arn(data) for s in kms)
    services = {json.dumps(s["Condition"]["StringEquals"]["kms:ViaService"]) for s in kms}
    assert len(services) == 2 and any("s3." in v for v in services) and any("logs." in v for v in services)


def assert_the_lake_denies_puts(template: Template, sid: str, prefix: str, condition: dict) -> None:
    """The lake's bucket policy has exactly this deny: anyone's s3:PutObject under `prefix` when `condition` holds.
    Only PutObject: deletes stay possible, so `cdk destroy` can empty the bucket."""
    lake_id, _ = lake_bucket(template)
    deny = {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "s3:PutObject",
        "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [lake_id, "Arn"]}, f"/{prefix}*"]]},
        "Condition": condition,
    }
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"Bucket": {"Ref": lake_id}, "PolicyDocument": {"Statement": Match.array_with([Match.exact(deny)])}},
    )


def test_the_lake_refuses_data_writes_that_do_not_come_through_a_vpc_endpoint(data: Template):
    """Only under the raw table's prefix."""
    assert_the_lake_denies_puts(
        data, "DataWritesOnlyThroughAVpcEndpoint", names.LAKE_DATA_PREFIX, {"Null": {"aws:SourceVpce": "true"}}
    )


def test_the_audit_trail_records_every_read_and_write_of_the_lake_in_its_own_bucket(data: Template):
    """And of the query results (tests/stacks/test_least_privilege.py)."""
    lake_id, _ = lake_bucket(data)
    data.resource_count_is("AWS::CloudTrail::Trail", 1)
    lake_objects = {"Fn::Join": ["", [{"Fn::GetAtt": [lake_id, "Arn"]}, "/"]]}
    log_bucket = Capture()
    data.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "EnableLogFileValidation": True,
            "IsLogging": True,
            "EventSelectors": [
                {
                    "ReadWriteType": "All",
                    "DataResources": [{"Type": "AWS::S3::Object", "Values": Match.array_with([lake_objects])}],
                }
            ],
            "S3BucketName": {"Ref": log_bucket},
        },
    )
    assert log_bucket.as_string() != lake_id
    assert "Audit" in log_bucket.as_string()


@pytest.mark.slow
def test_the_audit_trail_can_be_turned_off(synthesize_with):
    variant = synthesize_with(context={"auditTrail": "false"})
    variant.template(DATA).resource_count_is("AWS::CloudTrail::Trail", 0)
