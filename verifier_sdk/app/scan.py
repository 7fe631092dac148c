"""The desk page: hand-held scanner field, live camera and photo upload, with the result on the same page."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template, request
from flask_babel import format_timedelta, gettext

from ..errors import N_, as_sentence
from .results import Outcome, verify_image, verify_text

bp = Blueprint("scan", __name__)

#: The banner's warning, chosen by the freshness reason (verifier_sdk.freshness), never by its message text.
TRUST_WARNINGS = {
    "trust_not_yet_valid": N_("The trust data is dated in the future: cards cannot be checked. Check this computer's date and time."),
    "status_unavailable": N_("The revocation data could not be used: cards cannot be checked. Sync the trust data now."),
    "trust_expiring": N_("The city's trust data expires soon. Sync soon, and tell the city if no newer data arrives."),
    "status_ageing": N_("Sync soon."),
}
SYNC_SOON = TRUST_WARNINGS["status_ageing"]
STALE_WARNING = N_("Too old: cards cannot be checked. Sync the trust data now.")
DESK_NAMES = {"bank": N_("Bank desk"), "library": N_("Library desk"), "museum": N_("Museum desk"), "pharmacy": N_("Pharmacy desk")}


def render_desk(outcome: Outcome | None = None, status: int = 200) -> tuple[str, int]:
    state = current_app.extensions["cityid"]
    purpose = current_app.extensions["cityid_purpose"]
    seconds = current_app.config["RESULT_SECONDS"] or (30 if purpose.name == "bank" else 8)
    age = state.age()
    desk_name = gettext(DESK_NAMES[purpose.name]) if purpose.name in DESK_NAMES else gettext("%(name)s desk", name=purpose.name)
    return render_template("desk.html", outcome=outcome, purpose=purpose, desk_name=desk_name, trust_age=age,
                           trust_age_text=age_text(age.age), trust_warning=trust_warning(age.level, age.reason), trust_problem=as_sentence(state.problem), result_seconds=int(seconds),
                           upload_limit_mb=(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)), status


def trust_warning(level: str, reason: str | None) -> str | None:
    """What the banner adds when the desk can no longer check cards ("stale") or soon cannot ("ageing")."""
    if level == "stale":
        warning = STALE_WARNING if reason in (None, "status_ageing", "trust_expiring") else TRUST_WARNINGS.get(reason, STALE_WARNING)
    elif level == "ageing":
        warning = TRUST_WARNINGS.get(reason or "", SYNC_SOON)
    else:
        return None
    return gettext(warning)


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
