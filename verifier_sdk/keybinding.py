"""Key binding (RFC 9901 section 7.3): the holder proves possession of the key in ``cnf``.

Only for purposes that require it: printed cards carry no KB-JWT, wallets do.
"""

from __future__ import annotations

from typing import Any, Mapping

from .errors import KeyBindingInvalidError, KeyBindingRequiredError, VerificationError
from .format import jws
from .format.sdjwt import SD_ALG, SDJWT, digest
from .format.strict import is_numeric_date

KB_TYP = "kb+jwt"


def verify_key_binding(
    sd_jwt: SDJWT,
    payload: Mapping[str, Any],
    *,
    nonce: str | None,
    aud: str | None,
    now: float,
    max_age: float,
    skew: float,
) -> None:
    """Check the KB-JWT against the credential's ``cnf`` key, nonce, audience, time and ``sd_hash``."""
    if nonce is None or aud is None:
        raise TypeError("this purpose requires key binding: pass nonce= and aud= to verify()")
    if sd_jwt.kb_jwt is None:
        raise KeyBindingRequiredError("the holder's proof of possession (KB-JWT) is missing")
    try:
        _check(sd_jwt, payload, nonce, aud, now, max_age, skew)
    except KeyBindingInvalidError:
        raise
    except VerificationError as exc:  # any defect in the KB-JWT makes the binding invalid
        raise KeyBindingInvalidError(f"key binding: {exc.message}") from None


def _check(sd_jwt: SDJWT, payload: Mapping[str, Any], nonce: str, aud: str, now: float, max_age: float, skew: float) -> None:
    cnf = payload.get("cnf")
    if not isinstance(cnf, dict) or not isinstance(cnf.get("jwk"), dict):
        raise KeyBindingInvalidError("the credential names no holder key (cnf.jwk)")
    holder_key = jws.public_key_from_jwk(cnf["jwk"], "holder key")
    kb = jws.CompactJWS.split(sd_jwt.kb_jwt or "", "KB-JWT")
    header = kb.unverified_header("KB-JWT")
    alg = header.get("alg")
    if not isinstance(alg, str) or not jws.key_matches_alg(holder_key, alg):
        raise KeyBindingInvalidError("KB-JWT algorithm does not fit the holder key")
    jws.check_header(header, alg, KB_TYP, "KB-JWT")
    jws.verify_signature(kb, alg, holder_key, "KB-JWT")
    claims = kb.unverified_payload("KB-JWT")
    iat = claims.get("iat")
    if not is_numeric_date(iat):
        raise KeyBindingInvalidError("KB-JWT has no issue time (iat)")
    if iat > now + skew or iat < now - max_age:
        raise KeyBindingInvalidError("KB-JWT is too old or from the future")
    if claims.get("nonce") != nonce:
        raise KeyBindingInvalidError("KB-JWT nonce does not match this request")
    if claims.get("aud") != aud:
        raise KeyBindingInvalidError("KB-JWT was made for another verifier (aud)")
    expected = digest(sd_jwt.presentation(), payload.get(SD_ALG, "sha-256"))
    if claims.get("sd_hash") != expected:
        raise KeyBindingInvalidError("KB-JWT does not cover this presentation (sd_hash)")
