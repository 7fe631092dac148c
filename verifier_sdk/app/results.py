"""One verification, whatever the scanning path: text or photo in, an Outcome out (never an exception).

An Outcome holds English texts chosen by error code and state (``errors.N_`` marks
them); they are translated into the desk's language only when shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from flask import current_app
from flask_babel import gettext

from ..errors import CANNOT_CHECK, NOT_VALID, VALID, MalformedError, N_, VerificationError, as_sentence
from ..scanner import clean_scan
from ..verifier import MAX_INPUT_CHARS
from .trust_state import TrustUnavailable

log = logging.getLogger(__name__)

#: An app-level code beside the SDK's: this desk has no usable trust data.
TRUST_UNAVAILABLE = "trust_unavailable"

VALID_SUMMARY = N_("This city ID card is valid.")
#: Claim labels the desk translates (a custom purpose's other claims show its own labels).
CLAIM_LABELS = {
    "given_name": N_("Given name"),
    "family_name": N_("Family name"),
    "birthdate": N_("Date of birth"),
    "card_number": N_("Card number"),
    "museum_tier": N_("Membership tier"),
    "age_over_65": N_("Senior (65+)"),
    "rx_eligible": N_("Prescription discount"),
    "age_over_18": N_("Adult (18+)"),
    "age_over_21": N_("21 or older"),
    "rx_bin": N_("BIN"),
    "rx_pcn": N_("PCN"),
    "rx_group": N_("Group"),
}
#: Values kept on one line: a date, a card number or a routing number broken in two is misread.
UNBROKEN = frozenset({"birthdate", "card_number", "rx_bin", "rx_pcn", "rx_group"})
#: Dates an error may carry (``err.details``), shown under the summary.
DETAIL_LABELS = {"expired_on": N_("Expired on"), "valid_from": N_("Valid from")}
#: What the result screen says in big letters, and a mark of a different shape for each (never colour alone).
VERDICTS = {VALID: (N_("VALID"), "\u2713"), NOT_VALID: (N_("NOT VALID"), "\u2717"), CANNOT_CHECK: (N_("CANNOT CHECK"), "!")}
NO_MEMBERSHIP = N_("This card has no museum membership: standard admission applies.")


@dataclass(frozen=True)
class Outcome:
    state: str  # VALID, NOT_VALID or CANNOT_CHECK
    code: str | None
    summary: str  # English, translated when shown
    advice: str = ""
    detail: str = ""  # the SDK's English message, for logs of integrators (never a claim value)
    claims: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)  # for placeholders in summary
    http_status: int = 200

    def __repr__(self) -> str:  # claim values stay out of logs and tracebacks
        return f"Outcome(state={self.state!r}, code={self.code!r})"

    @property
    def valid(self) -> bool:
        return self.state == VALID

    @property
    def verdict(self) -> str:
        return gettext(VERDICTS[self.state][0])

    @property
    def mark(self) -> str:
        return VERDICTS[self.state][1]

    @property
    def message(self) -> str:
        return gettext(self.summary, **self.params)

    def as_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "state": self.state, "code": self.code, "message": self.message,
                "advice": gettext(self.advice) if self.advice else "", "detail": self.detail,
                "claims": dict(self.claims) if self.valid else {}}

    def rows(self) -> list[tuple[str, str, bool]]:
        """(label, shown value, keep on one line) for the result screen, in the purpose's label order."""
        if not self.valid:
            return [(gettext(DETAIL_LABELS[name]), value, True) for name, value in self.details.items() if name in DETAIL_LABELS]
        order = {name: i for i, name in enumerate(self.labels)}
        names = sorted(self.claims, key=lambda name: (order.get(name, len(order)), name))
        return [(_label(name, self.labels), _shown(name, self.claims[name]), name in UNBROKEN) for name in names]


def _label(name: str, labels: Mapping[str, str]) -> str:
    if name in CLAIM_LABELS:
        return gettext(CLAIM_LABELS[name])
    return labels.get(name, name.replace("_", " ").capitalize())


def _shown(name: str, value: Any) -> str:
    if value is True:
        return gettext("Yes")
    if value is False:
        return gettext("No")
    if name == "card_number" and isinstance(value, str) and value.isdigit():
        return " ".join(value[i:i + 4] for i in range(0, len(value), 4))  # as printed on the card
    return str(value)


def refused(err: VerificationError, http_status: int | None = None) -> Outcome:
    """A refusal in the words its code and state choose."""
    status = http_status or (400 if isinstance(err, MalformedError) and err.state == CANNOT_CHECK else 200)
    return Outcome(err.state, err.code, err.summary, err.advice, err.message, details=dict(err.details), http_status=status)


def unreadable(reason: str) -> Outcome:
    """Input that is not a scan at all (empty, far too long, not JSON): a 400, and nothing blamed on a card."""
    return refused(MalformedError(reason), 400)


def verify_text(text: Any) -> Outcome:
    """Verify scanned text (surrounding whitespace and Caps Lock from scanners are undone: ``clean_scan``)."""
    if not isinstance(text, str) or not text.strip():
        return unreadable("nothing was scanned")
    if len(text) > MAX_INPUT_CHARS:
        return unreadable("the scanned text is far too long to be a card")
    try:
        verifier = current_app.extensions["cityid"].verifier()
    except TrustUnavailable as exc:
        log.warning("verification refused: no usable trust data")
        return Outcome(CANNOT_CHECK, TRUST_UNAVAILABLE, N_("This desk has no usable trust data, so it cannot check cards."),
                       N_("Sync the trust data, then scan again. The card is not at fault."), as_sentence(str(exc)), http_status=503)
    try:
        cred = verifier.verify(clean_scan(text))
    except VerificationError as err:
        log.debug("card refused: %s", err.code)  # the code only: never the text or any claim
        return refused(err)
    log.debug("card accepted")
    claims = dict(cred.claims)
    notes = (NO_MEMBERSHIP,) if "museum_tier" in verifier.purpose.claims and not claims.get("museum_tier") else ()
    return Outcome(VALID, None, VALID_SUMMARY, claims=claims, labels=dict(cred.labels), notes=notes)


def verify_image(data: bytes) -> Outcome:
    """Decode the QR code in a photo on the server (zxing-cpp), then verify it."""
    from ..imaging import decode_image

    try:
        text = decode_image(data)
    except VerificationError as err:
        return Outcome(CANNOT_CHECK, err.code, N_("No QR code could be read in this photo."),
                       N_("Take the photo again, closer, flat and in focus, or scan the code instead."), err.message, http_status=400)
    return verify_text(text)
