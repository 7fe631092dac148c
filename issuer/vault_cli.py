"""The vault's commands: ``vault-status``, ``shred``, ``destroy-all``, ``replace``, ``renew`` and ``attach``.

Output names periods, counts and folders, never a card number or a name (the
terminal and its scrollback are not the vault).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from . import config as city_config, stores
from .errors import IssuerError, KeyStoreError
from .periodkeys import PeriodKeys, PeriodKeyStore, not_periods, period_span
from .reissue import attach_scans, reissue, renew_expiring
from .vault import destroy_everything, vault_path
from .vault_token import PERIOD_KEY_PREFIX, TokenPeriodKeys

if TYPE_CHECKING:
    from .city import IssuedCard, Issuer

VAULT_COMMANDS = ("shred", "replace", "renew", "attach", "vault-status")
MAX_SCAN_BYTES = 20 * 2**20
CONFIRM_WORD = "DESTROY"


def vault_commands(sub: Any) -> None:
    p = sub.add_parser("vault-status", help="which periods the vault holds, how many records, and the retention")
    p.add_argument("dir", type=Path)
    p = sub.add_parser("shred", help="destroy the vault keys of every period that began before DATE")
    p.add_argument("dir", type=Path)
    p.add_argument("--before", required=True, type=_date, metavar="YYYY-MM-DD")
    p.add_argument("--include-current", action="store_true",
                   help="also destroy the current period's key (a DATE after the current period began)")
    p = sub.add_parser("destroy-all", help="emergency: destroy every vault key at once (typed confirmation)")
    p.add_argument("dir", type=Path)
    p.add_argument("--confirm", metavar="TEXT", help=f"the city's issuer host name or {CONFIRM_WORD} (else asked)")
    p = sub.add_parser("replace", help="revoke a lost card and issue a new one from its vault record")
    p.add_argument("dir", type=Path)
    p.add_argument("card_number")
    p.add_argument("--out", required=True, type=Path, help="folder for the new card's print folder")
    p = sub.add_parser("renew", help="reissue a card, or every card expiring within DAYS, from the vault")
    p.add_argument("dir", type=Path)
    p.add_argument("card_number", nargs="?")
    p.add_argument("--within", type=int, metavar="DAYS", help="renew every retained card expiring within DAYS")
    p.add_argument("--out", required=True, type=Path, help="folder for the new cards' print folders")
    p = sub.add_parser("attach", help="add document scans to a card's vault record")
    p.add_argument("dir", type=Path)
    p.add_argument("card_number")
    p.add_argument("scans", nargs="+", type=Path, metavar="FILE")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("dates are written YYYY-MM-DD") from None


def vault_config(issuer: str, insecure_demo: bool) -> city_config.CityConfig:
    """A new city's config with the vault on (monthly periods, records kept until `shred`)."""
    default = city_config.default_config(issuer, insecure_demo=insecure_demo)
    return replace(default, vault=city_config.VaultConfig(enabled=True))


def _span_text(period: str) -> str:
    start, end = period_span(period)
    return f"{period} (issued {start.isoformat()} to {date.fromordinal(end.toordinal() - 1).isoformat()})"


def _new_card_text(card: "IssuedCard", out: Path) -> str:
    return (f"The new card (new number, new status indices, valid through {card.expires_at.date().isoformat()}) "
            f"is in {out}, in the folder named by its new card number: print front.png and back.png, "
            "hand the card over, then delete that folder.")


class _KeyStoreWords(NamedTuple):
    """How the office is told about a period-key store (names and places only, never a PIN or a key)."""

    where: str
    backups: str
    not_covered: str


