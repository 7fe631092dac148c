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


#: Without --instance, the pinned root key and config.py live in ./instance (never under the virtualenv).
DEFAULT_INSTANCE = "instance"
THREADS = 8
#: The requests a waitress thread buffers before the app sees them stay in memory up to this size.
MEMORY_BUFFER = 16 * 1024 * 1024


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
    host_names: Sequence[str] = (),
    tls: tuple[str, str] | None = None,
    self_signed: bool = False,
    threads: int = THREADS,
) -> None:
    """Run the partner app for one desk (blocks): waitress with threads; with TLS, gunicorn's threaded worker."""
    from . import create_app
    from .security import trusted_hosts

    instance = Path(instance_path or DEFAULT_INSTANCE).resolve()
    config = {"TRUST_DIR": str(Path(trust).resolve()), "PURPOSE": purpose, "PUBLICATION_URL": publication_url,
              "MAX_STATUS_AGE_HOURS": max_status_age_hours, "SECRET_KEY": os.environ.get("CITYID_SECRET_KEY")}
    config["ROOT_KEY"] = str(pin_root_key(instance, config["TRUST_DIR"], root_key))
    _check_trust(config["TRUST_DIR"], config["ROOT_KEY"])
    names = list(host_names) + ([host] if not _is_wildcard(host) and not _is_loopback(host) else [])
    config["TRUSTED_HOSTS"] = trusted_hosts(None, port) + trusted_hosts([_bracket(n) for n in names])
    app = create_app(config, instance_path=str(instance))
    lock = _lock_instance(instance)  # noqa: F841 - held while serving
    _check_port_free(host, port)
    scheme = "https" if tls or self_signed else "http"
    if self_signed:
        tls = _self_signed_certificate(instance / "tls", ["localhost", "127.0.0.1", "::1", *names])
    if tls:
        if not Path(tls[1]).is_file():
            raise SetupError(f"TLS key not found: {tls[1]}")
        print(f"TLS certificate {tls[0]}, SHA-256 fingerprint {certificate_fingerprint(tls[0])}\n"
              "         On each tablet, accept the certificate only if it shows this fingerprint.", file=sys.stderr)
    elif not _is_loopback(host):
        print("warning: serving beyond this computer over plain HTTP; use --tls CERT KEY or --self-signed, or an HTTPS proxy "
              "(browsers allow the camera only on https or localhost)", file=sys.stderr)
    if _is_wildcard(host) and not host_names:
        print("warning: listening on all addresses but only loopback names are trusted; pass --host-name with the "
              "address or name tablets use (e.g. --host-name 192.168.1.20)", file=sys.stderr)
    shown = names[0] if names else ("127.0.0.1" if _is_wildcard(host) else host)
    print(f"cityid desk app ({app.extensions['cityid_purpose'].name}) on {scheme}://{_bracket(shown)}:{port}/  (Ctrl+C to stop)",
          file=sys.stderr)
    if tls:
        _serve_gunicorn(app, host, port, threads, tls)
    else:
        _serve_waitress(app, host, port, threads)


def _serve_waitress(app, host: str, port: int, threads: int) -> None:  # type: ignore[no-untyped-def]
    from waitress import serve as waitress_serve

    # waitress spools request bodies over 512 KiB to temporary files: a card photo must stay in memory.
    limit = app.config["MAX_CONTENT_LENGTH"] + 64 * 1024
    waitress_serve(app, host=host, port=port, threads=threads, ident="cityid", inbuf_overflow=MEMORY_BUFFER,
                   outbuf_overflow=MEMORY_BUFFER, max_request_body_size=limit)


def _serve_gunicorn(app, host: str, port: int, threads: int, tls: tuple[str, str] | None,  # type: ignore[no-untyped-def]
                    workers: int = 1) -> None:
    """waitress has no TLS; gunicorn (POSIX) serves https itself, with threaded worker processes."""
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        raise SetupError("--tls needs gunicorn, which runs on Linux and macOS; elsewhere run waitress behind an HTTPS proxy") from None

    class DeskServer(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {"bind": f"{_bracket(host)}:{port}", "workers": workers, "worker_class": "gthread", "threads": threads,
                        "certfile": tls and tls[0], "keyfile": tls and tls[1], "accesslog": None, "proc_name": "cityid-desk",
                        "control_socket_disable": True}  # (gunicorn 24+ would open a control socket in $HOME)
            for key, value in settings.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):  # type: ignore[no-untyped-def]
            return app

    DeskServer().run()


