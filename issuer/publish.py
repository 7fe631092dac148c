"""The trust bundle the offline root signs, and the trust publication partners sync.

Two steps, two keys:

- :func:`sign_bundle` (the root ceremony: yearly, and after any key change) signs the key
  list (kid, role, window, withdrawn), the status list paths and an expiry with the root
  key, read from its removable drive.  The signed bundle is kept in the city folder.
- :func:`publish` (daily) signs fresh status lists with the status key and copies the
  signed bundle as it is: it never needs the root key.  Before anything is swapped in,
  the SDK loads the new folder exactly as a desk would, and a publication a desk would
  refuse is never written.

Layout (what ``TrustStore.load(OUT, root_key=...)`` reads)::

    OUT/trust-bundle.jwt   OUT/root-key.pem   OUT/root-key.fingerprint   OUT/status/<n>.jwt
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from verifier_sdk.errors import VerificationError
from verifier_sdk.format.jws import jwk_thumbprint, public_key_to_jwk, sign
from verifier_sdk.format.statuslist import StatusList, make_status_list_token
from verifier_sdk.freshness import EXPIRY_WARNING, freshness
from verifier_sdk.timeutil import to_datetime
from verifier_sdk.trust import BUNDLE_FILE, BUNDLE_TYP, ROLE_STATUS, TrustStore, parse_bundle, root_key_fingerprint, verify_trust_bundle

from .config import CityConfig
from .destination import MARKER, city_identity, marker_bytes, sweep_temporaries
from .errors import IssuerError
from .files import fsync_dir, recover_dir, replace_dir, write_atomic, write_file
from .keys import KeyStore
from .registry import Registry

STATUS_BITS = 2
#: In the city folder: the bundle the root signed last, and the key changes waiting for its signature.
SIGNED_BUNDLE = "trust-bundle.jwt"
UNSIGNED_BUNDLE = "trust-bundle-unsigned.json"
#: Status lists declared ahead of use, so a new list opened between ceremonies is already vouched for.
SPARE_STATUS_LISTS = 1


def status_lists(registry: Registry) -> dict[int, StatusList]:
    lists = {}
    for list_no, capacity in registry.status_lists():
        status_list = StatusList.empty(capacity, STATUS_BITS)
        for idx, status in registry.statuses(list_no):
            status_list[idx] = status
        lists[list_no] = status_list
    return lists


def bundle_claims(registry: Registry, keys: KeyStore, config: CityConfig) -> dict[str, Any]:
    """The key list and status lists as the registry has them now (no version, iat or exp yet: the root adds those)."""
    issuer_keys = [{"kid": k.kid, "role": k.role, "alg": k.alg,
                    "jwk": public_key_to_jwk(keys.issuing_key(k.kid).public_key()),
                    "not_before": k.not_before, "not_after": k.not_after, "withdrawn": k.withdrawn}
                   for k in registry.issuing_keys()]
    numbers = [n for n, _ in registry.status_lists()]
    numbers += range(max(numbers) + 1, max(numbers) + 1 + SPARE_STATUS_LISTS)
    lists = [{"uri": config.status_list_uri(n), "path": f"status/{n}.jwt"} for n in numbers]
    return {"iss": config.issuer, "issuer_keys": issuer_keys, "status_lists": lists, "publication_url": config.publication_url}


def write_unsigned_bundle(registry: Registry, keys: KeyStore, config: CityConfig, city_dir: Path) -> Path:
    """After a key change: the bundle that must be signed with the root key (``cityid-issuer sign-bundle``)."""
    path = Path(city_dir) / UNSIGNED_BUNDLE
    write_atomic(path, (json.dumps(bundle_claims(registry, keys, config), indent=1) + "\n").encode("ascii"), mode=0o600)
    return path


def sign_bundle(registry: Registry, keys: KeyStore, config: CityConfig, city_dir: Path, root_key: Any, now: int) -> dict[str, Any]:
    """Sign the waiting key changes (or, at the yearly ceremony, the current key list) with the root key."""
    pending = Path(city_dir) / UNSIGNED_BUNDLE
    claims = json.loads(pending.read_text("ascii")) if pending.is_file() else bundle_claims(registry, keys, config)
    with registry.transaction():  # a version number is spent even if the write below fails: never reused
        version = int(registry.meta("bundle_version") or 0) + 1
        registry.set_meta("bundle_version", str(version))
    claims = {"iss": claims["iss"], "version": version, "iat": now, "exp": now + config.bundle_lifetime_days * 86400,
              **{k: v for k, v in claims.items() if k != "iss"}}
    header = {"typ": BUNDLE_TYP, "kid": jwk_thumbprint(public_key_to_jwk(root_key.public_key()))}
    token = sign(header, claims, root_key, "ES256")
    parse_bundle(verify_trust_bundle(token, keys.root_public_key()), root_key.public_key())  # what desks will check
    write_atomic(Path(city_dir) / SIGNED_BUNDLE, token.encode("ascii"), mode=0o600)
    pending.unlink(missing_ok=True)
    return claims


def signed_bundle(keys: KeyStore, city_dir: Path) -> tuple[str, dict[str, Any]]:
    """The bundle the root signed last (text, parsed claims); IssuerError when there is none or it is damaged."""
    try:
        text = (Path(city_dir) / SIGNED_BUNDLE).read_text("ascii")
        root = keys.root_public_key()
        return text, parse_bundle(verify_trust_bundle(text, root), root)
    except FileNotFoundError:
        raise IssuerError("the city has no signed trust bundle yet",
                          "sign one with the root key: cityid-issuer sign-bundle DIR --root-key PATH") from None
    except (VerificationError, UnicodeDecodeError):
        raise IssuerError("the signed trust bundle in the city folder is damaged or not signed by the city's root key",
                          "sign a new one: cityid-issuer sign-bundle DIR --root-key PATH") from None


def publish(registry: Registry, keys: KeyStore, config: CityConfig, city_dir: Path, out_dir: Path, now: int,
            notices: list[str] | None = None) -> Path:
    """Write the publication: the signed bundle as it is, fresh status lists signed by the status key."""
    notices = notices if notices is not None else []
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(out_dir)
    identity = city_identity(registry)
    sweep_temporaries(out_dir, identity, f".{out_dir.name}.publishing-")
    bundle_text, bundle = signed_bundle(keys, city_dir)
    if now >= bundle["exp"]:
        raise IssuerError(f"the signed trust bundle expired on {to_datetime(bundle['exp']):%Y-%m-%d}: every desk would refuse it",
                          "hold the root ceremony: cityid-issuer sign-bundle DIR --root-key PATH, then publish")
    if bundle["exp"] - now < EXPIRY_WARNING.total_seconds():
        notices.append(f"the signed trust bundle expires on {to_datetime(bundle['exp']):%Y-%m-%d}: "
                       "hold the root ceremony (cityid-issuer sign-bundle) before then")
    if (Path(city_dir) / UNSIGNED_BUNDLE).is_file():
        notices.append("key changes are waiting for the root signature and are not published yet: run cityid-issuer sign-bundle")
    status_key = _status_key(bundle, now)
    lists, capacity = status_lists(registry), config.status_list_capacity
    declared = {int(Path(path).stem): uri for uri, path in bundle["status_lists"]}
    undeclared = sorted(set(lists) - set(declared))
    if undeclared:
        notices.append(f"status list(s) {', '.join(map(str, undeclared))} are not in the signed trust bundle: desks cannot check "
                       "the cards on them until you run cityid-issuer sign-bundle")
    root_public = keys.root_public_key()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.publishing-", dir=out_dir.parent))
    try:
        write_file(tmp / MARKER, marker_bytes(identity))  # first, so a killed publish's leftover is recognisably ours
        (tmp / "status").mkdir()
        for list_no, uri in sorted(declared.items()):
            status_list = lists.get(list_no) or StatusList.empty(capacity, STATUS_BITS)  # a spare list: nobody on it yet
            token = make_status_list_token(
                status_list, sub=uri, iss=config.issuer, kid=status_key, private_key=keys.issuing_key(status_key),
                iat=now, ttl=config.status_list_ttl, exp=now + config.status_list_lifetime_hours * 3600)
            write_file(tmp / "status" / f"{list_no}.jwt", token.encode("ascii"))
        write_file(tmp / BUNDLE_FILE, bundle_text.encode("ascii"))
        pem = root_public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        write_file(tmp / "root-key.pem", pem)
        write_file(tmp / "root-key.fingerprint", (root_key_fingerprint(root_public) + "\n").encode("ascii"))
        _self_check(tmp, root_public, now, timedelta(hours=config.status_list_lifetime_hours))
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


def _status_key(bundle: dict[str, Any], now: int) -> str:
    """The newest status key the signed bundle vouches for now (a rotation counts once the root signed it)."""
    usable = [k.kid for k in bundle["keys"] if k.role == ROLE_STATUS and not k.withdrawn
              and (k.not_before is None or k.not_before <= now) and (k.not_after is None or now <= k.not_after)]
    if not usable:
        raise IssuerError("the signed trust bundle lists no usable status key, so no desk would accept a status list",
                          "run cityid-issuer rotate-key DIR --role status, then sign-bundle")
    return max(usable, key=lambda kid: int(kid[1:]))


def _self_check(folder: Path, root_public: Any, now: int, lifetime: timedelta) -> None:
    """Load the new publication with the SDK, as a desk would; refuse to publish what it would refuse."""
    try:
        store = TrustStore.load(folder, root_key=root_public, now=now, remember=False)
    except VerificationError as err:
        raise IssuerError(f"the new publication would be refused by every desk ({err.code}): {err.message}",
                          "nothing was replaced; please report this") from None
    report = freshness(store, lifetime, now)
    if not report.can_check:
        raise IssuerError(f"the new publication would be refused by desks ({report.reason}): {report.message}",
                          "nothing was replaced; check the status list capacity in city.json")
