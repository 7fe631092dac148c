"""The desk page: hand-held scanner field, live camera and photo upload, with the result on the same page."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from .results import Outcome, verify_image, verify_text

bp = Blueprint("scan", __name__)


def render_desk(outcome: Outcome | None = None, status: int = 200) -> tuple[str, int]:
    state = current_app.extensions["cityid"]
    purpose = current_app.extensions["cityid_purpose"]
    seconds = current_app.config["RESULT_SECONDS"] or (30 if purpose.name == "bank" else 8)
    return render_template("desk.html", outcome=outcome, purpose=purpose, trust_age=state.age(),
                           trust_problem=state.problem, result_seconds=int(seconds)), status


@bp.get("/")
def index() -> tuple[str, int]:
    return render_desk()


@bp.post("/verify")
def verify() -> tuple[str, int]:
    """Both forms post here: ``qr`` (scanner or camera, urlencoded) or ``image`` (photo, multipart)."""
    photo = request.files.get("image")
    if photo is not None and photo.filename:
        outcome = verify_image(photo.read(current_app.config["MAX_CONTENT_LENGTH"] + 1))
    else:
        outcome = verify_text(request.form.get("qr"))
    return render_desk(outcome, outcome.http_status)
