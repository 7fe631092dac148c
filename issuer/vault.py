"""The records vault: each issued card's enrolment record, encrypted, shreddable a period at a time.

A record (the checked input row, the photo, any document scans) is encrypted
with its own random key (AES-256-GCM; associated data binds the record id and
period).  That key is wrapped with a key derived from its period's key (sealed
files, see ``periodkeys``, or a token, see ``vault_token``).  The lookup from a
card number to its record is an HMAC under another key derived from the period
key, so once a period key is destroyed nothing links a card number to a row.
Only ciphertext, random ids, the period name and the card's expiry ever enter
``vault/records.sqlite``, so its free pages and WAL hold no personal data either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .config import VAULT_PERIODS
from .errors import IssuerError
from .files import fsync_dir
from .periodkeys import PeriodKeyStore, period_of, period_span
from .records import PersonRecord
from .registry import _transaction

VAULT_DIR = "vault"
VAULT_FILE = "records.sqlite"
SCHEMA_VERSION = 1
#: Plaintext is padded to a multiple of this, so a record's size tells little about its name or photo.
PAD = 4096
_DAMAGED = ("a vault record failed its integrity check (tampered or damaged)",
            "restore vault/records.sqlite from the latest backup")

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (
    lookup BLOB PRIMARY KEY, period TEXT NOT NULL, expires_at INTEGER NOT NULL,
    rid BLOB NOT NULL UNIQUE, wrapped BLOB NOT NULL, sealed BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX records_by_period ON records (period);
CREATE INDEX records_by_expiry ON records (expires_at);
"""


class VaultError(IssuerError):
    """The vault is missing, damaged, or no longer holds the record asked for."""


class VaultKeyStoreError(VaultError):
    """city.json names another period-key store than the one the vault was created with."""


class RecordShreddedError(VaultError):
    """The card's enrolment record is not (or no longer) in the vault: the resident enrols again."""


@dataclass(frozen=True)
class VaultRecord:
    """One decrypted enrolment record.  Lives in memory only."""

    card_number: str
    issued_on: date
    expires_at: int
    fields: dict[str, Any]
    photo: bytes | None = None
    scans: dict[str, bytes] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode("ascii")

        body = json.dumps({"v": 1, "card_number": self.card_number, "issued_on": self.issued_on.isoformat(),
                           "expires_at": self.expires_at, "fields": self.fields,
                           "photo": b64(self.photo) if self.photo is not None else None,
                           "scans": {name: b64(data) for name, data in self.scans.items()}},
                          ensure_ascii=False, default=str).encode("utf-8")
        return body + b" " * (-len(body) % PAD)  # trailing spaces: still valid JSON

    @classmethod
    def from_bytes(cls, data: bytes) -> "VaultRecord":
        obj = json.loads(data)
        photo = obj["photo"]
        return cls(obj["card_number"], date.fromisoformat(obj["issued_on"]), obj["expires_at"], obj["fields"],
                   base64.b64decode(photo) if photo is not None else None,
                   {name: base64.b64decode(data) for name, data in obj["scans"].items()})


def photo_bytes(photo: Any) -> bytes | None:
    """A record's photo as bytes: given as bytes, or as the path the input row names."""
    if photo is None or photo == "":
        return None
    if isinstance(photo, (bytes, bytearray)):
        return bytes(photo)
    if hasattr(photo, "getvalue"):  # a photo held in memory (io.BytesIO)
        return bytes(photo.getvalue())
    try:
        return Path(photo).read_bytes()
    except OSError:
        raise VaultError("the photo file named by the record cannot be read", "check the photo column's path") from None


def enrolment_record(card_number: str, person: PersonRecord, issued_on: date, expires_at: int,
                     photo: Any = None) -> VaultRecord:
    """What the vault keeps of one issued card: the checked input row and the photo's bytes."""
    fields = {name: value.isoformat() if isinstance(value, date) else value
              for name, value in asdict(person).items() if name not in ("card_number", "photo")}
    return VaultRecord(card_number, issued_on, expires_at, fields,
                       photo_bytes(getattr(person, "photo", None) if photo is None else photo))


def _derive(period_key: bytes, purpose: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"cityid vault " + purpose).derive(period_key)


def _lookup(lookup_key: bytes, card_number: str) -> bytes:
    return hmac.new(lookup_key, b"card-number\0" + card_number.encode("ascii"), hashlib.sha256).digest()


