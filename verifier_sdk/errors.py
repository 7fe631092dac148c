"""Why a card was refused: one exception tree, each class with a stable ``code``.

``Verifier.verify`` either returns a credential or raises a subclass of
:class:`VerificationError`.  Applications branch on ``err.code`` (stable, part of
the public contract) and ``err.state``, and show ``err.summary`` and ``err.advice``
(fixed sentences chosen by code and state, translated by the partner app) or
``err.message`` (the detail in English).  None of them ever contains a claim value.

``err.state`` says whose fault it is:

- ``not_valid``: the card itself is refused (revoked, expired, altered, forged...);
- ``cannot_check``: the fault is not the card's (no usable or stale trust data, the
  wrong face for this desk, an unreadable scan, a wrong clock): the desk must not turn
  the holder away as if the card were bad.
"""

from __future__ import annotations

#: The three results a desk shows.
VALID, NOT_VALID, CANNOT_CHECK = "valid", "not_valid", "cannot_check"
STATES = (VALID, NOT_VALID, CANNOT_CHECK)


def N_(text: str) -> str:
    """Marks fixed desk text for the app's translation catalogues; the SDK itself speaks English."""
    return text


def as_sentence(text: str) -> str:
    """``text`` with a capital first letter and a closing full stop: how every message reads."""
    text = text.strip()
    if not text:
        return text
    if text[0].islower():
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


class VerificationError(Exception):
    """Base class: the credential (or the trust data) must not be accepted."""

    code = "invalid"
    #: Whose fault: NOT_VALID (the card) or CANNOT_CHECK (not the card's).
    state = CANNOT_CHECK
    #: One sentence for the desk's result screen (chosen by code and state, never by message text).
    summary = N_("This code could not be checked.")
    #: What the person at the desk should do next.
    advice = N_("Scan the card again. If it still cannot be checked, ask for another form of ID.")
    #: The summary and advice when an instance has the other state than its class (``state=`` given).
    variants: dict[str, tuple[str, str]] = {}

    def __init__(self, message: str | None = None, *, state: str | None = None, **details: str) -> None:
        self.message = as_sentence(message or self.__class__.__doc__.splitlines()[0])
        if state is not None and state != type(self).state:
            if state not in self.variants:
                raise ValueError(f"{type(self).__name__} has no {state!r} variant")
            self.state = state
            self.summary, self.advice = self.variants[state]
        #: Safe values the desk may show beside the summary (dates such as ``expired_on``, never claims).
        self.details = details
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, state={self.state!r}, message={self.message!r})"


class MalformedError(VerificationError):
    """The code could not be read as a city ID credential."""

    code = "malformed"
    state = CANNOT_CHECK  # a misread or damaged scan; signed data that is malformed is NOT_VALID
    summary = N_("The code could not be read.")
    advice = N_("Scan again, holding the card flat and steady. If it still cannot be read, ask for another form of ID.")
    variants = {NOT_VALID: (N_("The card's signed data is not in the city's format."),
                            N_("Do not accept the card. Ask for another form of ID."))}


class UnsupportedError(VerificationError):
    """The credential uses a format, version or algorithm this verifier does not accept."""

    code = "unsupported"
    state = NOT_VALID  # alg none, HMAC, remote key headers...; a newer format version is CANNOT_CHECK
    summary = N_("The card uses a format or algorithm this desk does not accept.")
    advice = N_("Do not accept the card. Ask for another form of ID.")
    variants = {CANNOT_CHECK: (N_("This desk's software cannot read this newer kind of card."),
                               N_("Ask for another form of ID today, and ask for the verifier software to be updated."))}


class UntrustedIssuerError(VerificationError):
    """The credential was not issued by the city this verifier trusts."""

    code = "untrusted_issuer"
    state = NOT_VALID
    summary = N_("The card was not issued by this city's ID program.")
    advice = N_("Do not accept the card. Ask for another form of ID.")


class UnknownKeyError(VerificationError):
    """The key that signed the credential is not (or no longer) trusted."""

    code = "unknown_key"
    state = CANNOT_CHECK  # a key newer than this desk's trust data; withdrawn or retired keys are NOT_VALID
    summary = N_("This desk does not know the key that signed this card.")
    advice = N_("Sync the trust data and scan again. If it still fails after a sync, do not accept the card.")
    variants = {NOT_VALID: (N_("The city does not accept the key that signed this card."),
                            N_("Do not accept the card. The holder can get a new card at the city's card office."))}


