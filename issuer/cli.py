"""``cityid-issuer``: the card office's command line.

Exit codes: 0 ok, 1 failure (including bad input rows), 2 usage.  Errors are one
line plus what to do next; never a traceback, never a claim value.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from .errors import IssuerError
from .keys import PASSPHRASE_ENV
from .vault_cli import VAULT_COMMANDS, destroy_all, run_vault_command, vault_commands, vault_config

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityid-issuer", description="Issue, revoke and publish city ID cards.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("init", help="create a new city (keys, config, registry)")
    p.add_argument("dir", type=Path)
    p.add_argument("--issuer", default="https://id.example.gov", help="issuer identifier (https URL)")
    p.add_argument("--root-key", type=Path, metavar="PATH",
                   help="where to write the root private key: outside the city folder, e.g. on a removable drive kept "
                        "offline; with --key-store, the pkcs11: URI of the token to make it in (default: the city's)")
    p.add_argument("--insecure-demo", action="store_true", help="store keys unencrypted (demos and tests only)")
    p.add_argument("--key-store", default="", metavar="URI",
                   help="keep the keys in an HSM: 'pkcs11:token=LABEL?module-path=/path/to/module.so' "
                        "(PIN from CITYID_HSM_PIN or a prompt)")
    p.add_argument("--registry", default="", metavar="URL",
                   help="one registry for many centres: postgresql://USER@HOST:5432/DATABASE "
                        "(password in PGPASSWORD or ~/.pgpass)")
    p.add_argument("--vault", action="store_true", help="keep enrolment records in the encrypted vault (see README)")
    p = sub.add_parser("issue", help="issue cards from a CSV or JSON Lines file")
    p.add_argument("dir", type=Path)
    p.add_argument("--input", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true")
    p = sub.add_parser("reprint", help="render the open batch's cards again (same numbers and status)")
    p.add_argument("dir", type=Path)
    p.add_argument("--input", required=True, type=Path, help="the batch's input file (rows are matched by resident)")
    p.add_argument("--out", type=Path, help="write here (default: over each card's folder)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--no-progress", action="store_true")
    p = sub.add_parser("close-batch", help="end the open batch and erase its journal for good")
    p.add_argument("dir", type=Path)
    p.add_argument("--abandon-unfinished", action="store_true",
                   help="revoke cards an interrupted run reserved but never wrote, then close")
    p = sub.add_parser("revoke", help="revoke, suspend or reinstate a card")
    p.add_argument("dir", type=Path)
    p.add_argument("card_number")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--suspend", action="store_true")
    group.add_argument("--reinstate", action="store_true")
    p = sub.add_parser("rotate-key", help="rotate or withdraw a key by kid (then sign-bundle and publish)")
    p.add_argument("dir", type=Path)
    p.add_argument("--kid", help="the key to rotate or withdraw (default: the current key of --role)")
    p.add_argument("--role", choices=("card", "status"), default="card", help="card key (default) or status-list key")
    p.add_argument("--compromised", action="store_true", help="withdraw the key: every card or status list it signed fails")
    p = sub.add_parser("sign-bundle", help="sign the key list with the offline root key (yearly ceremony, after key changes)")
    p.add_argument("dir", type=Path)
    p.add_argument("--root-key", required=True, type=Path, metavar="PATH", help="the root private key (e.g. on the removable drive), or its token's pkcs11: URI")
    p = sub.add_parser("keys", help="list the city's keys, their roles and states")
    p.add_argument("dir", type=Path)
    p = sub.add_parser("publish", help="write the trust publication folder partners sync")
    p.add_argument("dir", type=Path)
    p.add_argument("out", type=Path)
    vault_commands(sub)
    p = sub.add_parser("demo", help="create a demo city with sample cards and a publication")
    p.add_argument("dir", type=Path)
    return parser


def _passphrase(new: bool) -> str | None:
    """From the environment, else a prompt on a terminal (never an argument: it would land in shell history)."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value or not sys.stdin.isatty():
        return value
    first = getpass.getpass("City key passphrase: ")
    if new and getpass.getpass("Repeat the passphrase: ") != first:
        raise IssuerError("the passphrases do not match", "run the command again")
    return first


