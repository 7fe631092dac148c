"""Where ``publish`` may write: an empty folder, or an earlier publication of this same city.

``publish`` replaces its target folder as a whole, so a wrong target is lost data:
``publish city/ city/`` would delete the city's keys and registry, ``publish city/ www/``
a web root.  Each publication therefore carries a marker naming the city (a random
identity kept in the registry, not the issuer URL: test cities often share the default
one), and anything that is not empty and not marked as ours is refused untouched.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Callable

from .errors import IssuerError
from .registry import Registry

MARKER = ".cityid-publication"
_IDENTITY = "city_identity"
_PUBLICATION_SUFFIXES = (".jwt", ".pem", ".fingerprint", ".json")


def city_identity(registry: Registry) -> str:
    """This city's random identity (created on first use; call inside no transaction)."""
    identity = registry.meta(_IDENTITY)
    if identity is None:
        with registry.transaction():
            identity = registry.meta(_IDENTITY) or secrets.token_hex(16)
            registry.set_meta(_IDENTITY, identity)
    return identity


def marker_bytes(identity: str) -> bytes:
    return json.dumps({"cityid_publication": 1, "city": identity}).encode("ascii")


def _is_ours(folder: Path, identity: str) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text("ascii"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("city") == identity


def check_destination(city_dir: Path, out_dir: Path, identity: Callable[[], str]) -> Path:
    """The absolute target, or IssuerError if publishing there could destroy anything.

    ``identity`` is only asked for when the target is not empty, so a refused city folder is not even read.
    """
    city = Path(city_dir).resolve()
    target = Path(out_dir).resolve()
    if target == city or city in target.parents:
        raise IssuerError(f"{out_dir} is inside the city folder {city_dir}; publishing there would replace the city's "
                          "keys or registry", "publish into a folder outside the city folder, e.g. publication/")
    if target in city.parents:
        raise IssuerError(f"{out_dir} contains the city folder {city_dir}; publishing there would delete the city",
                          "publish into a new, empty folder outside the city folder")
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise IssuerError(f"{out_dir} exists and is not a folder", "publish into a new or empty folder")
        if any(target.iterdir()) and not _is_ours(target, identity()):
            raise IssuerError(f"{out_dir} is not empty and is not an earlier publication of this city; "
                              "publishing replaces the whole folder, so it was left untouched",
                              "publish into a new or empty folder (then copy it where it is served)")
    return target


def _is_our_leftover(folder: Path, identity: str) -> bool:
    if folder.is_symlink() or not folder.is_dir():
        return False
    marker = folder / MARKER
    if marker.exists() and marker.stat().st_size:
        return _is_ours(folder, identity)
    # Killed before its marker was written (an empty marker), or while deleting the swapped-out old copy.
    return all(p == marker or p.is_dir() or p.suffix in _PUBLICATION_SUFFIXES for p in folder.rglob("*"))


def sweep_temporaries(target: Path, identity: str, prefix: str) -> None:
    """Remove this city's own half-written publications left beside ``target`` by a killed publish."""
    for leftover in target.parent.glob(prefix + "*"):
        if _is_our_leftover(leftover, identity):
            shutil.rmtree(leftover, ignore_errors=True)
