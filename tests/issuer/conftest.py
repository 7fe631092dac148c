"""Issuer fixtures: real cities (real keys, real SQLite) in temporary folders."""

from __future__ import annotations

import pytest

from issuer import Issuer
from issuer_samples import NOW, PASSPHRASE


@pytest.fixture
def demo_city(tmp_path):
    with Issuer.init(tmp_path / "city", issuer="https://id.example.gov", insecure_demo=True, now=NOW) as city:
        yield city


@pytest.fixture
def secure_city(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYID_PASSPHRASE", PASSPHRASE)
    with Issuer.init(tmp_path / "city", issuer="https://id.example.gov", now=NOW, root_key_out=tmp_path / "usb" / "root.pem") as city:
        yield city
