"""One synthesis of the real app for the whole directory: the stacks' templates, as CloudFormation sees them."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.conftest import REPO_ROOT

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def load_app_module() -> ModuleType:
    """`app.py` at the repository root, imported as a module."""
    spec = importlib.util.spec_from_file_location("cdk_app", REPO_ROOT / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Synthesis:
    """A synthesized assembly: its folder, and each stack's template as JSON (for snapshots) and for assertions."""

    outdir: Path
    templates: dict[str, dict[str, Any]]
    _assertable: dict[str, Template] = field(default_factory=dict)

    def template(self, stack: str) -> Template:
        """The stack's template for `aws_cdk.assertions`."""
        if stack not in self._assertable:
            self._assertable[stack] = Template.from_json(self.templates[stack])
        return self._assertable[stack]


def role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    """Every policy statement the role holds: its inline policies and the AWS::IAM::Policy resources attached to it."""
    role = template.find_resources("AWS::IAM::Role")[role_id]
    documents = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
    attached = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": Match.array_with([{"Ref": role_id}])}}
    ).values()
    documents += [p["Properties"]["PolicyDocument"] for p in attached]
    return [statement for document in documents for statement in document["Statement"]]


def as_list(value: Any) -> list[Any]:
    """An IAM element that CloudFormation takes as one value or a list of them, as a list."""
    return value if isinstance(value, list) else [value]


def synthesize(outdir: Path, **kwargs: Any) -> Synthesis:
    app_module = load_app_module()
    app = app_module.build_app(outdir=str(outdir), **kwargs)
    assembly = app.synth()
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    return Synthesis(outdir=outdir, templates=json.loads(json.dumps(templates)))


@pytest.fixture(scope="session")
def app_module() -> ModuleType:
    return load_app_module()


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The app exactly as `cdk synth` builds it: `cdk.json`'s context, the repository's `sql/`, cdk-nag on."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesize_with(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Synthesis]:
    """Synthesize a variant of the app (other context or other `sql/`) into a fresh folder."""

    def run(**kwargs: Any) -> Synthesis:
        return synthesize(tmp_path_factory.mktemp("cdk.out"), **kwargs)

    return run


@pytest.fixture(scope="session")
def destroy_data_synthesis(synthesize_with: Callable[..., Synthesis]) -> Synthesis:
    """The app deployed with `destroyData=true`, shared by the tests of what `cdk destroy` then deletes."""
    return synthesize_with(context={"destroyData": "true"})


@pytest.fixture(scope="session")
def retention_synthesis(synthesize_with: Callable[..., Synthesis]) -> Synthesis:
    """The app with retention and alarm settings other than their defaults, shared by the tests that they take
    effect."""
    return synthesize_with(
        context={
            "lakeNoncurrentVersionDays": "45",
            "dataSnapshotRetentionDays": "12",
            "logRetentionDays": "90",
            "alarmEmail": "ops@example.com",
            "lagAlarmSeconds": "120",
            "diskAlarmPercent": "70",
            "staleLakeFlushIntervals": "3",
            "auditLockDays": "90",
            "lakeObjectLock": "true",
            "lakeObjectLockDays": "45",
        }
    )


@pytest.fixture(scope="session")
def sql_dir() -> Path:
    path = REPO_ROOT / "sql"
    if not any(path.glob("*.sql")):
        pytest.skip("sql/ has no queries yet")
    return path


@pytest.fixture(scope="session")
def synthesis_of(synthesize_with: Callable[..., Synthesis]) -> Callable[[str], Synthesis]:
    """The app for one value of `kafka` (`ec2`, `msk-serverless`, `msk-provisioned`), synthesized once a session."""
    made: dict[str, Synthesis] = {}

    def of(kafka: str) -> Synthesis:
        if kafka not in made:
            made[kafka] = synthesize_with(context={"kafka": kafka})
            made[kafka].kafka = kafka  # type: ignore[attr-defined]
        return made[kafka]

    return of


@pytest.fixture(scope="session", params=["msk-serverless", "msk-provisioned"])
def msk_synthesis(request: pytest.FixtureRequest, synthesis_of: Callable[[str], Synthesis]) -> Synthesis:
    """The app with Kafka on Amazon MSK and the services on ECS Fargate, once per kind of cluster."""
    return synthesis_of(request.param)


@pytest.fixture(scope="session", params=["ec2", "msk-serverless", "msk-provisioned"])
def form_synthesis(request: pytest.FixtureRequest, synthesis_of: Callable[[str], Synthesis]) -> Synthesis:
    """The app in each of its three forms, for what must hold in all of them."""
    return synthesis_of(request.param)
