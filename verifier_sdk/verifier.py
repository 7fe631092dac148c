"""Verify a scanned card: the one call partners make.

    cred = Verifier(trust, purpose="museum").verify(scanned_text)

Returns a :class:`VerifiedCredential` holding only the claims the purpose may
see, or raises a :class:`~verifier_sdk.errors.VerificationError` subclass whose
``code`` says why.  Nothing here touches the network or writes anything.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from .errors import (
    CANNOT_CHECK,
    NOT_VALID,
    ExpiredError,
    MalformedError,
    NotYetValidError,
    PurposeNotSatisfiedError,
    RevokedError,
    StatusUnavailableError,
    SuspendedError,
    UnknownKeyError,
    UntrustedIssuerError,
)
from .format import jws
from .format.qr import QRParts, unpack
from .format.sdjwt import SDJWT, needs_no_resolving, resolve
from .format.statuslist import StatusListToken
from .format.strict import is_numeric_date, json_object
from .freshness import check_bundle, check_status_list
from .keybinding import verify_key_binding
from .purpose import Purpose, resolve_purpose
from .timeutil import epoch, to_datetime
from .trust import ROLE_CARD, IssuingKey, TrustStore

#: Header types of an SD-JWT VC ("vc+sd-jwt" is the name older drafts used).
CREDENTIAL_TYPES = ("dc+sd-jwt", "vc+sd-jwt")
#: QR texts start with this family prefix; decode_qr checks the version after it.
QR_PREFIX = "CID"
#: Far above any card (a version-40 QR holds 4296 characters); refuse before parsing.
MAX_INPUT_CHARS = 64 * 1024
_STATUS_ERRORS = {1: RevokedError, 2: SuspendedError}
# Cards share a handful of headers (one per kid): each is parsed once, once a signature vouched for it.
_HEADERS: dict[bytes, tuple[Mapping[str, Any], bytes, str | None]] = {}  # raw -> (header, base64url, alg it passed with)
_HEADERS_MAX = 32
_EXPIRIES: dict[float, datetime] = {}
#: Every ``age_over_NN_from`` name (a set lookup per claim is cheaper than a regex on every card).
_AGE_FROM_NAMES = frozenset(f"age_over_{n:0{width}d}_from" for width in (1, 2, 3) for n in range(10**width))
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_STARTS: dict[str, float] = {}
_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, init=False)
class VerifiedCredential:
    """A card face that passed every check.  ``claims`` holds only what the purpose may see."""

    claims: Mapping[str, Any]
    vct: str
    issuer: str
    expires_at: datetime
    status: str | None
    purpose: str
    key_bound: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS, repr=False)

    def __init__(self, claims: Mapping[str, Any], vct: str, issuer: str, expires_at: datetime, status: str | None,
                 purpose: str, key_bound: bool = False, labels: Mapping[str, str] = _NO_LABELS) -> None:
        # One store, not a frozen dataclass's eight __setattr__ calls: this runs on every card.
        object.__setattr__(self, "__dict__", {
            "claims": claims, "vct": vct, "issuer": issuer, "expires_at": expires_at, "status": status,
            "purpose": purpose, "key_bound": key_bound, "labels": labels})

    def __repr__(self) -> str:  # claim values stay out of logs and tracebacks
        return f"VerifiedCredential(vct={self.vct!r}, purpose={self.purpose!r}, claims=<{len(self.claims)} hidden>)"


class Verifier:
    """Checks card faces against a :class:`TrustStore` for one :class:`Purpose`."""

    def __init__(self, trust: TrustStore, purpose: str | Purpose = "bank", *, clock_skew: timedelta = timedelta(minutes=5)) -> None:
        if not isinstance(trust, TrustStore):
            raise TypeError("trust must be a TrustStore (TrustStore.load or TrustStore.from_jwks)")
        if clock_skew < timedelta(0):
            raise ValueError("clock_skew must be zero or more (it widens the nbf and iat windows)")
        self.trust = trust
        self.purpose = resolve_purpose(purpose)
        self._skew = clock_skew.total_seconds()

    def verify(self, text: str, now: datetime | float | None = None, *, nonce: str | None = None, aud: str | None = None) -> VerifiedCredential:
        """Verify QR text (``CID2:...`` or ``CID1:...``) or a compact SD-JWT (optionally with a KB-JWT).

        ``now`` defaults to the current time.  ``nonce``/``aud`` are needed when the
        purpose requires key binding.  Raises a VerificationError subclass.
        """
        now_ts = epoch(now)
        purpose = self.purpose
        if not isinstance(text, str):
            raise MalformedError("expected the scanned text as a string")
        if len(text) > MAX_INPUT_CHARS:
            raise MalformedError("the scanned text is far too long to be a card")
        scanned = _read(text, check_unused_kb_jwt=not purpose.require_key_binding)

        # The issuer and key come from the trust store; the token only names them.
        unverified_header, unverified_payload = scanned.header, scanned.payload
        if unverified_payload.get("iss") != self.trust.issuer:
            raise UntrustedIssuerError("this card was not issued by the city this verifier trusts")
        check_bundle(self.trust, now_ts, self._skew)  # expired or future-dated trust data vouches for no card
        key, refusal = self._issuing_key(unverified_header.get("kid"), unverified_payload, now_ts)
        if scanned.checked_alg is None or scanned.checked_alg != key.alg:  # a header the city signed passes again
            jws.check_header(unverified_header, key.alg, CREDENTIAL_TYPES, "credential")
        if scanned.qr is not None:
            jws.verify_raw_signature(scanned.signing_input, scanned.qr.signature, key.alg, key.public_key, "credential")
            if scanned.checked_alg is None:
                _remember_header(scanned.qr.header, scanned.header, scanned.signing_input, key.alg)
        else:
            jws.verify_signature(scanned.sd_jwt.jws, key.alg, key.public_key, "credential")
        payload = unverified_payload  # signature checked: from here on it is the city's word
        if refusal is not None:
            # A retired key still vouches for what it signed: an expired card hears "expired".
            self._check_validity(payload, now_ts)
            raise refusal

        vct = payload.get("vct")
        if not isinstance(vct, str) or not vct:
            raise MalformedError("credential has no type (vct)", state=NOT_VALID)
        expires = self._check_validity(payload, now_ts)
        claims = payload if scanned.plain else resolve(payload, scanned.disclosures)
        if not _AGE_FROM_NAMES.isdisjoint(claims):
            claims = age_predicates_at(claims, now_ts)
        status = self._check_status(claims.get("status"), now_ts)

        key_bound = False
        if purpose.require_key_binding:
            verify_key_binding(scanned.sd_jwt or SDJWT.parse(scanned.qr.sd_jwt()), payload, nonce=nonce, aud=aud, now=now_ts, max_age=purpose.key_binding_max_age.total_seconds(), skew=self._skew)
            key_bound = True

        if not purpose.accepts_type(vct):
            raise PurposeNotSatisfiedError("this QR code is not the one for this desk; scan the card's other code")
        missing = purpose.required_claims.difference(claims)
        if purpose.required_any and purpose.required_any.isdisjoint(claims):
            missing |= purpose.required_any
        if missing:
            raise PurposeNotSatisfiedError(f"this card does not carry what this desk needs ({', '.join(sorted(missing))})")
        return VerifiedCredential(  # positional, in field order: keywords would build a dict on every card
            {name: claims[name] for name in self._claim_order() if name in claims},
            vct, payload["iss"], expires, status, purpose.name, key_bound, purpose.labels)

    def _issuing_key(self, kid: Any, unverified_payload: Mapping[str, Any], now: float) -> tuple[IssuingKey, UnknownKeyError | None]:
        """The key that signed the card, and the refusal to raise once its signature is checked (a retired key)."""
        try:
            return self.trust.key_for(kid, now), None
        except UnknownKeyError as err:
            key = self.trust._named_key(kid, ROLE_CARD)
            if key is None:
                # Trust data older than the card may predate its key (sync); data newer than it should list it.
                issued = self.trust.bundle_issued_at
                claimed = unverified_payload.get("iat")
                newer = issued is not None and is_numeric_date(claimed) and claimed <= issued.timestamp()
                raise UnknownKeyError(err.message, state=NOT_VALID if newer else CANNOT_CHECK) from None
            if key.withdrawn or key.role not in (None, ROLE_CARD):  # withdrawn, or a status key signing a card: forged
                raise UnknownKeyError(err.message, state=NOT_VALID) from None
            if key.not_after is not None and now > key.not_after:
                return key, UnknownKeyError(err.message, state=NOT_VALID)  # retired: the city stopped accepting it
            raise  # not valid yet: most likely this computer's clock

    def _claim_order(self) -> tuple[str, ...]:
        """The purpose's claims, sorted once per purpose (``self.purpose`` may be replaced)."""
        purpose = self.purpose
        if self.__dict__.get("_ordered_for") is not purpose:
            self._ordered_for, self._ordered = purpose, tuple(sorted(purpose.claims))
        return self._ordered

    def _check_validity(self, payload: Mapping[str, Any], now: float) -> datetime:
        exp = payload.get("exp")
        if exp is None:
            raise MalformedError("credential has no expiry date (exp)", state=NOT_VALID)
        dated = "nbf" in payload or "iat" in payload  # printed cards carry neither
        for name in ("exp", "nbf", "iat") if dated or type(exp) is not int else ():
            if name in payload and not is_numeric_date(payload[name]):
                raise MalformedError(f"credential claim {name} is not a date", state=NOT_VALID)
        if now >= exp:
            raise ExpiredError(f"the card expired on {to_datetime(exp):%Y-%m-%d}", expired_on=f"{to_datetime(exp):%Y-%m-%d}")
        if dated and payload.get("nbf", now) > now + self._skew:
            raise NotYetValidError(f"the card is valid only from {to_datetime(payload['nbf']):%Y-%m-%d %H:%M} UTC",
                                   valid_from=f"{to_datetime(payload['nbf']):%Y-%m-%d %H:%M} UTC")
        if dated and payload.get("iat", now) > now + self._skew:
            raise NotYetValidError("the card claims to be issued in the future; check this computer's clock")
        expires = _EXPIRIES.get(exp)
        if expires is None:  # all cards issued on one day share exp: convert each once
            expires = to_datetime(exp)
            if len(_EXPIRIES) < 1024:
                _EXPIRIES[exp] = expires
        return expires

    def _check_status(self, status: Any, now: float) -> str | None:
        if status is None:
            if self.purpose.require_status:
                raise StatusUnavailableError("this card carries no revocation status")
            return None
        reference = status.get("status_list") if isinstance(status, dict) else None
        if not isinstance(reference, dict):
            raise MalformedError("credential status must name a status list", state=NOT_VALID)
        idx, uri = reference.get("idx"), reference.get("uri")
        if type(idx) is not int or type(uri) is not str:  # type() first: the common case in two checks
            if not isinstance(idx, int) or isinstance(idx, bool) or not isinstance(uri, str):
                raise MalformedError("credential status needs an integer idx and a uri", state=NOT_VALID)
        entry = self.trust.status_list(uri)
        if isinstance(entry, StatusListToken):
            check_status_list(entry, self.purpose.max_status_age, now, self._skew)
            entry = entry.status_list
        try:
            value = entry[idx]
        except IndexError:
            raise StatusUnavailableError("the card's status index is outside the revocation list") from None
        if value in _STATUS_ERRORS:
            raise _STATUS_ERRORS[value]()
        if value != 0:
            raise StatusUnavailableError("the card has a status this verifier does not understand")
        return "valid"


