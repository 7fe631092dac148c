"""Pharmacy counter: does the city's prescription-discount program apply to this card holder?

    python examples/pharmacy.py --trust trust/ --root-key city-root.pem "$(cat perks.txt)"

Scan the card's *perks* QR code.  The pharmacy learns only "eligible or not".
"""

import sys

from desk import run

from verifier_sdk import VerifiedCredential


def show(card: VerifiedCredential) -> None:
    eligible = card.claims["rx_eligible"]
    print(f"  Prescription discount: {'APPLIES' if eligible else 'does not apply'}")


if __name__ == "__main__":
    sys.exit(run("pharmacy", show, __doc__))
