"""The vault's period keys in a PKCS#11 token (an HSM city): made there, used there, destroyed there.

Each period key is a 256-bit generic secret key (``CKK_GENERIC_SECRET``) labelled
``cityid-vault-period-2026-12``: a token object, private, sensitive, never
extractable, not copyable, not modifiable, and good for ``CKM_SHA256_HMAC`` only
(see ``hsm.Token.new_hmac_key``).  What the vault derives its keys from is the
HMAC-SHA256, computed inside the token, of a fixed message naming the period: the
vault's code is the same as with sealed files, and the key itself never leaves
the token.  Destroying a period key is ``C_DestroyObject``; from then on no one,
with or without the PIN, can make the token compute that value again.

Nothing is cached: every call asks the token, so a key that another process (or
``destroy-all``) destroyed is gone here at once.
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
        labels = self.token.secret_key_labels()
        return oldest_first(label[len(PERIOD_KEY_PREFIX):] for label in labels if label.startswith(PERIOD_KEY_PREFIX))

    def key(self, period: str, create: bool = False) -> bytes | None:
        """The period's key material; a new key if ``create`` (under the vault's lock: see ``Vault.open``)."""
        label = period_key_label(period)
        ids = self.token.secret_key_ids(label)
        if len(ids) > 1:  # made at once by processes that do not share one city's lock: not one city's token
            raise KeyStoreError(f"the token holds {len(ids)} vault keys of period {period}",
                                "a vault's token serves one city: stop any other city using it; that period's "
                                "records stay unreadable until it is shredded (its residents enrol again)")
        if not ids:
            if not create:
                return None
            ids = [self.token.new_hmac_key(label)]
        return self.token.hmac_sha256(label, ids[0], _MESSAGE + period.encode("ascii"))

    def destroy(self, period: str) -> bool:
        return self.token.destroy_secret_keys(period_key_label(period)) > 0

    def close(self) -> None:
        if self._owns_session:
            self.token.close()