def age_predicates_at(claims: Mapping[str, Any], now: float) -> dict[str, Any]:
    """``age_over_NN_from: "YYYY-MM-DD"`` (true from that day, 00:00 UTC) becomes ``age_over_NN: bool`` at ``now``.

    A card lives five years, so an age threshold the holder crosses while it is valid is
    carried as the date it starts to hold; callers see plain booleans, never the date.
    """
    out = dict(claims)
    for name in claims:
        if name not in _AGE_FROM_NAMES:
            continue
        predicate = name[: -len("_from")]
        if predicate in claims:
            raise MalformedError(f"credential carries both {predicate} and {name}")
        del out[name]
        out[predicate] = now >= _day_start(claims[name], name)
    return out


def _day_start(value: Any, name: str) -> float:
    """Epoch seconds of 00:00 UTC on a ``YYYY-MM-DD`` claim value."""
    starts = _DAY_STARTS.get(value) if type(value) is str else None
    if starts is None:
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise MalformedError(f"credential claim {name} is not a date (YYYY-MM-DD)")
        try:
            starts = datetime.fromisoformat(value + "T00:00:00+00:00").timestamp()
        except ValueError:
            raise MalformedError(f"credential claim {name} is not a real date") from None
        if len(_DAY_STARTS) < 4096:  # the first days of months: a few hundred values in all
            _DAY_STARTS[value] = starts
    return starts


