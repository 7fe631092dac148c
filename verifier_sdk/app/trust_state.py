"""The app's one TrustStore and Verifier: loaded once, reloaded when a sync swapped the trust folder."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ..errors import VerificationError
from ..freshness import Freshness, freshness
from ..purpose import Purpose
from ..sync import STATE_FILE
from ..trust import BUNDLE_FILE, TrustStore
from ..verifier import Verifier

log = logging.getLogger(__name__)


class TrustUnavailable(Exception):
    """No usable trust data: the desk cannot check cards until it syncs."""


#: The banner and /api/status report exactly what verify enforces (one rule: verifier_sdk.freshness).
TrustAge = Freshness


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
        self._error: VerificationError | None = None  # why the last load failed, for /api/status

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
            self._error = err
            log.warning("trust data at %s refused (%s); keeping the previous copy", self.trust_dir, err.code)
        except OSError as exc:
            self._problem = f"trust data unreadable ({exc.strerror})"
            log.warning("trust data at %s unreadable; keeping the previous copy", self.trust_dir)
        else:
            self._verifier = Verifier(trust, purpose=self.purpose)
            log.info("trust data loaded: version %s", trust.version)
        self._stamp = stamp

    def age(self, now: float | None = None) -> Freshness:
        """The freshness of the loaded trust data for this desk's purpose (the banner and /api/status)."""
        try:
            trust = self.verifier().trust
        except TrustUnavailable:
            return freshness(None, self.purpose, now, problem=self._problem, error=self._error)
        return freshness(trust, self.purpose, now)

    @property
    def problem(self) -> str:
        return self._problem
