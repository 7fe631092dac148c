"""Card faces: the claims each face carries for one resident, signed as an SD-JWT VC and packed for a QR.

Faces of one card share nothing that every card issued the same day does not share
too: each face has its own random status index (the registry draws them), and the
expiry, issuer and key are the day's.  A card lives five years, so every claim must
stay true while it is valid: an age threshold reached before issue is ``true``, one
reached while the card is valid is carried as ``age_over_NN_from`` (the first day of
the month after the birth month: never early, at most a birth month revealed), one
not reached before expiry is ``false``.  The SDK answers ``age_over_NN`` at the
moment of the check.  The payload key order (iss, vct, exp, status, claims) is fixed:
the QR dictionary is tuned to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Mapping

from verifier_sdk.format.jws import sign
from verifier_sdk.format.qr import encode_qr
from verifier_sdk.format.sdjwt import Disclosable, build_payload

from .config import AGE_CLAIM, RX_ROUTING, CityConfig, Face
from .records import PersonRecord

HEADER_TYP = "dc+sd-jwt"
ALG = "ES256"


@dataclass(frozen=True)
class CardParams:
    """What the registry fixed for one card; a resumed batch re-signs with exactly these."""

    card_number: str
    #: Face name -> (status list number, index): every face has its own random index.
    status: Mapping[str, tuple[int, int]]
    issued_on: date
    expires_at: int
    kid: str


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def threshold_from(born: date, years: int) -> date:
    """The first day of the month after the birth month, ``years`` on: never before the birthday."""
    year, month = born.year + years, born.month + 1
    return date(year + 1, 1, 1) if month > 12 else date(year, month, 1)


def age_claim(name: str, years: int, born: date, issued_on: date, expires_at: int) -> tuple[str, Any]:
    """``(name, True | False)`` or ``(name + "_from", "YYYY-MM-DD")``: true for the card's whole life."""
    if age_on(born, issued_on) >= years:
        return name, True
    starts = threshold_from(born, years)
    if datetime(starts.year, starts.month, starts.day, tzinfo=timezone.utc).timestamp() < expires_at:
        return f"{name}_from", starts.isoformat()
    return name, False


def claim_value(name: str, record: PersonRecord, config: CityConfig, card_number: str) -> Any:
    """One claim's value, or None when there is nothing for it (the claim is then left out)."""
    if name == "birthdate":
        return record.birthdate.isoformat()
    if name == "card_number":
        return card_number
    if name in RX_ROUTING:
        return getattr(config, name) or None
    return getattr(record, name)


def face_claims(face: Face, record: PersonRecord, config: CityConfig, params: CardParams) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for name in face.claims:
        match = AGE_CLAIM.fullmatch(name)
        if match:
            key, value = age_claim(name, int(match.group(1)), record.birthdate, params.issued_on, params.expires_at)
        else:
            key, value = name, claim_value(name, record, config, params.card_number)
        if value is not None:
            claims[key] = Disclosable(value) if name in face.disclosable else value
    return claims


def sign_face(face: Face, claims: dict[str, Any], *, issuer: str, status_uri: str, idx: int, params: CardParams,
              private_key: Any) -> str:
    """The compact SD-JWT VC of one face: ``<JWS>~`` plus any disclosures the face's config asks for."""
    body = {"iss": issuer, "vct": face.vct, "exp": params.expires_at,
            "status": {"status_list": {"idx": idx, "uri": status_uri}}, **claims}
    payload, disclosures = build_payload(body)
    jwt = sign({"typ": HEADER_TYP, "kid": params.kid}, payload, private_key, ALG)
    return jwt + "~" + "".join(d.encoded + "~" for d in disclosures)


def card_faces(config: CityConfig, record: PersonRecord, params: CardParams, private_key: Any) -> dict[str, str]:
    """Face name -> QR text (``CID2:...``) for every face in the city's config."""
    faces = {}
    for face in config.faces:
        list_no, idx = params.status[face.name]
        faces[face.name] = encode_qr(sign_face(
            face, face_claims(face, record, config, params), issuer=config.issuer,
            status_uri=config.status_list_uri(list_no), idx=idx, params=params, private_key=private_key))
    return faces
