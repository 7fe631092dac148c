"""Can this verifier's trust data vouch for a card now?  One rule, used by verify, sync, the banner and /api/status.

    report = freshness(trust, purpose, now=now)
    report.level      # "fresh", "ageing" (still fine, a sync is due soon), "stale" (CANNOT CHECK), "missing"
    report.reason     # stable code: None, "status_ageing", "trust_expiring", or the error code cards fail with
    report.message    # one plain sentence for the desk

The rule: the trust bundle is not dated in the future and has not reached its ``exp``;
every status list is not dated in the future, has not reached its ``exp`` and is no
older than the purpose's ``max_status_age``.  :func:`check_bundle` and
:func:`check_status_list` raise the error a card then fails with; :func:`freshness`
reports the same checks without raising, plus early warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .errors import StatusStaleError, TrustExpiredError, TrustNotYetValidError, VerificationError
from .format.statuslist import StatusListToken
from .purpose import Purpose
from .timeutil import epoch, to_datetime

if TYPE_CHECKING:
    from .trust import TrustStore

#: Desks see the bundle's expiry coming this long before it happens (the yearly ceremony is late).
EXPIRY_WARNING = timedelta(days=30)
FRESH, AGEING, STALE, MISSING = "fresh", "ageing", "stale", "missing"


def check_bundle(trust: "TrustStore", now: float, skew: float) -> None:
    """Raise when the trust bundle cannot vouch for anything at ``now`` (epoch seconds)."""
    if trust.bundle_iat is not None and trust.bundle_iat > now + skew:
        raise TrustNotYetValidError(
            f"this computer's clock ({to_datetime(now):%Y-%m-%d %H:%M} UTC) is earlier than the trust data "
            f"({to_datetime(trust.bundle_iat):%Y-%m-%d %H:%M} UTC); check this computer's date and time"
        )
    if trust.bundle_exp is not None and now >= trust.bundle_exp:
        raise TrustExpiredError(f"the city's trust data expired on {to_datetime(trust.bundle_exp):%Y-%m-%d}; sync the trust data")


def check_status_list(token: StatusListToken, max_age: timedelta, now: float, skew: float) -> None:
    """Raise when a verified status list cannot vouch for a card at ``now``."""
    if token.iat > now + skew:
        raise TrustNotYetValidError("the revocation data is dated in the future; check this computer's clock (date and time)")
    if token.exp is not None and now >= token.exp:
        raise StatusStaleError("the revocation data has expired; sync the trust data")
    if now - token.iat > max_age.total_seconds():
        hours = max_age.total_seconds() / 3600
        allowed = f"{max_age.days} days" if hours >= 48 else f"{hours:g} hours"
        raise StatusStaleError(f"the revocation data is older than this desk allows ({allowed}); sync the trust data")


@dataclass(frozen=True)
class Freshness:
    """What the trust data can vouch for now; ``level`` and ``reason`` are stable values for desks and monitors."""

    level: str
    reason: str | None
    message: str
    max_age: timedelta
    version: int | None = None
    #: When the oldest status list was issued, and its age now.
    issued_at: datetime | None = None
    age: timedelta | None = None
    #: When the status data stops vouching (its exp or issued_at + max_age, whichever is first).
    status_valid_until: datetime | None = None
    bundle_issued_at: datetime | None = None
    bundle_expires_at: datetime | None = None
    error: VerificationError | None = field(default=None, compare=False, repr=False)

    @property
    def can_check(self) -> bool:
        """False means CANNOT CHECK: every card would fail for a reason that is the desk's, not the card's."""
        return self.level in (FRESH, AGEING)

    @property
    def age_text(self) -> str:
        return age_text(self.age)


def age_text(age: timedelta | None) -> str:
    """"5 hours", "3 days": how old the revocation data is, in words."""
    if age is None:
        return "unknown"
    hours = int(age.total_seconds() // 3600)
    if hours < 1:
        return "less than an hour"
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def freshness(
    trust: "TrustStore | None",
    purpose: Purpose | timedelta,
    now: datetime | float | None = None,
    *,
    clock_skew: timedelta = timedelta(minutes=5),
    problem: str | None = None,
    error: VerificationError | None = None,
) -> Freshness:
    """The freshness of ``trust`` for a desk with this purpose (or maximum status age) at ``now``.

    ``trust`` None (nothing loaded) gives level "missing", with ``problem`` as its message and
    the code of ``error`` (why loading failed, e.g. ``trust_rollback``) as its reason.
    """
    max_age = purpose.max_status_age if isinstance(purpose, Purpose) else purpose
    if trust is None:
        return Freshness(MISSING, error.code if error else "trust_unavailable",
                         problem or "no trust data: cards cannot be checked; run a trust sync", max_age, error=error)
    now_ts, skew = epoch(now), clock_skew.total_seconds()
    tokens = [entry for entry in trust.status_lists.values() if isinstance(entry, StatusListToken)]
    oldest = min(tokens, key=lambda t: t.iat) if tokens else None
    until = [min(t.exp if t.exp is not None else float("inf"), t.iat + max_age.total_seconds()) for t in tokens]
    known = {
        "max_age": max_age,
        "version": trust.version,
        "issued_at": to_datetime(oldest.iat) if oldest else None,
        "age": timedelta(seconds=now_ts - oldest.iat) if oldest else None,
        "status_valid_until": to_datetime(min(until)) if until else None,
        "bundle_issued_at": trust.bundle_issued_at,
        "bundle_expires_at": trust.bundle_expires_at,
    }
    try:
        check_bundle(trust, now_ts, skew)
        for token in tokens:
            check_status_list(token, max_age, now_ts, skew)
    except VerificationError as err:
        return Freshness(STALE, err.code, err.message, error=err, **known)
    if trust.problems:
        uri, err = next(iter(trust.problems.items()))
        return Freshness(STALE, "status_unavailable", f"the revocation list {uri} could not be used ({err.message})", error=err, **known)
    if trust.bundle_exp is not None and trust.bundle_exp - now_ts < EXPIRY_WARNING.total_seconds():
        return Freshness(AGEING, "trust_expiring", f"the city's trust data expires on {to_datetime(trust.bundle_exp):%Y-%m-%d}; "
                         "sync soon, and tell the city if no newer data arrives", **known)
    if oldest is not None and now_ts - oldest.iat > max_age.total_seconds() / 2:
        return Freshness(AGEING, "status_ageing", f"the revocation data is {age_text(known['age'])} old; sync soon", **known)
    return Freshness(FRESH, None, "the trust data is up to date", **known)
