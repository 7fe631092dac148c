"""Pharmacy counter: does the city's prescription-discount program apply to this card holder?

    python examples/pharmacy.py --trust trust/ --root-key city-root.pem "$(cat perks.txt)"

Scan the card's *perks* QR code.  The pharmacy learns only "eligible or not".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verifier_sdk import TrustStore, VerificationError, Verifier


def scanned_text(value: str) -> str:
    if value == "-":
        return sys.stdin.read().strip()
    if value.lower().endswith((".png", ".jpg", ".jpeg")) and Path(value).is_file():
        from verifier_sdk.imaging import decode_image  # pip install 'cityid[image]'

        return decode_image(Path(value).read_bytes())
    return value.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trust", required=True, help="trust folder")
    parser.add_argument("--root-key", required=True, help="the city's pinned root public key")
    parser.add_argument("card", help="QR text, '-' for stdin, or a PNG/JPEG photo")
    args = parser.parse_args()

    trust = TrustStore.load(args.trust, root_key=args.root_key)
    try:
        card = Verifier(trust, purpose="pharmacy").verify(scanned_text(args.card))
    except VerificationError as err:
        print(f"REFUSED ({err.code}): {err.message}\nWhat to do: {err.advice}")
        return 1
    eligible = card.claims["rx_eligible"]
    print("VALID city ID card")
    print(f"  Prescription discount: {'APPLIES' if eligible else 'does not apply'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
