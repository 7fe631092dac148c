"""Where a city keeps its keys and its registry, as ``city.json`` says.

``key_store``: empty for key files in ``keys/`` (the embedded default), or a
``pkcs11:`` URI for keys in an HSM.  ``registry``: empty for ``registry.sqlite`` in
the city folder, or a ``postgresql://`` URL for one registry shared by many centres.
``vault.key_store``: where the vault's period keys are, which follows ``key_store``:
sealed files in a folder beside the city folder, or (an HSM city) the city's token or
a token of the vault's own.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from .config import CityConfig
from .errors import KeyStoreError
from .hsm import PIN_ENV, VAULT_PIN_ENV, TokenKeyStore, is_token_uri, parse_uri, pin_from_env_or_prompt, same_token
from .keys import KeyStore
from .periodkeys import PeriodKeys, PeriodKeyStore, resolve_key_store
from .registry import Registry
from .registry_pg import PgRegistry, is_postgres_url
from .vault_token import TokenPeriodKeys


def uses_token(config: CityConfig) -> bool:
    return is_token_uri(config.key_store)


def check_root_token(where: str | Path | None) -> str | None:
    """Where an HSM city's root key is made: a token named by its URI, or (None) the city's own token."""
    if where is None:
        return None
    if not is_token_uri(str(where)):
        raise KeyStoreError("in a city whose keys are in an HSM the root key is made in a token too",
                            "name the root token as --root-key 'pkcs11:token=LABEL?module-path=...', "
                            "or omit --root-key to keep it in the city's token")
    parse_uri(str(where))
    return str(where)


def create_keys(city_dir: Path, config: CityConfig, passphrase: bytes | None) -> Any:
    if is_postgres_url(config.registry):  # an unusable registry is refused before the token gets keys
        PgRegistry.check_new(config.registry)
    if uses_token(config):
        return TokenKeyStore.create(config.key_store, pin_from_env_or_prompt())
    return KeyStore.create(city_dir, passphrase)


def open_keys(city_dir: Path, config: CityConfig, passphrase: bytes | None) -> Any:
    if uses_token(config):
        return TokenKeyStore(config.key_store, pin_from_env_or_prompt())
    return KeyStore(city_dir, passphrase)


def open_period_keys(city_dir: Path, config: CityConfig, keys: Any = None) -> PeriodKeyStore:
    """The vault's period keys, where city.json puts them.

    ``keys`` is the city's open key store: its passphrase unseals the files, its session is reused when the
    period keys are in the city's own token.  None (``destroy-all``) opens sealed files without the passphrase
    (they are destroyed unread), and a token with its PIN (a token destroys private objects only after login).
    """
    if not uses_token(config):
        return _sealed_period_keys(city_dir, config, keys.passphrase if keys else None)
    city_uri = parse_uri(config.key_store)
    uri = parse_uri(config.vault.key_store) if config.vault.key_store else city_uri
    if isinstance(keys, TokenKeyStore) and same_token(keys.uri, uri):
        return TokenPeriodKeys(keys.token)
    if same_token(uri, city_uri):
        return TokenPeriodKeys.open(uri, pin_from_env_or_prompt(), PIN_ENV, city_token=True)
    pin = pin_from_env_or_prompt(VAULT_PIN_ENV, "the vault's token")
    return TokenPeriodKeys.open(uri, pin, VAULT_PIN_ENV, city_token=False)


def _sealed_period_keys(city_dir: Path, config: CityConfig, passphrase: bytes | None) -> PeriodKeys:
    return PeriodKeys(resolve_key_store(city_dir, config.vault.key_store), passphrase)


def new_city_period_keys(city_dir: Path, config: CityConfig, passphrase: bytes | None) -> PeriodKeyStore | None:
    """A new city's period keys, checked before the city makes any key: usable, and none in them yet.

    A store that already holds period keys is another city's (or an earlier city's of the same name): sharing
    it, each city's records would open with the other's keys, and either's destroy-all would destroy both.
    None when the vault is off or in the city's own token (``create_keys`` refuses a token that holds any).
    """
    if not config.vault.enabled or (uses_token(config) and not config.vault.key_store):
        return None
    keys = open_period_keys(city_dir, config) if uses_token(config) else _sealed_period_keys(city_dir, config, passphrase)
    if keys.periods():
        keys.close()
        raise KeyStoreError("the vault's key store already holds period keys of another city",
                            "give the new city's vault a key store of its own (vault.key_store in city.json, "
                            "or another city folder name); the other city destroys its keys with its destroy-all")
    return keys


def desk(city_dir: Path) -> str:
    """This centre's copy of the city (machine and folder): its batches are its own in a shared registry."""
    return f"{socket.gethostname()}:{Path(city_dir).resolve()}"


def create_registry(city_dir: Path, config: CityConfig, secret: bytes) -> Any:
    if is_postgres_url(config.registry):
        return PgRegistry.create(config.registry, secret, config.status_list_capacity, desk(city_dir))
    return Registry.create(city_dir, secret, config.status_list_capacity)


def open_registry(city_dir: Path, config: CityConfig, secret: bytes) -> Any:
    if is_postgres_url(config.registry):
        return PgRegistry.open(config.registry, secret, desk(city_dir))
    return Registry.open(city_dir, secret)
