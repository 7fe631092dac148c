"""Pharmacy counter: does the city's prescription-discount program apply to this card holder?

    python examples/pharmacy.py --trust trust/ --root-key city-root.pem "$(cat rx.txt)"

Scan the card's *rx* QR code.  The pharmacy learns "eligible or not" and the programme's
routing numbers (the same on every card), never a name.
"""

import sys

from desk import run

from verifier_sdk import VerifiedCredential


def show(card: VerifiedCredential) -> None:
    eligible = card.claims["rx_eligible"]
    print(f"  Prescription discount: {'APPLIES' if eligible else 'does not apply'}")
    if eligible and "rx_bin" in card.claims:
        print(f"  Bill to: BIN {card.claims['rx_bin']}  PCN {card.claims.get('rx_pcn', '-')}  "
              f"Group {card.claims.get('rx_group', '-')}")


if __name__ == "__main__":
    sys.exit(run("pharmacy", show, __doc__))
