"""What a desk is allowed to learn: a purpose names the card faces it accepts and the claims it may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Iterable

ID_FACE = "urn:cityid:id:1"
CULTURE_FACE = "urn:cityid:culture:1"
RX_FACE = "urn:cityid:rx:1"
#: Format v1's single face for museums and pharmacies: it carried all five claims, so no preset accepts it.
PERKS_FACE = "urn:cityid:perks:1"
NAMES = frozenset({"given_name", "family_name"})
AGE_PREDICATES = frozenset({"age_over_18", "age_over_21", "age_over_65"})


def _frozen(values: str | Iterable[str] | None) -> frozenset[str] | None:
    if values is None:
        return None
    return frozenset([values] if isinstance(values, str) else values)


@dataclass(frozen=True)
class Purpose:
    """A verifier's purpose: which credentials it accepts and which claims reach the application.

    - ``vct``: accepted credential type(s) (``None`` accepts any type; use with care).
    - ``claims``: the only claims the application will see.  ``required_claims``
      (default: none) must be present, or the card does not serve this purpose;
      of ``required_any`` at least one must be (the names: a resident may have one).
    - ``require_key_binding``: demand a KB-JWT (holder devices, not printed cards);
      ``nonce`` and ``aud`` are then passed to ``Verifier.verify``.
    - ``require_status``: refuse credentials that carry no revocation status.
    - ``max_status_age``: revocation data older than this is refused as stale.
    """

    name: str
    vct: frozenset[str] | None = None
    claims: frozenset[str] = frozenset()
    required_claims: frozenset[str] = frozenset()
    required_any: frozenset[str] = frozenset()
    require_key_binding: bool = False
    require_status: bool = False
    max_status_age: timedelta = timedelta(days=7)
    key_binding_max_age: timedelta = timedelta(minutes=5)
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vct", _frozen(self.vct))
        object.__setattr__(self, "claims", _frozen(self.claims) or frozenset())
        object.__setattr__(self, "required_claims", _frozen(self.required_claims) or frozenset())
        object.__setattr__(self, "required_any", _frozen(self.required_any) or frozenset())
        for name in ("max_status_age", "key_binding_max_age"):
            value = getattr(self, name)
            if not isinstance(value, timedelta):
                object.__setattr__(self, name, timedelta(seconds=value))
        if not (self.required_claims | self.required_any) <= self.claims:
            raise ValueError("required_claims and required_any must be subsets of claims")

    def accepts_type(self, vct: str) -> bool:
        return self.vct is None or vct in self.vct


#: The desks the brief names.  Each reads one face, and that face carries nothing the desk may not see,
#: except the library, which reads the bank's face and is handed only the names.
_NAME_LABELS = {"given_name": "Given name", "family_name": "Family name"}
PRESETS: dict[str, Purpose] = {
    "bank": Purpose(
        name="bank",
        vct=ID_FACE,
        claims={"given_name", "family_name", "birthdate", "card_number"},
        required_claims={"birthdate", "card_number"},
        required_any=NAMES,
        require_status=True,
        max_status_age=timedelta(days=2),
        labels={**_NAME_LABELS, "birthdate": "Date of birth", "card_number": "Card number"},
    ),
    "library": Purpose(
        name="library",
        vct=ID_FACE,
        claims=NAMES,
        required_any=NAMES,
        require_status=True,
        labels=_NAME_LABELS,
    ),
    "museum": Purpose(
        name="museum",
        vct=CULTURE_FACE,
        claims={"museum_tier", *AGE_PREDICATES},
        require_status=True,
        labels={"museum_tier": "Membership tier", "age_over_18": "Adult (18+)", "age_over_21": "21 or older",
                "age_over_65": "Senior (65+)"},
    ),
    "pharmacy": Purpose(
        name="pharmacy",
        vct=RX_FACE,
        claims={"rx_eligible", "rx_bin", "rx_pcn", "rx_group"},
        required_claims={"rx_eligible"},
        require_status=True,
        labels={"rx_eligible": "Prescription discount", "rx_bin": "BIN", "rx_pcn": "PCN", "rx_group": "Group"},
    ),
}


def resolve_purpose(purpose: str | Purpose) -> Purpose:
    """A preset by name, or the given Purpose."""
    if isinstance(purpose, Purpose):
        return purpose
    try:
        return PRESETS[purpose]
    except (KeyError, TypeError):
        raise ValueError(f"unknown purpose {purpose!r}; use one of {sorted(PRESETS)} or a Purpose(...)") from None
