"""`python -m services.common.kafka_admin` with `KAFKA_ACCESS_ACLS=false`, as the consumer's task runs it on MSK
Serverless: it creates both topics and no ACL. The session's broker has no authorizer, so an ACL request would
fail there: the run succeeding proves none was made."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from confluent_kafka.admin import AdminClient

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def test_topics_only_creates_both_topics_and_no_acl(kafka_bootstrap: str, topic_name: str):
    env = {
        **os.environ,
        "KAFKA_ACCESS_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ACCESS_TOPIC": topic_name,
        "KAFKA_ACCESS_DEAD_LETTER_TOPIC": f"{topic_name}.dlq",
        "KAFKA_ACCESS_PARTITIONS": "2",
        "KAFKA_ACCESS_ACLS": "false",
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.common.kafka_admin"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "are in place" in result.stdout + result.stderr and "ACL" not in result.stdout + result.stderr
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert len(topics[topic_name].partitions) == 2
    assert len(topics[f"{topic_name}.dlq"].partitions) == 2


def test_with_acls_the_same_run_asks_for_them(kafka_bootstrap: str, topic_name: str):
    """The counterpart: with ACLs on (the default), a broker without an authorizer refuses the run."""
    env = {
        **os.environ,
        "KAFKA_ACCESS_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ACCESS_TOPIC": topic_name,
        "KAFKA_ACCESS_DEAD_LETTER_TOPIC": f"{topic_name}.dlq",
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.common.kafka_admin"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "could not create the ACL" in result.stderr
