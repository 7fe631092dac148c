"""The app's one TrustStore and Verifier: loaded once, reloaded when a sync swapped the trust folder."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..errors import VerificationError
from ..purpose import Purpose
from ..sync import STATE_FILE
from ..trust import BUNDLE_FILE, TrustStore
from ..verifier import Verifier

log = logging.getLogger(__name__)


class TrustUnavailable(Exception):
    """No usable trust data: the desk cannot check cards until it syncs."""


@dataclass(frozen=True)
class TrustAge:
    """How old the revocation data is, for the banner on every page."""

    issued_at: datetime | None
    age: timedelta | None
    max_age: timedelta
    level: str  # "fresh", "ageing" (past half the allowed age), "stale", "missing"
    version: int | None

    @property
    def age_text(self) -> str:
        if self.age is None:
            return "unknown"
        hours = int(self.age.total_seconds() // 3600)
        if hours < 1:
            return "less than an hour"
        if hours < 48:
            return f"{hours} hour{'s' if hours != 1 else ''}"
        return f"{hours // 24} days"


class TrustState:
    """Thread-safe holder; ``verifier()`` reloads when the folder's files changed (cheap stat calls)."""

    def __init__(self, trust_dir: str | Path, root_key: Any, purpose: Purpose) -> None:
        self.trust_dir = Path(trust_dir)
        self.root_key = root_key
        self.purpose = purpose
        self._lock = threading.Lock()
        self._verifier: Verifier | None = None
        self._stamp: tuple[Any, ...] | None = None
        self._problem = "trust data not loaded yet"

    def _fingerprint(self) -> tuple[Any, ...]:
        stamps = []
        for path in [self.trust_dir, self.trust_dir / BUNDLE_FILE, self.trust_dir / STATE_FILE, *sorted(self.trust_dir.glob("status/*.jwt"))]:
            try:
                st = path.stat()
                stamps.append((path.name, st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append((path.name, None))
        return tuple(stamps)

    def verifier(self) -> Verifier:
        """The current Verifier; raises TrustUnavailable when no trust data has ever loaded."""
        stamp = self._fingerprint()
        if stamp != self._stamp:
            with self._lock:
                if stamp != self._stamp:
                    self._reload(stamp)
        if self._verifier is None:
            raise TrustUnavailable(self._problem)
        return self._verifier

    def _reload(self, stamp: tuple[Any, ...]) -> None:
        try:
            trust = TrustStore.load(self.trust_dir, root_key=self.root_key)
        except VerificationError as err:
            # Keep serving with the last good copy; a half-copied folder must not stop the desk.
            self._problem = f"trust data refused ({err.code}): {err.message}"
            log.warning("trust data at %s refused (%s); keeping the previous copy", self.trust_dir, err.code)
        except OSError as exc:
            self._problem = f"trust data unreadable ({exc.strerror})"
            log.warning("trust data at %s unreadable; keeping the previous copy", self.trust_dir)
        else:
            self._verifier = Verifier(trust, purpose=self.purpose)
            log.info("trust data loaded: version %s", trust.version)
        self._stamp = stamp

    def age(self, now: float | None = None) -> TrustAge:
        max_age = self.purpose.max_status_age
        try:
            trust = self.verifier().trust
        except TrustUnavailable:
            return TrustAge(None, None, max_age, "missing", None)
        issued = trust.status_issued_at or trust.bundle_issued_at
        if issued is None:
            return TrustAge(None, None, max_age, "missing", trust.version)
        age = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc) - issued
        level = "stale" if age > max_age or trust.problems else "ageing" if age > max_age / 2 else "fresh"
        return TrustAge(issued, age, max_age, level, trust.version)

    @property
    def problem(self) -> str:
        return self._problem
