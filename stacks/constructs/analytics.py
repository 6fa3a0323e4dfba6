"""Athena: the workgroup, its results bucket, one named query per `sql/` file, and the per-user prepared statement;
optionally a second workgroup on Athena's DuckDB engine with the same named queries in DuckDB's dialect."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from core import names
from core.queries import PER_USER_QUERY, named_queries, prepared_statement_text
from core.translate import to_duckdb
from stacks.defaults import bucket_props, kms_bucket_props, lifecycle_rule
from stacks.nag import acknowledge_single_region_bucket

#: Query results are working files, not data: they expire.
RESULTS_EXPIRE_AFTER_DAYS = 30


class Analytics(Construct):
    """`workgroup` (engine 3, enforced, encrypted results, a scan cutoff), `named_queries`, `prepared_statement`;
    with `duckdb_workgroup`, `duckdb_workgroup` and `duckdb_named_queries` too."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sql_dir: Path,
        access_logs: s3.IBucket,
        query_cutoff_gb: int,
        destroy_data: bool,
        duckdb_workgroup: bool = False,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)

        self.results_bucket = s3.Bucket(
            self,
            "Results",
            **bucket_props(
                destroy_data=destroy_data,
                server_access_logs_bucket=access_logs,
                server_access_logs_prefix="athena-results/",
                lifecycle_rules=[lifecycle_rule("expire-query-results", expire_after_days=RESULTS_EXPIRE_AFTER_DAYS)],
                **kms_bucket_props(key),
            ),
        )
        acknowledge_single_region_bucket(
            self.results_bucket,
            unversioned="Athena writes each query's results once, under the query execution's own id, and never "
            "again; they expire after 30 days, and running the query again gives them anew. Versioning would keep "
            "no older bytes worth keeping.",
        )

        def workgroup(construct_id: str, name: str, engine: str, results: str, description: str) -> athena.CfnWorkGroup:
            return athena.CfnWorkGroup(
                self,
                construct_id,
                name=name,
                description=description,
                state="ENABLED",
                # The workgroup holds only what this stack creates plus users' saved queries; removing the stack
                # removes it with them instead of failing.
                recursive_delete_option=True,
                work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                    enforce_work_group_configuration=True,
                    engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=engine),
                    bytes_scanned_cutoff_per_query=query_cutoff_gb * 1024**3,
                    publish_cloud_watch_metrics_enabled=True,
                    result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                        output_location=f"s3://{self.results_bucket.bucket_name}/{results}/",
                        encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                            encryption_option="SSE_KMS", kms_key=key.key_arn
                        ),
                    ),
                ),
            )

        self.workgroup = workgroup(
            "WorkGroup",
            names.ATHENA_WORKGROUP,
            "Athena engine version 3",
            "results",
            "Named queries over the fitness data lake.",
        )

        queries = named_queries(sql_dir)
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for query in queries:
            named_query = athena.CfnNamedQuery(
                self,
                f"Query{query.name}",
                name=query.name,
                description=query.description[:1024],
                database=names.GLUE_DATABASE,
                work_group=self.workgroup.ref,
                query_string=query.sql,
            )
            self.named_queries[query.name] = named_query

        self.prepared_statement: athena.CfnPreparedStatement | None = None
        per_user = next((q for q in queries if q.name == PER_USER_QUERY), None)
        if per_user is not None:
            self.prepared_statement = athena.CfnPreparedStatement(
                self,
                "PerUserStatement",
                statement_name=per_user.name.lstrip("0123456789_") + "_for_user",
                description=f"{per_user.description} The user id is the parameter: EXECUTE ... USING <id>."[:1024],
                query_statement=prepared_statement_text(per_user),
                work_group=self.workgroup.ref,
            )

        # Athena's DuckDB engine takes DuckDB's dialect: its named queries are sql/ translated as the local engine
        # translates it (core.translate), so the two run the same text. Its workgroups refuse prepared statements,
        # `MonitoringConfiguration` and `CustomerContentEncryptionConfiguration`, none of which this one sets.
        self.duckdb_workgroup: athena.CfnWorkGroup | None = None
        self.duckdb_named_queries: dict[str, athena.CfnNamedQuery] = {}
        if duckdb_workgroup:
            self.duckdb_workgroup = workgroup(
                "DuckDbWorkGroup",
                names.ATHENA_DUCKDB_WORKGROUP,
                names.ATHENA_DUCKDB_ENGINE,
                "results-duckdb",
                "Named queries over the fitness data lake, on Athena's DuckDB engine (DuckDB's dialect).",
            )
            for query in queries:
                self.duckdb_named_queries[query.name] = athena.CfnNamedQuery(
                    self,
                    f"DuckDbQuery{query.name}",
                    name=query.name,
                    description=query.description[:1024],
                    database=names.GLUE_DATABASE,
                    work_group=self.duckdb_workgroup.ref,
                    query_string=to_duckdb(query.sql),
                )
