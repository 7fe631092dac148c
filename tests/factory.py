"""A tiny test city: real keys, real signatures, every knob a test needs to build good and bad cards.

The real issuer lives in ``issuer/``; this factory exists so verifier tests can craft
credentials the issuer would never make (tampered, mis-typed, mis-signed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from verifier_sdk.format import jws
from verifier_sdk.format.sdjwt import SDJWT, Disclosable, build_payload, digest
from verifier_sdk.format.statuslist import StatusList, make_status_list_token
from verifier_sdk.trust import TrustStore

ISSUER = "https://id.example.gov"
STATUS_URI = f"{ISSUER}/status/1"
NOW = 1_780_000_000  # 2026-05-28, a fixed clock for every test
YEAR = 365 * 86400

CULTURE = {"age_over_18": True, "age_over_21": True, "age_over_65": False, "museum_tier": "gold"}
RX = {"rx_eligible": True, "rx_bin": "610591", "rx_pcn": "CITYRX", "rx_group": "MUNIRX01"}
PERSON = {"given_name": "Amara", "family_name": "Okonkwo-Reyes", "birthdate": "1990-01-31", "card_number": "123456789012"}


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(public_key: Any) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class TestCity:
    __test__ = False  # not a pytest class

    root: ec.EllipticCurvePrivateKey = field(default_factory=new_key)
    #: Card keys are named k1, k2, ...; status list keys s1, s2, ... (the role in the bundle follows the name).
    keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=lambda: {"k1": new_key(), "s1": new_key()})
    status: StatusList = field(default_factory=lambda: StatusList.empty(1024, 2))
    issuer: str = ISSUER

    def card(
        self,
        face: str = "culture",
        claims: dict[str, Any] | None = None,
        *,
        exp: float = NOW + YEAR,
        idx: int | None = 7,
        kid: str = "k1",
        header: dict[str, Any] | None = None,
        payload_extra: dict[str, Any] | None = None,
        holder_key: Any = None,
        signing_key: Any = None,
        alg: str = "ES256",
    ) -> str:
        """A compact SD-JWT card face.  Wrap values in Disclosable to put them behind disclosures."""
        claims = dict({"culture": CULTURE, "rx": RX}.get(face, PERSON)) if claims is None else claims
        body: dict[str, Any] = {"iss": self.issuer, "vct": f"urn:cityid:{face}:1", "exp": exp}
        if idx is not None:
            body["status"] = {"status_list": {"idx": idx, "uri": STATUS_URI}}
        if holder_key is not None:
            body["cnf"] = {"jwk": jws.public_key_to_jwk(holder_key.public_key())}
        body.update(claims)
        body.update(payload_extra or {})
        payload, disclosures = build_payload(body)
        head = {"typ": "dc+sd-jwt", "kid": kid, **(header or {})}
        token = jws.sign(head, payload, signing_key or self.keys[kid], alg)
        return token + "~" + "".join(d.encoded + "~" for d in disclosures)

    def raw(self, payload: dict[str, Any], disclosures: list[str] = (), *, header: dict[str, Any] | None = None, kid: str = "k1", alg: str = "ES256", signing_key: Any = None) -> str:
        """Sign exactly this payload and append exactly these disclosure strings."""
        head = {"typ": "dc+sd-jwt", "kid": kid, **(header or {})}
        token = jws.sign(head, payload, signing_key or self.keys[kid], alg)
        return token + "~" + "".join(d + "~" for d in disclosures)

    def base_payload(self, face: str = "culture", **extra: Any) -> dict[str, Any]:
        return {"iss": self.issuer, "vct": f"urn:cityid:{face}:1", "exp": NOW + YEAR, **extra}

    @staticmethod
    def role(kid: str) -> str:
        return "status" if kid.startswith("s") else "card"

    def status_token(self, *, iat: float = NOW - 3600, ttl: int = 86400, exp: float | None = None, kid: str = "s1", sub: str = STATUS_URI, signing_key: Any = None) -> str:
        return make_status_list_token(self.status, sub=sub, iss=self.issuer, kid=kid, private_key=signing_key or self.keys[kid], iat=int(iat), ttl=ttl, exp=None if exp is None else int(exp))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**jws.public_key_to_jwk(k.public_key()), "kid": kid, "alg": "ES256", "role": self.role(kid)} for kid, k in self.keys.items()]}

    def trust(self, **status_kwargs: Any) -> TrustStore:
        return TrustStore.from_jwks(self.jwks(), issuer=self.issuer, status_lists={STATUS_URI: self.status_token(**status_kwargs)})

    def bundle_claims(self, version: int = 1, withdrawn: tuple[str, ...] = (), windows: dict[str, tuple[float, float]] | None = None, iat: float = NOW - 3600, exp: float | None = None) -> dict[str, Any]:
        windows = windows or {}
        return {
            "iss": self.issuer,
            "version": version,
            "iat": iat,
            "exp": exp if exp is not None else iat + 400 * 86400,
            "issuer_keys": [
                {
                    "kid": kid,
                    "alg": "ES256",
                    "jwk": jws.public_key_to_jwk(k.public_key()),
                    "not_before": windows.get(kid, (NOW - YEAR, NOW + 5 * YEAR))[0],
                    "not_after": windows.get(kid, (NOW - YEAR, NOW + 5 * YEAR))[1],
                    "withdrawn": kid in withdrawn,
                    "role": self.role(kid),
                }
                for kid, k in self.keys.items()
            ],
            "status_lists": [{"uri": STATUS_URI, "path": "status/1.jwt"}],
            "publication_url": f"{self.issuer}/trust/",
        }

    def publish(self, folder: Path, *, claims: dict[str, Any] | None = None, root: Any = None, status_token: str | None = None, **bundle_kwargs: Any) -> Path:
        """Write a publication folder as `cityid-issuer publish` does."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "status").mkdir(exist_ok=True)
        signer = root or self.root
        thumb = jws.jwk_thumbprint(jws.public_key_to_jwk(signer.public_key()))
        bundle = jws.sign({"typ": "cityid-trust+jwt", "kid": thumb}, claims or self.bundle_claims(**bundle_kwargs), signer, "ES256")
        (folder / "trust-bundle.jwt").write_text(bundle)
        (folder / "status" / "1.jwt").write_text(status_token or self.status_token())
        (folder / "root-key.pem").write_text(pem(self.root.public_key()))
        return folder


def kb_jwt(sd_jwt: str, holder_key: Any, *, nonce: str = "n-0S6_WzA2Mj", aud: str = "https://bank.example", iat: float = NOW, sd_hash: str | None = None, typ: str = "kb+jwt") -> str:
    """Append a KB-JWT to an SD-JWT presentation (which must end with '~')."""
    presentation = SDJWT.parse(sd_jwt).presentation()
    claims = {"iat": int(iat), "aud": aud, "nonce": nonce, "sd_hash": sd_hash or digest(presentation)}
    return presentation + jws.sign({"typ": typ}, claims, holder_key, "ES256")


def tamper_segment(compact: str, part: int, mutate) -> str:
    """Re-encode one base64url JSON part of the issuer JWT after ``mutate(dict)``, keeping the signature."""
    from verifier_sdk.format.strict import b64url_decode, b64url_encode

    jwt_part, rest = compact.split("~", 1)
    pieces = jwt_part.split(".")
    obj = json.loads(b64url_decode(pieces[part]))
    mutate(obj)
    pieces[part] = b64url_encode(json.dumps(obj, separators=(",", ":")).encode())
    return ".".join(pieces) + "~" + rest



