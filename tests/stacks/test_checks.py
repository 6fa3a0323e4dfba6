"""The app passes cdk-nag's AwsSolutions, HIPAA Security and NIST 800-53 rev 5 packs and cfn-lint with nothing left
over."""

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

from stacks import nag
from tests.conftest import REPO_ROOT, require_tool
from tests.stacks.conftest import synthesize

#: The cdk-nag packs the app runs, by the prefix of their rule ids.
PACKS = ("AwsSolutions", "HIPAA.Security", "NIST.800.53.R5")
PACK_PREFIXES = tuple(f"{pack}-" for pack in PACKS)


def acknowledgements(outdir: Path) -> dict[tuple[str, str], str]:
    """Every cdk-nag acknowledgement in the assembly's metadata: (construct path, rule) to its reason."""
    acknowledged = {}
    for metadata_file in outdir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    acknowledged.update(
                        {
                            (path, rule): reason
                            for rule, reason in entry["data"].items()
                            if rule.removeprefix("Annotation::").startswith(PACK_PREFIXES)
                        }
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


def switch_off_acknowledgements(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every module of the stacks that acknowledges findings does so through `stacks.nag.acknowledge`: make it a
    no-op everywhere (the stacks' modules must be imported already, as a synthesis does)."""
    stack_modules = [m for name, m in sys.modules.items() if name.startswith("stacks.")]
    for module in [nag, *(m for m in stack_modules if getattr(m, "acknowledge", None) is nag.acknowledge)]:
        monkeypatch.setattr(module, "acknowledge", lambda *args, **kwargs: None)


@pytest.mark.slow
def test_every_acknowledgement_is_needed(synthesis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """With the acknowledgements switched off, cdk-nag reports exactly the findings they accept: none is stale."""
    acknowledged = {rule.removeprefix("Annotation::") for _, rule in acknowledgements(synthesis.outdir)}
    switch_off_acknowledgements(monkeypatch)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        synthesize(tmp_path)
    report = json.loads((tmp_path / "validation-report.json").read_text())
    findings = {v["ruleName"] for plugin in report["pluginReports"] for v in plugin.get("violations", [])}
    assert findings == acknowledged
    assert {finding.split("-", 1)[0] for finding in findings} == set(PACKS), "all three packs run"


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


def checkov_program() -> str:
    """checkov from its own environment (`make checkov-env`: it pins boto3 below the project's), or the PATH."""
    own = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
    return str(own) if own.exists() else require_tool("checkov")


def test_checkov_reports_no_failed_check(synthesis):
    """Every check passes or is skipped in the resource's own metadata, with the reason beside it."""
    templates = sorted(synthesis.outdir.glob("*.template.json"))
    command = [checkov_program(), "--framework", "cloudformation", "--skip-download", "--quiet", "--compact"]
    command += ["--output", "json"]
    for template in templates:
        command += ["--file", str(template)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    assert sum(report["summary"]["failed"] for report in reports) == 0
    passed = sum(report["summary"]["passed"] for report in reports)
    assert passed > 50, "checkov read the templates"
    for report in reports:
        for check in report["results"].get("skipped_checks", []):
            assert len(check["suppress_comment"]) > 40, f"{check['check_id']} {check['resource']}: say why"
