"""Card faces: the claims each face carries for one resident, signed as an SD-JWT VC and packed for a QR.

All faces of a card share its expiry and status index.  Age flags are computed at
issuance; the birth date itself appears only on faces that list ``birthdate``.
The payload key order (iss, vct, exp, status, claims) is fixed: the QR dictionary
is tuned to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from verifier_sdk.format.jws import sign
from verifier_sdk.format.qr import encode_qr
from verifier_sdk.format.sdjwt import Disclosable, build_payload

from .config import AGE_CLAIM, CityConfig, Face
from .records import PersonRecord

HEADER_TYP = "dc+sd-jwt"
ALG = "ES256"


@dataclass(frozen=True)
class CardParams:
    """What the registry fixed for one card; a resumed batch re-signs with exactly these."""

    card_number: str
    list_no: int
    idx: int
    issued_on: date
    expires_at: int
    kid: str


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def claim_value(name: str, record: PersonRecord, card_number: str, today: date) -> Any:
    """One claim's value, or None when the record has nothing for it (the claim is then left out)."""
    match = AGE_CLAIM.fullmatch(name)
    if match:
        return age_on(record.birthdate, today) >= int(match.group(1))
    if name == "birthdate":
        return record.birthdate.isoformat()
    if name == "card_number":
        return card_number
    return getattr(record, name)


def face_claims(face: Face, record: PersonRecord, card_number: str, today: date) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for name in face.claims:
        value = claim_value(name, record, card_number, today)
        if value is not None:
            claims[name] = Disclosable(value) if name in face.disclosable else value
    return claims


def sign_face(face: Face, claims: dict[str, Any], *, issuer: str, status_uri: str, params: CardParams,
              private_key: Any) -> str:
    """The compact SD-JWT VC of one face: ``<JWS>~`` plus any disclosures the face's config asks for."""
    body = {"iss": issuer, "vct": face.vct, "exp": params.expires_at,
            "status": {"status_list": {"idx": params.idx, "uri": status_uri}}, **claims}
    payload, disclosures = build_payload(body)
    jwt = sign({"typ": HEADER_TYP, "kid": params.kid}, payload, private_key, ALG)
    return jwt + "~" + "".join(d.encoded + "~" for d in disclosures)


def card_faces(config: CityConfig, record: PersonRecord, params: CardParams, private_key: Any) -> dict[str, str]:
    """Face name -> QR text (``CID1:...``) for every face in the city's config."""
    status_uri = config.status_list_uri(params.list_no)
    return {
        face.name: encode_qr(sign_face(face, face_claims(face, record, params.card_number, params.issued_on),
                                       issuer=config.issuer, status_uri=status_uri, params=params,
                                       private_key=private_key))
        for face in config.faces
    }
