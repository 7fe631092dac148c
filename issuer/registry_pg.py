"""The card registry in PostgreSQL (psycopg 3): one registry for many enrollment centres.

It holds exactly what the SQLite registry holds (keyed card hashes, each face's status
list index, vct, dates, issuing kid, status, the batch journal) and nothing personal.
Versioned migrations apply on open.  Many processes on many machines reserve cards
at once without waiting for each other: the unique constraints decide (a random
status index already taken, even by a transaction still in flight, is skipped and
another drawn; a card number already taken is refused), and each list's fill counter
is bumped once per transaction, just before commit, so no row stays locked while a
chunk is planned.  City-wide changes (rotation, publish, status changes) take a
session advisory lock: one at a time across all centres.

The URL names the server and database (``postgresql://user@host:5432/cityid``); a
password belongs in ``PGPASSWORD`` or ``~/.pgpass``, never in ``city.json``.
"""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import urlsplit

from .errors import RegistryError
from .registry import CardRow, IssuingKeyRow, Registry

URL_SCHEMES = ("postgresql://", "postgres://")
#: Advisory lock keys (any 64-bit numbers, fixed for cityid): city-wide changes, migrations.
_CITY_LOCK = 0x63697479_69640002
_MIGRATION_LOCK = 0x63697479_69640003
LOCK_WAIT_SECONDS = 15
_INDEX_DRAWS = 32  # below the fill threshold a draw is free at least half the time: 32 misses mean the list is crowded
LOST = ("lost the connection to the registry database",
        "check that PostgreSQL is running and reachable, then run the same command again: "
        "cards already made are not issued twice")

#: (version, statements).  Append only: a released migration is never edited.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE issuing_keys (
    kid TEXT PRIMARY KEY, alg TEXT NOT NULL, not_before BIGINT NOT NULL, not_after BIGINT NOT NULL,
    retired_at BIGINT, withdrawn BOOLEAN NOT NULL DEFAULT FALSE);
CREATE TABLE status_lists (list_no INTEGER PRIMARY KEY, capacity INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE cards (
    card_hash BYTEA PRIMARY KEY, vcts TEXT NOT NULL, issued_on TEXT NOT NULL, expires_at BIGINT NOT NULL,
    kid TEXT NOT NULL REFERENCES issuing_keys(kid), status SMALLINT NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)));
CREATE INDEX cards_by_kid ON cards (kid, expires_at);
CREATE TABLE card_faces (
    list_no INTEGER NOT NULL REFERENCES status_lists(list_no), idx INTEGER NOT NULL,
    card_hash BYTEA NOT NULL REFERENCES cards(card_hash), face TEXT NOT NULL,
    status SMALLINT NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),
    PRIMARY KEY (list_no, idx), UNIQUE (card_hash, face));
CREATE INDEX card_faces_not_valid ON card_faces (list_no) WHERE status <> 0;
CREATE TABLE batches (batch BYTEA PRIMARY KEY, desk TEXT NOT NULL UNIQUE, opened_at BIGINT NOT NULL);
CREATE TABLE batch_outputs (
    batch BYTEA NOT NULL REFERENCES batches(batch) ON DELETE CASCADE, out_no INTEGER NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (batch, out_no));
CREATE TABLE batch_cards (
    batch BYTEA NOT NULL REFERENCES batches(batch) ON DELETE CASCADE, resident BYTEA NOT NULL,
    card_hash BYTEA NOT NULL UNIQUE, out_no INTEGER NOT NULL, done BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (batch, resident));
"""),
    (2, """
