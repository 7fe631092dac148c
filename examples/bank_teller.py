"""Bank teller: check a city ID card before opening an account.

    python examples/bank_teller.py --trust trust/ --root-key city-root.pem "$(cat id.txt)"
    python examples/bank_teller.py --trust trust/ --root-key city-root.pem card-photo.png

Prints the holder's name, date of birth and card number, or why the card was refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verifier_sdk import TrustStore, VerificationError, Verifier


def scanned_text(value: str) -> str:
    """QR text as typed by a hand-held scanner, '-' for stdin, or a photo of the card."""
    if value == "-":
        return sys.stdin.read().strip()
    if value.lower().endswith((".png", ".jpg", ".jpeg")) and Path(value).is_file():
        from verifier_sdk.imaging import decode_image  # pip install 'cityid[image]'

        return decode_image(Path(value).read_bytes())
    return value.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trust", required=True, help="trust folder (the city's publication, kept fresh by 'cityid-verify sync')")
    parser.add_argument("--root-key", required=True, help="the city's root public key, pinned when the branch was set up")
    parser.add_argument("card", help="QR text, '-' for stdin, or a PNG/JPEG photo")
    args = parser.parse_args()

    trust = TrustStore.load(args.trust, root_key=args.root_key)
    try:
        card = Verifier(trust, purpose="bank").verify(scanned_text(args.card))
    except VerificationError as err:
        print(f"REFUSED ({err.code}): {err.message}\nWhat to do: {err.advice}")
        return 1
    claims = card.claims  # only the bank purpose's claims: name, date of birth, card number
    print("VALID city ID card")
    print(f"  Name:          {claims['given_name']} {claims['family_name']}")
    print(f"  Date of birth: {claims['birthdate']}")
    print(f"  Card number:   {claims['card_number']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
