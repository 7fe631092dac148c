"""Security headers, trusted hosts, cross-site refusal, in-memory uploads, log redaction and the secret-key rule."""

from __future__ import annotations

import io
import logging
import re
import secrets
from typing import IO, Iterable
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, jsonify, request

# 'wasm-unsafe-eval' lets the page compile the vendored zxing-wasm decoder; it allows no JavaScript eval.
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
}
#: Where the desk answers when nothing else is configured: this computer only (a DNS-rebinding page gets 400).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PLACEHOLDER_KEYS = {"", "dev", "development", "secret", "changeme", "change-me", "replace-me", "test", "placeholder", "xxx"}


def check_secret_key(app: Flask) -> None:
    """Refuse a placeholder SECRET_KEY outside testing; without one, use a random per-process key.

    The app sets no cookies and keeps no sessions (nothing about a card may outlive the
    request), so the key signs nothing that must survive a restart.
    """
    key = app.config.get("SECRET_KEY")
    if app.testing:
        return
    if key is None:
        app.config["SECRET_KEY"] = secrets.token_hex(32)
        return
    text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
    if text.strip().lower() in PLACEHOLDER_KEYS or len(text) < 16:
        raise RuntimeError("SECRET_KEY is a placeholder or too short; unset it or use e.g. python -c 'import secrets; print(secrets.token_hex(32))'")


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"  # results must not stay in a browser cache
        response.headers["Pragma"] = "no-cache"
    response.headers.pop("Set-Cookie", None)  # belt and braces: this app never sets cookies
    return response


_QUERY = re.compile(r"\?[^\s\"']*")


class RedactRequestLines(logging.Filter):
    """werkzeug's access log: keep method, path and status; drop query strings and unparsable request lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not format: drop them
            message = str(record.msg)
        if "Bad request" in message or "Bad HTTP" in message or "code 400" in message or "code 414" in message:
            message = "malformed HTTP request (not logged)"
        record.msg, record.args = _QUERY.sub("?<redacted>", message), ()
        return True


def redact_server_logs() -> None:
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactRequestLines) for f in logger.filters):
        logger.addFilter(RedactRequestLines())


class InMemoryRequest(Request):
    """Uploads are parsed into memory, never spooled to a temporary file: a card photo must not touch the disk.

    Werkzeug spools uploads over 500 KiB to disk; MAX_CONTENT_LENGTH (8 MiB) bounds what memory holds instead.
    """

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        return io.BytesIO()


def trusted_hosts(names: Iterable[str] | str | None, port: int | None = None) -> list[str]:
    """``host`` or ``host:port`` entries, lower-case; loopback by default (pinned to ``port`` when given)."""
    if isinstance(names, str):
        names = [n for n in re.split(r"[\s,]+", names) if n]
    names = list(LOOPBACK_HOSTS if names is None else names)
    return [n.lower() if port is None or _split_port(n)[1] else f"{n.lower()}:{port}" for n in names]


def _split_port(host: str) -> tuple[str, str | None]:
    """``("example.org", "443")`` for ``example.org:443``; IPv6 literals keep their brackets."""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        return name, port
    return host, None


REFUSALS = {
    "untrusted_host": (400, "This desk answers only at its own address.",
                       "Open the desk at the address its operator configured (TRUSTED_HOSTS, or serve --host-name)."),
    "cross_site": (403, "This desk accepts scans only from its own page.",
                   "Scan on the desk page itself; over a network it must be served over https."),
}


def _refuse(code: str) -> Response:
    """A short refusal, never the desk page: nothing for another site to frame or read."""
    status, message, advice = REFUSALS[code]
    if request.path.startswith("/api/"):
        response = jsonify({"valid": False, "code": code, "message": message, "advice": advice, "claims": {}})
    else:
        response = Response(f"{message} {advice}\n", mimetype="text/plain")
    response.status_code = status
    return response


def check_host() -> Response | None:
    """400 unless the Host header names this desk (TRUSTED_HOSTS): the desk is no oracle for a rebound domain."""
    host = (request.headers.get("Host") or "").strip().lower()
    name, port = _split_port(host)
    for entry in current_app.config["TRUSTED_HOSTS_CHECKED"]:
        entry_name, entry_port = _split_port(entry)
        if name == entry_name and (entry_port is None or port == entry_port or (port is None and entry_port in ("80", "443"))):
            return None
    return _refuse("untrusted_host")


def refuse_cross_site() -> Response | None:
    """403 for a state-changing request another site's page sent (fetch metadata first, then Origin).

    The desk's own forms post with ``Origin: null`` (its Referrer-Policy is no-referrer), so ``null`` is
    accepted only with ``Sec-Fetch-Site: same-origin``, which the browser sets and no page can forge.
    Requests without either header (curl, scripts using the JSON API) are not from a browser page.
    """
    if request.method not in UNSAFE_METHODS:
        return None
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site is not None and site not in ("same-origin", "none"):
        return _refuse("cross_site")
    if origin is None:
        return None
    if origin == "null":
        return None if site == "same-origin" else _refuse("cross_site")
    if urlsplit(origin).netloc.lower() != (request.headers.get("Host") or "").strip().lower():
        return _refuse("cross_site")
    return None


def install(app: Flask) -> None:
    """In-memory uploads, host and cross-site checks on every request, the headers on every response."""
    app.request_class = InMemoryRequest
    # Checked here, with ports and IPv6 literals; Flask's own TRUSTED_HOSTS check (names only) is turned off.
    app.config["TRUSTED_HOSTS_CHECKED"] = trusted_hosts(app.config.get("TRUSTED_HOSTS"))
    app.config["TRUSTED_HOSTS"] = None
    app.before_request(check_host)
    app.before_request(refuse_cross_site)
    app.after_request(add_headers)
