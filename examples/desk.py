"""What every desk example shares: its command line, reading the scan, and a refusal.

The part that differs between a bank, a museum and a pharmacy is a few lines in each
example; this module is the integration most partners will copy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from verifier_sdk import TrustStore, VerificationError, VerifiedCredential, Verifier, clean_scan
from verifier_sdk.errors import NOT_VALID


def scanned_text(value: str) -> str:
    """QR text as typed by a hand-held scanner, '-' for stdin, or a photo of the card.

    ``clean_scan`` drops the scanner's whitespace and undoes Caps Lock (``cid1:...``):
    ``Verifier.verify`` itself takes only the exact QR text.
    """
    if value == "-":
        return clean_scan(sys.stdin.read())
    if value.lower().endswith((".png", ".jpg", ".jpeg")) and Path(value).is_file():
        from verifier_sdk.imaging import decode_image  # pip install 'cityid[image]'

        return decode_image(Path(value).read_bytes())
    return clean_scan(value)


def run(purpose: str, show: Callable[[VerifiedCredential], None], description: str) -> int:
    """Verify one scan for ``purpose``; ``show`` prints an accepted card. Exit status 0 valid, 1 refused."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--trust", required=True, help="trust folder (the city's publication, kept fresh by 'cityid-verify sync')")
    parser.add_argument("--root-key", required=True, help="the city's root public key, pinned when the desk was set up")
    parser.add_argument("card", help="QR text, '-' for stdin, or a PNG/JPEG photo")
    args = parser.parse_args()

    try:
        # Checks the bundle's signature, date and version (an older folder than last time is refused).
        trust = TrustStore.load(args.trust, root_key=args.root_key)
    except VerificationError as err:  # the desk's trust data is at fault, never the card
        print(f"CANNOT CHECK ({err.code}): the trust data was refused: {err.message}\nWhat to do: {err.advice}")
        return 1
    try:
        card = Verifier(trust, purpose=purpose).verify(scanned_text(args.card))
    except VerificationError as err:
        # NOT VALID: the card is refused. CANNOT CHECK: not the card's fault (trust data, wrong QR code, a misread).
        verdict = "NOT VALID" if err.state == NOT_VALID else "CANNOT CHECK"
        print(f"{verdict} ({err.code}): {err.message}\nWhat to do: {err.advice}")
        return 1
    print("VALID: This city ID card is valid.")  # the same words at every desk
    show(card)  # card.claims holds only what this purpose may see
    return 0
