"""The vault's period keys in a PKCS#11 token (an HSM city): made there, used there, destroyed there.

Each period key is a 256-bit generic secret key (``CKK_GENERIC_SECRET``) labelled
``cityid-vault-period-2026-12``: a token object, private, sensitive, never
extractable, not copyable, not modifiable, and good for ``CKM_SHA256_HMAC`` only
(see ``hsm.Token.new_hmac_key``).  What the vault derives its keys from is the
HMAC-SHA256, computed inside the token, of a fixed message naming the period: the
vault's code is the same as with sealed files, and the key itself never leaves
the token.  Destroying a period key is ``C_DestroyObject``; from then on the token
cannot compute that value again (a software token's old object files may still hold the
key, sealed under the PIN: see the README's SoftHSM2 note).

Nothing is cached between calls: each call asks the token, so a key that another
process (or ``destroy-all``) destroyed is gone here at the next call.  Within one
call (one ``Vault.put`` of a whole batch chunk, one ``get``) the vault asks once per
period, so a key destroyed during that call is still used until it returns.
"""

from __future__ import annotations

from .errors import KeyStoreError
from .hsm import LABEL_PREFIX, Token, TokenURI
from .periodkeys import check_period, oldest_first

PERIOD_KEY_PREFIX = LABEL_PREFIX + "vault-period-"
#: What the token's HMAC is computed over: fixed, and naming the period, so no other use of the key yields it.
_MESSAGE = b"cityid vault period key v1\0"


def period_key_label(period: str) -> str:
    return PERIOD_KEY_PREFIX + check_period(period)


class TokenPeriodKeys:
    """Period keys in a token, with the methods of ``periodkeys.PeriodKeys`` (the ``PeriodKeyStore`` protocol)."""

    def __init__(self, token: Token, owns_session: bool = False) -> None:
        self.token = token
        self.uri: TokenURI = token.uri
        self._owns_session = owns_session

    @classmethod
    def open(cls, uri: TokenURI, pin: str, pin_env: str, city_token: bool) -> "TokenPeriodKeys":
        """Log in to ``uri``: the city's own token, or a token of the vault's own (which must hold nothing else)."""
        token = Token(uri, pin, pin_env)
        if not city_token and any(label.startswith(LABEL_PREFIX) and not label.startswith(PERIOD_KEY_PREFIX)
                                  for label in token.labels()):
            token.close()
            raise KeyStoreError("the token named by vault.key_store holds a city's signing keys",
                                "give the vault a token of its own, or leave vault.key_store empty to keep the "
                                "period keys in the city's token")
        return cls(token, owns_session=True)

    def periods(self) -> list[str]:
        return oldest_first(self.names())

    def names(self) -> list[str]:
        labels = self.token.secret_key_labels()
        return sorted({label[len(PERIOD_KEY_PREFIX):] for label in labels if label.startswith(PERIOD_KEY_PREFIX)})

    def identity(self) -> str:
        return f"the token {self.uri.token!r} (serial number {self.token.serial})"

    def key(self, period: str, create: bool = False) -> bytes | None:
        """The period's key material (its lowest-id key's); a new key if ``create`` (under the vault's lock)."""
        found = self.candidates(period, create)
        return found[0] if found else None

    def candidates(self, period: str, create: bool = False) -> list[bytes]:
        """The material of every key of the period, lowest id first (two processes without one city's lock may
        each have made one: every record opens under exactly one, which its GCM tag tells)."""
        label = period_key_label(period)
        ids = self.token.secret_key_ids(label)
        if not ids and create:
            ids = [self.token.new_hmac_key(label)]
        found = (self.token.hmac_sha256(label, ident, _MESSAGE + period.encode("ascii")) for ident in ids)
        return [material for material in found if material is not None]

    def destroy(self, name: str) -> bool:
        return self.token.destroy_secret_keys(PERIOD_KEY_PREFIX + name) > 0

    def close(self) -> None:
        if self._owns_session:
            self._owns_session = False  # closed once, however many owners say so
            self.token.close()
