"""Error pages and JSON errors: every failure is a CANNOT CHECK result in plain words, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import CANNOT_CHECK, N_, VerificationError
from .results import Outcome

log = logging.getLogger(__name__)

_PLAIN = {
    400: ("malformed", N_("The request could not be read.")),
    404: ("not_found", N_("There is no such page.")),
    405: ("method_not_allowed", N_("This address does not accept that kind of request.")),
    413: ("too_large", N_("That file is too large. Photos of a card must be under %(limit)s MB.")),
    414: ("too_large", N_("That request is too long.")),
    431: ("too_large", N_("That request is too large.")),
}
_OTHER = ("http_error", N_("The request could not be handled."))
SCAN_AGAIN = N_("Scan the card again.")
SMALLER_PHOTO = N_("Take a smaller photo, or scan the code instead.")


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def _respond(outcome: Outcome) -> Any:
    if request.path.startswith("/api/"):
        return jsonify(outcome.as_json()), outcome.http_status
    from .scan import render_desk

    return render_desk(outcome, outcome.http_status)


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    code, summary = _PLAIN.get(status, _OTHER)
    limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
    advice = SMALLER_PHOTO if status == 413 else SCAN_AGAIN
    return _respond(Outcome(CANNOT_CHECK, code, summary, advice, exc.name, params={"limit": limit} if status == 413 else {},
                            http_status=status))


def _unexpected(exc: Exception) -> Any:
    # The type only: an exception's text may quote the scanned input.
    log.error("unexpected %s while handling %s %s", type(exc).__name__, request.method, request.path)
    status = 400 if request.method == "POST" else 500
    return _respond(Outcome(CANNOT_CHECK, VerificationError.code, VerificationError.summary, VerificationError.advice,
                            http_status=status))