def _associated(rid: bytes, period: str) -> bytes:
    return b"cityid vault record v1\0" + rid + b"\0" + period.encode("ascii")


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    # Deleted rows are zeroed, so even the ciphertext of a shredded period leaves the live file.
    db.execute("PRAGMA secure_delete=ON")
    return db


def vault_path(city_dir: Path) -> Path:
    return Path(city_dir) / VAULT_DIR / VAULT_FILE


def _check_key_store(db: sqlite3.Connection, here: str) -> None:
    """The vault opens only with the key store it was created with (recorded at its first open since cityid
    records it): with another, its records would look shredded while their keys still exist."""
    row = db.execute("SELECT value FROM meta WHERE name = 'key_store'").fetchone()
    if row is None:
        with _transaction(db):
            db.execute("INSERT OR IGNORE INTO meta VALUES ('key_store', ?)", (here,))
        row = db.execute("SELECT value FROM meta WHERE name = 'key_store'").fetchone()
    (recorded,) = row
    if recorded != here:
        db.close()
        raise VaultKeyStoreError(f"this vault's period keys are in {recorded}, but city.json now names {here}",
                                 "set vault.key_store in city.json back to that store (or put the city folder back "
                                 "where it was); to destroy those keys, run destroy-all with that setting")


class Vault:
    """The city's records vault: ``CITY/vault/records.sqlite`` plus the period keys."""

    def __init__(self, db: sqlite3.Connection, keys: PeriodKeyStore, period_kind: str,
                 new_key_lock: Callable[[], ContextManager[None]] = nullcontext) -> None:
        self.db = db
        self.keys = keys
        self.period_kind = period_kind
        self._new_key_lock = new_key_lock
        self._derived: dict[tuple[bytes, bytes], bytes] = {}
        self._asked: dict[str, list[bytes]] | None = None

    @classmethod
    def open(cls, city_dir: Path, keys: PeriodKeyStore, period_kind: str,
             new_key_lock: Callable[[], ContextManager[None]] = nullcontext) -> "Vault":
        """Open the vault, creating it on first use.

        ``new_key_lock``: held while a period's key is made, so that processes sharing the key store never
        make one period's key twice (the ``Issuer`` passes the city's lock)."""
        path = vault_path(city_dir)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        fresh = not path.exists()
        if fresh:  # ciphertext only, but still the office's alone
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            db = _connect(path)
            if fresh:
                with _transaction(db):
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
            if row is None or row[0] != str(SCHEMA_VERSION):
                db.close()
                raise VaultError("the vault is from another version of cityid",
                                 "use the matching cityid-issuer version")
            _check_key_store(db, keys.identity())
        except sqlite3.DatabaseError:
            raise VaultError("the vault file is damaged or not a cityid vault; it was not modified",
                             "restore vault/records.sqlite from the latest backup") from None
        return cls(db, keys, period_kind, new_key_lock)

    def close(self) -> None:
        """Close the vault file; the period keys stay open (whoever opened them closes them)."""
        self.db.close()

    @contextmanager
    def _each_period_key_once(self) -> Iterator[None]:
        """Within one call, ask the key store once per period: a token answers in milliseconds, per record too slow.

        Between calls nothing is kept: a key destroyed meanwhile is gone at the next call (within a call, such
        as one ``put`` of a batch chunk, the key asked for at its start is used to its end)."""
        self._asked, self._derived = {}, {}
        try:
            yield
        finally:
            self._asked, self._derived = None, {}

    def _period_keys(self, period: str, create: bool = False) -> list[bytes]:
        """The period's key material: one, or (a token two processes raced on) several, the one to write first."""
        asked = self._asked if self._asked is not None else {}
        if period not in asked:
            asked[period] = self.keys.candidates(period)  # none once destroyed, even by another process
        if not asked[period] and create:
            with self._new_key_lock():  # asked again inside: another process may have just made it
                asked[period] = self.keys.candidates(period, create=True)
        return asked[period]

    def _key(self, period_key: bytes, purpose: bytes) -> bytes:
        if (purpose, period_key) not in self._derived:
            derived = _derive(period_key, purpose)
            if self._asked is None:  # outside a call: keep nothing
                return derived
            self._derived[(purpose, period_key)] = derived
        return self._derived[(purpose, period_key)]

    def _lookups(self, period: str, card_number: str) -> list[bytes]:
        return [_lookup(self._key(key, b"lookup"), card_number) for key in self._period_keys(period)]

    # -- records
    def put(self, *records: VaultRecord) -> None:
        """Store (or replace) cards' records, each under the period of its issue date, in one transaction."""
        with self._each_period_key_once():
            # Before BEGIN: making a key takes the city's lock, which publish and shred hold while they wait for
            # the vault's write lock.
            for period in dict.fromkeys(period_of(record.issued_on, self.period_kind) for record in records):
                self._period_keys(period, create=True)
            with _transaction(self.db):
                for record in records:
                    self._put(record)

    def _put(self, record: VaultRecord) -> None:
        period = period_of(record.issued_on, self.period_kind)
        period_key = self._period_keys(period)[0]  # the lowest id's, so every writer picks the same one
        lookup = _lookup(self._key(period_key, b"lookup"), record.card_number)
        wrap_key = self._key(period_key, b"wrap")
        rid, record_key = secrets.token_bytes(16), AESGCM.generate_key(256)
        ad = _associated(rid, period)
        nonce, wrap_nonce = secrets.token_bytes(12), secrets.token_bytes(12)
        sealed = nonce + AESGCM(record_key).encrypt(nonce, record.to_bytes(), ad)
        wrapped = wrap_nonce + AESGCM(wrap_key).encrypt(wrap_nonce, record_key, ad)
        self._delete(record.card_number, record.issued_on)
        self.db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)",
                        (lookup, period, record.expires_at, rid, wrapped, sealed))

    def _find_row(self, card_number: str, issued_on: date) -> tuple[bytes, str, bytes, bytes, bytes] | None:
        """(lookup, period, rid, wrapped, sealed) of the card's record.

        Only the keys of periods containing ``issued_on`` are asked for: this city's kind of period first, then
        the others (``period`` may have changed in city.json since the card was issued).
        """
        kinds = (self.period_kind, *(kind for kind in VAULT_PERIODS if kind != self.period_kind))
        for period in dict.fromkeys(period_of(issued_on, kind) for kind in kinds):
            for lookup in self._lookups(period, card_number):
                row = self.db.execute("SELECT lookup, period, rid, wrapped, sealed FROM records "
                                      "WHERE lookup = ?", (lookup,)).fetchone()
                if row:
                    return row
        return None

    def _decrypt(self, period: str, rid: bytes, wrapped: bytes, sealed: bytes) -> VaultRecord:
        period_keys = self._period_keys(period)
        if not period_keys:
            raise RecordShreddedError("that record's period key has been destroyed", "the resident enrols again")
        ad = _associated(rid, period)
        for period_key in period_keys:  # several only in a raced token: the GCM tag tells which sealed it
            try:
                record_key = AESGCM(self._key(period_key, b"wrap")).decrypt(wrapped[:12], wrapped[12:], ad)
            except InvalidTag:
                continue
            try:
                return VaultRecord.from_bytes(AESGCM(record_key).decrypt(sealed[:12], sealed[12:], ad))
            except (InvalidTag, ValueError, KeyError, TypeError):
                break
        raise VaultError(*_DAMAGED)

    def get(self, card_number: str, issued_on: date) -> VaultRecord:
        """The record of the card issued on ``issued_on`` (the registry knows the date), or RecordShreddedError."""
        with self._each_period_key_once():
            row = self._find_row(card_number, issued_on)
            if row is None:
                raise RecordShreddedError(
                    "this card's enrolment record is not in the vault: its retention period was shredded, "
                    "or it was issued before the vault was enabled", "the resident enrols again with documents")
            record = self._decrypt(row[1], *row[2:])
        if record.card_number != card_number:  # a row moved under another card's lookup
            raise VaultError(*_DAMAGED)
        return record

    def attach(self, card_number: str, issued_on: date, scans: dict[str, bytes]) -> None:
        """Add document scans (file name -> bytes) to a card's record; a scan of the same name is replaced."""
        record = self.get(card_number, issued_on)
        self.put(replace(record, scans={**record.scans, **scans}))

    def delete(self, card_number: str, issued_on: date) -> bool:
        with _transaction(self.db):
            return self._delete(card_number, issued_on)

    def _delete(self, card_number: str, issued_on: date) -> bool:
        row = self._find_row(card_number, issued_on)
        if row is not None:
            self.db.execute("DELETE FROM records WHERE lookup = ?", (row[0],))
        return row is not None

    def expiring(self, before: int) -> Iterator[VaultRecord]:
        """Records of cards that expire before ``before`` (epoch seconds) and whose period key is still held."""
        held = set(self.keys.periods())
        rows = self.db.execute("SELECT period, rid, wrapped, sealed FROM records WHERE expires_at < ? "
                               "ORDER BY expires_at", (before,)).fetchall()
        for period, rid, wrapped, sealed in rows:
            if period in held:
                yield self._decrypt(period, rid, wrapped, sealed)

    def counts(self) -> dict[str, int]:
        """Records per period whose key is still held, oldest period first."""
        rows = dict(self.db.execute("SELECT period, count(*) FROM records GROUP BY period"))
        return {period: rows.get(period, 0) for period in self.keys.periods()}

    def count(self) -> int:
        held = self.keys.periods()
        if not held:
            return 0
        marks = ",".join("?" * len(held))
        return self.db.execute(f"SELECT count(*) FROM records WHERE period IN ({marks})", held).fetchone()[0]

    # -- destruction
    def apply_retention(self, today: date, retention_days: int | None) -> list[str]:
        """Shred what is older than the retention: called at every publish."""
        if retention_days is None:
            return []
        return self.shred_before(today - timedelta(days=retention_days))

    def shred_before(self, day: date) -> list[str]:
        """Destroy every period key whose period began before ``day``; returns the periods destroyed.

        A period that straddles ``day`` goes whole: nothing issued before ``day`` survives.
        """
        doomed = [p for p in self.keys.periods() if period_span(p)[0] < day]
        for period in doomed:
            self.keys.destroy(period)
        self._drop_unreadable()
        return doomed

    def _drop_unreadable(self) -> None:
        """Delete rows whose period key is gone (zeroed by secure_delete) and empty the WAL."""
        held = self.keys.periods()
        marks = ",".join("?" * len(held))
        with _transaction(self.db):
            self.db.execute(f"DELETE FROM records WHERE period NOT IN ({marks})" if held else "DELETE FROM records",
                            held)
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def check_print_folder(city_dir: Path, out_dir: Path) -> None:
    """Print folders hold names, card numbers and photos in clear: never inside the city folder a backup copies."""
    city, out = Path(city_dir).resolve(), Path(out_dir).resolve()
    if out == city or city in out.parents:
        raise VaultError("the print folder is inside the city folder, so the city's backups would hold the cards "
                         "in clear", "choose an --out folder outside the city folder")


