"""The desk's language: English plus the city's ten designated languages (Flask-Babel catalogues).

The language comes from the ``LANGUAGE`` setting when it is set, else from the
browser's ``Accept-Language``, else English.  Catalogues live in ``translations/``;
``./run translations`` extracts, updates and compiles them.
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from flask import Flask, current_app, request
from flask_babel import Babel, get_locale

#: Catalogue name -> the language's name in itself (for people configuring a desk).
LANGUAGES = {
    "en": "English",
    "es": "Español",
    "zh_Hans": "中文（简体）",
    "ru": "Русский",
    "bn": "বাংলা",
    "ht": "Kreyòl ayisyen",
    "ko": "한국어",
    "ar": "العربية",
    "ur": "اردو",
    "fr": "Français",
    "pl": "Polski",
}


def language_for(tag: str | None) -> str | None:
    """The catalogue for a language tag (``es-MX`` -> ``es``; any Chinese -> Simplified), or None."""
    if not tag:
        return None
    parts = tag.replace("_", "-").split("-")
    primary = parts[0].lower()
    if primary == "zh":
        return "zh_Hans"  # the city publishes Simplified Chinese
    return primary if primary in LANGUAGES else None


def select_language() -> str:
    configured = current_app.config.get("LANGUAGE")
    if configured:
        return language_for(configured) or "en"
    for tag, _quality in request.accept_languages:  # best first
        language = language_for(tag)
        if language:
            return language
    return "en"


def init_babel(app: Flask) -> None:
    """Attach Flask-Babel; refuse a configured language the desk has no catalogue for."""
    configured = app.config.get("LANGUAGE")
    if configured and language_for(configured) is None:
        raise ValueError(f"LANGUAGE {configured!r} is not one of the desk's languages: {', '.join(LANGUAGES)}")
    Babel(app, locale_selector=select_language)
    app.context_processor(_page_language)


def _page_language() -> dict[str, Any]:
    locale: Locale = get_locale() or Locale("en")
    tag = "zh-Hans" if str(locale) == "zh_Hans" else str(locale).replace("_", "-")
    return {"page_lang": tag, "page_dir": locale.text_direction}
