"""One verification, whatever the scanning path: text or photo in, an Outcome out (never an exception)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from ..errors import MalformedError, StatusUnavailableError, VerificationError
from ..verifier import MAX_INPUT_CHARS
from .trust_state import TrustUnavailable

log = logging.getLogger(__name__)

#: An app-level code beside the SDK's: this desk has no usable trust data.
TRUST_UNAVAILABLE = "trust_unavailable"


@dataclass(frozen=True)
class Outcome:
    valid: bool
    code: str | None
    message: str
    advice: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    http_status: int = 200

    def __repr__(self) -> str:  # claim values stay out of logs and tracebacks
        return f"Outcome(valid={self.valid}, code={self.code!r})"

    def as_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "code": self.code, "message": self.message, "advice": self.advice,
                "claims": dict(self.claims) if self.valid else {}}

    def rows(self) -> list[tuple[str, str]]:
        """(label, shown value) for the result screen, in the purpose's label order."""
        order = {name: i for i, name in enumerate(self.labels)}
        names = sorted(self.claims, key=lambda name: (order.get(name, len(order)), name))
        return [(self.labels.get(name, name.replace("_", " ").capitalize()), _shown(name, self.claims[name])) for name in names]


def _shown(name: str, value: Any) -> str:
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if name == "card_number" and isinstance(value, str) and value.isdigit():
        return " ".join(value[i:i + 4] for i in range(0, len(value), 4))  # as printed on the card
    return str(value)


def invalid(err: VerificationError, http_status: int | None = None) -> Outcome:
    status = http_status or (400 if isinstance(err, MalformedError) else 200)
    return Outcome(False, err.code, err.message, err.advice, http_status=status)


def verify_text(text: Any) -> Outcome:
    """Verify scanned text (surrounding whitespace from scanners is dropped)."""
    if not isinstance(text, str) or not text.strip():
        return invalid(MalformedError("nothing was scanned"))
    if len(text) > MAX_INPUT_CHARS:
        return invalid(MalformedError("the scanned text is far too long to be a card"))
    try:
        verifier = current_app.extensions["cityid"].verifier()
    except TrustUnavailable as exc:
        log.warning("verification refused: no usable trust data")
        return Outcome(False, TRUST_UNAVAILABLE, f"This desk cannot check cards right now: {exc}",
                       StatusUnavailableError.advice, http_status=503)
    try:
        cred = verifier.verify(text.strip())
    except VerificationError as err:
        log.debug("card refused: %s", err.code)  # the code only: never the text or any claim
        return invalid(err)
    log.debug("card accepted")
    return Outcome(True, None, "Valid city ID card", "", dict(cred.claims), dict(cred.labels))


def verify_image(data: bytes) -> Outcome:
    """Decode the QR code in a photo on the server (zxing-cpp), then verify it."""
    from ..imaging import decode_image

    try:
        text = decode_image(data)
    except VerificationError as err:
        return invalid(err, 400)
    return verify_text(text)