def _open(city_dir: Path):  # noqa: ANN202
    from .city import Issuer
    from .config import load

    config = load(city_dir)
    passphrase = None if config.insecure_demo or config.key_store else _passphrase(new=False)
    return Issuer.open(city_dir, passphrase=passphrase)


def _run(args: argparse.Namespace) -> int:
    from .city import Issuer

    if args.command == "init":
        if args.root_key is None and not args.insecure_demo and not args.key_store:
            raise IssuerError("init needs --root-key PATH: where to write the root private key",
                              "name a file on a removable drive outside the city folder, and keep the drive offline")
        passphrase = None if args.insecure_demo or args.key_store else _passphrase(new=True)
        config = vault_config(args.issuer, args.insecure_demo) if args.vault else None
        with Issuer.init(args.dir, issuer=args.issuer, passphrase=passphrase, insecure_demo=args.insecure_demo,
                         config=config, root_key_out=args.root_key, key_store=args.key_store,
                         registry=args.registry) as city:
            root_path = city.keys.root_written_to
        if args.key_store:
            print(f"City created in {args.dir}. The root key was made inside the token {root_path} and never leaves "
                  "it; it is needed only to sign trust bundles (cityid-issuer sign-bundle --root-key URI).")
        else:
            print(f"City created in {args.dir}. The root private key was written ONLY to {root_path}: "
                  "keep it offline; it is needed only to sign trust bundles (cityid-issuer sign-bundle).")
        print(f"Next: cityid-issuer issue {args.dir} --input FILE --out DIR")
        if args.insecure_demo:
            print("WARNING: keys are stored unencrypted (--insecure-demo). Never issue real cards from this city.")
        return EXIT_OK
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args.dir)
    if args.command == "destroy-all":  # no passphrase, no lock: an emergency must not wait
        return destroy_all(args.dir, args.confirm)
    with _open(args.dir) as city:
        if args.command in ("issue", "reprint") and args.workers is not None and args.workers < 1:
            raise IssuerError("--workers must be at least 1", "omit it to use all cores")
        progress = args.command in ("issue", "reprint") and not args.no_progress and sys.stderr.isatty()
        if args.command == "issue":
            report = city.issue_batch(args.input, args.out, workers=args.workers, progress=progress)
            for note in report.notes:
                print(f"note: {note}", file=sys.stderr)
            for line, reason in report.failed:
                print(f"line {line}: {reason}", file=sys.stderr)
            for line, reason in report.warnings:
                print(f"line {line}: warning: {reason}", file=sys.stderr)
            print(report.summary())
            print(report.next_step(), file=sys.stderr if report.failed else sys.stdout)
            return EXIT_OK if report.ok else EXIT_FAILURE
        if args.command == "reprint":
            reprints = city.reprint(args.input, args.out, workers=args.workers, progress=progress)
            for line, reason in reprints.skipped:
                print(f"line {line}: {reason}", file=sys.stderr)
            print(reprints.summary())
            return EXIT_OK
        if args.command == "close-batch":
            cards, folders, revoked = city.close_batch(abandon_unfinished=args.abandon_unfinished)
            if not (cards or revoked):
                print("No batch was open; the registry holds no batch journal.")
                return EXIT_OK
            where = ", ".join(f"{n} in {folder}" for folder, n in sorted(folders.items())) or "none"
            unprinted = f"; {revoked} unprinted cards revoked" if revoked else ""
            print(f"Batch closed: {cards} cards ({where}){unprinted}. Its journal is erased: the registry no longer "
                  "links any row to a card.")
            return EXIT_OK
        if args.command == "revoke":
            action, status = ((city.suspend, "suspended") if args.suspend else (city.reinstate, "valid")
                              if args.reinstate else (city.revoke, "revoked"))
            if action(args.card_number) == status:
                print(f"The card was already {status}; nothing changed.")
                return EXIT_OK
            print(f"Card {'reinstated' if args.reinstate else status}. Run `cityid-issuer publish` so partners learn it.")
            return EXIT_OK
        if args.command == "rotate-key":
            old = city.registry.issuing_key_row(args.kid) if args.kid else city.registry.current_key(args.role)
            kid = city.rotate_key(compromised=args.compromised, kid=args.kid, role=args.role)
            print(f"Key {kid} is now in use for {old.role if old else args.role}s.")
            if args.compromised and old is not None and old.role == "card":
                _list_compromised(city, old.kid, kid)
            elif args.compromised:
                print(f"Key {args.kid or 'the old status key'} is withdrawn: status lists it signed will be refused.")
            print(f"Next: sign the new key list with the root key (cityid-issuer sign-bundle {args.dir} --root-key PATH), "
                  "then publish. Partners learn nothing before that.")
            return EXIT_OK
        if args.command == "sign-bundle":
            claims = city.sign_bundle(args.root_key)
            for key in claims["issuer_keys"]:
                print(f"  {key['kid']:>4}  {key['role']:<6}  {'WITHDRAWN' if key['withdrawn'] else 'trusted'}")
            print(f"Signed trust bundle version {claims['version']}, valid until {_date(claims['exp'])}. "
                  f"Put the root key away, then run `cityid-issuer publish {args.dir} OUT`.")
            return EXIT_OK
        if args.command == "keys":
            for key in city.registry.issuing_keys():
                state = "WITHDRAWN" if key.withdrawn else "retired" if key.retired_at else "in use"
                print(f"  {key.kid:>4}  {key.role:<6}  {state}")
            return EXIT_OK
        if args.command in VAULT_COMMANDS:
            return run_vault_command(city, args)
        if args.command == "publish":
            notices: list[str] = []
            out = city.publish(args.out, notices=notices)
            for notice in notices:
                print(f"cityid-issuer: warning: {notice}", file=sys.stderr)
            print(f"Published to {out}. Copy the folder to {city.config.publication_url} (any static host).")
            return EXIT_OK
    return EXIT_USAGE


