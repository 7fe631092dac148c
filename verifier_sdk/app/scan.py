"""The desk page: hand-held scanner field, live camera and photo upload, with the result on the same page."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template, request
from flask_babel import format_timedelta, gettext

from ..errors import N_, as_sentence
from .results import Outcome, verify_image, verify_text

bp = Blueprint("scan", __name__)

DESK_NAMES = {"bank": N_("Bank desk"), "library": N_("Library desk"), "museum": N_("Museum desk"), "pharmacy": N_("Pharmacy desk")}


def render_desk(outcome: Outcome | None = None, status: int = 200) -> tuple[str, int]:
    state = current_app.extensions["cityid"]
    purpose = current_app.extensions["cityid_purpose"]
    seconds = current_app.config["RESULT_SECONDS"] or (30 if purpose.name == "bank" else 8)
    age = state.age()
    desk_name = gettext(DESK_NAMES[purpose.name]) if purpose.name in DESK_NAMES else gettext("%(name)s desk", name=purpose.name)
    return render_template("desk.html", outcome=outcome, purpose=purpose, desk_name=desk_name, trust_age=age,
                           trust_age_text=age_text(age.age), trust_problem=as_sentence(state.problem), result_seconds=int(seconds),
                           upload_limit_mb=(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)), status


def age_text(age: timedelta | None) -> str | None:
    """How old the revocation data is, in the desk's language ("3 hours", "2 days"); None when unknown."""
    if age is None:
        return None
    if age < timedelta(hours=1):
        return gettext("less than an hour")
    return format_timedelta(age, granularity="hour", threshold=2)


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
