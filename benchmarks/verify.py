"""Figure 1: verification time against the signature floor and against the `sd-jwt` package.

Per face, five functions run interleaved in one process:
- ours: ``Verifier.verify(qr_text)`` (decode, signature, claims, status, purpose);
- ours from the compact SD-JWT text (no QR decoding), for the comparison with sd-jwt;
- the floor: ``public_key.verify(der, signing_input, ECDSA(SHA256()))`` with `cryptography`,
  the DER signature and the signing input computed outside the timed call;
- ``sd_jwt.verifier.SDJWTVerifier`` (0.10.4) on the same compact SD-JWT: signature and
  disclosures only (it checks no exp, typ or status);
- ``decode_qr`` alone (the QR transport's share).
Ratios are taken run by run (run i of ours against run i of the floor), then summarised.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from verifier_sdk import TrustStore, Verifier, decode_qr
from verifier_sdk.format.strict import b64url_decode

from .fixtures import NOW, BenchCity
from .report import Family, Row
from .timing import Stats, interleaved, ratios

FLOOR_GOAL = 1.5
FACES = {"culture": "museum", "rx": "pharmacy", "id": "bank"}


def floor_call(sd_jwt: str, public_key: Any) -> Callable[[], None]:
    """The bare ECDSA P-256 check of the credential's own signature."""
    header_b64, payload_b64, signature_b64 = sd_jwt.split("~")[0].split(".")
    raw = b64url_decode(signature_b64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    return lambda: public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))


def sd_jwt_call(sd_jwt: str, public_jwk: dict[str, Any]) -> Callable[[], Any] | None:
    """The `sd-jwt` package verifying the same credential, or None when it is not installed."""
    try:
        from jwcrypto.jwk import JWK
        from sd_jwt.verifier import SDJWTVerifier
    except ImportError:
        return None
    key = JWK.from_json(json.dumps(public_jwk))
    return lambda: SDJWTVerifier(sd_jwt, lambda iss, header: key).get_verified_payload()


COUNTS = {"smoke": (3, 2), "quick": (150, 7), "full": (400, 15)}  # calls per run, runs


def call_by_call(ours: Callable[[], Any], floor: Callable[[], Any], pairs: int) -> Stats:
    """Ratio of medians with single calls alternating (ours, floor, ours, ...), in 5 slices for min/max."""
    slices = []
    clock = time.perf_counter_ns
    for _ in range(5):
        a, b = [], []
        for _ in range(max(1, pairs // 5)):
            t0 = clock()
            ours()
            t1 = clock()
            floor()
            b.append(clock() - t1)
            a.append(t1 - t0)
        slices.append(statistics.median(a) / statistics.median(b))
    return Stats.of(slices)


def run(mode: str) -> Family:
    number, repeat = COUNTS[mode]
    city = BenchCity()
    family = Family("verify", "Verification (µs per card, median of runs; ratios run by run)")
    with tempfile.TemporaryDirectory() as tmp:
        trust = TrustStore.load(city.publish(Path(tmp)), root_key=Path(tmp) / "root-key.pem")
    for face, purpose in FACES.items():
        sd_jwt = {"culture": city.culture, "rx": city.rx, "id": city.id_face}[face]()
        text = city.qr(sd_jwt)
        verifier = Verifier(trust, purpose=purpose)
        verifier.verify(text, now=NOW)  # fails loudly if the fixture is wrong
        fns: dict[str, Callable[[], Any]] = {
            "ours": lambda: verifier.verify(text, now=NOW),
            "floor": floor_call(sd_jwt, city.key.public_key()),
            "ours_compact": lambda: verifier.verify(sd_jwt, now=NOW),
            "decode_qr": lambda: decode_qr(text),
        }
        theirs = sd_jwt_call(sd_jwt, city.public_jwk())
        if theirs is not None:
            theirs()
            fns["sd_jwt"] = theirs
        runs = interleaved(fns, number=number, repeat=repeat)
        us = {name: Stats.of(values).scaled(1e6) for name, values in runs.items()}
        to_floor = ratios(runs["ours"], runs["floor"])
        family.rows += [
            Row(f"{face}: Verifier.verify(QR text), {len(text)} chars", us["ours"], "µs", headline=True),
            Row(f"{face}: ECDSA P-256 verify alone (floor)", us["floor"], "µs", headline=True),
            Row(f"{face}: ours / floor", to_floor, "x", goal=f"<= {FLOOR_GOAL}", met=to_floor.median <= FLOOR_GOAL),
            Row(f"{face}: Verifier.verify(compact SD-JWT)", us["ours_compact"], "µs"),
            Row(f"{face}: decode_qr alone", us["decode_qr"], "µs"),
        ]
        alternate = call_by_call(fns["ours"], fns["floor"], pairs=number * repeat // 2)
        family.rows.append(Row(f"{face}: ours / floor, call by call", alternate, "x", headline=True,
                               note="each call timed alone, ours and the floor alternating: the floor no longer runs warm in a tight loop"))
        if theirs is not None:
            vs_theirs = ratios(runs["sd_jwt"], runs["ours"])
            family.rows += [
                Row(f"{face}: sd-jwt 0.10.4 SDJWTVerifier (compact)", us["sd_jwt"], "µs", headline=True),
                Row(f"{face}: sd-jwt time / ours (QR text)", vs_theirs, "x", goal="> 1 (ours faster)", met=vs_theirs.median > 1),
            ]
        else:
            family.notes.append("sd-jwt is not installed (pip install 'cityid[test]'): no peer comparison")
    family.notes.append(
        "floor = public_key.verify(der, signing_input, ECDSA(SHA256())) as a caller writes it (the ECDSA object "
        "is built in the call); ours checks the same signature plus QR decoding, strict parsing, key window, "
        "typ, exp, status list and purpose"
    )
    family.notes.append("sd-jwt checks signature and disclosures only: no exp/nbf/iat, typ, status or purpose")
    return family
