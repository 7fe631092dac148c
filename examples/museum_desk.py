"""Museum front desk: is this a valid member card, which tier, and does the senior discount apply?

    python examples/museum_desk.py --trust trust/ --root-key city-root.pem "$(cat culture.txt)"

Scan the card's *culture* QR code.  The museum never learns the holder's name or birth date:
age answers are plain yes/no, true at the moment of the scan.
"""

import sys

from desk import run

from verifier_sdk import VerifiedCredential


def show(card: VerifiedCredential) -> None:
    tier = card.claims.get("museum_tier")
    print(f"  Membership tier: {tier}" if tier else "  This card has no museum membership: standard admission applies.")
    print(f"  Senior discount (65+): {'yes' if card.claims.get('age_over_65') else 'no'}")


if __name__ == "__main__":
    sys.exit(run("museum", show, __doc__))
