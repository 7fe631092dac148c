"""The trust publication partners sync: signed trust bundle, status list tokens, root public key.

Layout (what ``TrustStore.load(OUT, root_key=...)`` reads)::

    OUT/trust-bundle.jwt   OUT/root-key.pem   OUT/root-key.fingerprint   OUT/status/<n>.jwt

Everything is written into a temporary folder beside OUT and swapped in at the
end, so a crash leaves either the previous publication or the new one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from verifier_sdk.format.jws import jwk_thumbprint, public_key_to_jwk, sign
from verifier_sdk.format.statuslist import StatusList, make_status_list_token
from verifier_sdk.trust import root_key_fingerprint

from .config import CityConfig
from .destination import MARKER, city_identity, marker_bytes, sweep_temporaries
from .files import fsync_dir, recover_dir, replace_dir, write_file
from .keys import KeyStore
from .registry import Registry

BUNDLE_TYP = "cityid-trust+jwt"
STATUS_BITS = 2


def status_lists(registry: Registry) -> dict[int, StatusList]:
    lists = {}
    for list_no, capacity in registry.status_lists():
        status_list = StatusList.empty(capacity, STATUS_BITS)
        for idx, status in registry.statuses(list_no):
            status_list[idx] = status
        lists[list_no] = status_list
    return lists


def bundle_claims(registry: Registry, keys: KeyStore, config: CityConfig, version: int, now: int) -> dict[str, Any]:
    issuer_keys = [{"kid": k.kid, "alg": k.alg, "jwk": public_key_to_jwk(keys.issuing_key(k.kid).public_key()),
                    "not_before": k.not_before, "not_after": k.not_after, "withdrawn": k.withdrawn}
                   for k in registry.issuing_keys()]
    lists = [{"uri": config.status_list_uri(n), "path": f"status/{n}.jwt"} for n, _ in registry.status_lists()]
    return {"iss": config.issuer, "version": version, "iat": now, "issuer_keys": issuer_keys, "status_lists": lists,
            "publication_url": config.publication_url}


def publish(registry: Registry, keys: KeyStore, config: CityConfig, out_dir: Path, now: int) -> Path:
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(out_dir)
    identity = city_identity(registry)
    sweep_temporaries(out_dir, identity, f".{out_dir.name}.publishing-")
    with registry.transaction():  # a version number is spent even if the write below fails: never reused
        version = int(registry.meta("bundle_version") or 0) + 1
        registry.set_meta("bundle_version", str(version))
    root = keys.root_key()
    root_jwk = public_key_to_jwk(root.public_key())
    current = registry.current_key()
    signing_key = keys.issuing_key(current.kid)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.publishing-", dir=out_dir.parent))
    try:
        write_file(tmp / MARKER, marker_bytes(identity))  # first, so a killed publish's leftover is recognisably ours
        (tmp / "status").mkdir()
        for list_no, status_list in status_lists(registry).items():
            token = make_status_list_token(
                status_list, sub=config.status_list_uri(list_no), iss=config.issuer, kid=current.kid,
                private_key=signing_key, iat=now, ttl=config.status_list_ttl,
                exp=now + config.status_list_lifetime_hours * 3600)
            write_file(tmp / "status" / f"{list_no}.jwt", token.encode("ascii"))
        bundle = sign({"typ": BUNDLE_TYP, "kid": jwk_thumbprint(root_jwk)}, bundle_claims(registry, keys, config, version, now), root, "ES256")
        write_file(tmp / "trust-bundle.jwt", bundle.encode("ascii"))
        pem = root.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        write_file(tmp / "root-key.pem", pem)
        write_file(tmp / "root-key.fingerprint", (root_key_fingerprint(root.public_key()) + "\n").encode("ascii"))
        for path in [*tmp.rglob("*.jwt"), tmp / "root-key.pem", tmp / "root-key.fingerprint", tmp / MARKER]:
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
        fsync_dir(tmp / "status")
        fsync_dir(tmp)
        tmp.chmod(0o755)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