ALTER TABLE issuing_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'card' CHECK (role IN ('card', 'status'));
"""),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def is_postgres_url(text: str | None) -> bool:
    return bool(text) and str(text).startswith(URL_SCHEMES)


def check_url(url: str) -> str:
    """Refuse a URL that is not PostgreSQL or that carries a password (city.json is copied to every centre)."""
    if not is_postgres_url(url):
        raise RegistryError("the registry must be a postgresql:// URL", "write it as postgresql://USER@HOST:5432/DATABASE")
    parts = urlsplit(url)
    if parts.password:
        raise RegistryError("the registry URL contains a password",
                            "remove it from the URL and put it in PGPASSWORD or ~/.pgpass")
    if not parts.path.strip("/"):
        raise RegistryError("the registry URL names no database", "write it as postgresql://USER@HOST:5432/DATABASE")
    return url


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise RegistryError("a PostgreSQL registry needs psycopg", "pip install 'cityid[scale]'") from None
    return psycopg


def _connect(url: str) -> Any:
    psycopg = _psycopg()
    try:
        # Keepalives: a centre whose server vanished learns it in seconds, not when TCP gives up.
        return psycopg.connect(check_url(url), autocommit=True, connect_timeout=10, application_name="cityid-issuer",
                               keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
    except psycopg.OperationalError:
        raise RegistryError("cannot connect to the registry database",
                            "check that PostgreSQL is running, the URL in city.json, and PGPASSWORD or ~/.pgpass") from None


class PgRegistry:
    """One open PostgreSQL registry: the methods of the SQLite :class:`~issuer.registry.Registry`."""

    #: Several processes write at once; the issuer takes no city-folder lock for issuance.
    shared = True

    # The keyed hashes are the same functions of the registry secret as in SQLite.
    card_hash = Registry.card_hash
    keyed_hash = Registry.keyed_hash
    derived_card_number = Registry.derived_card_number

    def __init__(self, db: Any, secret: bytes, desk: str = "") -> None:
        self.db = db
        self._secret = secret
        #: Which centre's copy of the city this process works for: each desk has its own open batch.
        self.desk = desk
        self._psycopg = _psycopg()
        self._reserved: dict[int, int] = {}  # cards reserved per list in the open transaction

    @classmethod
    def check_new(cls, url: str) -> None:
        """Refuse, before any key is made, a database that is unreachable or already holds a city."""
        db = _connect(url)
        try:
            if db.execute("SELECT to_regclass('cityid_migrations')").fetchone()[0] is not None:
                raise RegistryError("that database already holds a cityid registry",
                                    "a second centre joins with a copy of the city folder, not `init`; "
                                    "a new city needs a new database")
        finally:
            db.close()

    @classmethod
    def create(cls, url: str, secret: bytes, capacity: int, desk: str = "") -> "PgRegistry":
        cls.check_new(url)
        registry = cls(_connect(url), secret, desk)
        registry._migrate()
        with registry.transaction():
            registry._x("INSERT INTO meta VALUES ('bundle_version', '0') ON CONFLICT DO NOTHING")
            registry._x("INSERT INTO status_lists (list_no, capacity) VALUES (1, %s) ON CONFLICT DO NOTHING", (capacity,))
        return registry

    @classmethod
    def open(cls, url: str, secret: bytes, desk: str = "") -> "PgRegistry":
        registry = cls(_connect(url), secret, desk)
        with registry._guard():
            if registry.db.execute("SELECT to_regclass('cityid_migrations')").fetchone()[0] is None:
                registry.close()
                raise RegistryError("that database holds no cityid registry", "check the registry URL in city.json")
        registry._migrate()
        return registry

    def _migrate(self) -> None:
        """Apply the migrations this version knows and the database lacks (one centre at a time)."""
        with self.transaction():
            self._x("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self._x("CREATE TABLE IF NOT EXISTS cityid_migrations (version INTEGER PRIMARY KEY, "
                    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            applied = {row[0] for row in self._x("SELECT version FROM cityid_migrations")}
            if applied and max(applied) > SCHEMA_VERSION:
                raise RegistryError("the registry is from a newer version of cityid", "upgrade cityid-issuer on this centre")
            for version, statements in MIGRATIONS:
                if version not in applied:
                    for statement in filter(str.strip, statements.split(";")):
                        self._x(statement)
                    self._x("INSERT INTO cityid_migrations (version) VALUES (%s)", (version,))

    def close(self) -> None:
        try:
            self.db.close()
        except self._psycopg.Error:
            pass

    # -- errors: a lost server is one clear sentence, never a traceback
    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except self._psycopg.errors.DeadlockDetected:
            raise RegistryError("another process is writing the same cards or batch lines",
                                "another centre may be issuing the same input file; let it finish, then rerun") from None
        except self._psycopg.OperationalError as exc:
            if self.db.broken or self.db.closed:
                raise RegistryError(*LOST) from None
            raise RegistryError(f"the registry database refused the operation (SQLSTATE {exc.sqlstate})",
                                "check the PostgreSQL server's log, then run the same command again") from None
        except self._psycopg.errors.ForeignKeyViolation:
            raise RegistryError("the open batch was closed by another process of this centre meanwhile",
                                "run the same command again") from None
        except self._psycopg.errors.UniqueViolation as exc:
            # Only a race reaches here (numbers and residents are looked up first): the same resident in two
            # inputs issued by two processes of one desk at the same moment.
            raise RegistryError("another process issued a card for the same resident at the same moment",
                                "run the same command again: cards already made are recognised, none is issued twice") from None

    def _x(self, sql: str, params: tuple = ()) -> Any:
        with self._guard():
            return self.db.execute(sql, params)

    def _in_transaction(self) -> bool:
        return self.db.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE

    @contextmanager
    def transaction(self) -> Iterator[None]:
        outer = not self._in_transaction()
        try:
            with self._guard(), self.db.transaction():
                yield
                if outer:  # fill counters last, in list order: row locks held only for the commit, never crossed
                    for list_no in sorted(self._reserved):
                        self.db.execute("UPDATE status_lists SET used = used + %s WHERE list_no = %s",
                                        (self._reserved[list_no], list_no))
        finally:
            if outer:
                self._reserved.clear()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One city-wide change at a time across all centres (rotation, publish, status changes)."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not self._x("SELECT pg_try_advisory_lock(%s)", (_CITY_LOCK,)).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RegistryError("another centre is changing the city (rotation, publish or a status change)",
                                    "wait for it to finish, then run the command again")
            time.sleep(0.2)
        try:
            yield
        finally:
            try:
                self.db.execute("SELECT pg_advisory_unlock(%s)", (_CITY_LOCK,))
            except self._psycopg.Error:
                pass  # the connection is gone, and the lock with it

    # -- meta
    def meta(self, name: str) -> str | None:
        row = self._x("SELECT value FROM meta WHERE name = %s", (name,)).fetchone()
        return row[0] if row else None

    def set_meta(self, name: str, value: str) -> None:
        self._x("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))

    # -- issuing keys
    def add_issuing_key(self, kid: str, not_before: int, not_after: int, alg: str = "ES256", role: str = "card") -> None:
        self._x("INSERT INTO issuing_keys (kid, alg, not_before, not_after, role) VALUES (%s, %s, %s, %s, %s)",
                (kid, alg, not_before, not_after, role))

    def issuing_keys(self) -> list[IssuingKeyRow]:
        rows = self._x("SELECT kid, alg, not_before, not_after, retired_at, withdrawn, role FROM issuing_keys "
                       "ORDER BY role, CAST(substr(kid, 2) AS INTEGER)").fetchall()
        return [IssuingKeyRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]

    issuing_key_row = Registry.issuing_key_row
    current_key = Registry.current_key

    def withdraw_key(self, kid: str) -> None:
        self._x("UPDATE issuing_keys SET withdrawn = TRUE WHERE kid = %s", (kid,))

    def retire_key(self, kid: str, retired_at: int, not_after: int, withdrawn: bool) -> None:
        self._x("UPDATE issuing_keys SET retired_at = %s, not_after = %s, withdrawn = %s WHERE kid = %s",
                (retired_at, not_after, withdrawn, kid))

    def last_expiry(self, kid: str) -> int | None:
        return self._x("SELECT max(expires_at) FROM cards WHERE kid = %s", (kid,)).fetchone()[0]

    # -- cards
    def reserve_card(self, card_hash: bytes, faces: tuple[str, ...], vcts: tuple[str, ...], issued_on: str,
                     expires_at: int, kid: str, fill: float) -> dict[str, tuple[int, int]]:
        """Insert a card and give each face its own random status index (call inside a transaction)."""
        if not self._in_transaction():
            raise RegistryError("a card is reserved only inside a registry transaction", "this is a bug; please report it")
        self._x("INSERT INTO cards (card_hash, vcts, issued_on, expires_at, kid) VALUES (%s, %s, %s, %s, %s)",
                (card_hash, " ".join(vcts), issued_on, expires_at, kid))
        return {face: self._reserve_index(card_hash, face, fill) for face in faces}

    def _reserve_index(self, card_hash: bytes, face: str, fill: float) -> tuple[int, int]:
        """A fresh random index on the newest list, drawn independently for every face."""
        while True:
            list_no, capacity, used = self._x(
                "SELECT list_no, capacity, used FROM status_lists ORDER BY list_no DESC LIMIT 1").fetchone()
            if used + self._reserved.get(list_no, 0) + 1 <= capacity * fill:
                for _ in range(_INDEX_DRAWS):  # a random index, never in issuance order
                    idx = secrets.randbelow(capacity)
                    # An index another transaction is inserting is locked: draw again rather than wait (no deadlock).
                    if not self._x("SELECT pg_try_advisory_xact_lock(%s)", ((list_no << 32) | idx,)).fetchone()[0]:
                        continue
                    inserted = self._x(
                        "INSERT INTO card_faces (list_no, idx, card_hash, face) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (list_no, idx) DO NOTHING RETURNING idx", (list_no, idx, card_hash, face)).fetchone()
                    if inserted is not None:
                        self._reserved[list_no] = self._reserved.get(list_no, 0) + 1
                        return list_no, idx
            # Full (or crowded by other centres' reservations in flight): the next list.
            self._x("INSERT INTO status_lists (list_no, capacity) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (list_no + 1, capacity))

    def card(self, card_hash: bytes) -> CardRow | None:
        row = self._x("SELECT card_hash, vcts, issued_on, expires_at, kid, status FROM cards WHERE card_hash = %s",
                      (card_hash,)).fetchone()
        if row is None:
            return None
        faces = {face: (list_no, idx) for face, list_no, idx in self._x(
            "SELECT face, list_no, idx FROM card_faces WHERE card_hash = %s", (card_hash,)).fetchall()}
        return CardRow(bytes(row[0]), faces, tuple(row[1].split()), row[2], row[3], row[4], row[5])

    def has_card(self, card_hash: bytes) -> bool:
        return self._x("SELECT 1 FROM cards WHERE card_hash = %s", (card_hash,)).fetchone() is not None

    def set_status(self, card_hash: bytes, status: int) -> None:
        """The card's and every one of its faces' status (call inside a transaction: they change together)."""
        self._x("UPDATE cards SET status = %s WHERE card_hash = %s", (status, card_hash))
        self._x("UPDATE card_faces SET status = %s WHERE card_hash = %s", (status, card_hash))

    def set_card_kid(self, card_hash: bytes, kid: str) -> None:
        self._x("UPDATE cards SET kid = %s WHERE card_hash = %s", (kid, card_hash))

    def status_lists(self) -> list[tuple[int, int]]:
        return [tuple(r) for r in self._x("SELECT list_no, capacity FROM status_lists ORDER BY list_no").fetchall()]

    def statuses(self, list_no: int) -> Iterator[tuple[int, int]]:
        """(index, status) of the card faces on one list that are not valid (valid is the list's default)."""
        yield from self._x("SELECT idx, status FROM card_faces WHERE list_no = %s AND status <> 0", (list_no,)).fetchall()

    def card_count(self) -> int:
        return self._x("SELECT count(*) FROM cards").fetchone()[0]

    def cards_signed_by(self, kid: str) -> set[bytes]:
        return {bytes(row[0]) for row in self._x("SELECT card_hash FROM cards WHERE kid = %s", (kid,)).fetchall()}

    # -- the open batch's journal, one per desk (this centre's copy of the city folder): which resident became which card
    def open_batch(self, now: int, create: bool = True) -> tuple[bytes, int] | None:
        """This desk's open batch (its random id and opening time), opened now if none is and ``create``."""
        if create:  # another process of this desk may open it at the same instant: the first one wins
            self._x("INSERT INTO batches (batch, desk, opened_at) VALUES (%s, %s, %s) ON CONFLICT (desk) DO NOTHING",
                    (secrets.token_bytes(32), self.desk, now))
        row = self._x("SELECT batch, opened_at FROM batches WHERE desk = %s", (self.desk,)).fetchone()
        return (bytes(row[0]), row[1]) if row else None

    def batch_output(self, batch: bytes, path: str) -> int:
        """The number of an output folder of the batch (added if new)."""
        row = self._x("SELECT out_no FROM batch_outputs WHERE batch = %s AND path = %s", (batch, path)).fetchone()
        if row:
            return row[0]
        self._x("SELECT 1 FROM batches WHERE batch = %s FOR UPDATE", (batch,))  # one new folder number at a time
        row = self._x("SELECT out_no FROM batch_outputs WHERE batch = %s AND path = %s", (batch, path)).fetchone()
        if row:
            return row[0]
        out_no = self._x("SELECT count(*) FROM batch_outputs WHERE batch = %s", (batch,)).fetchone()[0] + 1
        self._x("INSERT INTO batch_outputs VALUES (%s, %s, %s)", (batch, out_no, path))
        return out_no

    def batch_outputs(self, batch: bytes) -> dict[int, str]:
        return dict(self._x("SELECT out_no, path FROM batch_outputs WHERE batch = %s", (batch,)).fetchall())

    def batch_cards(self, batch: bytes) -> dict[bytes, tuple[bytes, int, bool]]:
        """resident -> (card hash, output folder number, done)."""
        rows = self._x("SELECT resident, card_hash, out_no, done FROM batch_cards WHERE batch = %s", (batch,)).fetchall()
        return {bytes(resident): (bytes(card_hash), out_no, bool(done)) for resident, card_hash, out_no, done in rows}

    def batch_add(self, batch: bytes, resident: bytes, card_hash: bytes, out_no: int) -> None:
        self._x("INSERT INTO batch_cards (batch, resident, card_hash, out_no) VALUES (%s, %s, %s, %s)",
                (batch, resident, card_hash, out_no))

    def batch_done(self, batch: bytes, done: list[tuple[bytes, int]]) -> None:
        """Mark residents' cards as written, each into the given output folder."""
        with self._guard():
            with self.db.cursor() as cursor:
                cursor.executemany("UPDATE batch_cards SET done = TRUE, out_no = %s WHERE batch = %s AND resident = %s",
                                   [(out_no, batch, resident) for resident, out_no in done])

    def erase_batch(self) -> None:
        """Delete this desk's batch journal, unless another process of the desk has cards in it still unwritten."""
        with self.transaction():
            # FOR UPDATE waits for reservations in flight (they hold a key-share lock on the batch row).
            row = self._x("SELECT batch FROM batches WHERE desk = %s FOR UPDATE", (self.desk,)).fetchone()
            if row is None:
                return
            if self._x("SELECT 1 FROM batch_cards WHERE batch = %s AND NOT done LIMIT 1", (row[0],)).fetchone():
                raise RegistryError("another process of this centre is still issuing into the open batch",
                                    "let it finish, then run `cityid-issuer close-batch DIR`")
            self._x("DELETE FROM batches WHERE batch = %s", (row[0],))  # its outputs and cards go with it
        # VACUUM drops the deleted rows from the tables' pages (old WAL segments are recycled by the server).
        for table in ("batch_cards", "batch_outputs", "batches"):
            self._x(f"VACUUM {table}")  # noqa: S608 - fixed names