def _key_store_words(keys: PeriodKeyStore) -> _KeyStoreWords:
    if isinstance(keys, TokenPeriodKeys):
        return _KeyStoreWords(
            f"the token {keys.uri.token!r} ({keys.uri}), objects labelled {PERIOD_KEY_PREFIX}*",
            "keep them out of the HSM's backups and clones",
            "backups or clones of that token made with the HSM's own tools (they hold the period keys: destroy "
            "them too), old blocks of a software token's object files (SoftHSM2) that its disk may still hold "
            "(sealed under the PIN)")
    if isinstance(keys, PeriodKeys):
        return _KeyStoreWords(
            f"the folder {keys.dir}", "never back it up with the city folder",
            "copies of the vault key store folder made outside cityid (destroy them too), old blocks of the key "
            "files that a flash disk may still hold (they are passphrase-sealed)")
    raise AssertionError(type(keys).__name__)


def run_vault_command(city: "Issuer", args: argparse.Namespace) -> int:
    if args.command == "vault-status":
        vault, setting = city.require_vault(), city.config.vault
        counts = vault.counts()
        words = _key_store_words(vault.keys)
        print(f"Vault key store: {words.where} ({words.backups}).")
        print("Periods held: " + (", ".join(f"{_span_text(p)}: {n} record(s)" for p, n in counts.items()) or "none") + ".")
        strays = not_periods(vault.keys.names())
        if strays:  # not used by the vault, but destroy-all destroys them too
            print(f"Ignored: {len(strays)} key(s) named like period keys whose name is not a real period "
                  f"({', '.join(strays)}); destroy-all destroys them too.")
        if setting.retention_days is None:
            print("Retention: none set; records stay until `cityid-issuer shred` or `destroy-all`.")
        else:
            print(f"Retention: {setting.retention_days} days; each publish shreds every period that began before then.")
        return 0
    if args.command == "shred":
        destroyed = city.shred(args.before, include_current=args.include_current)
        if not destroyed:
            print(f"No vault period began before {args.before.isoformat()}: nothing destroyed.")
            return 0
        print(f"Destroyed the vault keys of {len(destroyed)} period(s): " + ", ".join(map(_span_text, destroyed)) + ".")
        straddling = [p for p in destroyed if period_span(p)[1] > args.before]
        if straddling:
            print(f"Period {straddling[0]} went whole, including records issued on or after {args.before.isoformat()}.")
        print("Their records are unreadable here and in every backup of the city folder; "
              "those residents enrol again for a replacement or renewal.")
        return 0
    if args.command == "replace":
        card = reissue(city, args.card_number, args.out)
        print("Card replaced: the old card is revoked from the next `cityid-issuer publish`.")
        print(_new_card_text(card, args.out))
        return 0
    if args.command == "renew":
        if (args.card_number is None) == (args.within is None):
            raise IssuerError("renew needs either a card number or --within DAYS", "for example: renew DIR --within 60 --out DIR")
        if args.card_number is not None:
            card = reissue(city, args.card_number, args.out)
            print("Card renewed: the old card is revoked from the next `cityid-issuer publish`.")
            print(_new_card_text(card, args.out))
            return 0
        report = renew_expiring(city, args.out, args.within)
        print(f"{len(report.renewed)} card(s) expiring within {args.within} days renewed into {args.out} "
              "(one folder per new card number); the old cards are revoked from the next `cityid-issuer publish`.")
        if report.skipped_revoked:
            print(f"{report.skipped_revoked} revoked card(s) skipped: replace them on the resident's request.")
        if report.without_record:
            print(f"{report.without_record} card(s) expiring within {args.within} days have no record left in the vault "
                  "(shredded, or issued before it was enabled): those residents enrol again.")
        return 0
    if args.command == "attach":
        scans = {}
        for path in args.scans:
            if path.stat().st_size > MAX_SCAN_BYTES:
                raise IssuerError(f"{path.name} is larger than {MAX_SCAN_BYTES // 2**20} MB", "scan at a lower resolution")
            scans[path.name] = path.read_bytes()
        attach_scans(city, args.card_number, scans)
        print(f"{len(scans)} scan(s) added to the card's vault record, encrypted. Delete the scanned files now "
              "(and empty the scanner's memory): the vault copy is the one the office keeps.")
        return 0
    raise AssertionError(args.command)


