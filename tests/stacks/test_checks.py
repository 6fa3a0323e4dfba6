"""The app passes cdk-nag's AwsSolutions pack and cfn-lint with nothing left over."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from stacks.constructs import catalog, curated_table, kafka_data, kafka_host
from tests.stacks.conftest import synthesize


def acknowledgements(outdir: Path) -> dict[tuple[str, str], str]:
    """Every cdk-nag acknowledgement in the assembly's metadata: (construct path, rule) to its reason."""
    acknowledged = {}
    for metadata_file in outdir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    acknowledged.update(
                        {(path, rule): reason for rule, reason in entry["data"].items() if "AwsSolutions-" in rule}
                    )
    return acknowledged


def test_cdk_nag_reports_no_finding(synthesis):
    report = json.loads((synthesis.outdir / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])]
    assert violations == []


def test_every_acknowledgement_has_a_reason(synthesis):
    acknowledged = acknowledgements(synthesis.outdir)
    assert acknowledged, "the app makes acknowledgements; the metadata must show them"
    for (path, rule), reason in acknowledged.items():
        assert len(reason) > 40, f"{path} {rule}: a reason says why accepting the finding is right"


@pytest.mark.slow
def test_every_acknowledgement_is_needed(synthesis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """With the acknowledgements switched off, cdk-nag reports exactly the findings they accept: none is stale."""
    acknowledged = {rule.removeprefix("Annotation::") for _, rule in acknowledgements(synthesis.outdir)}
    for module in (catalog, curated_table, kafka_data, kafka_host):
        monkeypatch.setattr(module, "acknowledge", lambda *args, **kwargs: None)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synthesize(tmp_path)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    findings = {v["ruleName"] for plugin in report["pluginReports"] for v in plugin.get("violations", [])}
    assert findings == acknowledged


def test_cdk_nag_fails_synth_on_an_insecure_resource(tmp_path: Path):
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Insecure")
    s3.Bucket(stack, "Open")  # no access logs, no TLS-only policy
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_cfn_lint_has_no_error_or_warning(synthesis):
    templates = sorted(synthesis.outdir.glob("*.template.json"))
    assert len(templates) == len(synthesis.templates) == 2
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or "cfn-lint"
    result = subprocess.run([cfn_lint, *map(str, templates)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
