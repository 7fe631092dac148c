"""Format v2 faces as the issuer makes them: nothing joins two faces of a card, each desk's face carries only
what it may see, age answers stay true for the card's whole life, one-name residents and gender work."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
from issuer_samples import NOW, PEOPLE, write_jsonl

from issuer import Issuer, IssuerError
from issuer.config import Face, default_config
from issuer.faces import threshold_from
from issuer.registry import Registry
from verifier_sdk import PRESETS, StatusList, TrustStore, Verifier
from verifier_sdk.format import jws
from verifier_sdk.errors import PurposeNotSatisfiedError, RevokedError
from verifier_sdk.format.jws import CompactJWS
from verifier_sdk.format.qr import decode_qr

ROUTING = {"rx_bin": "610591", "rx_pcn": "CITYRX", "rx_group": "MUNIRX01"}
#: Values every card issued the same day shares (so they join nothing); vct differs per face anyway.
DAY_WIDE = ("iss", "exp", "uri", "vct", "kid", "alg", "typ")


def city_config(**changes):
    return replace(default_config("https://id.example.gov", insecure_demo=True), **ROUTING, **changes)


@pytest.fixture
def city(tmp_path):
    with Issuer.init(tmp_path / "city", insecure_demo=True, now=NOW, config=city_config()) as city:
        yield city


def parts(text: str) -> tuple[dict, dict, bytes]:
    jws = CompactJWS.split(decode_qr(text).split("~")[0])
    return jws.unverified_header(), jws.unverified_payload(), jws.signature()


def leaves(value, path=""):
    """(name, value) of every leaf of a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, key)
    else:
        yield path, value


def test_no_value_joins_two_faces_of_a_card(city, tmp_path):
    people = [{**PEOPLE[i % len(PEOPLE)], "given_name": f"Resident {i}"} for i in range(60)]
    report = city.issue_batch(write_jsonl(tmp_path / "people.jsonl", people), tmp_path / "out", now=NOW,
                              workers=1, progress=False)
    assert report.ok
    shared = 0
    for folder in (tmp_path / "out").iterdir():
        faces = [parts((folder / f"{name}.txt").read_text()) for name in ("id", "culture", "rx")]
        for i, (header_a, payload_a, signature_a) in enumerate(faces):
            for header_b, payload_b, signature_b in faces[i + 1:]:
                assert signature_a != signature_b
                values_a = {(n, repr(v)) for n, v in [*leaves(header_a), *leaves(payload_a)] if n not in DAY_WIDE}
                values_b = {(n, repr(v)) for n, v in [*leaves(header_b), *leaves(payload_b)] if n not in DAY_WIDE}
                common = {v for _, v in values_a} & {v for _, v in values_b}
                shared += len(common - {"True", "False"})  # a boolean tells nothing about which card
    assert shared == 0  # not even the status index: each face draws its own


def test_day_wide_values_really_are_shared_by_the_day(city):
    first, second = (city.issue_card(p, now=NOW) for p in PEOPLE[:2])
    for name in ("id", "culture", "rx"):
        (h1, p1, _), (h2, p2, _) = parts(first.faces[name]), parts(second.faces[name])
        assert h1 == h2 and p1["iss"] == p2["iss"] and p1["exp"] == p2["exp"]
        assert p1["status"]["status_list"]["uri"] == p2["status"]["status_list"]["uri"]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_reads_a_face_carrying_nothing_it_may_not_see(city, preset):
    purpose = PRESETS[preset]
    card = city.issue_card({**PEOPLE[0], "gender": "F"}, now=NOW)
    faces = [name for name in card.faces if parts(card.faces[name])[1]["vct"] in purpose.vct]
    assert len(faces) == 1, "every preset reads exactly one face"
    payload = parts(card.faces[faces[0]])[1]
    carried = {name.removesuffix("_from") for name in payload} - {"iss", "vct", "exp", "status"}
    if preset == "library":  # the one exception: it reads the bank's face and is handed only the names
        assert carried - purpose.claims == {"birthdate", "card_number"}
        cred = Verifier(trust(city), purpose=preset).verify(card.faces[faces[0]], now=NOW)
        assert set(cred.claims) == {"given_name", "family_name"}
    else:
        assert carried <= purpose.claims


def trust(city, now=NOW):
    folder = city.publish(city.dir.parent / "pub", now=now)
    return TrustStore.load(folder, root_key=folder / "root-key.pem")


# Born so that each threshold is crossed while a card issued at NOW (2026-03-01) is valid (until 2031).
CROSSING = [("age_over_18", 18, "2010-07-19"), ("age_over_21", 21, "2007-12-31"), ("age_over_65", 65, "1963-02-28"),
            ("age_over_18", 18, "2012-01-01"), ("age_over_65", 65, "1964-08-29")]


