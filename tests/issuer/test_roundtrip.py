"""Every face of every issued card verifies with verifier_sdk; statuses and key changes give the right codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from issuer_samples import NOW, PEOPLE, write_jsonl

from issuer.city import demo_root_key_path
from issuer.errors import IssuerError

from verifier_sdk import TrustStore, VerificationError, Verifier
from verifier_sdk.format.jws import CompactJWS
from verifier_sdk.format.qr import decode_qr
from verifier_sdk.imaging import decode_image

LATER = NOW + timedelta(days=1)


def trust(pub):
    return TrustStore.load(pub, root_key=pub / "root-key.pem")


def code_of(store, text, purpose="bank", now=LATER):
    try:
        Verifier(store, purpose=purpose).verify(text, now=now)
    except VerificationError as exc:
        return exc.code
    return "valid"


def test_batch_cards_verify_for_every_purpose(demo_city, tmp_path):
    report = demo_city.issue_batch(write_jsonl(tmp_path / "people.jsonl", PEOPLE), tmp_path / "out",
                                   now=NOW, workers=2, progress=False)
    assert report.ok and report.issued == len(PEOPLE), report.failed
    pub = demo_city.publish(tmp_path / "pub", now=NOW)
    store = trust(pub)
    folders = sorted(p for p in (tmp_path / "out").iterdir())
    assert len(folders) == len(PEOPLE)
    seen_people = set()
    for folder in folders:
        id_text = (folder / "id.txt").read_text()
        culture_text = (folder / "culture.txt").read_text()
        rx_text = (folder / "rx.txt").read_text()
        bank = Verifier(store, purpose="bank").verify(id_text, now=LATER)
        assert bank.claims["card_number"] == folder.name and bank.status == "valid"
        person = next(p for p in PEOPLE if p["birthdate"] == bank.claims["birthdate"])
        names = {k: person[k] for k in ("given_name", "family_name") if person.get(k)}
        assert {k: bank.claims[k] for k in ("given_name", "family_name") if k in bank.claims} == names
        assert dict(Verifier(store, purpose="library").verify(id_text, now=LATER).claims) == names
        museum = Verifier(store, purpose="museum").verify(culture_text, now=LATER)
        assert "given_name" not in museum.claims and "birthdate" not in museum.claims
        assert museum.claims.get("museum_tier") == person.get("museum_tier")
        pharmacy = Verifier(store, purpose="pharmacy").verify(rx_text, now=LATER)
        assert pharmacy.claims == {"rx_eligible": person.get("rx_eligible") in (True, "yes", "true")}
        assert code_of(store, culture_text, "bank") == "purpose_not_satisfied"
        assert code_of(store, rx_text, "museum") == code_of(store, culture_text, "pharmacy") == "purpose_not_satisfied"
        seen_people.add(person["birthdate"])
        for name in ("front.png", "back.png", "front.svg", "back.svg"):
            assert (folder / name).stat().st_size > 1000
    assert len(seen_people) == len(PEOPLE)


def test_face_layout_and_age_flags(demo_city):
    card = demo_city.issue_card({"given_name": "Mia", "family_name": "Kim", "birthdate": "2008-03-02"}, now=NOW)
    jwt = CompactJWS.split(decode_qr(card.faces["culture"]).rstrip("~"))
    assert jwt.unverified_header() == {"alg": "ES256", "typ": "dc+sd-jwt", "kid": "k1"}
    payload = jwt.unverified_payload()
    assert list(payload) == ["iss", "vct", "exp", "status", "age_over_18_from", "age_over_21_from", "age_over_65"]
    assert payload["age_over_18_from"] == "2026-04-01"  # 18 tomorrow, carried from the first of next month
    assert payload["age_over_21_from"] == "2029-04-01" and payload["age_over_65"] is False  # not before expiry
    assert "birthdate" not in payload
    id_payload = CompactJWS.split(decode_qr(card.faces["id"]).rstrip("~")).unverified_payload()
    assert list(id_payload)[:4] == ["iss", "vct", "exp", "status"]
    assert id_payload["status"] != payload["status"] and id_payload["exp"] == payload["exp"]


def test_printed_png_scans_back_to_the_qr_text(demo_city, tmp_path):
    card = demo_city.issue_card(PEOPLE[2], now=NOW, out_dir=tmp_path / "out")
    assert decode_image((card.folder / "front.png").read_bytes()) == card.faces["id"]
    assert decode_image((card.folder / "back.png").read_bytes()) in (card.faces["culture"], card.faces["rx"])


def test_revoke_suspend_reinstate_expire(demo_city, tmp_path):
    cards = [demo_city.issue_card(p, now=NOW) for p in PEOPLE[:4]]
    expired = demo_city.issue_card(PEOPLE[4], now=NOW - timedelta(days=demo_city.config.validity_days + 2))
    demo_city.revoke(cards[0].card_number)
    demo_city.suspend(cards[1].card_number)
    demo_city.suspend(cards[2].card_number)
    demo_city.reinstate(cards[2].card_number)
    store = trust(demo_city.publish(tmp_path / "pub", now=NOW))
    assert [code_of(store, c.faces["id"]) for c in cards] == ["revoked", "suspended", "valid", "valid"]
    assert code_of(store, cards[0].faces["culture"], "museum") == "revoked"
    assert code_of(store, expired.faces["id"]) == "expired"
    from issuer import IssuerError

    with pytest.raises(IssuerError, match="final"):
        demo_city.reinstate(cards[0].card_number)
    with pytest.raises(IssuerError, match="no card"):
        demo_city.revoke("100000000008")


def test_rotation_keeps_old_cards_and_compromise_withdraws(demo_city, tmp_path):
    root = demo_root_key_path(demo_city.dir)
    old = demo_city.issue_card(PEOPLE[0], now=NOW)
    assert demo_city.rotate_key(now=NOW) == "k2"
    # Desks learn k2 only from a root-signed bundle: until then no card is signed with it.
    with pytest.raises(IssuerError, match="sign-bundle"):
        demo_city.issue_card(PEOPLE[1], now=NOW)
    assert demo_city.sign_bundle(root, now=NOW)["version"] == 2
    new = demo_city.issue_card(PEOPLE[1], now=NOW)
    assert new.kid == "k2"
    store = trust(demo_city.publish(tmp_path / "pub", now=NOW))
    assert code_of(store, old.faces["id"]) == "valid" and code_of(store, new.faces["id"]) == "valid"
    assert store.version == 2
    assert demo_city.rotate_key(compromised=True, now=NOW) == "k3"
    # Daily publication never needs the root key; the withdrawal waits for its signature, and says so.
    notices = []
    store = trust(demo_city.publish(tmp_path / "pub", now=NOW, notices=notices))
    assert store.version == 2 and any("sign-bundle" in n for n in notices)
    demo_city.sign_bundle(root, now=NOW)
    store = trust(demo_city.publish(tmp_path / "pub", now=NOW))
    assert store.version == 3
    assert code_of(store, old.faces["id"]) == "valid"  # k1 was retired normally, not compromised
    assert code_of(store, new.faces["id"]) == "unknown_key"  # k2 withdrawn
    newest = demo_city.issue_card(PEOPLE[3], now=NOW)
    assert code_of(store, newest.faces["id"]) == "valid"


def test_an_older_key_that_leaked_is_withdrawn_by_kid(demo_city, tmp_path):
    root = demo_root_key_path(demo_city.dir)
    old = demo_city.issue_card(PEOPLE[0], now=NOW)
    demo_city.rotate_key(now=NOW)
    demo_city.sign_bundle(root, now=NOW)
    with pytest.raises(IssuerError, match="compromised"):
        demo_city.rotate_key(kid="k1", now=NOW)  # already retired: only withdrawal makes sense
    assert demo_city.rotate_key(kid="k1", compromised=True, now=NOW) == "k2"  # k2 stays in use
    demo_city.sign_bundle(root, now=NOW)
    store = trust(demo_city.publish(tmp_path / "pub", now=NOW))
    assert code_of(store, old.faces["id"]) == "unknown_key"
    assert code_of(store, demo_city.issue_card(PEOPLE[1], now=NOW).faces["id"]) == "valid"


def test_status_key_rotation_and_roles(demo_city, tmp_path):
    root = demo_root_key_path(demo_city.dir)
    card = demo_city.issue_card(PEOPLE[0], now=NOW)
    assert demo_city.rotate_key(role="status", compromised=True, now=NOW) == "s2"
    demo_city.sign_bundle(root, now=NOW)
    store = trust(demo_city.publish(tmp_path / "pub", now=NOW))
    assert {k.kid: (k.role, k.withdrawn) for k in store.keys.values()} == {
        "k1": ("card", False), "s1": ("status", True), "s2": ("status", False)}
    assert code_of(store, card.faces["id"]) == "valid"  # its status list is now signed by s2
    assert not store.problems


def test_status_indexes_are_random_and_unique(demo_city):
    rows = demo_city.registry.db.execute("SELECT list_no, idx FROM card_faces").fetchall()
    assert rows == []
    idx = [idx for i in range(20) for _, idx in demo_city.issue_card(PEOPLE[i % len(PEOPLE)], now=NOW).status.values()]
    assert len(set(idx)) == 60 and idx != sorted(idx)


def test_status_list_rolls_over_when_full(tmp_path):
    from dataclasses import replace

    from issuer import Issuer
    from issuer.config import default_config

    config = replace(default_config("https://id.example.gov", insecure_demo=True), status_list_capacity=16,
                     status_list_fill=0.5)
    with Issuer.init(tmp_path / "c", insecure_demo=True, now=NOW, config=config) as city:
        cards = [city.issue_card(PEOPLE[i % len(PEOPLE)], now=NOW) for i in range(7)]
        uris = {uri for c in cards for uri, _ in c.status.values()}
        assert uris == {f"https://id.example.gov/status/{n}" for n in (1, 2, 3)}  # 21 faces, 8 a list
        city.revoke(cards[-1].card_number)
        # The bundle declared list 1 and one spare; list 3 waits for the root's signature, and publish says so.
        notices = []
        city.publish(tmp_path / "pub", now=NOW, notices=notices)
        assert any("status list(s) 3" in n for n in notices)
        city.sign_bundle(demo_root_key_path(city.dir), now=NOW)
        store = trust(city.publish(tmp_path / "pub", now=NOW))
        assert sorted(p.name for p in (tmp_path / "pub" / "status").iterdir()) == ["1.jwt", "2.jwt", "3.jwt", "4.jwt"]
        assert code_of(store, cards[-1].faces["id"]) == "revoked"
        assert code_of(store, cards[-1].faces["culture"], "museum") == "revoked"
        assert code_of(store, cards[0].faces["id"]) == "valid"
