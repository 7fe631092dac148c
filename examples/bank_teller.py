"""Bank teller: check a city ID card before opening an account.

    python examples/bank_teller.py --trust trust/ --root-key city-root.pem "$(cat id.txt)"
    python examples/bank_teller.py --trust trust/ --root-key city-root.pem card-photo.png

Prints the holder's name, date of birth and card number, or why the card was refused.
"""

import sys

from desk import run

from verifier_sdk import VerifiedCredential


def show(card: VerifiedCredential) -> None:
    claims = card.claims
    print(f"  Name:          {claims['given_name']} {claims['family_name']}")
    print(f"  Date of birth: {claims['birthdate']}")
    print(f"  Card number:   {claims['card_number']}")


if __name__ == "__main__":
    sys.exit(run("bank", show, __doc__))
