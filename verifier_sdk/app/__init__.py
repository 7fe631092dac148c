"""The reference partner app: scan a card by camera, hand-held scanner or photo; see only your purpose's claims.

    flask --app verifier_sdk.app run            # configured by CITYID_* variables or instance/config.py
    cityid-verify serve --trust PATH --purpose museum
    gunicorn 'verifier_sdk.app:create_app()'     # production

Configuration keys (test_config, ``instance/config.py`` or ``CITYID_<KEY>`` variables):
PURPOSE (bank | museum | pharmacy, or a Purpose), TRUST_DIR (default instance/trust),
ROOT_KEY (the pinned root key file; default instance/root-key.pem), PUBLICATION_URL
(where ``sync-trust`` fetches from), MAX_STATUS_AGE_HOURS (freshness policy; default:
the purpose's), RESULT_SECONDS (how long a result stays up; 30 at a bank, else 8), MAX_CONTENT_LENGTH,
TRUSTED_HOSTS (the names the desk answers to, ``host`` or ``host:port``; default 127.0.0.1,
localhost and [::1]: any other Host header gets 400),
LANGUAGE (en, es, zh_Hans, ru, bn, ht, ko, ar, ur, fr, pl; default: the browser's Accept-Language).
Needs the ``app`` extra.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..purpose import Purpose, resolve_purpose

if TYPE_CHECKING:  # Flask is imported when an app is built, so 'cityid-verify sync' needs only the sync extra
    from flask import Flask

ROOT_KEY_FILE = "root-key.pem"

DEFAULTS: dict[str, Any] = {
    "PURPOSE": "bank",
    "TRUST_DIR": None,
    "ROOT_KEY": None,
    "PUBLICATION_URL": None,
    "MAX_STATUS_AGE_HOURS": None,
    "RESULT_SECONDS": None,  # default: 30 s at a bank (the teller copies the details), else 8 s
    "LANGUAGE": None,  # default: the browser's (Accept-Language), else English
    "MAX_CONTENT_LENGTH": 8 * 1024 * 1024,
    "MAX_FORM_MEMORY_SIZE": 128 * 1024,
    "MAX_FORM_PARTS": 20,
    "SYNC_TIMEOUT": 30.0,
    "TRUSTED_HOSTS": None,  # None: loopback only (security.LOOPBACK_HOSTS)
    # No sessions, no cookies: these only matter if an extension ever set one.
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
}


def create_app(test_config: Mapping[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the app.  Trust data is loaded on the first request, so ``sync-trust`` works on an empty desk."""
    from flask import Flask

    from . import api, errors, scan, security
    from .i18n import init_babel
    from .maintenance import sync_trust_command
    from .trust_state import TrustState

    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("CITYID")
    else:
        app.config.from_mapping(test_config)
    security.check_secret_key(app)

    purpose = _purpose(app.config["PURPOSE"], app.config.get("MAX_STATUS_AGE_HOURS"))
    app.config["TRUST_DIR"] = str(app.config["TRUST_DIR"] or Path(app.instance_path) / "trust")
    app.config["ROOT_KEY"] = str(app.config["ROOT_KEY"] or Path(app.instance_path) / ROOT_KEY_FILE)
    app.extensions["cityid"] = TrustState(app.config["TRUST_DIR"], app.config["ROOT_KEY"], purpose)
    app.extensions["cityid_purpose"] = purpose

    init_babel(app)
    app.register_blueprint(scan.bp)
    app.register_blueprint(api.bp)
    errors.register(app)
    security.install(app)
    app.cli.add_command(sync_trust_command)
    security.redact_server_logs()
    return app


def _purpose(value: Any, max_age_hours: Any) -> Purpose:
    purpose = resolve_purpose(value)
    if max_age_hours not in (None, ""):
        purpose = dataclasses.replace(purpose, max_status_age=timedelta(hours=float(max_age_hours)))
    return purpose


__all__ = ["create_app"]
