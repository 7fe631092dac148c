"""Replacement and renewal: a new card (new number, new status indices) from a card's vault record.

The new card is issued first, so a failure leaves the old card working; then the
old card is revoked (partners learn it at the next publish) and its record
deleted: the new card's record, stored at issuance, replaces it.  Once a record's
period key is destroyed, both refuse: the resident enrols again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier_sdk.timeutil import epoch

from . import cardnumber
from .errors import CardNotFoundError, IssuerError
from .registry import REVOKED, CardRow
from .vault import RecordShreddedError, VaultRecord

if TYPE_CHECKING:
    from .city import IssuedCard, Issuer


@dataclass
class RenewReport:
    """The outcome of ``renew --within``: counts only, never a card number."""

    renewed: list["IssuedCard"] = field(default_factory=list)
    skipped_revoked: int = 0
    #: Cards expiring in the window whose record is no longer in the vault: those residents enrol again.
    without_record: int = 0


def _checked_number(card_number: str) -> str:
    number = str(card_number).replace(" ", "")
    if not cardnumber.is_valid(number):
        raise IssuerError("that is not a valid card number (12 digits with a check digit)", "check the number on the card")
    return number


def _card(city: "Issuer", card_number: str) -> tuple[str, CardRow]:
    number = _checked_number(card_number)
    card = city.registry.card(city.registry.card_hash(number))
    if card is None:
        raise CardNotFoundError("no card with that number is in this city's registry", "check the number on the card")
    return number, card


def enrolment_of(city: "Issuer", card_number: str) -> VaultRecord:
    """The card's vault record (the registry says which period holds it), or RecordShreddedError."""
    vault = city.require_vault()
    number, card = _card(city, card_number)
    return vault.get(number, date.fromisoformat(card.issued_on))


def attach_scans(city: "Issuer", card_number: str, scans: dict[str, bytes]) -> None:
    """Add document scans (file name -> bytes) to a card's vault record."""
    record = enrolment_of(city, card_number)
    city.require_vault().attach(record.card_number, record.issued_on, scans)


def reissue(city: "Issuer", card_number: str, out_dir: Path, now: Any = None) -> "IssuedCard":
    """Issue a new card from ``card_number``'s vault record, then revoke the old card."""
    city.require_vault()
    number, card = _card(city, card_number)
    try:
        record = enrolment_of(city, number)
    except RecordShreddedError:
        if card.status == REVOKED:
            raise RecordShreddedError("that card is revoked and the vault holds no record for it (it was already "
                                      "replaced or renewed, or its record was shredded)",
                                      "look up the resident's newer card; otherwise the resident enrols again") from None
        raise
    return _reissue(city, record, out_dir, now)


def _reissue(city: "Issuer", record: VaultRecord, out_dir: Path, now: Any) -> "IssuedCard":
    new = city.issue_card(record.fields, now=now, out_dir=out_dir, photo=record.photo)
    if record.scans:  # issuance stored the row and photo; the scans follow the resident to the new record
        attach_scans(city, new.card_number, record.scans)
    city.revoke(record.card_number, now=now)
    city.require_vault().delete(record.card_number, record.issued_on)
    return new


def renew_expiring(city: "Issuer", out_dir: Path, within_days: int, now: Any = None) -> RenewReport:
    """Renew every card whose record is retained and that expires within ``within_days`` of ``now``."""
    if within_days < 0:
        raise IssuerError("--within must be zero or more days", "for example --within 60")
    vault = city.require_vault()
    cutoff = int(epoch(now) + timedelta(days=within_days).total_seconds())
    cards = [(r, city.registry.card(city.registry.card_hash(r.card_number))) for r in vault.expiring(cutoff)]
    # A revoked card (lost, withdrawn) is replaced on the resident's request, not renewed.
    live = [record for record, card in cards if card is not None and card.status != REVOKED]
    report = RenewReport(skipped_revoked=len(cards) - len(live),
                         without_record=city.registry.unrevoked_expiring(cutoff) - len(live))
    report.renewed = [_reissue(city, record, out_dir, now) for record in live]
    return report
