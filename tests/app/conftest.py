"""Fixtures for the partner app: a published test city, real cards as QR text and images, an app per desk."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# tests/ is on sys.path (tests/conftest.py) and tests/issuer/ would shadow the issuer package as a namespace.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deskkit import REVOKED_IDX, SUSPENDED_IDX, YEAR  # noqa: E402
from verifier_sdk import encode_qr  # noqa: E402


@dataclass
class Desk:
    root: Path
    trust_dir: Path
    root_key: Path
    instance: Path
    publication: Path


@pytest.fixture
def desk(tmp_path, city) -> Desk:
    """A city publication copied into a desk's trust folder, with fresh status lists."""
    city.status[REVOKED_IDX] = 1
    city.status[SUSPENDED_IDX] = 2
    now = int(time.time())
    publication = city.publish(tmp_path / "publication", status_token=city.status_token(iat=now - 60, ttl=86400))
    trust_dir = city.publish(tmp_path / "desk" / "trust", status_token=city.status_token(iat=now - 60, ttl=86400))
    root_key = tmp_path / "city-root-key.pem"  # pinned apart from the trust folder, as a desk would
    root_key.write_bytes((publication / "root-key.pem").read_bytes())
    return Desk(tmp_path, trust_dir, root_key, tmp_path / "desk" / "instance", publication)


@pytest.fixture
def cards(city) -> dict[str, str]:
    """QR texts of real signed card faces (what a scanner types)."""
    exp = int(time.time()) + YEAR
    return {
        "id": encode_qr(city.card("id", exp=exp)),
        "culture": encode_qr(city.card("culture", exp=exp)),
        "rx": encode_qr(city.card("rx", exp=exp)),
        "revoked": encode_qr(city.card("culture", exp=exp, idx=REVOKED_IDX)),
        "suspended": encode_qr(city.card("id", exp=exp, idx=SUSPENDED_IDX)),
        "expired": encode_qr(city.card("culture", exp=int(time.time()) - 86400)),
    }


@pytest.fixture
def make_app(desk):
    from verifier_sdk.app import create_app

    def build(purpose="bank", **config):
        settings = {"TESTING": True, "TRUST_DIR": str(desk.trust_dir), "ROOT_KEY": str(desk.root_key), "PURPOSE": purpose}
        settings.update(config)
        return create_app(settings, instance_path=str(desk.instance))

    return build


@pytest.fixture
def app(make_app):
    return make_app("bank")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# -- a real city made with the issuer (cards the repository does not contain) ------------------


@dataclass
class IssuedCity:
    publication: Path
    cards: dict[str, object]  # issuer.IssuedCard per PEOPLE key
    folders: dict[str, Path]


@pytest.fixture(scope="session")
def issued_city(tmp_path_factory) -> IssuedCity:
    """A city built with issuer.Issuer: one valid card, one revoked, a fresh publication."""
    from deskkit import PEOPLE
    from issuer import Issuer

    base = tmp_path_factory.mktemp("issued-city")
    with Issuer.init(base / "city", insecure_demo=True) as city:
        cards = {name: city.issue_card(person, out_dir=base / "cards") for name, person in PEOPLE.items()}
        city.revoke(cards["revoked"].card_number)
        publication = city.publish(base / "publication")
    return IssuedCity(Path(publication), cards, {name: card.folder for name, card in cards.items()})
