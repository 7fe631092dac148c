"""JSON API: ``POST /api/verify`` with ``{"qr": "<text>"}`` or a multipart ``image``; ``GET /api/status``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from .results import unreadable, verify_image, verify_text

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.post("/verify")
def verify() -> Any:
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        text = body.get("qr") if isinstance(body, dict) else None
        outcome = verify_text(text) if isinstance(text, str) else unreadable('send JSON {"qr": "<scanned text>"}')
    elif request.mimetype == "multipart/form-data" and "image" in request.files:
        outcome = verify_image(request.files["image"].read(current_app.config["MAX_CONTENT_LENGTH"] + 1))
    else:
        outcome = unreadable('send JSON {"qr": "<scanned text>"} or a multipart form with an "image" file')
    return jsonify(outcome.as_json()), outcome.http_status


@bp.get("/status")
def status() -> Any:
    """What a monitoring script needs: is the trust data here and fresh enough?"""
    age = current_app.extensions["cityid"].age()
    return jsonify({
        "purpose": current_app.extensions["cityid_purpose"].name,
        "trust_version": age.version,
        "trust_issued_at": age.issued_at.isoformat() if age.issued_at else None,
        "trust_age_seconds": int(age.age.total_seconds()) if age.age is not None else None,
        "max_age_seconds": int(age.max_age.total_seconds()),
        "freshness": age.level,
        "freshness_reason": age.reason,
        "freshness_message": age.message,
        "status_valid_until": age.status_valid_until.isoformat() if age.status_valid_until else None,
        "trust_bundle_expires_at": age.bundle_expires_at.isoformat() if age.bundle_expires_at else None,
    })
