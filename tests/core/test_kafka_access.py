"""The Kafka access declaration is plain data: the CDK app reads it without confluent-kafka, and the admin applies
exactly the declared entries."""

from __future__ import annotations

import subprocess
import sys

from core.kafka_access import USERS, acl_entries, principal
from tests.conftest import REPO_ROOT


def test_the_declaration_needs_no_kafka_client():
    code = (
        "import sys\n"
        "sys.modules['confluent_kafka'] = None\n"
        "from core.kafka_access import USERS, acl_entries\n"
        "assert USERS and acl_entries()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_each_entry_is_a_known_users_right_on_a_named_resource():
    entries = acl_entries("t", "t.dlq", "g")
    assert {entry.user for entry in entries} < set(USERS)
    assert {(entry.user, entry.resource, entry.name, entry.operation) for entry in entries} == {
        ("producer", "topic", "t", "write"),
        ("consumer", "topic", "t", "read"),
        ("consumer", "group", "g", "read"),
        ("consumer", "topic", "t.dlq", "write"),
        ("consumer", "topic", "t.dlq", "describe_configs"),
    }
    assert all(entry.principal == principal(entry.user) == f"User:{entry.user}" for entry in entries)


def test_the_admin_binds_exactly_the_declared_entries():
    from services.common.kafka_admin import acl_bindings

    bindings = acl_bindings("t", "t.dlq", "g")
    declared = {
        (entry.principal, entry.resource.upper(), entry.name, entry.operation.upper())
        for entry in acl_entries("t", "t.dlq", "g")
    }
    bound = {(b.principal, b.restype.name, b.name, b.operation.name) for b in bindings}
    assert bound == declared
    assert {b.host for b in bindings} == {"*"}
