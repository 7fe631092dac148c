"""The vault's period keys: one random key per retention period, in a store the city folder does not hold.

Two stores have the same methods (:class:`PeriodKeyStore`): :class:`PeriodKeys`,
sealed with the city's passphrase in their own folder *outside* the city folder
(``<city>.vault-keys`` by default), and ``vault_token.TokenPeriodKeys``, secret
keys inside a PKCS#11 token (an HSM city).  A backup of the city folder then only
ever holds ciphertext, and destroying a period key makes that period's records
unreadable in every backup too.  Here, destroying = overwrite, fsync, unlink,
fsync the folder, and forget any cached copy.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable, Protocol

from .errors import KeyStoreError
from .files import fsync_dir
from .keys import load_secret, save_secret

KEY_STORE_SUFFIX = ".vault-keys"
#: Bound into each sealed period key, so no other sealed secret of the city passes for one.
PERIOD_KEY_LABEL = "vault period key"
_PERIOD = re.compile(r"\d{4}-\d{2}|\d{4}-W\d{2}|\d{4}-\d{2}-\d{2}")
_FILE = re.compile(r"period-(.+)\.key")


def is_period(name: str) -> bool:
    """A real period name: the right shape and a real month, week or day (not 2026-13 or 2026-02-30)."""
    if not _PERIOD.fullmatch(name):
        return False
    try:
        period_span(name)
    except ValueError:
        return False
    return True


def check_period(period: str) -> str:
    if not is_period(period):
        raise KeyStoreError("not a vault period name", "periods look like 2026-12, 2026-W49 or 2026-12-02")
    return period


def oldest_first(names: Iterable[str]) -> list[str]:
    """The period names among ``names``, oldest first (anything else, e.g. a stray file, is left out)."""
    return sorted({name for name in names if is_period(name)}, key=lambda p: (period_span(p)[0], p))


def not_periods(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that are not real periods (a key made by hand, or by a damaged copy)."""
    return sorted({name for name in names if not is_period(name)})


def period_of(day: date, kind: str) -> str:
    """The period a record issued on ``day`` belongs to: ``2026-12``, ``2026-W49`` or ``2026-12-02``."""
    if kind == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if kind == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return day.isoformat()


def period_span(period: str) -> tuple[date, date]:
    """First day of the period and the first day after it."""
    if "W" in period:
        year, week = period.split("-W")
        start = date.fromisocalendar(int(year), int(week), 1)
        return start, start + timedelta(days=7)
    if len(period) == 7:
        year, month = int(period[:4]), int(period[5:])
        return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
    start = date.fromisoformat(period)
    return start, start + timedelta(days=1)


def default_key_store(city_dir: Path) -> Path:
    city = Path(city_dir).resolve()
    return city.parent / (city.name + KEY_STORE_SUFFIX)


def resolve_key_store(city_dir: Path, configured: str) -> Path:
    """The period-key folder; refused inside the city folder, where every backup of the city would copy it."""
    city = Path(city_dir).resolve()
    folder = Path(configured).expanduser() if configured else default_key_store(city)
    folder = (city / folder).resolve() if not folder.is_absolute() else folder.resolve()
    if folder == city or city in folder.parents:
        raise KeyStoreError("vault.key_store is inside the city folder, so every backup of the city would hold the "
                            "keys to its records", "set vault.key_store in city.json to a folder outside the city folder")
    return folder


def shred_file(path: Path) -> None:
    """Overwrite a file with random bytes, fsync, unlink, fsync its folder.

    On flash and copy-on-write file systems the old blocks may survive the
    overwrite; the file was passphrase-sealed, so a remnant still needs the passphrase.
    """
    size = path.stat().st_size
    with open(path, "r+b", buffering=0) as fh:
        fh.write(secrets.token_bytes(max(size, 1)))
        os.fsync(fh.fileno())
    path.unlink()
    fsync_dir(path.parent)


class PeriodKeyStore(Protocol):
    """Where a vault's period keys live: what the vault, ``shred`` and ``destroy-all`` use."""

    def periods(self) -> list[str]:
        """Periods whose key still exists, oldest first."""

    def names(self) -> list[str]:
        """The name of every period key in the store, real period or not (what ``destroy-all`` destroys)."""

    def identity(self) -> str:
        """Which store this is (a resolved folder, or a token's label and serial number), as the vault records it."""

    def key(self, period: str, create: bool = False) -> bytes | None:
        """The period's 32-byte key material (a new key if ``create``); None once destroyed, even by another process."""

    def candidates(self, period: str, create: bool = False) -> list[bytes]:
        """The material of every key the period has, the one to write with first (a token may hold two)."""

    def destroy(self, name: str) -> bool:
        """Destroy one period key (any name from ``names``) for good; False if it was already gone."""

    def close(self) -> None:
        """Forget what is held in memory; close a session only if this store opened it."""


class PeriodKeys:
    """The sealed period keys in one folder, unlocked with the city's passphrase (None in a demo city)."""

    def __init__(self, folder: Path, passphrase: bytes | None) -> None:
        self.dir = Path(folder)
        self.passphrase = passphrase
        self._cache: dict[str, bytes] = {}

    def _path(self, period: str) -> Path:
        return self.dir / f"period-{check_period(period)}.key"

    def periods(self) -> list[str]:
        """Periods whose key still exists, oldest first."""
        return oldest_first(self.names())

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        found = (_FILE.fullmatch(p.name) for p in self.dir.iterdir())
        return sorted(m.group(1) for m in found if m)

    def identity(self) -> str:
        return f"the folder {self.dir.resolve()}"

    def key(self, period: str, create: bool = False) -> bytes | None:
        """The period's key; a new one if ``create`` and none exists; None once destroyed (here or by another process)."""
        path = self._path(period)
        if not path.exists():
            self._cache.pop(period, None)
            if not create:
                return None
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            save_secret(path, secrets.token_bytes(32), self.passphrase, PERIOD_KEY_LABEL)
        if period not in self._cache:
            self._cache[period] = load_secret(path, self.passphrase, PERIOD_KEY_LABEL, f"the vault key of period {period}")
        return self._cache[period]

    def candidates(self, period: str, create: bool = False) -> list[bytes]:
        key = self.key(period, create)
        return [] if key is None else [key]

    def destroy(self, name: str) -> bool:
        """Destroy one period key (any name ``names`` lists) for good; False if it was already gone."""
        self._cache.pop(name, None)
        path = self.dir / f"period-{name}.key"
        if path.parent != self.dir or not _FILE.fullmatch(path.name):  # a name, never a path elsewhere
            raise KeyStoreError(f"{name!r} is not a period key name", "this is a bug; please report it")
        if not path.exists():
            return False
        shred_file(path)
        return True

    def close(self) -> None:
        self._cache.clear()