@pytest.mark.parametrize(("claim", "years", "born"), CROSSING)
def test_age_predicate_is_true_from_the_first_of_the_month_after_the_birthday(city, claim, years, born):
    card = city.issue_card({"given_name": "Kai", "birthdate": born}, now=NOW)
    payload = parts(card.faces["culture"])[1]
    starts = threshold_from(date.fromisoformat(born), years)
    assert payload[f"{claim}_from"] == starts.isoformat() and claim not in payload
    birthday = date.fromisoformat(born).replace(year=date.fromisoformat(born).year + years)
    assert starts > birthday and (starts.month - birthday.month) % 12 == 1  # never early, only the month told
    midnight = datetime(starts.year, starts.month, starts.day, tzinfo=timezone.utc)
    # Years ahead: the city's key and a status list that never goes stale, so only the age answer changes.
    jwk = {**jws.public_key_to_jwk(city.keys.issuing_key("k1").public_key()), "kid": "k1", "alg": "ES256"}
    uri = card.status["culture"][0]
    lasting = TrustStore.from_jwks({"keys": [jwk]}, issuer=city.config.issuer,
                                   status_lists={uri: StatusList.empty(city.config.status_list_capacity, 2)})
    for moment, expected in ((midnight - timedelta(days=1), False), (midnight - timedelta(seconds=1), False),
                             (midnight, True), (midnight + timedelta(days=1), True)):
        cred = Verifier(lasting, purpose="museum").verify(card.faces["culture"], now=moment)
        assert cred.claims[claim] is expected, moment
        assert f"{claim}_from" not in cred.claims


def test_thresholds_reached_before_issue_are_true_and_after_expiry_false(city):
    card = city.issue_card({"given_name": "Mo", "birthdate": "1950-06-01"}, now=NOW)
    assert {k: v for k, v in parts(card.faces["culture"])[1].items() if k.startswith("age")} == \
        {"age_over_18": True, "age_over_21": True, "age_over_65": True}
    young = city.issue_card({"given_name": "Li", "birthdate": "2020-06-01"}, now=NOW)
    assert {k: v for k, v in parts(young.faces["culture"])[1].items() if k.startswith("age")} == \
        {"age_over_18": False, "age_over_21": False, "age_over_65": False}


def test_revoke_suspend_reinstate_change_every_face_together(city):
    card = city.issue_card(PEOPLE[1], now=NOW)
    desks = {"id": "bank", "culture": "museum", "rx": "pharmacy"}
    city.suspend(card.card_number)
    rows = city.registry.db.execute("SELECT face, status FROM card_faces").fetchall()
    assert sorted(rows) == [("culture", 2), ("id", 2), ("rx", 2)]
    city.reinstate(card.card_number)
    store = trust(city)
    assert all(Verifier(store, purpose=desks[n]).verify(t, now=NOW).status == "valid" for n, t in card.faces.items())
    city.revoke(card.card_number)
    store = trust(city)
    for name, text in card.faces.items():
        with pytest.raises(RevokedError):
            Verifier(store, purpose=desks[name]).verify(text, now=NOW)


def test_status_change_is_one_transaction(city, monkeypatch):
    card = city.issue_card(PEOPLE[1], now=NOW)
    calls = []

    def fail_after_cards(sql, *args):
        calls.append(sql)
        if sql.startswith("UPDATE card_faces"):
            raise sqlite3.OperationalError("disk full")
        return original(sql, *args)

    original = city.registry.db.execute
    registry_db = city.registry.db

    class Failing:
        def __getattr__(self, name):
            return getattr(registry_db, name)

        execute = staticmethod(fail_after_cards)

    monkeypatch.setattr(city.registry, "db", Failing())
    with pytest.raises(sqlite3.OperationalError):
        city.revoke(card.card_number)
    monkeypatch.undo()
    assert city.registry.card(city.registry.card_hash(card.card_number)).status == 0  # rolled back, faces too
    assert {s for (s,) in city.registry.db.execute("SELECT status FROM card_faces")} == {0}


@pytest.mark.parametrize("person", [{"given_name": "Aroha", "birthdate": "1972-05-17"},
                                    {"family_name": "Sukarno", "given_name": "", "birthdate": "1964-10-20"}])
