"""Every file the local toolkit writes a secret into is for its owner alone (mode 0600), whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.kafka_access import ADMIN_USER, USERS
from fitpipe.kafka.broker import LocalBroker, write_private


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that would leave new files readable by everyone (0644) or even writable by the group."""
    previous = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_secure_brokers_credentials_and_settings_are_the_owners_alone(tmp_path: Path, permissive_umask: None):
    broker = LocalBroker(home=tmp_path / "broker", secure=True)
    passwords = broker.passwords()
    assert set(passwords) == set(USERS)
    config = broker._write_config(port=19092, controller_port=19093)
    assert passwords[ADMIN_USER] in config.read_text(), "the settings hold the admin's password (its JAAS lines)"
    assert mode(broker.credentials_file) == 0o600
    assert mode(config) == 0o600


def test_a_file_made_readable_before_is_narrowed_when_written_again(tmp_path: Path):
    path = tmp_path / "server.properties"
    path.write_text("old\n")
    path.chmod(0o644)
    write_private(path, "new\n")
    assert mode(path) == 0o600
    assert path.read_text() == "new\n"
