"""Shared fixtures: a test city with real keys, and a guard that proves verification stays offline."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import the factory as a plain module

# SoftHSM2 tokens and a PostgreSQL server for the key-store and registry tests.
pytest_plugins = ("servers",)


@pytest.fixture(autouse=True)
def trust_versions(tmp_path_factory, monkeypatch):
    """Each test remembers accepted trust versions in its own state folder (verifier_sdk.installed)."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("CITYID_STATE_DIR", str(folder))
    return folder


@pytest.fixture
def city():
    from factory import TestCity

    return TestCity()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket or resolve a name fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted during verification")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