#: When no one has the PIN, the keys still go: with the token, which only its security officer may re-initialise.
_NO_PIN_LAST_RESORT = ("if no one has the PIN, the last resort is the token's security officer re-initialising the "
                       "vault's token (softhsm2-util --init-token, or the HSM's own tools), which destroys every key in "
                       "it, the city's own too when the vault shares the city's token")


def destroy_all(city_dir: Path, confirm: str | None) -> int:
    """Destroy every vault period key after a typed confirmation, time it, and say what survives.

    Takes no lock and needs no passphrase (an emergency must not wait); an HSM city's token asks for its PIN,
    as a token destroys private objects only for a logged-in user."""
    config = city_config.load(city_dir)
    try:
        keys = stores.open_period_keys(city_dir, config)
        try:
            return _destroy_all(city_dir, urlsplit(config.issuer).hostname or "", keys, confirm)
        finally:
            keys.close()
    except KeyStoreError as exc:  # e.g. no PIN, a wrong one, a token that cannot be listed: nothing happened
        advice = f"{exc.advice}; {_NO_PIN_LAST_RESORT}" if stores.uses_token(config) else exc.advice
        raise KeyStoreError(f"{exc.message}; nothing was destroyed", advice) from None


def _destroy_all(city_dir: Path, host: str, keys: PeriodKeyStore, confirm: str | None) -> int:
    if not keys.names() and not vault_path(city_dir).exists():
        print("This city has no vault keys and no vault file: nothing to destroy.")
        return 0
    if confirm is None:
        print(f"This destroys every enrolment record in the vault for good, in every backup too.\n"
              f"Type the city's issuer host name ({host}) or {CONFIRM_WORD} to go on: ", end="", file=sys.stderr, flush=True)
        confirm = sys.stdin.readline()
    if confirm.strip() not in (host, CONFIRM_WORD):
        raise IssuerError("the confirmation did not match; nothing was destroyed",
                          f"type the issuer host name ({host}) or {CONFIRM_WORD} exactly")
    started = time.perf_counter()
    done = destroy_everything(city_dir, keys)
    seconds = time.perf_counter() - started
    words = _key_store_words(keys)
    print(f"Destroyed {len(done.destroyed)} vault period key(s){' and the vault file' if done.vault_removed else ''} "
          f"in {seconds:.3f} s (key store: {words.where}).")
    strays = not_periods(done.destroyed)
    if strays:
        print(f"{len(strays)} of them had a name that is not a real period ({', '.join(strays)}): "
              "destroyed all the same.")
    complete = not done.failed and done.keyed_elsewhere == 0
    if complete:
        print("Cannot be recovered from the city folder or its backups: every enrolment record (input rows, photos, "
              "document scans), here and in every backup, which only ever held ciphertext.")
    if done.failed:
        print(f"NOT destroyed: {len(done.failed)} period key(s): " +
              "; ".join(f"{name} ({why})" for name, why in sorted(done.failed.items())) +
              ". Their records can still be read from backups of the city folder with those keys.")
    if done.keyed_elsewhere:
        where = done.recorded_store or "a key store city.json no longer names"
        print(f"NOT destroyed: the keys of {done.keyed_elsewhere} record(s), which are not in this key store: the vault "
              f"recorded its keys in {where}. Backups of the city folder can still be read with them.")
    if done.keyed_elsewhere is None:
        print("The vault file could not be read to check that every record's key was in this key store.")
    print("Still exists: the registry (card statuses under keyed hashes of card numbers, no names), the city's "
          "signing keys, the published trust folder, and cards already in residents' hands, which keep working. "
          f"Not covered: {words.not_covered}, and enrolment input files and print folders not yet deleted. "
          "Replacement and renewal now need a new enrolment.")
    if done.failed:
        raise IssuerError(f"destroy-all destroyed {len(done.destroyed)} vault key(s) and could not destroy "
                          f"{len(done.failed)}", "fix what is named above, then run destroy-all again")
    if not complete:
        raise IssuerError("destroy-all destroyed every key in this key store, but not every record's key",
                          "set vault.key_store in city.json to the store the vault recorded, then run destroy-all "
                          "again")
    return 0
