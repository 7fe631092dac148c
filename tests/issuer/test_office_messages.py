"""The card office's small mistakes get the right words: a bad --issuer, revoking twice, the demo's own data."""

from __future__ import annotations

import contextlib
import io

from issuer.cli import main
from issuer.demo import SAMPLE_PEOPLE


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_init_with_an_http_issuer_names_the_argument_not_a_missing_city_json(tmp_path):
    code, _, err = cli("init", str(tmp_path / "city"), "--issuer", "http://id.example.gov", "--insecure-demo")
    assert code == 1
    assert "nothing was created -- pass an https URL to --issuer" in err and "city.json" not in err
    assert not (tmp_path / "city").exists()


def test_revoking_twice_says_it_already_was(demo_city):
    number = demo_city.issue_card({"given_name": "Ana", "family_name": "Pérez", "birthdate": "1990-01-31"}).card_number
    demo_city.close()
    city = str(demo_city.dir)
    assert cli("revoke", city, number)[1].startswith("Card revoked.")
    code, out, _ = cli("revoke", city, number)
    assert code == 0 and out.startswith("The card was already revoked; nothing changed.")
    code, out, _ = cli("revoke", city, number, "--suspend")
    assert code == 1


def test_suspending_twice_and_reinstating_a_valid_card_say_so(demo_city):
    number = demo_city.issue_card({"given_name": "Ana", "family_name": "Pérez", "birthdate": "1990-01-31"}).card_number
    demo_city.close()
    city = str(demo_city.dir)
    assert cli("revoke", city, number, "--reinstate")[1].startswith("The card was already valid")
    assert cli("revoke", city, number, "--suspend")[1].startswith("Card suspended.")
    assert cli("revoke", city, number, "--suspend")[1].startswith("The card was already suspended")
    assert cli("revoke", city, number, "--reinstate")[1].startswith("Card reinstated.")


def test_the_demo_puts_vietnamese_family_names_in_family_name():
    vietnamese = [p for p in SAMPLE_PEOPLE if "Nguyễn" in p.get("given_name", "") + p.get("family_name", "")]
    assert vietnamese and all(p["family_name"].startswith("Nguyễn") for p in vietnamese)
