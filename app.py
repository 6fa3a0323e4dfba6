#!/usr/bin/env python3
"""The CDK app: the config from context, the two stacks, and cdk-nag's AwsSolutions checks over all of it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, DefaultStackSynthesizer, Tags, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks

from core import names
from core.queries import NamedQueryError
from stacks.config import ConfigError, PipelineConfig
from stacks.data_stack import DataStack
from stacks.msk_streaming_stack import MskStreamingStack
from stacks.streaming_stack import StreamingStack

REPO_ROOT = Path(__file__).resolve().parent
DATA_STACK = "FitnessPipelineData"
STREAMING_STACK = "FitnessPipelineStreaming"


def cdk_json_context() -> dict[str, Any]:
    """`cdk.json`'s context, so `python app.py` synthesizes what `cdk synth` does (the CLI's context wins)."""
    return json.loads((REPO_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]


def build_app(
    *,
    context: dict[str, Any] | None = None,
    outdir: str | None = None,
    sql_dir: Path = REPO_ROOT / "sql",
    source_root: Path = REPO_ROOT,
) -> App:
    """The whole app. `context` overrides `cdk.json`'s; `sql_dir` holds the named queries."""
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    config = PipelineConfig.from_context(app.node.try_get_context)
    # No bootstrap-version rule: synthesized templates depend only on the app, which keeps snapshots stable.
    data = DataStack(
        app,
        DATA_STACK,
        config=config,
        sql_dir=sql_dir,
        synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
        description="Fitness pipeline: the S3 lake, its Glue catalog and crawler, Athena workgroup and queries",
    )
    # The same stack name for every `kafka` choice: switching replaces the streaming side; the data stack stays.
    streaming_stack = MskStreamingStack if config.msk else StreamingStack
    streaming = streaming_stack(
        app,
        STREAMING_STACK,
        config=config,
        lake=data.lake_exports,
        workgroup_name=names.ATHENA_WORKGROUP,
        source_root=source_root,
        synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
        description=(
            f"Fitness pipeline: Amazon MSK ({config.kafka.removeprefix('msk-')}), the services on ECS Fargate"
            if config.msk
            else "Fitness pipeline: Kafka, the producer and the consumer on one instance"
        ),
    )
    streaming.node.add_dependency(data)
    Tags.of(app).add("project", "fitness-pipeline")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), HIPAASecurityChecks(app), NIST80053R5Checks(app))
    return app


def main() -> int:
    try:
        app = build_app()
    except (ConfigError, NamedQueryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
