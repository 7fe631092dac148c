"""Card numbers: 12 digits, the last a Luhn check digit (catches typos at a bank desk)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

LENGTH = 12


def check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # the digit next to the check digit is doubled
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


def is_valid(number: str) -> bool:
    return len(number) == LENGTH and number.isascii() and number.isdigit() and check_digit(number[:-1]) == number[-1]


def from_seed(seed: bytes) -> str:
    """A card number derived from a seed (first digit never 0, so it survives spreadsheets)."""
    value = int.from_bytes(seed[:16], "big")
    body = str(1 + value % 9) + str(value // 9 % 10 ** (LENGTH - 2)).zfill(LENGTH - 2)
    return body + check_digit(body)


def random_number() -> str:
    return from_seed(secrets.token_bytes(16))


def derived_number(secret: bytes, batch: bytes, resident: bytes, attempt: int) -> str:
    """The number a batch assigns to a resident: the same on every rerun, so a resumed batch reprints the same card."""
    seed = hmac.new(secret, b"assign\0" + batch + resident + attempt.to_bytes(4, "big"), hashlib.sha256)
    return from_seed(seed.digest())
