"""After issuance: revoke, suspend and reinstate cards; rotate the issuing key."""

from __future__ import annotations

from . import cardnumber
from .config import CityConfig
from .errors import CardNotFoundError, IssuerError
from .keys import KeyStore
from .registry import REVOKED, SUSPENDED, VALID, Registry

_NAMES = {VALID: "valid", REVOKED: "revoked", SUSPENDED: "suspended"}


def set_card_status(registry: Registry, card_number: str, status: int) -> str:
    """Change one card's status (found by its keyed hash); returns the previous status name."""
    number = str(card_number).replace(" ", "")
    if not cardnumber.is_valid(number):
        raise IssuerError("that is not a valid card number (12 digits with a check digit)", "check the number on the card")
    card_hash = registry.card_hash(number)
    with registry.transaction():
        card = registry.card(card_hash)
        if card is None:
            raise CardNotFoundError("no card with that number is in this city's registry", "check the number on the card")
        if card.status == REVOKED and status != REVOKED:
            raise IssuerError("that card is revoked, and revocation is final", "issue the resident a new card")
        if card.status != status:
            registry.set_status(card_hash, status)
    return _NAMES[card.status]


def rotate_key(registry: Registry, keys: KeyStore, config: CityConfig, *, compromised: bool, now: int) -> str:
    """Start signing with a new key; the old one stays valid for its cards (or is withdrawn if compromised)."""
    old = registry.current_key()
    kid = f"k{int(old.kid[1:]) + 1}"
    keys.new_issuing_key(kid, replace_unregistered=True)
    with registry.transaction():
        last = registry.last_expiry(old.kid)
        registry.retire_key(old.kid, retired_at=now, not_after=max(last or now, old.not_before), withdrawn=compromised)
        registry.add_issuing_key(kid, not_before=now, not_after=planned_not_after(config, now))
    return kid


def planned_not_after(config: CityConfig, not_before: int) -> int:
    """An active key may sign for key_issuing_days; the cards it signs last validity_days beyond that."""
    return not_before + (config.key_issuing_days + config.validity_days + 1) * 86400
