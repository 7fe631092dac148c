"""After issuance: revoke, suspend and reinstate cards; rotate or withdraw any key by its kid."""

from __future__ import annotations

from pathlib import Path

from . import cardnumber
from .config import CityConfig
from .errors import CardNotFoundError, IssuerError
from .keys import KeyStore
from .publish import write_unsigned_bundle
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


def rotate_key(registry: Registry, keys: KeyStore, config: CityConfig, city_dir: Path, *, kid: str | None = None,
               role: str = "card", compromised: bool, now: int) -> str:
    """Rotate or withdraw one key by kid (default: the current key of ``role``); returns the kid now in use for that role.

    The current key of a role is replaced by a new one (and withdrawn if compromised: every card
    or status list it signed then fails).  An older key can only be withdrawn.  Either way the key
    list changed, so an unsigned bundle is written for the root to sign (``sign-bundle``).
    """
    if kid is None and not any(k.role == role for k in registry.issuing_keys()):
        return _first_key(registry, keys, config, city_dir, role, now)  # a city from before key roles: its first status key
    old = registry.issuing_key_row(kid) if kid is not None else registry.current_key(role)
    if old is None:
        raise IssuerError(f"no key {kid} in this city", "list the keys with `cityid-issuer keys DIR`")
    if old.retired_at is not None:
        if not compromised:
            raise IssuerError(f"key {old.kid} is already retired", "to withdraw it (it leaked), add --compromised")
        with registry.transaction():
            registry.withdraw_key(old.kid)
        write_unsigned_bundle(registry, keys, config, city_dir)
        return registry.current_key(old.role).kid
    prefix = "s" if old.role == "status" else "k"
    new_kid = f"{prefix}{max(int(k.kid[1:]) for k in registry.issuing_keys() if k.role == old.role) + 1}"
    keys.new_issuing_key(new_kid, replace_unregistered=True)
    with registry.transaction():
        # A card key stays valid for the cards it signed; a status key's lists are superseded by the next ones.
        last = registry.last_expiry(old.kid) if old.role == "card" else None
        registry.retire_key(old.kid, retired_at=now, not_after=max(last or now, old.not_before), withdrawn=compromised)
        registry.add_issuing_key(new_kid, not_before=now, not_after=planned_not_after(config, now), role=old.role)
    write_unsigned_bundle(registry, keys, config, city_dir)
    return new_kid


def _first_key(registry: Registry, keys: KeyStore, config: CityConfig, city_dir: Path, role: str, now: int) -> str:
    kid = "s1" if role == "status" else "k1"
    keys.new_issuing_key(kid, replace_unregistered=True)
    with registry.transaction():
        registry.add_issuing_key(kid, not_before=now, not_after=planned_not_after(config, now), role=role)
    write_unsigned_bundle(registry, keys, config, city_dir)
    return kid


def planned_not_after(config: CityConfig, not_before: int) -> int:
    """An active key may sign for key_issuing_days; the cards it signs last validity_days beyond that."""
    return not_before + (config.key_issuing_days + config.validity_days + 1) * 86400
