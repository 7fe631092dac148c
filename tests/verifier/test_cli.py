"""cityid-verify: text, standard input and real QR images; exit codes 0 / 1 / 2."""

import json
import subprocess
import sys
import time

import pytest
import segno

from factory import RX, pem
from verifier_sdk import encode_qr
from verifier_sdk.cli import main


@pytest.fixture
def publication(city, tmp_path):
    # The CLI checks with the real clock: give the card a long life and fresh status data.
    return city.publish(tmp_path / "pub", status_token=city.status_token(iat=time.time() - 60))


def card_text(city):
    return encode_qr(city.card("culture", exp=time.time() + 86400 * 30))


def test_valid_text(city, publication, capsys):
    code = main(["--trust", str(publication), "--purpose", "museum", card_text(city)])
    out = capsys.readouterr()
    assert code == 0 and "VALID" in out.out and "gold" in out.out
    assert "warning: using the root key found beside the trust data" in out.err


def test_json_output_and_pinned_root(city, publication, tmp_path, capsys):
    (tmp_path / "root.pem").write_text(pem(city.root.public_key()))
    code = main(["--trust", str(publication), "--root-key", str(tmp_path / "root.pem"), "--purpose", "pharmacy", "--json",
                 encode_qr(city.card("rx", exp=time.time() + 86400 * 30))])
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    assert json.loads(out.out)["claims"] == RX


def test_invalid_exit_1_with_code(city, publication, capsys):
    city.status[7] = 1
    (publication / "status" / "1.jwt").write_text(city.status_token(iat=time.time() - 60))
    code = main(["--trust", str(publication), "--purpose", "museum", "--json", card_text(city)])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["valid"] is False and result["code"] == "revoked" and result["claims"] == {}


def test_garbage_is_invalid_not_a_crash(publication, capsys):
    assert main(["--trust", str(publication), "CID1:%%%"]) == 1
    assert "(malformed)" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path, publication, capsys):
    assert main(["--trust", str(tmp_path / "missing"), "x"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["--purpose", "museum", "x"])
    assert info.value.code == 2
    (publication / "root-key.pem").unlink()
    assert main(["--trust", str(publication), "x"]) == 2


def test_image_input_decoded_with_zxing(city, publication, tmp_path, capsys):
    image = tmp_path / "card.png"
    segno.make(card_text(city), error="q", micro=False).save(image, scale=6, border=4)
    assert main(["--trust", str(publication), "--purpose", "museum", str(image)]) == 0
    blank = tmp_path / "blank.png"
    segno.make("not a card").save(blank, scale=1)
    (tmp_path / "fake.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert main(["--trust", str(publication), str(tmp_path / "fake.jpg")]) == 1
    assert "not a readable PNG or JPEG" in capsys.readouterr().out


def test_stdin_from_a_hand_held_scanner(city, publication):
    # The installed entry point, as a desk would run it; the scanner ends with Enter.
    result = subprocess.run(
        [sys.executable, "-m", "verifier_sdk.cli", "--trust", str(publication), "--purpose", "museum", "-"],
        input=card_text(city) + "\r\n", capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Membership tier: gold" in result.stdout


def test_caps_lock_scan_and_the_two_refusal_states(city, publication, capsys, monkeypatch):
    text = card_text(city)
    assert main(["--trust", str(publication), "--purpose", "museum", text.lower()]) == 0  # Caps Lock on the scanner
    monkeypatch.setattr("sys.stdin", __import__("io").TextIOWrapper(__import__("io").BytesIO((text.lower() + "\n").encode())))
    assert main(["--trust", str(publication), "--purpose", "museum", "-"]) == 0
    assert "VALID  This city ID card is valid." in capsys.readouterr().out
    assert main(["--trust", str(publication), "--purpose", "bank", text]) == 1  # the wrong face: not the card's fault
    out = capsys.readouterr().out
    assert out.startswith("CANNOT CHECK  (purpose_not_satisfied)") and "What to do: Ask the holder" in out
    city.status[7] = 1
    (publication / "status" / "1.jwt").write_text(city.status_token(iat=time.time() - 60))
    assert main(["--trust", str(publication), "--purpose", "museum", "--json", text]) == 1
    assert json.loads(capsys.readouterr().out)["state"] == "not_valid"
    assert main(["--trust", str(publication), "--purpose", "museum", text]) == 1
    assert capsys.readouterr().out.startswith("NOT VALID  (revoked) The city has revoked this card.")


def test_trust_pointed_at_a_city_folder_says_which_folder(city, tmp_path, capsys):
    city.publish(tmp_path / "city" / "publication")
    assert main(["--trust", str(tmp_path / "city"), "--root-key", str(tmp_path / "city" / "publication" / "root-key.pem"), "x"]) == 2
    err = capsys.readouterr().err
    assert "publication folder" in err and str(tmp_path / "city" / "publication") in err
