"""What a hand-held scanner typed, made into what :meth:`Verifier.verify` reads.

``Verifier.verify`` is strict: it takes the exact QR text.  Scanners add a trailing
newline or spaces, and a scanner typing into a computer with Caps Lock on (or set to
lowercase) turns ``CID2:...`` into ``cid2:...``.  The QR text is base45, whose alphabet
has no lowercase letters, so uppercasing a scan that starts like a card's code gives
back exactly what was printed.  The CLI, the partner app and the examples call this.
"""

from __future__ import annotations

import re

# "cid" + a format version + ":", in any case (the version check itself stays in the decoder).
_CARD_PREFIX = re.compile(r"cid[0-9a-z]{1,8}:", re.IGNORECASE)
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def clean_scan(text: str) -> str:
    """``text`` without surrounding whitespace; a card's QR text typed in lowercase is uppercased.

    Anything else (a compact SD-JWT, whose base64url is case-sensitive) is returned as typed.
    """
    text = text.strip()
    if _CARD_PREFIX.match(text):
        return text.translate(_ASCII_UPPER)  # lossless: base45 has no lowercase letters
    return text