class BadSignatureError(VerificationError):
    """The signature does not match: the credential was altered or forged."""

    code = "bad_signature"
    state = NOT_VALID
    summary = N_("The card's signature does not match its data: it was altered or forged.")
    advice = N_("Do not accept the card. Ask for another form of ID.")


class ExpiredError(VerificationError):
    """The card has expired."""

    code = "expired"
    state = NOT_VALID
    summary = N_("The card has expired.")
    advice = N_("Do not accept the card. The holder can renew it at the city's card office.")


class NotYetValidError(VerificationError):
    """The card is not valid yet."""

    code = "not_yet_valid"
    state = CANNOT_CHECK  # most often this computer's clock is wrong
    summary = N_("The card is dated in the future.")
    advice = N_("Check that this computer's date and time are right, then scan again. If they are right, do not accept the card today.")


class RevokedError(VerificationError):
    """The city has revoked this card."""

    code = "revoked"
    state = NOT_VALID
    summary = N_("The city has revoked this card.")
    advice = N_("Do not accept the card. The holder can ask the city's card office about it.")


class SuspendedError(VerificationError):
    """The city has suspended this card."""

    code = "suspended"
    state = NOT_VALID
    summary = N_("The city has suspended this card.")
    advice = N_("Do not accept the card today. The holder can ask the city's card office about it.")


class StatusUnavailableError(VerificationError):
    """The card's revocation status could not be checked."""

    code = "status_unavailable"
    state = CANNOT_CHECK
    summary = N_("This desk cannot check whether the card has been revoked.")
    advice = N_("Sync the trust data and scan again. If it still cannot be checked, ask for another form of ID.")


class StatusStaleError(VerificationError):
    """The revocation data on this verifier is too old for this purpose."""

    code = "status_stale"
    state = CANNOT_CHECK
    summary = N_("This desk's revocation data is too old to check cards.")
    advice = N_("Sync the trust data, then scan again.")


class DisclosureInvalidError(VerificationError):
    """The credential's selectively disclosed data is inconsistent or tampered."""

    code = "disclosure_invalid"
    state = NOT_VALID
    summary = N_("The card's data is inconsistent or has been altered.")
    advice = N_("Do not accept the card. Ask for another form of ID.")


class KeyBindingRequiredError(VerificationError):
    """This purpose requires proof that the holder controls the credential."""

    code = "key_binding_required"
    state = CANNOT_CHECK  # a printed code where the desk needs a device presentation
    summary = N_("This desk needs the credential presented from the holder's device.")
    advice = N_("Ask the holder to present the credential from their device.")


class KeyBindingInvalidError(VerificationError):
    """The holder's proof of possession is missing, stale or does not match."""

    code = "key_binding_invalid"
    state = NOT_VALID
    summary = N_("The holder's proof of possession does not match this credential.")
    advice = N_("Ask the holder to present the credential again from their device. If it fails again, do not accept it.")


class PurposeNotSatisfiedError(VerificationError):
    """This credential does not carry what this desk needs."""

    code = "purpose_not_satisfied"
    state = CANNOT_CHECK  # the wrong face for this desk: the card is not at fault
    summary = N_("This QR code does not carry what this desk reads.")
    advice = N_("Ask the holder to show the card's other QR code, the one for this kind of desk.")


class TrustRollbackError(VerificationError):
    """The trust data offered is older than the one already installed."""

    code = "trust_rollback"
    state = CANNOT_CHECK
    summary = N_("The trust data offered is older than the trust data installed.")
    advice = N_("Keep the installed trust data, and get the latest publication from the city.")


# -- trust data that cannot vouch for any card (issue #10): the desk's problem, never the card's --------------


class TrustExpiredError(VerificationError):
    """The city's trust data on this verifier has expired."""

    code = "trust_expired"
    state = CANNOT_CHECK
    summary = N_("This desk has no usable trust data, so it cannot check cards.")
    advice = N_("Sync the trust data, then scan again. The card is not at fault.")


class TrustNotYetValidError(VerificationError):
    """The trust data is dated in the future: this computer's clock is probably wrong."""

    code = "trust_not_yet_valid"
    state = CANNOT_CHECK
    summary = N_("This computer's clock is earlier than the city's trust data.")
    advice = N_("Check that this computer's date and time are right, then scan again. The card is not at fault.")


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
