"""Keys at rest: what one passphrase guess costs an attacker who holds a key file.

Each guess against a sealed key file is one full scrypt derivation (the cache of
derived keys is cleared before every guess, as an attacker has none).  The
PBKDF2 PEM earlier versions wrote is timed beside it, interleaved, for the ratio.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from issuer import keys

from .report import Family, Row
from .timing import Stats, interleaved, ratios

PASSPHRASE = b"benchmark passphrase, not a secret"
WRONG = b"a wrong guess of the passphrase"
RUNS = {"smoke": 2, "quick": 3, "full": 7}
GOAL_MS = 100.0


def run(mode: str) -> Family:
    n, r, p = keys.SCRYPT["n"], keys.SCRYPT["r"], keys.SCRYPT["p"]
    family = Family("keys", f"Keys at rest: one passphrase guess against a key file (scrypt n=2^{n.bit_length() - 1}, "
                            f"r={r}, p={p}: {128 * n * r // 2**20} MiB)")
    key = ec.generate_private_key(ec.SECP256R1())
    sealed = keys.seal(keys.private_key_der(key), PASSPHRASE, "private key")
    legacy = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.BestAvailableEncryption(PASSPHRASE))

    def guess_sealed() -> None:
        keys._derived.clear()  # an attacker has no cache
        try:
            keys.unseal(sealed, WRONG, "private key", "key")
        except keys.KeyStoreError:
            pass

    def guess_legacy() -> None:
        try:
            serialization.load_pem_private_key(legacy, WRONG)
        except ValueError:
            pass

    runs = interleaved({"sealed": guess_sealed, "legacy": guess_legacy}, number=1, repeat=RUNS[mode])
    keys._derived.clear()
    sealed_ms = Stats.of(runs["sealed"]).scaled(1e3)
    family.rows.append(Row("guess against a sealed key file (scrypt envelope)", sealed_ms, "ms",
                           goal=f">= {GOAL_MS:.0f} ms", met=sealed_ms.min >= GOAL_MS, headline=True))
    family.rows.append(Row("guess against an earlier version's PEM (PKCS#8, PBKDF2)",
                           Stats.of(runs["legacy"]).scaled(1e3), "ms"))
    family.rows.append(Row("sealed / PEM cost per guess", ratios(runs["sealed"], runs["legacy"]), "x"))
    return family
