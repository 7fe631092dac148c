"""The desk in the city's ten designated languages besides English (Flask-Babel): catalogues complete, page and messages translated."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

import verifier_sdk
from verifier_sdk.app.i18n import LANGUAGES, language_for

TRANSLATIONS = Path(verifier_sdk.__file__).parent / "app" / "translations"
CATALOGUES = sorted(set(LANGUAGES) - {"en"})
REVIEW = "needs-review"
RTL = {"ar", "ur"}
STOPS = (".", "。", "۔", "।", "!", "?", "؟")


def source_msgids() -> set[str]:
    """Every string the desk can show, straight from the source (the same rules as ./run translations)."""
    method_map = [("**.py", "python"), ("app/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "N_": None, "lazy_gettext": None}
    root = Path(verifier_sdk.__file__).parent
    return {msgid for _file, _line, msgid, _comments, _context in extract_from_dir(str(root), method_map, keywords=keywords) if msgid}


def catalogue(language: str):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=language)


def test_the_ten_languages_are_there():
    assert CATALOGUES == sorted(["es", "zh_Hans", "ru", "bn", "ht", "ko", "ar", "ur", "fr", "pl"])


@pytest.mark.parametrize("language", CATALOGUES)
def test_every_string_is_translated_in_every_catalogue(language):
    wanted = source_msgids()
    assert len(wanted) > 80
    cat = catalogue(language)
    translated = {m.id for m in cat if m.id and m.string and not m.fuzzy}
    assert wanted - translated == set(), f"{language}: missing translations (run ./run translations, then translate)"
    assert [m.id for m in cat if m.id and m.fuzzy] == []  # fuzzy entries are ignored by gettext: never ship one
    assert list(cat.check()) == []  # placeholders such as %(limit)s kept


@pytest.mark.parametrize("language", CATALOGUES)
def test_translations_read_as_sentences_and_unchecked_ones_are_marked(language):
    for message in catalogue(language):
        if not message.id:
            continue
        if message.id.endswith("."):
            assert message.string.endswith(STOPS), (language, message.id, message.string)
        # Nobody fluent has checked these yet: each says so in the catalogue (a translator comment,
        # not the fuzzy flag, which would make gettext fall back to English).
        assert any(comment.startswith(REVIEW) for comment in message.user_comments) or message.id == "", message.id


@pytest.mark.parametrize("language", CATALOGUES)
def test_compiled_catalogues_match_their_po_files(language):
    """The .mo shipped in the package is the compiled .po (./run translations recompiles)."""
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(language))
    shipped = (TRANSLATIONS / language / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert {m.id: m.string for m in read_mo(io.BytesIO(shipped))} == {m.id: m.string for m in read_mo(io.BytesIO(compiled.getvalue()))}


def test_browser_language_chooses_the_catalogue():
    assert language_for("es-MX") == "es" and language_for("zh-CN") == "zh_Hans" and language_for("zh-Hant-TW") == "zh_Hans"
    assert language_for("pt-BR") is None and language_for("*") is None and language_for("ht") == "ht"


@pytest.mark.parametrize(("header", "lang", "verdict"), [
    ("es-ES,es;q=0.9", "es", "VÁLIDA"),
    ("ar", "ar", "صالحة"),
    ("ur-PK", "ur", "درست"),
    ("zh-CN,zh;q=0.9,en;q=0.5", "zh-Hans", "有效"),
    ("pt-BR,fr;q=0.8", "fr", "VALIDE"),
    ("pt-BR", "en", "VALID"),
])
def test_the_page_follows_accept_language(client, cards, header, lang, verdict):
    html = client.post("/verify", data={"qr": cards["id"]}, headers={"Accept-Language": header}).get_data(as_text=True)
    assert f'<html lang="{lang}" dir="{"rtl" if lang in RTL else "ltr"}">' in html
    assert f'<h1 id="verdict">{verdict}</h1>' in html
    assert "Okonkwo-Reyes" in html  # names are shown as printed, in any language


def test_configured_language_wins_over_the_browser(make_app, cards):
    client = make_app("museum", LANGUAGE="ko").test_client()
    html = client.post("/verify", data={"qr": cards["revoked"]}, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="ko" dir="ltr">' in html and "유효하지 않음" in html and "시에서 이 카드를 취소했습니다." in html
    body = client.post("/api/verify", json={"qr": cards["revoked"]}).get_json()
    assert body["code"] == "revoked" and body["message"] == "시에서 이 카드를 취소했습니다."  # the code stays the contract
    with pytest.raises(ValueError, match="not one of the desk's languages"):
        make_app("bank", LANGUAGE="tlh")


@pytest.mark.parametrize("language", CATALOGUES)
def test_no_english_left_on_a_translated_page(make_app, cards, tmp_path, language):
    """Every visible sentence of every state comes from the catalogue (none slips through in English)."""
    english = {m.id for m in catalogue(language) if m.id and m.id != m.string and len(m.id) > 12}
    pages = [make_app("bank", LANGUAGE=language).test_client().get("/"),
             make_app("bank", LANGUAGE=language).test_client().post("/verify", data={"qr": cards["id"]}),
             make_app("museum", LANGUAGE=language).test_client().post("/verify", data={"qr": cards["revoked"]}),
             make_app("bank", LANGUAGE=language).test_client().post("/verify", data={"qr": cards["culture"]}),
             make_app("bank", LANGUAGE=language, TRUST_DIR=str(tmp_path / "none")).test_client().post("/verify", data={"qr": cards["id"]})]
    for response in pages:
        html = response.get_data(as_text=True)
        visible = re.sub(r'<span class="technical" lang="en".*?</span>', "", html)  # the operator's English detail, marked lang="en"
        leaks = [text for text in english if text in visible]
        assert leaks == [], (language, leaks)
