"""Security headers, log redaction and the secret-key rule for the partner app."""

from __future__ import annotations

import logging
import re
import secrets

from flask import Flask, Response, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
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
