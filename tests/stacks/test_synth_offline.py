"""`npx cdk synth` and `python app.py` succeed with no network and no AWS credentials, and agree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.stacks.test_snapshots import masked


def offline_env(outdir: Path) -> dict[str, str]:
    """No credentials, no profile, no instance metadata: nothing to reach AWS with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CDK_CONTEXT_JSON"}
    return {
        **env,
        "AWS_CONFIG_FILE": str(outdir / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(outdir / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }


def without_network(command: list[str]) -> list[str]:
    """Run in a new network namespace (loopback only) when the machine allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "-rn", *command]
    return command


def templates(outdir: Path) -> dict[str, dict]:
    return {p.name: masked(json.loads(p.read_text())) for p in sorted(outdir.glob("*.template.json"))}


def expected(synthesis) -> dict[str, dict]:
    """The in-process synthesis; asset hashes masked, since the services' source may change between the two."""
    return {f"{name}.template.json": masked(template) for name, template in synthesis.templates.items()}


@pytest.mark.slow
def test_python_app_synthesizes_offline(tmp_path: Path, synthesis):
    outdir = tmp_path / "out"
    env = {**offline_env(tmp_path), "CDK_OUTDIR": str(outdir)}
    result = subprocess.run(
        without_network([sys.executable, "app.py"]), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert templates(outdir) == expected(synthesis)


@pytest.mark.slow
def test_npx_cdk_synth_works_offline_and_matches_python_app(tmp_path: Path, synthesis):
    if not (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists():
        pytest.skip("the CDK CLI is not installed: run `npm ci` at the repository root")
    npx = shutil.which("npx")
    if not npx:
        pytest.skip("npx (Node.js) is not installed")
    outdir = tmp_path / "cdk.out"
    command = [npx, "--no-install", "cdk", "synth", "--quiet", "--output", str(outdir)]
    # No version, path or asset metadata: `python app.py` writes none (asset metadata marks a Lambda's code for SAM).
    command += ["--no-version-reporting", "--no-path-metadata", "--no-asset-metadata", "--no-notices"]
    result = subprocess.run(
        without_network(command), cwd=REPO_ROOT, env=offline_env(tmp_path), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert templates(outdir) == expected(synthesis)


@pytest.mark.slow
def test_npx_cdk_synth_on_msk_serverless_works_offline_with_no_docker(tmp_path: Path):
    """The images are DockerImageAssets: synth only records their Dockerfiles; no Docker engine is asked."""
    if not (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists():
        pytest.skip("the CDK CLI is not installed: run `npm ci` at the repository root")
    npx = shutil.which("npx")
    if not npx:
        pytest.skip("npx (Node.js) is not installed")
    outdir = tmp_path / "cdk.out"
    command = [npx, "--no-install", "cdk", "synth", "-c", "kafka=msk-serverless", "--quiet", "--output", str(outdir)]
    command += ["--no-version-reporting", "--no-notices"]
    env = {**offline_env(tmp_path), "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = subprocess.run(
        without_network(command), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((outdir / "FitnessPipelineStreaming.template.json").read_text())
    kinds = {resource["Type"] for resource in template["Resources"].values()}
    assert {"AWS::MSK::ServerlessCluster", "AWS::ECS::Service"} <= kinds
    assets = json.loads((outdir / "FitnessPipelineStreaming.assets.json").read_text())
    assert len(assets["dockerImages"]) == 3
