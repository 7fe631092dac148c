"""Where a city keeps its keys and its registry, as ``city.json`` says.

``key_store``: empty for key files in ``keys/`` (the embedded default), or a
``pkcs11:`` URI for keys in an HSM.  ``registry``: empty for ``registry.sqlite`` in
the city folder, or a ``postgresql://`` URL for one registry shared by many centres.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from .config import CityConfig
from .errors import KeyStoreError
from .hsm import TokenKeyStore, is_token_uri, parse_uri, pin_from_env_or_prompt
from .keys import KeyStore
from .registry import Registry
from .registry_pg import PgRegistry, is_postgres_url


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
