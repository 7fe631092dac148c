"""Error pages and JSON errors: every failure is an invalid result in plain words, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import VerificationError
from .results import Outcome

log = logging.getLogger(__name__)

_PLAIN = {
    400: ("malformed", "The request could not be read."),
    404: ("not_found", "There is no such page."),
    405: ("method_not_allowed", "This address does not accept that kind of request."),
    413: ("too_large", "That file is too large. Photos of a card must be under {limit} MB."),
    414: ("too_large", "That request is too long."),
    431: ("too_large", "That request is too large."),
}


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
    code, message = _PLAIN.get(status, ("http_error", "The request could not be handled."))
    message = message.format(limit=(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024))
    advice = "Scan the card again." if status != 413 else "Take a smaller photo, or scan the code instead."
    return _respond(Outcome(False, code, message, advice, http_status=status))


def _unexpected(exc: Exception) -> Any:
    # The type only: an exception's text may quote the scanned input.
    log.error("unexpected %s while handling %s %s", type(exc).__name__, request.method, request.path)
    status = 400 if request.method == "POST" else 500
    return _respond(Outcome(False, VerificationError.code, "This code could not be checked.", VerificationError.advice, http_status=status))
