"""``cityid-verify``: check a card from the command line.

    cityid-verify --trust PATH [--root-key FILE] [--purpose P] [--json] INPUT

INPUT is the QR text, ``-`` for standard input (a hand-held scanner types into
it), or a PNG/JPEG photo of the card.  Exit status: 0 valid, 1 invalid, 2 usage.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import NOT_VALID, VALID, VerificationError
from .purpose import PRESETS
from .scanner import clean_scan
from .trust import BUNDLE_FILE, ROOT_KEY_FILE, TrustStore, root_key_fingerprint
from .verifier import Verifier

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
#: What each optional part needs, by the module it imports (the package is not on PyPI: install from a checkout).
_EXTRAS = {"serve": ("app", ("flask", "waitress", "zxingcpp", "PIL")), "image": ("image", ("zxingcpp", "PIL"))}


def missing_extra(part: str) -> str | None:
    """One line naming the extra to install when ``part`` (serve, image) lacks a module, else None."""
    extra, modules = _EXTRAS[part]
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return (f"this needs the '{extra}' extra ({absent[0]} is not installed): "
            f"in the cityid source folder, run pip install '.[{extra}]'")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("serve", "sync"):
        problem = missing_extra("serve") if argv[0] == "serve" else None  # sync from a folder needs no extra
        if problem:
            print(f"cityid-verify {argv[0]}: {problem}", file=sys.stderr)
            return EXIT_USAGE
        from .app.commands import main as app_main

        return app_main(argv)
    args = _parser().parse_args(argv)
    try:
        trust = _load_trust(Path(args.trust), args.root_key)
        cred = Verifier(trust, purpose=args.purpose).verify(_read_input(args.input))
    except _UsageError as exc:
        print(f"cityid-verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except VerificationError as err:  # includes an image with no readable QR code
        _report_invalid(err, args.json)
        return EXIT_INVALID
    _report_valid(cred, args.json)
    return EXIT_VALID


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cityid-verify",
        description="Verify a city ID card QR code offline. Subcommands: 'serve' (partner web app), 'sync' (update trust data).",
    )
    parser.add_argument("--trust", required=True, metavar="PATH", help="trust folder (the city's publication) or trust bundle file")
    parser.add_argument("--root-key", metavar="FILE", help="the city's pinned root public key (PEM or JWK); default: $CITYID_ROOT_KEY")
    parser.add_argument("--purpose", default="bank", choices=sorted(PRESETS), help="what this desk may see (default: bank)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("input", metavar="INPUT", help="QR text, '-' for standard input, or a PNG/JPEG image of the card")
    return parser


def _load_trust(path: Path, root_key: str | None) -> TrustStore:
    if not path.exists():
        raise _UsageError(f"trust data not found at {path}; run 'cityid-verify sync' or copy the city's publication there")
    root_key = root_key or os.environ.get("CITYID_ROOT_KEY")
    if root_key is None:
        folder = path if path.is_dir() else path.parent
        candidate = folder / ROOT_KEY_FILE
        if not candidate.exists():
            raise _UsageError("no root key: pass --root-key FILE (the city's root public key)")
        root_key = str(candidate)
        print(
            f"warning: using the root key found beside the trust data ({root_key_fingerprint(root_key)}); "
            "check it against the city's published fingerprint and pin it with --root-key",
            file=sys.stderr,
        )
    try:
        # Remembers the highest bundle version accepted for this city's root key: an old folder is refused.
        return TrustStore.load(path, root_key=root_key)
    except VerificationError as err:
        raise _UsageError(f"trust data refused ({err.code}): {err.message}") from None
    except OSError as exc:
        raise _UsageError(f"cannot read {BUNDLE_FILE}: {exc.strerror}") from None


def _read_input(value: str) -> str:
    if value == "-":
        data = sys.stdin.buffer.read(64 * 1024 + 1)
        return clean_scan(data.decode("utf-8", "replace"))
    candidate = Path(value)
    if candidate.suffix.lower() in _IMAGE_SUFFIXES:
        if not candidate.is_file():
            raise _UsageError(f"image not found: {value}")
        problem = missing_extra("image")
        if problem:
            raise _UsageError(f"reading a photo: {problem}")
        from .imaging import MAX_BYTES, decode_image  # needs the 'image' extra

        with open(candidate, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)  # a huge file is refused without reading it all
        return decode_image(data)
    return clean_scan(value)  # a scanner's whitespace, and Caps Lock


def _report_valid(cred: Any, as_json: bool) -> None:
    claims = dict(cred.claims)
    if as_json:
        print(json.dumps({"valid": True, "state": VALID, "code": None, "vct": cred.vct, "issuer": cred.issuer,
                          "expires_at": cred.expires_at.isoformat(), "status": cred.status, "claims": claims}, ensure_ascii=False))
        return
    print(f"VALID  This city ID card is valid.  ({cred.vct}, expires {cred.expires_at:%Y-%m-%d}, status: {cred.status or 'not checked'})")
    # The purpose's label order reads naturally at a desk (given name before family name).
    for name in sorted(claims, key=lambda n: (list(cred.labels).index(n) if n in cred.labels else len(cred.labels), n)):
        value, label = claims[name], cred.labels.get(name, name)
        shown = "yes" if value is True else "no" if value is False else value
        print(f"  {label}: {shown}")


def _report_invalid(err: VerificationError, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"valid": False, "state": err.state, "code": err.code, "message": err.message, "advice": err.advice, "claims": {}}))
        return
    # NOT VALID: the card is refused; CANNOT CHECK: the fault is not the card's (trust data, wrong face, a misread).
    print(f"{'NOT VALID' if err.state == NOT_VALID else 'CANNOT CHECK'}  ({err.code}) {err.message}")
    print(f"  What to do: {err.advice}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