def _check_unused_kb_jwt(kb_jwt: str) -> None:
    """A KB-JWT this purpose does not need is not verified, but it must be one: no trailing junk."""
    kb = jws.CompactJWS.split(kb_jwt, "KB-JWT")
    kb.unverified_header("KB-JWT")
    kb.unverified_payload("KB-JWT")
    kb.signature("KB-JWT")


class _Scanned(NamedTuple):
    """An unverified credential as scanned: header and payload parsed, the rest as received."""

    header: Mapping[str, Any]
    payload: dict[str, Any]
    disclosures: tuple[str, ...]
    signing_input: bytes | None  # from QR text (the JSON came straight out of the packing)
    qr: QRParts | None
    sd_jwt: SDJWT | None  # from a compact SD-JWT
    plain: bool = False  # nothing to resolve: the payload is already the claims
    checked_alg: str | None = None  # a header seen before on a card the city signed: the algorithm it passed with


def _read(text: str, check_unused_kb_jwt: bool) -> _Scanned:
    """Parse QR text or a compact SD-JWT, refusing exactly what ``SDJWT.parse(decode_qr(text))`` refuses."""
    if not text.startswith(QR_PREFIX):
        sd_jwt = SDJWT.parse(text)
        if sd_jwt.kb_jwt is not None and check_unused_kb_jwt:
            _check_unused_kb_jwt(sd_jwt.kb_jwt)
        header = sd_jwt.jws.unverified_header("credential")
        payload = sd_jwt.jws.unverified_payload("credential")
        return _Scanned(header, payload, sd_jwt.disclosures, None, None, sd_jwt)
    qr = unpack(text)
    # The parts are canonical base64url by construction; only emptiness is left for SDJWT.parse to refuse.
    if not all(qr.disclosures):
        raise MalformedError("SD-JWT: empty disclosure")
    if not qr.header or not qr.payload:
        raise MalformedError("SD-JWT: not a compact JWS (header.payload.signature)")
    if qr.kb_jwt is not None and check_unused_kb_jwt:
        _check_unused_kb_jwt(qr.kb_jwt)
    known = _HEADERS.get(qr.header)
    if known is None:
        known = (json_object(qr.header, "credential header"), _b64url(qr.header), None)
    header, header_b64, checked_alg = known
    plain = False
    if qr.frame is None:
        payload = json_object(qr.payload, "credential payload")
    else:  # the frame holds nothing to resolve; without disclosures, plain members after it make the claims
        payload, members = qr.frame.parsed()
        plain = not qr.disclosures and needs_no_resolving(members)
    signing_input = header_b64 + b"." + _b64url(qr.payload)
    return _Scanned(header, payload, qr.disclosures, signing_input, qr, None, plain, checked_alg)


def _b64url(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _remember_header(raw: bytes, header: Mapping[str, Any], signing_input: bytes, alg: str) -> None:
    """Keep a header the city has signed (so junk cannot fill the cache), read-only, with its base64url
    and the algorithm it passed the header checks with."""
    if raw not in _HEADERS and len(_HEADERS) < _HEADERS_MAX:
        _HEADERS[raw] = (MappingProxyType(dict(header)), signing_input[: signing_input.index(b".")], alg)

