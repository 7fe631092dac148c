"""The card registry (SQLite, WAL): what revocation and publication need, and nothing personal.

Per card it keeps a keyed hash of the card number (HMAC-SHA256 under the city's
registry secret, so a stolen file cannot be matched against card numbers), the
faces' vct, issue date, expiry, issuing kid and status; per face, its own random
status list index (so a bank and a museum cannot join their records by it), whose
status always changes with the card's, in one transaction.  Never a name, birth
date or any other claim value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import cardnumber
from .errors import RegistryError
from .files import make_private

REGISTRY_FILE = "registry.sqlite"
SCHEMA_VERSION = 2
VALID, REVOKED, SUSPENDED = 0, 1, 2

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE issuing_keys (
    kid TEXT PRIMARY KEY, alg TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,
    retired_at INTEGER, withdrawn INTEGER NOT NULL DEFAULT 0);
CREATE TABLE status_lists (list_no INTEGER PRIMARY KEY, capacity INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE cards (
    card_hash BLOB PRIMARY KEY,
    vcts TEXT NOT NULL, issued_on TEXT NOT NULL, expires_at INTEGER NOT NULL,
    kid TEXT NOT NULL REFERENCES issuing_keys(kid), status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2))
    ) WITHOUT ROWID;
CREATE INDEX cards_by_kid ON cards (kid, expires_at);
CREATE TABLE card_faces (
    list_no INTEGER NOT NULL REFERENCES status_lists(list_no), idx INTEGER NOT NULL,
    card_hash BLOB NOT NULL REFERENCES cards(card_hash), face TEXT NOT NULL,
    status INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    PRIMARY KEY (list_no, idx), UNIQUE (card_hash, face)) WITHOUT ROWID;
"""
#: The open batch's journal: erased (secure_delete, VACUUM, WAL truncated) when the batch completes or is closed.
_JOURNAL = """
CREATE TABLE IF NOT EXISTS batches (batch BLOB PRIMARY KEY, opened_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batch_outputs (
    batch BLOB NOT NULL REFERENCES batches(batch), out_no INTEGER NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (batch, out_no)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batch_cards (
    batch BLOB NOT NULL REFERENCES batches(batch), resident BLOB NOT NULL, card_hash BLOB NOT NULL UNIQUE,
    out_no INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (batch, resident)) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class CardRow:
    card_hash: bytes
    #: Face name -> (status list number, index).  Cards from schema 1 have one entry, "*", for all faces.
    faces: dict[str, tuple[int, int]]
    vcts: tuple[str, ...]
    issued_on: str
    expires_at: int
    kid: str
    status: int


@dataclass(frozen=True)
class IssuingKeyRow:
    kid: str
    alg: str
    not_before: int
    not_after: int
    retired_at: int | None
    withdrawn: bool
    #: "card" (signs cards only) or "status" (signs status lists only).
    role: str = "card"


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    # FULL: a reservation must survive power loss before its card is printed.
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA secure_delete=ON")
    return db


class Registry:
    """One open registry.  Only one process writes (the issuing process); workers never touch it."""

    def __init__(self, db: sqlite3.Connection, secret: bytes) -> None:
        self.db = db
        self._secret = secret

    @classmethod
    def create(cls, city_dir: Path, secret: bytes, capacity: int) -> "Registry":
        path = Path(city_dir) / REGISTRY_FILE
        if path.exists():
            raise RegistryError("a registry already exists here", "use a new directory for a new city")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # SQLite gives -wal/-shm the same mode
        db = _connect(path)
        with _transaction(db):
            for statement in (_SCHEMA + _JOURNAL).split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('schema_version', ?), ('bundle_version', '0')", (str(SCHEMA_VERSION),))
            db.execute("INSERT INTO status_lists (list_no, capacity) VALUES (1, ?)", (capacity,))
        _add_key_roles(db)
        return cls(db, secret)

    @classmethod
    def open(cls, city_dir: Path, secret: bytes) -> "Registry":
        path = Path(city_dir) / REGISTRY_FILE
        if not path.is_file():
            raise RegistryError(f"no registry in {city_dir}", "run `cityid-issuer init DIR` first or check the directory")
        for name in (REGISTRY_FILE, REGISTRY_FILE + "-wal", REGISTRY_FILE + "-shm"):  # made 0644 by earlier versions
            make_private(Path(city_dir) / name)
        try:
            db = _connect(path)
            # integrity_check, not quick_check: it also compares indexes with rows, so a flipped byte in a card's row is caught.
            result = db.execute("PRAGMA integrity_check").fetchall()
            if result != [("ok",)]:
                raise RegistryError("the registry file is corrupted (SQLite integrity check failed); it was not modified",
                                    "stop issuing and restore registry.sqlite from the latest backup")
            row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        except sqlite3.DatabaseError:
            raise RegistryError("the registry file is corrupted or not a cityid registry; it was not modified",
                                "stop issuing and restore registry.sqlite from the latest backup") from None
        if row is not None and row[0] == "1":
            _migrate_from_schema_1(db)
        elif row is None or row[0] != str(SCHEMA_VERSION):
            raise RegistryError("the registry is from another version of cityid", "use the matching cityid-issuer version")
        _add_key_roles(db)
        return cls(db, secret)

    def close(self) -> None:
        self.db.close()

    def transaction(self):  # noqa: ANN201 - context manager
        return _transaction(self.db)

    # -- keyed hashes: the only link from a card number (or an input row) to the registry
    def card_hash(self, card_number: str) -> bytes:
        return hmac.new(self._secret, b"card-number\0" + card_number.encode("ascii"), hashlib.sha256).digest()

    def keyed_hash(self, label: str, data: bytes) -> bytes:
        return hmac.new(self._secret, label.encode("ascii") + b"\0" + data, hashlib.sha256).digest()

    def derived_card_number(self, batch: bytes, resident: bytes, attempt: int) -> str:
        """The card number a batch assigns to a resident; recomputable while the batch is open, so never stored."""
        return cardnumber.derived_number(self._secret, batch, resident, attempt)

    # -- meta
    def meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        self.db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value", (name, value))

    # -- issuing keys
    def add_issuing_key(self, kid: str, not_before: int, not_after: int, alg: str = "ES256", role: str = "card") -> None:
        self.db.execute("INSERT INTO issuing_keys (kid, alg, not_before, not_after, role) VALUES (?, ?, ?, ?, ?)",
                        (kid, alg, not_before, not_after, role))

    def issuing_keys(self) -> list[IssuingKeyRow]:
        rows = self.db.execute("SELECT kid, alg, not_before, not_after, retired_at, withdrawn, role FROM issuing_keys "
                               "ORDER BY role, CAST(substr(kid, 2) AS INTEGER)").fetchall()
        return [IssuingKeyRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]

    def issuing_key_row(self, kid: str) -> IssuingKeyRow | None:
        return next((k for k in self.issuing_keys() if k.kid == kid), None)

    def current_key(self, role: str = "card") -> IssuingKeyRow:
        active = [k for k in self.issuing_keys() if k.retired_at is None and k.role == role]
        if not active:
            raise RegistryError(f"the registry lists no active {role} key", f"run `cityid-issuer rotate-key DIR --role {role}`")
        return active[-1]

    def withdraw_key(self, kid: str) -> None:
        self.db.execute("UPDATE issuing_keys SET withdrawn = 1 WHERE kid = ?", (kid,))

    def retire_key(self, kid: str, retired_at: int, not_after: int, withdrawn: bool) -> None:
        self.db.execute("UPDATE issuing_keys SET retired_at = ?, not_after = ?, withdrawn = ? WHERE kid = ?",
                        (retired_at, not_after, int(withdrawn), kid))

    def last_expiry(self, kid: str) -> int | None:
        return self.db.execute("SELECT max(expires_at) FROM cards WHERE kid = ?", (kid,)).fetchone()[0]

    # -- cards
    def reserve_card(self, card_hash: bytes, faces: tuple[str, ...], vcts: tuple[str, ...], issued_on: str,
                     expires_at: int, kid: str, fill: float) -> dict[str, tuple[int, int]]:
        """Insert a card and give each face its own random status index (call inside a transaction)."""
        try:
            self.db.execute("INSERT INTO cards (card_hash, vcts, issued_on, expires_at, kid) VALUES (?, ?, ?, ?, ?)",
                            (card_hash, " ".join(vcts), issued_on, expires_at, kid))
        except sqlite3.IntegrityError:
            raise RegistryError("this card number is already in the registry", "use another card number") from None
        return {face: self._reserve_index(card_hash, face, fill) for face in faces}

    def _reserve_index(self, card_hash: bytes, face: str, fill: float) -> tuple[int, int]:
        """A fresh random index on the newest list, drawn independently for every face."""
        list_no, capacity, used = self.db.execute(
            "SELECT list_no, capacity, used FROM status_lists ORDER BY list_no DESC LIMIT 1").fetchone()
        if used + 1 > capacity * fill:
            list_no += 1
            self.db.execute("INSERT INTO status_lists (list_no, capacity) VALUES (?, ?)", (list_no, capacity))
        while True:  # a random index, never in issuance order; retries are rare below the fill threshold
            idx = secrets.randbelow(capacity)
            if self.db.execute("SELECT 1 FROM card_faces WHERE list_no = ? AND idx = ?", (list_no, idx)).fetchone() is None:
                break
        self.db.execute("INSERT INTO card_faces (list_no, idx, card_hash, face) VALUES (?, ?, ?, ?)",
                        (list_no, idx, card_hash, face))
        self.db.execute("UPDATE status_lists SET used = used + 1 WHERE list_no = ?", (list_no,))
        return list_no, idx

    def card(self, card_hash: bytes) -> CardRow | None:
        row = self.db.execute("SELECT card_hash, vcts, issued_on, expires_at, kid, status "
                              "FROM cards WHERE card_hash = ?", (card_hash,)).fetchone()
        if row is None:
            return None
        faces = {face: (list_no, idx) for face, list_no, idx in self.db.execute(
            "SELECT face, list_no, idx FROM card_faces WHERE card_hash = ?", (card_hash,))}
        return CardRow(row[0], faces, tuple(row[1].split()), row[2], row[3], row[4], row[5])

    def has_card(self, card_hash: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM cards WHERE card_hash = ?", (card_hash,)).fetchone() is not None

    def set_status(self, card_hash: bytes, status: int) -> None:
        """The card's and every one of its faces' status (call inside a transaction: they change together)."""
        self.db.execute("UPDATE cards SET status = ? WHERE card_hash = ?", (status, card_hash))
        self.db.execute("UPDATE card_faces SET status = ? WHERE card_hash = ?", (status, card_hash))

    def set_card_kid(self, card_hash: bytes, kid: str) -> None:
        self.db.execute("UPDATE cards SET kid = ? WHERE card_hash = ?", (kid, card_hash))

    def status_lists(self) -> list[tuple[int, int]]:
        return self.db.execute("SELECT list_no, capacity FROM status_lists ORDER BY list_no").fetchall()

    def statuses(self, list_no: int) -> Iterator[tuple[int, int]]:
        """(index, status) of the card faces on one list that are not valid (valid is the list's default)."""
        yield from self.db.execute("SELECT idx, status FROM card_faces WHERE list_no = ? AND status != 0", (list_no,))

    def card_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM cards").fetchone()[0]

    def unrevoked_expiring(self, before: int) -> int:
        """How many cards that are not revoked expire before ``before`` (epoch seconds)."""
        return self.db.execute("SELECT count(*) FROM cards WHERE expires_at < ? AND status != ?",
                               (before, REVOKED)).fetchone()[0]

    def cards_signed_by(self, kid: str) -> set[bytes]:
        return {row[0] for row in self.db.execute("SELECT card_hash FROM cards WHERE kid = ?", (kid,))}

    # -- the open batch's journal: which resident (keyed hash of names and birth date) became which card
    def open_batch(self, now: int, create: bool = True) -> tuple[bytes, int] | None:
        """The open batch (its random id and opening time), opened now if none is and ``create`` (in a transaction)."""
        self._journal_tables()
        row = self.db.execute("SELECT batch, opened_at FROM batches").fetchone()
        if row is None and create:
            row = (secrets.token_bytes(32), now)
            self.db.execute("INSERT INTO batches VALUES (?, ?)", row)
        return (row[0], row[1]) if row else None

    def _journal_tables(self) -> None:
        legacy = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'batch_rows'").fetchone()
        if legacy and self.db.execute("SELECT 1 FROM batch_rows WHERE done = 0").fetchone():
            raise RegistryError("an interrupted batch of an earlier cityid version is unfinished",
                                "finish it with that version (run the same input again), then upgrade")
        if legacy:  # finished batches of earlier versions: their row hashes are erased at the next batch close
            self.db.execute("DROP TABLE batch_rows")
        for statement in _JOURNAL.split(";"):
            if statement.strip():
                self.db.execute(statement)

    def batch_output(self, batch: bytes, path: str) -> int:
        """The number of an output folder of the batch (added if new)."""
        row = self.db.execute("SELECT out_no FROM batch_outputs WHERE batch = ? AND path = ?", (batch, path)).fetchone()
        if row:
            return row[0]
        out_no = self.db.execute("SELECT count(*) FROM batch_outputs WHERE batch = ?", (batch,)).fetchone()[0] + 1
        self.db.execute("INSERT INTO batch_outputs VALUES (?, ?, ?)", (batch, out_no, path))
        return out_no

    def batch_outputs(self, batch: bytes) -> dict[int, str]:
        return dict(self.db.execute("SELECT out_no, path FROM batch_outputs WHERE batch = ?", (batch,)))

    def batch_cards(self, batch: bytes) -> dict[bytes, tuple[bytes, int, bool]]:
        """resident -> (card hash, output folder number, done)."""
        rows = self.db.execute("SELECT resident, card_hash, out_no, done FROM batch_cards WHERE batch = ?", (batch,))
        return {resident: (card_hash, out_no, bool(done)) for resident, card_hash, out_no, done in rows}

    def batch_add(self, batch: bytes, resident: bytes, card_hash: bytes, out_no: int) -> None:
        self.db.execute("INSERT INTO batch_cards (batch, resident, card_hash, out_no) VALUES (?, ?, ?, ?)",
                        (batch, resident, card_hash, out_no))

    def batch_done(self, batch: bytes, done: list[tuple[bytes, int]]) -> None:
        """Mark residents' cards as written, each into the given output folder."""
        self.db.executemany("UPDATE batch_cards SET done = 1, out_no = ? WHERE batch = ? AND resident = ?",
                            [(out_no, batch, resident) for resident, out_no in done])

    def erase_batch(self) -> None:
        """Delete the batch journal so that no page, free page or WAL frame keeps it (outside a transaction)."""
        with self.transaction():
            self._journal_tables()
            for table in ("batch_cards", "batch_outputs", "batches"):
                self.db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
        # secure_delete zeroed the rows; VACUUM rebuilds the file without free pages, and the TRUNCATE
        # checkpoint copies it home and empties the WAL, whose old frames still held the journal pages.
        self.db.execute("VACUUM")
        busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise RegistryError("the batch journal was deleted, but another process holds the registry open, so old "
                                "copies may remain in registry.sqlite-wal", "close other cityid processes and run "
                                "`cityid-issuer close-batch DIR` again")


def _migrate_from_schema_1(db: sqlite3.Connection) -> None:
    """Schema 1 kept one status index per card, shared by its faces: move it to card_faces as face "*"."""
    with _transaction(db):
        db.execute("ALTER TABLE cards RENAME TO cards_v1")
        db.execute("DROP INDEX cards_by_kid")
        for statement in _SCHEMA.split(";"):
            if "TABLE cards " in statement or "card_faces" in statement or "INDEX cards_by_kid" in statement:
                db.execute(statement)
        db.execute("INSERT INTO cards SELECT card_hash, vcts, issued_on, expires_at, kid, status FROM cards_v1")
        db.execute("INSERT INTO card_faces SELECT list_no, idx, card_hash, '*', status FROM cards_v1")
        db.execute("DROP TABLE cards_v1")
        db.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))


def _add_key_roles(db: sqlite3.Connection) -> None:
    """Key roles (issue #10): registries made before them hold card keys only."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(issuing_keys)")}
    if "role" not in columns:
        db.execute("ALTER TABLE issuing_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'card' CHECK (role IN ('card', 'status'))")


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