def test_a_single_name_is_carried_exactly_and_every_desk_handles_it(city, tmp_path, person):
    card = city.issue_card(person, now=NOW, out_dir=tmp_path / "cards")
    name = {k: v for k, v in person.items() if k.endswith("_name") and v}
    store = trust(city)
    bank = Verifier(store, purpose="bank").verify(card.faces["id"], now=NOW)
    assert {k: v for k, v in bank.claims.items() if k.endswith("_name")} == name
    assert dict(Verifier(store, purpose="library").verify(card.faces["id"], now=NOW).claims) == name
    assert Verifier(store, purpose="museum").verify(card.faces["culture"], now=NOW).status == "valid"
    assert Verifier(store, purpose="pharmacy").verify(card.faces["rx"], now=NOW).status == "valid"
    assert (card.folder / "front.png").stat().st_size > 1000


def test_no_name_at_all_is_refused(city):
    with pytest.raises(IssuerError, match="name is missing"):
        city.issue_card({"given_name": " ", "birthdate": "1972-05-17"}, now=NOW)


def test_gender_is_optional_and_only_on_faces_that_list_it(tmp_path):
    faces = (Face("id", "urn:cityid:id:1", ("given_name", "family_name", "birthdate", "card_number", "gender")),
             *default_config("https://id.example.gov").faces[1:])
    with Issuer.init(tmp_path / "c", insecure_demo=True, now=NOW, config=city_config(faces=faces)) as city:
        x = city.issue_card({**PEOPLE[0], "gender": "x"}, now=NOW)
        none = city.issue_card(PEOPLE[1], now=NOW)
        assert parts(x.faces["id"])[1]["gender"] == "X"
        assert "gender" not in parts(none.faces["id"])[1]
        assert all("gender" not in parts(t)[1] for n, t in x.faces.items() if n != "id")
        with pytest.raises(IssuerError, match="gender must be empty or one of F, M, X"):
            city.issue_card({**PEOPLE[2], "gender": "unknown"}, now=NOW)
        # Shown only to purposes that ask for it: no preset does.
        assert "gender" not in Verifier(trust(city), purpose="bank").verify(x.faces["id"], now=NOW).claims
    with Issuer.init(tmp_path / "d", insecure_demo=True, now=NOW, config=city_config()) as city:
        card = city.issue_card({**PEOPLE[0], "gender": "F"}, now=NOW)
        assert all("gender" not in parts(t)[1] for t in card.faces.values())  # none by default


def test_routing_constants_come_from_city_json(city):
    payload = parts(city.issue_card(PEOPLE[0], now=NOW).faces["rx"])[1]
    assert {k: payload[k] for k in ROUTING} == ROUTING and payload["rx_eligible"] is True
    with pytest.raises(Exception, match="rx_bin"):
        city_config(rx_bin="12ab")


def test_wrong_face_at_each_desk(city):
    card = city.issue_card(PEOPLE[0], now=NOW)
    store = trust(city)
    for desk, wrong in (("bank", "culture"), ("library", "rx"), ("museum", "id"), ("pharmacy", "culture")):
        with pytest.raises(PurposeNotSatisfiedError):
            Verifier(store, purpose=desk).verify(card.faces[wrong], now=NOW)


V1_CARDS = """CREATE TABLE cards (
    card_hash BLOB PRIMARY KEY, list_no INTEGER NOT NULL REFERENCES status_lists(list_no), idx INTEGER NOT NULL,
    vcts TEXT NOT NULL, issued_on TEXT NOT NULL, expires_at INTEGER NOT NULL,
    kid TEXT NOT NULL REFERENCES issuing_keys(kid), status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    UNIQUE (list_no, idx)) WITHOUT ROWID"""


def test_a_schema_1_registry_is_migrated_and_its_cards_keep_their_status(city):
    """Cards printed before format v2 share one index across faces: they keep it, and their status."""
    db = city.registry.db
    db.execute("DROP TABLE card_faces")
    db.execute("DROP TABLE cards")
    db.execute(V1_CARDS)
    db.execute("CREATE INDEX cards_by_kid ON cards (kid, expires_at)")
    number = "100000000008"
    card_hash = city.registry.card_hash(number)
    db.execute("INSERT INTO cards VALUES (?, 1, 4242, 'urn:cityid:id:1 urn:cityid:perks:1', '2026-01-01', ?, 'k1', 0)",
               (card_hash, 2_000_000_000))
    db.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
    city.registry.close()
    registry = Registry.open(city.dir, city.keys.registry_secret())
    city.registry = registry
    assert registry.card(card_hash).faces == {"*": (1, 4242)}
    city.revoke(number)
    assert dict(registry.statuses(1)) == {4242: 1}
    assert registry.meta("schema_version") == "2"
    fresh = city.issue_card(PEOPLE[0], now=NOW)
    assert len({idx for _, idx in fresh.status.values()}) == 3
