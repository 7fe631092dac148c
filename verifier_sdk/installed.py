"""The highest trust bundle version this computer has accepted, per city root key.

Kept outside every trust folder (an attacker who can replace a folder, or hand the
desk an old copy of one, cannot also lower what it remembers), so ``TrustStore.load``
and ``cityid-verify --trust`` refuse an older bundle (``trust_rollback``) just as sync does.
Location: ``$CITYID_STATE_DIR``, else ``$XDG_STATE_HOME/cityid``, else ``~/.local/state/cityid``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

STATE_ENV = "CITYID_STATE_DIR"
VERSIONS_FILE = "trust-versions.json"


def state_dir() -> Path:
    explicit = os.environ.get(STATE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "cityid"


def _read() -> dict[str, int]:
    try:
        data = json.loads((state_dir() / VERSIONS_FILE).read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("the remembered trust versions in %s are unreadable; starting again from this bundle", state_dir())
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)}


def highest_version(root_fingerprint: str) -> int | None:
    """The highest bundle version accepted for the city with this root key, if any."""
    return _read().get(root_fingerprint)


def remember_version(root_fingerprint: str, version: int) -> None:
    """Raise the remembered version (never lowers it).  A read-only home only costs the memory, with a warning."""
    versions = _read()
    if versions.get(root_fingerprint, 0) >= version:
        return
    versions[root_fingerprint] = version
    folder = state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".versions-", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(versions, handle, indent=1, sort_keys=True)
        os.replace(tmp, folder / VERSIONS_FILE)
    except OSError as exc:
        log.warning("cannot remember the installed trust version in %s (%s)", folder, exc.strerror)
