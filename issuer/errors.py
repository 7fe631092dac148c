"""Why an issuer operation failed: one exception type with plain words and a next step.

Messages never contain claim values (names, birth dates, card numbers): they end
up in terminals, logs and support tickets.
"""

from __future__ import annotations


class IssuerError(Exception):
    """An issuer operation was refused or failed; ``advice`` says what to do next."""

    def __init__(self, message: str, advice: str = "") -> None:
        self.message = message
        self.advice = advice
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} ({self.advice})" if self.advice else self.message


class ConfigError(IssuerError):
    """The city configuration is missing or not acceptable."""


class KeyStoreError(IssuerError):
    """A key could not be read, decrypted or written."""


class RegistryError(IssuerError):
    """The card registry is missing, corrupted or from another version."""


class CardNotFoundError(IssuerError):
    """No card with that number is in the registry."""


class InputError(IssuerError):
    """The input file as a whole cannot be read: not CSV or JSON Lines, a missing or misspelt column, an encoding."""