@dataclass(frozen=True)
class Destruction:
    """What ``destroy_everything`` did: every key it destroyed, every one it could not, and what it left."""

    destroyed: list[str]
    failed: dict[str, str]  # key name -> why it was not destroyed
    vault_removed: bool
    keyed_elsewhere: int | None  # records whose period had no key in this store (None: the vault file was unreadable)
    recorded_store: str | None  # where the vault says its keys are, when that is not this store


def _records_without_key(city_dir: Path, held: set[str]) -> tuple[int | None, str | None]:
    """Records whose period has no key in this store, and the store the vault was created with."""
    path = vault_path(city_dir)
    if not path.exists():
        return 0, None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            per_period = db.execute("SELECT period, count(*) FROM records GROUP BY period").fetchall()
            recorded = db.execute("SELECT value FROM meta WHERE name = 'key_store'").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return None, None
    return sum(n for period, n in per_period if period not in held), recorded[0] if recorded else None


def destroy_everything(city_dir: Path, keys: PeriodKeyStore) -> Destruction:
    """The emergency path: destroy every period key first (that alone makes every record unreadable,
    backups included), then unlink the vault's ciphertext.  Needs no passphrase (a token needs its PIN).

    Every key named like a period key goes, whether or not its name is a real period; a key that fails to be
    destroyed does not stop the others.
    """
    names = keys.names()  # a store that cannot be listed raises here, before anything is destroyed
    keyed_elsewhere, recorded = _records_without_key(city_dir, set(names))
    destroyed: list[str] = []
    failed: dict[str, str] = {}
    for name in names:
        try:
            keys.destroy(name)  # False: another process destroyed it first, gone all the same
            destroyed.append(name)
        except IssuerError as exc:
            failed[name] = exc.message
        except OSError as exc:
            failed[name] = exc.strerror or type(exc).__name__
    path = vault_path(city_dir)
    removed = False
    for part in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), path):
        if part.exists():
            part.unlink()  # ciphertext under destroyed keys: no overwrite needed, and a large vault unlinks at once
            removed = True
    if path.parent.is_dir():
        fsync_dir(path.parent)
    return Destruction(destroyed, failed, removed, keyed_elsewhere,
                       recorded if recorded not in (None, keys.identity()) else None)
