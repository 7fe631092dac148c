"""The ``Issuer``: one city's keys, configuration and registry, and everything the card office does with them."""

from __future__ import annotations

import fcntl
import io
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from verifier_sdk.timeutil import epoch

from . import cardnumber, config as city_config, lifecycle, stores
from .batch import BatchReport, ReprintReport, close_batch, open_batch_cards_signed_by, reprint_batch, run_batch
from .config import CityConfig
from .destination import check_destination, city_identity
from .errors import ConfigError, IssuerError, KeyStoreError
from .faces import CardParams, card_faces
from .files import make_private
from .keys import KeyStore, check_new_passphrase, check_root_key_path, passphrase_from_env
from .output import artwork, check_printable, write_card_folder
from .periodkeys import PeriodKeyStore, period_of, period_span
from .publish import publish, sign_bundle, signed_bundle
from .records import RowError, check_record
from .registry import REVOKED, SUSPENDED, VALID, Registry
from .vault import Vault, VaultError, check_print_folder, enrolment_record

LOCK_FILE = ".lock"

LOCK_WAIT_SECONDS = 15


def demo_root_key_path(city_dir: Path) -> Path:
    """Where a demo city keeps its root key: a folder beside the city, never inside it."""
    city_dir = Path(city_dir).absolute()
    return city_dir.parent / f"{city_dir.name}-root" / "root.pem"


@dataclass(frozen=True)
class IssuedCard:
    """A freshly issued card: its number, expiry and each face's QR text (``faces["id"]`` ...)."""

    card_number: str
    expires_at: datetime
    faces: dict[str, str]
    #: Face name -> (status list URI, index): each face has its own.
    status: dict[str, tuple[str, int]]
    kid: str
    folder: Path | None = None


def _today_and_expiry(config: CityConfig, now: float) -> tuple[date, int]:
    """Issue date (UTC) and exp: the end of the expiry day, so all cards issued on one day share exp."""
    today = datetime.fromtimestamp(now, tz=timezone.utc).date()
    last_day = today + timedelta(days=config.validity_days)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    return today, int(end.timestamp()) - 1


@contextmanager
def _city_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IssuerError("another cityid-issuer process is working on this city",
                                      "wait for it to finish, then run the command again") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


