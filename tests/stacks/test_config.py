"""The deployment's settings: typed, validated, read from the context, refused in one line when wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stacks.config import ConfigError, PipelineConfig, context_keys
from tests.conftest import REPO_ROOT


def test_cdk_json_documents_every_setting_with_its_default():
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    config = PipelineConfig.from_context(context.get)
    assert config == PipelineConfig()
    assert set(context_keys().values()) <= set(context)


def test_cli_strings_are_coerced():
    values = {"simulatedUsers": "5", "destroyData": "true", "instanceType": "t4g.small", "topicPartitions": 6}
    config = PipelineConfig.from_context(values.get)
    assert (config.simulated_users, config.destroy_data, config.instance_type) == (5, True, "t4g.small")
    assert config.topic_partitions == 6


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"simulatedUsers": "many"}, "simulatedUsers must be a whole number"),
        ({"destroyData": "yes"}, "destroyData must be true or false"),
        ({"topicPartitions": "0"}, "topicPartitions must be between 1"),
        ({"instanceType": "big"}, "instanceType 'big' is not an EC2 instance type"),
        ({"lakeNoncurrentVersionDays": "0"}, "lakeNoncurrentVersionDays must be between 1 and 3650, got 0"),
        ({"lakeNoncurrentVersionDays": "a month"}, "lakeNoncurrentVersionDays must be a whole number"),
        ({"dataSnapshotRetentionDays": "366"}, "dataSnapshotRetentionDays must be between 1 and 365, got 366"),
        ({"hostGeneration": "0"}, "hostGeneration must be between 1 and 1000000, got 0"),
        ({"logRetentionDays": "31"}, "logRetentionDays must be one of 1, 3, 5, 7, 14, 30, 60, 90, .*, 3653, got 31"),
        ({"alarmEmail": "ops"}, "alarmEmail 'ops' is not an email address"),
        ({"diskAlarmPercent": "100"}, "diskAlarmPercent must be between 10 and 99"),
        ({"staleLakeFlushIntervals": "1"}, "staleLakeFlushIntervals must be between 2"),
        ({"auditLockDays": "731"}, "auditLockDays must be between 1 and 730, got 731"),
        ({"lakeObjectLockDays": "0"}, "lakeObjectLockDays must be between 1 and 3650, got 0"),
        ({"lakeObjectLock": "yes"}, "lakeObjectLock must be true or false"),
        ({"lakeObjectLock": "true", "destroyData": "true"}, "lakeObjectLock and destroyData exclude each other"),
    ],
)
def test_bad_values_are_refused_with_what_to_pass(values, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_context(values.get)


def test_the_audit_lock_is_off_only_when_the_data_may_be_destroyed():
    assert PipelineConfig().audit_lock == 365
    assert PipelineConfig(audit_lock_days=30).audit_lock == 30
    assert PipelineConfig(destroy_data=True).audit_lock is None


def test_the_stop_grace_follows_the_flush_interval():
    short, long = PipelineConfig(flush_interval_seconds=10), PipelineConfig(flush_interval_seconds=600)
    assert short.consumer_stop_grace_seconds > 10
    assert long.consumer_stop_grace_seconds - short.consumer_stop_grace_seconds == 590
    assert long.host_stop_timeout_seconds - short.host_stop_timeout_seconds == 590
    assert long.host_stop_timeout_seconds > long.consumer_stop_grace_seconds


def test_app_reports_a_bad_setting_in_one_line():
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"simulatedUsers": "many"})}
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(("!!", "b'!!"))]
    assert lines == ["error: simulatedUsers must be a whole number, got 'many'"]