def certificate_fingerprint(cert_file: str | Path) -> str:
    """SHA-256 of the certificate, as browsers show it (AB:CD:...)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read the TLS certificate {cert_file}: {exc}") from None
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _self_signed_certificate(folder: Path, names: Sequence[str]) -> tuple[str, str]:
    """The desk's own certificate in ``folder``, made once (a tablet then trusts one fingerprint) and on expiry."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_file, key_file = folder / "desk-cert.pem", folder / "desk-key.pem"
    now = datetime.now(timezone.utc)
    wanted = {n.strip("[]") for n in names}
    if cert_file.is_file() and key_file.is_file():
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have = {str(v) for v in sans.get_values_for_type(x509.DNSName)} | {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
        if cert.not_valid_after_utc > now + timedelta(days=7) and wanted <= have:
            return str(cert_file), str(key_file)
    key = ec.generate_private_key(ec.SECP256R1())
    entries: list[x509.GeneralName] = []
    for name in sorted(wanted):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cityid desk")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365)).add_extension(x509.SubjectAlternativeName(entries), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the private key: owner only
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    print(f"made a self-signed TLS certificate for {', '.join(sorted(wanted))} at {cert_file}", file=sys.stderr)
    return str(cert_file), str(key_file)


def _lock_instance(instance: Path):  # type: ignore[no-untyped-def]
    """Hold ``instance/serve.lock`` while serving: a second desk (or ./run demo) sees this one is running."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, no check
        return None
    instance.mkdir(parents=True, exist_ok=True)
    handle = open(instance / "serve.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise SetupError(f"another desk is already serving from {instance}; stop it, or give this one its own --instance DIR") from None
    return handle


def _check_port_free(host: str, port: int) -> None:
    """Say which option to change, rather than the server's own "address already in use"."""
    import socket

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise SetupError(f"cannot listen on {host} port {port} ({exc.strerror}); another program (or desk) uses it: "
                             f"choose another port with --port, e.g. --port {port + 1}") from None


def _bracket(host: str) -> str:
    """IPv6 literals in brackets, as they appear in a Host header and a URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


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
    parser = _parser()
    args = parser.parse_args(list(argv))
    if args.command == "serve" and args.tls and args.self_signed:
        parser.error("use either --tls CERT KEY or --self-signed")
    try:
        if args.command == "serve":
            serve(args.trust, args.purpose, args.host, args.port, args.root_key, instance_path=args.instance,
                  publication_url=args.publication_url, max_status_age_hours=args.max_status_age_hours,
                  host_names=args.host_name, tls=tuple(args.tls) if args.tls else None, self_signed=args.self_signed,
                  threads=args.threads)
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
    path = Path(instance or DEFAULT_INSTANCE) / ROOT_KEY_FILE
    return str(path) if path.is_file() else None


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
    s.add_argument("--instance", metavar="DIR", help="the app's instance folder (pinned root key, config.py; default: ./instance)")
    s.add_argument("--host-name", action="append", default=[], metavar="NAME",
                   help="a name or address browsers use to reach this desk (repeatable); others get 400 (default: loopback only)")
    s.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https with this certificate and key (PEM)")
    s.add_argument("--self-signed", action="store_true",
                   help="serve https with a certificate made for this desk (kept in the instance folder; its fingerprint is printed)")
    s.add_argument("--threads", type=int, default=THREADS, help=f"worker threads (default {THREADS})")
    s.add_argument("--publication-url", metavar="URL", help="where 'flask sync-trust' fetches from")
    s.add_argument("--max-status-age-hours", type=float, metavar="H", help="refuse cards when revocation data is older (default: the purpose's)")
    y = sub.add_parser("sync", help="update the trust data from the city's publication URL or a folder")
    y.add_argument("--trust", required=True, metavar="PATH", help="trust folder to update")
    y.add_argument("--source", metavar="URL_OR_DIR", help="publication URL or folder (USB stick); default: the bundle's publication_url")
    y.add_argument("--root-key", metavar="FILE", help="pinned root key (default: $CITYID_ROOT_KEY, else the app's pinned key)")
    y.add_argument("--instance", metavar="DIR", help="the app's instance folder, to find its pinned root key (default: ./instance)")
    y.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server at each step (default 30)")
    y.add_argument("--deadline", type=float, metavar="S", help="seconds one whole download may take (default: 2 x --timeout)")
    y.add_argument("--purpose", choices=sorted(PRESETS), help="fail unless the data left installed is fresh enough for this desk")
    y.add_argument("--allow-http", action="store_true", help="accept a plain-http publication URL (only on a network you trust)")
    return parser
