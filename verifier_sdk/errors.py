"""Why a card was refused: one exception tree, each class with a stable ``code``.

``Verifier.verify`` either returns a credential or raises a subclass of
:class:`VerificationError`.  Applications branch on ``err.code`` (stable, part of
the public contract) and show ``err.message`` (plain words, safe to display: it
never contains claim values).
"""

from __future__ import annotations


class VerificationError(Exception):
    """Base class: the credential (or the trust data) must not be accepted."""

    code = "invalid"
    #: What the person at the desk should do next.
    advice = "Do not accept the card. Ask for another form of ID."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.__class__.__doc__.splitlines()[0]
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class MalformedError(VerificationError):
    """The code could not be read as a city ID credential."""

    code = "malformed"
    advice = "Scan again, holding the card flat and steady. If it fails again, the card may be damaged or fake."


class UnsupportedError(VerificationError):
    """The credential uses a format, version or algorithm this verifier does not accept."""

    code = "unsupported"
    advice = "Do not accept the card. If it is new, update the verifier software."


class UntrustedIssuerError(VerificationError):
    """The credential was not issued by the city this verifier trusts."""

    code = "untrusted_issuer"
    advice = "Do not accept the card: it is not from the city's ID program."


class UnknownKeyError(VerificationError):
    """The key that signed the credential is not (or no longer) trusted."""

    code = "unknown_key"
    advice = "Sync the trust data and scan again. If it still fails, do not accept the card."


class BadSignatureError(VerificationError):
    """The signature does not match: the credential was altered or forged."""

    code = "bad_signature"
    advice = "Do not accept the card: its data has been altered."


class ExpiredError(VerificationError):
    """The card has expired."""

    code = "expired"
    advice = "Do not accept the card. The holder can renew it at the city's card office."


class NotYetValidError(VerificationError):
    """The card is not valid yet."""

    code = "not_yet_valid"
    advice = "Check that this computer's date and time are right, then scan again."


class RevokedError(VerificationError):
    """The city has revoked this card."""

    code = "revoked"
    advice = "Do not accept the card. The holder can ask the city's card office about it."


class SuspendedError(VerificationError):
    """The city has suspended this card."""

    code = "suspended"
    advice = "Do not accept the card today. The holder can ask the city's card office about it."


class StatusUnavailableError(VerificationError):
    """The card's revocation status could not be checked."""

    code = "status_unavailable"
    advice = "Sync the trust data (status lists) and scan again."


class StatusStaleError(VerificationError):
    """The revocation data on this verifier is too old for this purpose."""

    code = "status_stale"
    advice = "Sync the trust data, then scan again."


class DisclosureInvalidError(VerificationError):
    """The credential's selectively disclosed data is inconsistent or tampered."""

    code = "disclosure_invalid"
    advice = "Do not accept the card: its data has been altered."


class KeyBindingRequiredError(VerificationError):
    """This purpose requires proof that the holder controls the credential."""

    code = "key_binding_required"
    advice = "Ask the holder to present the credential from their device."


class KeyBindingInvalidError(VerificationError):
    """The holder's proof of possession is missing, stale or does not match."""

    code = "key_binding_invalid"
    advice = "Ask the holder to present the credential again from their device."


class PurposeNotSatisfiedError(VerificationError):
    """This credential does not carry what this desk needs."""

    code = "purpose_not_satisfied"
    advice = "Ask the holder to show the other QR code on the card (the one for this kind of desk)."


class TrustRollbackError(VerificationError):
    """The trust data offered is older than the one already installed."""

    code = "trust_rollback"
    advice = "Keep the installed trust data; get the latest publication from the city."


# -- trust data that cannot vouch for any card (issue #10): the desk's problem, never the card's --------------


class TrustExpiredError(VerificationError):
    """The city's trust data on this verifier has expired."""

    code = "trust_expired"
    advice = "This desk cannot check cards until it syncs the trust data from the city. The card is not at fault."


class TrustNotYetValidError(VerificationError):
    """The trust data is dated in the future: this computer's clock is probably wrong."""

    code = "trust_not_yet_valid"
    advice = "Check this computer's date and time, then scan again. The card is not at fault."


TRUST_ERRORS: tuple[type[VerificationError], ...] = (TrustExpiredError, TrustNotYetValidError)


ALL_ERRORS: tuple[type[VerificationError], ...] = (
    MalformedError,
    UnsupportedError,
    UntrustedIssuerError,
    UnknownKeyError,
    BadSignatureError,
    ExpiredError,
    NotYetValidError,
    RevokedError,
    SuspendedError,
    StatusUnavailableError,
    StatusStaleError,
    DisclosureInvalidError,
    KeyBindingRequiredError,
    KeyBindingInvalidError,
    PurposeNotSatisfiedError,
    TrustRollbackError,
    *TRUST_ERRORS,
)

#: code -> exception class, for applications that round-trip codes (JSON API).
BY_CODE: dict[str, type[VerificationError]] = {cls.code: cls for cls in ALL_ERRORS}