def _date(epoch_seconds: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).strftime("%Y-%m-%d")


def _list_compromised(city, old: str, kid: str) -> None:  # noqa: ANN001 - an open Issuer
    """The cards a withdrawn key signed that the office can still find: those of the open batch, by number."""
    listed, others = city.open_batch_cards_signed_by(old)
    print(f"Key {old} is withdrawn: once the new bundle is signed and published, every card it signed fails "
          "verification and must be reprinted or replaced.")
    if listed:
        print(f"{len(listed)} of them are in the open batch; `cityid-issuer reprint` signs them again with {kid}:")
        for number, folder in listed:
            print(f"  {number}  {folder}")
    if others:
        print(f"{others} more cards signed by {old} belong to closed batches or single issues: the registry keeps no "
              "link from a card to a resident, so find them by the card numbers in your printed batch folders.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    try:
        return _run(args)
    except IssuerError as exc:
        print(f"cityid-issuer: error: {exc.message}" + (f" -- {exc.advice}" if exc.advice else ""), file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        where = f" in {args.out}" if getattr(args, "out", None) else ""
        print(f"cityid-issuer: interrupted; finished cards are kept{where}: run the same command again to continue "
              "(nothing is issued twice)", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:  # file-system trouble; card folders are named by card number, so no paths under them
        where = f": {exc.filename}" if exc.filename and not re.search(r"\d{12}", str(exc.filename)) else ""
        print(f"cityid-issuer: error: {exc.strerror or type(exc).__name__}{where} -- check the paths and disk space",
              file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - a bug: no traceback (it could hold claim values), just the type
        print(f"cityid-issuer: unexpected error ({type(exc).__name__}) -- please report it; "
              "rerunning the same command is safe", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