class Issuer:
    """A city's issuer.  Create with :meth:`init`, reopen with :meth:`open`; use as a context manager."""

    def __init__(self, city_dir: Path, config: CityConfig, keys: KeyStore, registry: Registry,
                 period_keys: PeriodKeyStore | None = None) -> None:
        self.dir = Path(city_dir)
        self.config = config
        self.keys = keys
        self.registry = registry
        self._lock_depth = 0
        self.vault = None
        if config.vault.enabled:  # two processes making one period's key at once would each keep their own
            period_keys = period_keys or stores.open_period_keys(self.dir, config, keys)
            self.vault = Vault.open(self.dir, period_keys, config.vault.period, new_key_lock=self._exclusive)

    # -- lifecycle of the city itself ---------------------------------------------------------
    @classmethod
    def init(cls, city_dir: str | Path, issuer: str = "https://id.example.gov", passphrase: str | None = None,
             insecure_demo: bool = False, now: Any = None, config: CityConfig | None = None,
             root_key_out: str | Path | None = None, key_store: str = "", registry: str = "") -> "Issuer":
        """Create a new city: card key k1, status key s1, registry key, ``city.json``, the registry, and bundle v1.

        The root private key is written only to ``root_key_out``, outside the city folder (a
        removable drive); a demo city without one keeps it in ``<city>-root/root.pem`` beside it.
        ``key_store`` a ``pkcs11:`` URI puts the keys in an HSM (the root then in a token too: the
        one ``root_key_out`` names by its URI, or the city's own); ``registry`` a ``postgresql://``
        URL shares one registry between enrollment centres.
        """
        city_dir = Path(city_dir)
        if city_dir.exists() and any(city_dir.iterdir()):
            raise IssuerError(f"{city_dir} is not empty", "choose a new directory for a new city")
        try:
            cfg = config or city_config.default_config(issuer, insecure_demo=insecure_demo)
        except ConfigError as exc:  # no city.json exists yet: the fix is the argument
            raise ConfigError(f"{exc.message}; nothing was created", "pass an https URL to --issuer") from None
        cfg = city_config.validate(replace(cfg, insecure_demo=insecure_demo, key_store=key_store or cfg.key_store,
                                           registry=registry or cfg.registry))
        in_token = stores.uses_token(cfg)
        secret_pass = None if insecure_demo or in_token else check_new_passphrase(passphrase or passphrase_from_env())
        if in_token:  # the root is made in a token too: the one named, or the city's own
            root_at = stores.check_root_token(root_key_out)
        else:
            if root_key_out is None:
                if not insecure_demo:
                    raise KeyStoreError("no place for the root key was named",
                                        "pass --root-key PATH on a removable drive, outside the city folder")
                root_key_out = demo_root_key_path(city_dir)
            root_at = check_root_key_path(city_dir, Path(root_key_out))  # before anything is created
        period_keys = stores.new_city_period_keys(city_dir, cfg, secret_pass)  # checked before any key is made
        try:
            return cls._create(city_dir, cfg, secret_pass, root_at, now, period_keys)
        except BaseException:
            if period_keys is not None:  # the vault token's session, opened above, closes with the failed init
                period_keys.close()
            raise

    @classmethod
    def _create(cls, city_dir: Path, cfg: CityConfig, secret_pass: bytes | None, root_at: Any, now: Any,
                period_keys: PeriodKeyStore | None) -> "Issuer":
        city_dir.mkdir(parents=True, exist_ok=True)
        make_private(city_dir)
        keys = stores.create_keys(city_dir, cfg, secret_pass)
        root = keys.create_root_key(root_at)
        city_config.save(city_dir, cfg)
        registry = stores.create_registry(city_dir, cfg, keys.registry_secret())
        start = int(epoch(now))
        keys.new_issuing_key("k1")
        keys.new_issuing_key("s1")
        city_identity(registry)
        with registry.transaction():
            registry.add_issuing_key("k1", not_before=start, not_after=lifecycle.planned_not_after(cfg, start))
            registry.add_issuing_key("s1", not_before=start, not_after=lifecycle.planned_not_after(cfg, start), role="status")
        sign_bundle(registry, keys, cfg, city_dir, root, start)
        return cls(city_dir, cfg, keys, registry, period_keys)

    @classmethod
    def open(cls, city_dir: str | Path, passphrase: str | None = None) -> "Issuer":
        """Open an existing city.  ``passphrase`` None reads ``CITYID_PASSPHRASE``."""
        city_dir = Path(city_dir)
        cfg = city_config.load(city_dir)
        for path in (city_dir, city_dir / "keys", city_dir / city_config.CONFIG_FILE, city_dir / LOCK_FILE):  # 0755/0644 before
            make_private(path)
        secret_pass = None
        if not cfg.insecure_demo and not stores.uses_token(cfg):
            text = passphrase or passphrase_from_env()
            if not text:
                raise KeyStoreError("the city's keys are encrypted and no passphrase was given",
                                    "set CITYID_PASSPHRASE (or pass passphrase=)")
            secret_pass = text.encode("utf-8")
        keys = stores.open_keys(city_dir, cfg, secret_pass)
        return cls(city_dir, cfg, keys, stores.open_registry(city_dir, cfg, keys.registry_secret()))

    def close(self) -> None:
        self.registry.close()
        if self.vault is not None:
            self.vault.close()
            self.vault.keys.close()  # the issuer opened the period keys (or was handed them by init)
        if hasattr(self.keys, "close"):
            self.keys.close()

    def __enter__(self) -> "Issuer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _exclusive(self, issuing: bool = False) -> Iterator[None]:
        """One writer per city: a second issuing process waits briefly, then refuses.

        A shared (PostgreSQL) registry orders reservations itself, so issuing takes no lock
        there, and city-wide changes take the registry's lock across all centres.  Within
        the lock it is taken again at no cost (a batch making its period's vault key)."""
        shared = getattr(self.registry, "shared", False)
        if self._lock_depth or (shared and issuing):
            yield
            return
        self._lock_depth += 1
        try:
            if shared:
                with self.registry.exclusive():
                    yield
            else:
                with _city_lock(self.dir / LOCK_FILE):
                    yield
        finally:
            self._lock_depth -= 1

    # -- issuance ---------------------------------------------------------------------------------
    def _signing_kid(self, now: float) -> str:
        key = self.registry.current_key()
        if now > key.not_before + self.config.key_issuing_days * 86400:
            raise IssuerError(f"issuing key {key.kid} has been in use longer than key_issuing_days",
                              "run `cityid-issuer rotate-key DIR`, then issue again")
        # Desks know a key only from the root-signed bundle: never print cards they would refuse.
        if not any(k.kid == key.kid and not k.withdrawn for k in signed_bundle(self.keys, self.dir)[1]["keys"]):
            raise IssuerError(f"card key {key.kid} is not in the root-signed trust bundle yet",
                              "sign it first: cityid-issuer sign-bundle DIR --root-key PATH, then publish")
        return key.kid

    def issue_card(self, record: Mapping[str, Any], now: Any = None, out_dir: str | Path | None = None,
                   photo: bytes | None = None) -> IssuedCard:
        """Issue one card from a record (given_name, family_name, birthdate, ...); optionally write its print folder.

        ``photo``: the photo's bytes when they come from the vault rather than a path in the record.
        """
        at = epoch(now)
        today, expires_at = _today_and_expiry(self.config, at)
        try:
            person = check_record(dict(record), today, self.config.max_name_length,
                                  gender_options=self.config.gender_options)
            check_printable(self.config, person)
        except RowError as exc:
            raise IssuerError(f"record refused: {exc}", "correct the record and try again") from None
        if photo is not None and hasattr(person, "photo"):  # decoded from memory: never written to a file
            person = replace(person, photo=io.BytesIO(photo))
        if out_dir is not None:  # print folders hold personal data in clear: never under the (backed-up) city folder
            check_print_folder(self.dir, Path(out_dir))
        with self._exclusive(issuing=True):
            kid = self._signing_kid(at)
            faces = self.config.faces
            with self.registry.transaction():
                number = person.card_number or self._free_number()
                card_hash = self.registry.card_hash(number)
                if self.registry.has_card(card_hash):
                    raise IssuerError("that card number is already issued", "leave card_number empty to get a new one")
                status = self.registry.reserve_card(card_hash, tuple(f.name for f in faces), tuple(f.vct for f in faces),
                                                    today.isoformat(), expires_at, kid, self.config.status_list_fill)
        params = CardParams(number, status, today, expires_at, kid)
        if self.vault is not None:
            self.vault.put(enrolment_record(number, person, today, expires_at, photo or record.get("photo")))
        texts = card_faces(self.config, person, params, self.keys.issuing_key(kid))
        folder = None
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            folder = write_card_folder(Path(out_dir), number, artwork(self.config, person, params, texts), texts)
        return IssuedCard(number, datetime.fromtimestamp(expires_at, tz=timezone.utc), texts,
                          {face: (self.config.status_list_uri(n), idx) for face, (n, idx) in status.items()}, kid, folder)

    def _free_number(self) -> str:
        while True:
            number = cardnumber.random_number()
            if not self.registry.has_card(self.registry.card_hash(number)):
                return number

    def issue_batch(self, input_path: str | Path, out_dir: str | Path, now: Any = None, workers: int | None = None,
                    progress: bool = True) -> BatchReport:
        """Issue every good row of a CSV / JSON Lines file into ``out_dir``, in the city's open batch (see batch.py)."""
        at = epoch(now)
        today, expires_at = _today_and_expiry(self.config, at)
        check_print_folder(self.dir, Path(out_dir))
        with self._exclusive(issuing=True):
            self._signing_kid(at)
            return run_batch(self.registry, self.keys, self.config, Path(input_path), Path(out_dir), today=today,
                             expires_at=expires_at, now=int(at), workers=workers or (os.cpu_count() or 1),
                             progress=progress, vault=self.vault)

    def reprint(self, input_path: str | Path, out_dir: str | Path | None = None, now: Any = None,
                workers: int | None = None, progress: bool = True) -> ReprintReport:
        """Render the open batch's cards again (e.g. after a font change): same numbers, status and expiry."""
        today, _ = _today_and_expiry(self.config, epoch(now))
        if out_dir is not None:
            check_print_folder(self.dir, Path(out_dir))
        with self._exclusive():
            return reprint_batch(self.registry, self.keys, self.config, Path(input_path),
                                 Path(out_dir) if out_dir is not None else None, today=today,
                                 workers=workers or (os.cpu_count() or 1), progress=progress)

    def close_batch(self, abandon_unfinished: bool = False) -> tuple[int, dict[str, int], int]:
        """End the open batch and erase its journal for good: (cards, cards by folder, unprinted ones revoked)."""
        with self._exclusive():
            return close_batch(self.registry, abandon_unfinished=abandon_unfinished)

    def open_batch_cards_signed_by(self, kid: str) -> tuple[list[tuple[str, str]], int]:
        """(card number, folder) of the open batch's cards that ``kid`` signed, and how many others it signed."""
        return open_batch_cards_signed_by(self.registry, kid)

    # -- after issuance ---------------------------------------------------------------------------
    def revoke(self, card_number: str, now: Any = None) -> str:
        """Revoke a card for good (lost, stolen, replaced); returns its previous status.  Takes effect at the next publish."""
        with self._exclusive():
            return lifecycle.set_card_status(self.registry, card_number, REVOKED)

    def suspend(self, card_number: str, now: Any = None) -> str:
        """Suspend a card until :meth:`reinstate`; returns its previous status."""
        with self._exclusive():
            return lifecycle.set_card_status(self.registry, card_number, SUSPENDED)

    def reinstate(self, card_number: str, now: Any = None) -> str:
        """Lift a suspension (a revoked card cannot be reinstated); returns its previous status."""
        with self._exclusive():
            return lifecycle.set_card_status(self.registry, card_number, VALID)

    def rotate_key(self, compromised: bool = False, now: Any = None, *, kid: str | None = None, role: str = "card") -> str:
        """Rotate the current key of ``role``, or the key ``kid`` (an older one is only withdrawn); returns the kid in use.

        The change reaches desks after :meth:`sign_bundle` (root key) and :meth:`publish`.
        """
        with self._exclusive():
            return lifecycle.rotate_key(self.registry, self.keys, self.config, self.dir, kid=kid, role=role,
                                        compromised=compromised, now=int(epoch(now)))

    def sign_bundle(self, root_key_path: str | Path, now: Any = None) -> dict[str, Any]:
        """Sign the key list with the offline root key (yearly ceremony, and after every key change)."""
        with self._exclusive():
            return sign_bundle(self.registry, self.keys, self.config, self.dir, self.keys.root_key(Path(root_key_path)),
                               int(epoch(now)))

    def publish(self, out_dir: str | Path, now: Any = None, notices: list[str] | None = None) -> Path:
        """Write the trust publication folder (signed bundle, fresh status lists, root public key) atomically.

        Never needs the root key; applies the vault's retention.  Only into a new or empty folder, or
        over an earlier publication of this city; never in or around the city folder.  ``notices``
        collects warnings (bundle expiring, key changes waiting for the root signature).
        """
        with self._exclusive():
            out_dir = check_destination(self.dir, Path(out_dir), lambda: city_identity(self.registry))
            if self.vault is not None:
                today = datetime.fromtimestamp(epoch(now), tz=timezone.utc).date()
                self.vault.apply_retention(today, self.config.vault.retention_days)
            return publish(self.registry, self.keys, self.config, self.dir, Path(out_dir), int(epoch(now)), notices)

    # -- the records vault ------------------------------------------------------------------------
    def require_vault(self) -> Vault:
        if self.vault is None:
            raise VaultError("this city keeps no enrolment records (the vault is off)",
                             'enable it in city.json ("vault": {"enabled": true}); until then the resident enrols again')
        return self.vault

    def shred(self, before: date, now: Any = None, include_current: bool = False) -> list[str]:
        """Destroy the vault's period keys for periods that began before ``before``; returns their names.

        A ``before`` after the current period began would destroy the key today's cards are sealed with: refused
        unless ``include_current``."""
        vault = self.require_vault()
        today = datetime.fromtimestamp(epoch(now), tz=timezone.utc).date()
        current = period_of(today, self.config.vault.period)
        if before > period_span(current)[0] and not include_current:
            raise VaultError(f"{before.isoformat()} is after the current vault period {current} began, so this would "
                             "also destroy the records of cards issued in it (today's too)",
                             f"give a date up to {period_span(current)[0].isoformat()}, or add --include-current "
                             "to destroy the current period as well")
        with self._exclusive():
            return vault.shred_before(before)

