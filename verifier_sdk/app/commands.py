"""``cityid-verify serve`` and ``cityid-verify sync`` (``sync`` needs only the sync extra, not Flask).

The root key is pinned into the app's instance folder once and never replaced by
a sync: a sync only ever brings data that the pinned key vouches for.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence, TextIO

from ..errors import VerificationError
from ..purpose import PRESETS, Purpose, resolve_purpose
from ..sync import SyncError, SyncResult, sync_trust
from ..trust import ROOT_KEY_FILE, load_root_key, root_key_fingerprint as fingerprint

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class SetupError(Exception):
    """A configuration problem the operator must fix; the message says how."""


def pin_root_key(instance_dir: str | Path, trust_dir: str | Path, root_key: str | Path | None = None, *, out: TextIO | None = None) -> Path:
    """The pinned root key file in ``instance_dir``, pinning it on first use.

    ``root_key`` given: pinned if nothing is pinned yet; refused if a different key is pinned.
    Not given: the pinned copy; on a first demo run, the key beside the trust data
    (trust on first use, with its fingerprint printed to check against the city's).
    """
    out = out or sys.stderr
    pinned = Path(instance_dir) / ROOT_KEY_FILE
    if root_key is not None:
        try:
            offered = fingerprint(str(root_key))
        except VerificationError as err:
            raise SetupError(f"cannot read the root key {root_key}: {err.message}") from None
        if pinned.exists():
            if fingerprint(pinned) != offered:
                raise SetupError(f"a different root key is already pinned at {pinned}; remove it only if the city really changed its root key")
            return pinned
        _copy_pin(Path(root_key), pinned)
        print(f"pinned the city root key {offered} at {pinned}", file=out)
        return pinned
    if pinned.exists():
        return pinned
    candidate = Path(trust_dir) / ROOT_KEY_FILE
    if not candidate.is_file():
        raise SetupError("no root key: pass --root-key FILE (the city's root public key) once to pin it")
    _copy_pin(candidate, pinned)
    print(
        f"warning: pinned the root key found beside the trust data ({fingerprint(pinned)}) at {pinned}.\n"
        "         Check this fingerprint against the one the city publishes; later runs and syncs use this pinned copy.",
        file=out,
    )
    return pinned


def _copy_pin(source: Path, pinned: Path) -> None:
    pinned.parent.mkdir(parents=True, exist_ok=True)
    load_root_key(source)  # only a real public key gets pinned
    shutil.copyfile(source, pinned)


def serve(
    trust: str | Path,
    purpose: str | Purpose,
    host: str = "127.0.0.1",
    port: int = 5000,
    root_key: str | Path | None = None,
    *,
    instance_path: str | Path | None = None,
    publication_url: str | None = None,
    max_status_age_hours: float | None = None,
) -> None:
    """Run the partner app for one desk (blocks).  Uses waitress when installed, else Flask's threaded server."""
    from . import create_app

    config = {"TRUST_DIR": str(Path(trust).resolve()), "PURPOSE": purpose, "PUBLICATION_URL": publication_url,
              "MAX_STATUS_AGE_HOURS": max_status_age_hours, "SECRET_KEY": os.environ.get("CITYID_SECRET_KEY")}
    probe = create_app({**config, "TESTING": True}, instance_path=_abs(instance_path))  # where is the instance folder?
    config["ROOT_KEY"] = str(pin_root_key(probe.instance_path, config["TRUST_DIR"], root_key))
    _check_trust(config["TRUST_DIR"], config["ROOT_KEY"])
    app = create_app(config, instance_path=probe.instance_path)
    if not _is_loopback(host):
        print("warning: serving beyond this computer over plain HTTP; put it behind an HTTPS proxy (browsers only allow the camera on https or localhost)", file=sys.stderr)
    print(f"cityid desk app ({app.extensions['cityid_purpose'].name}) on http://{host}:{port}/  (Ctrl+C to stop)", file=sys.stderr)
    try:
        from waitress import serve as waitress_serve  # optional: a production WSGI server
    except ImportError:
        app.run(host=host, port=port, threaded=True, debug=False, load_dotenv=False)
    else:
        waitress_serve(app, host=host, port=port, threads=4)


def _check_trust(trust_dir: str, pinned: str) -> None:
    """Say at start-up, not at the first customer, when the trust data does not match the pinned key."""
    from ..errors import BadSignatureError
    from ..trust import TrustStore

    try:
        TrustStore.load(trust_dir, root_key=pinned)
    except BadSignatureError:
        raise SetupError(
            f"the trust data in {trust_dir} is not signed by the pinned root key {fingerprint(pinned)} ({pinned}). "
            "If the city really has a new root key (e.g. a new demo city), use a new --instance folder or remove the pinned file."
        ) from None
    except VerificationError as err:
        print(f"warning: trust data not usable yet ({err.code}): {err.message}; run 'cityid-verify sync'", file=sys.stderr)


def run_sync(trust: str | Path, root_key: str | Path, source: str | None = None, *, timeout: float = 30.0, out: TextIO | None = None,
             purpose: str | Purpose | None = None, allow_http: bool = False, deadline: float | None = None) -> SyncResult:
    """Sync and print one line; raises SyncError / VerificationError with the old copy untouched.

    ``purpose``: the desk's policy; the sync fails when the data left installed is older than it allows.
    """
    max_age = resolve_purpose(purpose).max_status_age if purpose is not None else None
    result = sync_trust(trust, root_key, source, timeout=(min(5.0, timeout), timeout), max_status_age=max_age,
                        allow_http=allow_http, deadline=deadline or 2 * timeout)
    print(f"{result.message} (from {result.source})", file=out or sys.stdout)
    return result


def main(argv: Sequence[str]) -> int:
    """Entry for ``cityid-verify serve ...`` and ``cityid-verify sync ...`` (called by verifier_sdk.cli)."""
    args = _parser().parse_args(list(argv))
    try:
        if args.command == "serve":
            serve(args.trust, args.purpose, args.host, args.port, args.root_key, instance_path=args.instance,
                  publication_url=args.publication_url, max_status_age_hours=args.max_status_age_hours)
            return EXIT_OK
        root_key = args.root_key or os.environ.get("CITYID_ROOT_KEY") or _pinned_key(args.instance)
        if root_key is None:
            raise SetupError("no pinned root key: pass --root-key FILE (sync never takes the root key from the source)")
        run_sync(args.trust, root_key, args.source, timeout=args.timeout, purpose=args.purpose, allow_http=args.allow_http,
                 deadline=args.deadline)
        return EXIT_OK
    except SetupError as exc:
        print(f"cityid-verify {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (SyncError, VerificationError) as exc:
        message = getattr(exc, "message", str(exc))
        print(f"cityid-verify sync: failed, the installed trust data is unchanged: {message}", file=sys.stderr)
        return EXIT_FAILED


def _pinned_key(instance: str | None) -> str | None:
    """The root key pinned by ``serve`` (in --instance, else the app's default instance folder)."""
    if instance is None:
        try:
            from . import create_app

            instance = create_app({"TESTING": True}).instance_path
        except ImportError:  # no Flask: no app, so nothing was pinned by it
            return None
    path = Path(instance) / ROOT_KEY_FILE
    return str(path) if path.is_file() else None


def _abs(path: str | Path | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityid-verify")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the partner web app for one desk")
    s.add_argument("--trust", required=True, metavar="PATH", help="trust folder (the city's publication, kept up to date by 'sync')")
    s.add_argument("--purpose", required=True, choices=sorted(PRESETS), help="what this desk may see")
    s.add_argument("--root-key", metavar="FILE", help="the city's root public key, pinned on first use")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this computer only)")
    s.add_argument("--port", type=int, default=5000, help="default: 5000")
    s.add_argument("--instance", metavar="DIR", help="the app's instance folder (pinned root key, config.py)")
    s.add_argument("--publication-url", metavar="URL", help="where 'flask sync-trust' fetches from")
    s.add_argument("--max-status-age-hours", type=float, metavar="H", help="refuse cards when revocation data is older (default: the purpose's)")
    y = sub.add_parser("sync", help="update the trust data from the city's publication URL or a folder")
    y.add_argument("--trust", required=True, metavar="PATH", help="trust folder to update")
    y.add_argument("--source", metavar="URL_OR_DIR", help="publication URL or folder (USB stick); default: the bundle's publication_url")
    y.add_argument("--root-key", metavar="FILE", help="pinned root key (default: $CITYID_ROOT_KEY, else the app's pinned key)")
    y.add_argument("--instance", metavar="DIR", help="the app's instance folder, to find its pinned root key")
    y.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server at each step (default 30)")
    y.add_argument("--deadline", type=float, metavar="S", help="seconds one whole download may take (default: 2 x --timeout)")
    y.add_argument("--purpose", choices=sorted(PRESETS), help="fail unless the data left installed is fresh enough for this desk")
    y.add_argument("--allow-http", action="store_true", help="accept a plain-http publication URL (only on a network you trust)")
    return parser
