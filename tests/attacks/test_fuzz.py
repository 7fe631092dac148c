"""Property-based fuzzing of every door an attacker can reach: only VerificationError, ever.

Targets: decode_qr, Verifier.verify, StatusList.from_claim, TrustStore.load.  Random input finds
little against strict decoders, so most targets start from real, valid cards and trust data and
mutate them (flip characters and bits, splice, duplicate and swap segments; or re-sign hostile JSON
with the real keys, to reach the checks that run after the signature).

Profiles (registered in conftest.py): ``ci`` (default, 200 examples per target) and
``long`` (HYPOTHESIS_PROFILE=long, 100,000 per target).
"""

from __future__ import annotations

import copy
import json
import os
import zlib
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from factory import STATUS_URI, new_key
from verifier_sdk import Purpose, StatusList, TrustStore, VerificationError, Verifier, decode_qr, encode_qr
from verifier_sdk.format import jws
from verifier_sdk.format.base45 import ALPHABET as B45
from verifier_sdk.format.base45 import b45decode, b45encode
from verifier_sdk.format.qr import PREFIX
from verifier_sdk.format.qr_dictionary import DICTIONARY
from verifier_sdk.format.sdjwt import Disclosable
from verifier_sdk.format.statuslist import StatusIndexError
from verifier_sdk.format.strict import b64url_decode, b64url_encode

FUZZ = settings(settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci")))
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: Characters mutations draw from: both alphabets, the separators, and the usual trouble.
POOL = B64 + B45 + "~.:=+/ \t\r\n\x00\x7f\u00e9\u00a0\ufeff\ud800\U0001f600{}[]\",\\"
ANY_PURPOSE = Purpose("any", claims={"museum_tier", "age_over_65", "rx_eligible", "given_name", "card_number", "tags"})

# -- strategies ------------------------------------------------------------------------------------

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([0, -1, 2**31, 2**63, 10**30, 10**400 // 10**300]),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.sampled_from(["ES256", "none", "HS256", "k1", "dc+sd-jwt", "sha-256", "_sd", "...", "https://id.example.gov", STATUS_URI]),
)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


def _slots(obj: Any, depth: int = 0):
    """Every (container, key) in a JSON tree, for mutation."""
    if isinstance(obj, dict):
        for key in list(obj):
            yield obj, key
            yield from _slots(obj[key], depth + 1)
    elif isinstance(obj, list):
        for index in range(len(obj)):
            yield obj, index
            yield from _slots(obj[index], depth + 1)


@st.composite
def mutated_json(draw, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with one to three values replaced, deleted or added."""
    obj = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        slots = [(obj, None)] + list(_slots(obj))
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if key is None or action == "add":
            target = container if key is None else container[key]
            if isinstance(target, dict):
                target[draw(st.sampled_from(["_sd", "_sd_alg", "iss", "exp", "nbf", "iat", "vct", "status", "cnf", "idx", "uri", "kid", "alg", "version"]) | st.text(max_size=8))] = draw(json_values)
            elif isinstance(target, list):
                target.append(draw(json_values))
        elif action == "delete":
            del container[key]
        else:
            container[key] = draw(json_values)
    return obj


@st.composite
def mutated_text(draw, seeds: list[str]) -> str:
    """A real input after one to four edits of the kinds scanners, scratches and attackers make."""
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        kind = draw(st.sampled_from(["flip", "flip", "delete", "insert", "duplicate", "swap", "splice", "truncate"]))
        i = draw(st.integers(0, n))
        if kind == "flip" and n:
            i = min(i, n - 1)
            text = text[:i] + draw(st.sampled_from(POOL)) + text[i + 1 :]
        elif kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 16)) :]
        elif kind == "insert":
            text = text[:i] + draw(st.text(alphabet=POOL, min_size=1, max_size=8)) + text[i:]
        elif kind in ("duplicate", "swap"):
            sep = draw(st.sampled_from(["~", ".", ":"]))
            parts = text.split(sep)
            a, b = draw(st.integers(0, len(parts) - 1)), draw(st.integers(0, len(parts) - 1))
            if kind == "duplicate":
                parts.insert(b, parts[a])
            else:
                parts[a], parts[b] = parts[b], parts[a]
            text = sep.join(parts)
        elif kind == "splice":
            other = draw(st.sampled_from(seeds))
            text = text[:i] + other[draw(st.integers(0, len(other))) :]
        else:
            text = text[:i]
    return text


@st.composite
def mutated_qr_binary(draw, seeds: list[str]) -> str:
    """A real QR text with its base45-decoded bytes flipped, cut, spliced or extended."""
    packing = bytearray(b45decode(draw(st.sampled_from(seeds))[len(PREFIX) :]))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["bit", "bit", "byte", "cut", "insert", "splice"]))
        i = draw(st.integers(0, max(0, len(packing) - 1)))
        if kind == "bit" and packing:
            packing[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and packing:
            packing[i] = draw(st.integers(0, 255))
        elif kind == "cut":
            del packing[i : i + draw(st.integers(1, 8))]
        elif kind == "insert":
            packing[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            other = b45decode(draw(st.sampled_from(seeds))[len(PREFIX) :])
            packing = packing[:i] + other[draw(st.integers(0, len(other))) :]
    return PREFIX + b45encode(bytes(packing))


# -- seeds: real cards of a real test city ----------------------------------------------------------------


class Seeds:
    def __init__(self, desk) -> None:
        self.desk = desk
        holder = new_key()
        disclosed = {"museum_tier": Disclosable("gold"), "age_over_65": Disclosable(False), "tags": [Disclosable("a"), "b"]}
        self.compact = [desk.card("culture"), desk.card("id"), desk.card(claims=disclosed), desk.bound(desk.card(holder_key=holder), holder)]
        self.qr = [encode_qr(card) for card in self.compact]
        self.trust = desk.trust()
        self.verifiers = {name: Verifier(self.trust, purpose) for name, purpose in
                          (("museum", "museum"), ("bank", "bank"), ("any", ANY_PURPOSE), ("kb", desk.kb_purpose))}
        # What each purpose may ever see: the claims of the genuine seeds it accepts.
        self.genuine: dict[str, list[dict]] = {name: [] for name in self.verifiers}
        for name, verifier in self.verifiers.items():
            for card in self.compact:
                try:
                    self.genuine[name].append(dict(self.verify(name, card).claims))
                except VerificationError:
                    pass
        assert all(self.genuine.values()), self.genuine
        self.header = json.loads(b64url_decode(self.compact[0].split(".")[0]))
        self.payloads = [json.loads(b64url_decode(card.split(".")[1])) for card in self.compact]
        self.disclosures = [card.split("~")[1:-1] for card in self.compact]

    def verify(self, purpose: str, text: Any):
        return self.verifiers[purpose].verify(text, now=self.desk.now, nonce=self.desk.nonce, aud=self.desk.aud)


@pytest.fixture(scope="module")
def seeds(module_desk) -> Seeds:
    return Seeds(module_desk)


def only_typed_errors(fn, *args: Any) -> Any:
    """Call ``fn``; a VerificationError is fine, anything else fails the property."""
    try:
        return fn(*args)
    except VerificationError as err:
        assert err.code and err.message and err.advice
        return err


purposes = st.sampled_from(["museum", "bank", "any", "kb"])

# -- decode_qr ------------------------------------------------------------------------------------------------


@FUZZ
@given(text=st.one_of(st.text(), st.text(alphabet=B45).map(PREFIX.__add__), st.binary().map(lambda b: PREFIX + b45encode(b))))
def test_fuzz_decode_qr_random(text):
    result = only_typed_errors(decode_qr, text)
    if isinstance(result, str):  # lossless: what decodes re-encodes to the same SD-JWT
        assert decode_qr(encode_qr(result)) == result


@FUZZ
@given(records=st.lists(st.binary(max_size=64), max_size=8), signature=st.binary(max_size=80), flags=st.integers(0, 255), tail=st.binary(max_size=4))
def test_fuzz_decode_qr_structured(records, signature, flags, tail):
    """Well-formed packings of arbitrary records: deep into the record and DEFLATE parsing."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while n > 0x7F:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        return bytes(out + bytes([n]))

    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)
    stream = b"".join(varint(len(r)) + r for r in records)
    packing = bytes([flags]) + varint(len(signature)) + signature + deflate.compress(stream) + deflate.flush() + tail
    only_typed_errors(decode_qr, PREFIX + b45encode(packing))


@FUZZ
@given(data=st.data())
def test_fuzz_decode_qr_mutated_cards(seeds, data):
    text = data.draw(st.one_of(mutated_text(seeds.qr), mutated_qr_binary(seeds.qr)))
    only_typed_errors(decode_qr, text)


# -- Verifier.verify ------------------------------------------------------------------------------------------


def check_verify(seeds: Seeds, purpose: str, text: Any) -> None:
    result = only_typed_errors(seeds.verify, purpose, text)
    if not isinstance(result, VerificationError):  # accepted: then it says exactly what a genuine card says
        assert dict(result.claims) in seeds.genuine[purpose], "a mutated card was accepted with other claims"


@FUZZ
@given(purpose=purposes, text=st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")), st.binary()))
def test_fuzz_verify_random(seeds, purpose, text):
    check_verify(seeds, purpose, text)


@FUZZ
@given(purpose=purposes, data=st.data())
def test_fuzz_verify_mutated_cards(seeds, purpose, data):
    text = data.draw(st.one_of(mutated_text(seeds.compact), mutated_text(seeds.qr), mutated_qr_binary(seeds.qr)))
    check_verify(seeds, purpose, text)


@FUZZ
@given(purpose=purposes, which=st.integers(0, 3), as_qr=st.booleans(), data=st.data())
def test_fuzz_verify_signed_hostile_json(seeds, purpose, which, as_qr, data):
    """The city's own key signs mutated headers and payloads: every check after the signature runs."""
    header = data.draw(st.one_of(st.just(seeds.header), mutated_json(seeds.header)))
    payload = data.draw(mutated_json(seeds.payloads[which]))
    try:
        card = seeds.desk.signed(header, payload, seeds.disclosures[which])
    except (ValueError, TypeError):
        assume(False)  # not JSON-serialisable (e.g. a huge int beyond the digit limit)
    if which == 3:  # keep the KB-JWT shape: re-bind to the new presentation
        card = seeds.desk.bound(card, new_key())
    if as_qr:
        try:
            card = encode_qr(card)
        except VerificationError:
            assume(False)
    only_typed_errors(seeds.verify, purpose, card)


# -- StatusList.from_claim ---------------------------------------------------------------------------------------

lst_values = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=64).map(b64url_encode),
    st.binary(max_size=256).map(lambda b: b64url_encode(zlib.compress(b))),
    st.tuples(st.binary(max_size=64), st.integers(0, 20)).map(lambda t: b64url_encode(zlib.compress(t[0])[: t[1]])),
    st.sampled_from(["eNrbuRgAAhcBXQ", "eNo76fITAAPfAgc", ""]),
)


@FUZZ
@given(claim=st.one_of(
    json_values,
    st.fixed_dictionaries({"bits": st.one_of(st.sampled_from([1, 2, 4, 8]), json_leaves), "lst": st.one_of(lst_values, json_leaves)},
                          optional={"aggregation_uri": json_values}),
))
def test_fuzz_status_list_from_claim(claim):
    result = only_typed_errors(StatusList.from_claim, claim)
    if isinstance(result, StatusList):
        size = len(result)
        assert size >= 1
        for idx in (0, size - 1):
            assert 0 <= result[idx] < (1 << result.bits)
        for idx in (size, -1, 2**64):
            with pytest.raises(StatusIndexError):
                result[idx]


# -- TrustStore.load ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle_folder(module_desk, tmp_path_factory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("fuzz-trust") / "publication"
    module_desk.city.publish(folder, status_token=module_desk.status_token())
    return {"folder": folder, "bundle": (folder / "trust-bundle.jwt").read_text(), "root": str(module_desk.root_file),
            "status": (folder / "status" / "1.jwt").read_text()}


def load_trust(state: dict[str, Any]) -> Any:
    return TrustStore.load(state["folder"], root_key=state["root"], min_version=1)


@FUZZ
@given(content=st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")), st.data()))
def test_fuzz_trust_bundle_file(bundle_folder, content):
    if not isinstance(content, bytes):  # st.data(): a mutation of the real bundle
        content = content.draw(mutated_text([bundle_folder["bundle"]])).encode("utf-8", "surrogatepass")
    (bundle_folder["folder"] / "trust-bundle.jwt").write_bytes(content)
    try:
        result = only_typed_errors(load_trust, bundle_folder)
        assert isinstance(result, VerificationError) or content.strip() == bundle_folder["bundle"].encode()
    finally:
        (bundle_folder["folder"] / "trust-bundle.jwt").write_text(bundle_folder["bundle"])


@FUZZ
@given(data=st.data(), mutate_status=st.booleans())
def test_fuzz_trust_bundle_signed_and_mutated(module_desk, bundle_folder, data, mutate_status):
    """Structurally valid bundles, signed by the pinned root, with hostile values; and hostile status lists."""
    city = module_desk.city
    claims = data.draw(mutated_json(city.bundle_claims()))
    header = {"typ": "cityid-trust+jwt", "kid": jws.jwk_thumbprint(jws.public_key_to_jwk(city.root.public_key()))}
    try:
        bundle = jws.sign(header, claims, city.root, "ES256")
        status = bundle_folder["status"]
        if mutate_status:
            status_claims = json.loads(b64url_decode(status.split(".")[1]))
            status = jws.sign({"typ": "statuslist+jwt", "kid": "s1"}, data.draw(mutated_json(status_claims)), city.keys["s1"], "ES256")
    except (ValueError, TypeError):
        assume(False)
    (bundle_folder["folder"] / "trust-bundle.jwt").write_text(bundle)
    (bundle_folder["folder"] / "status" / "1.jwt").write_text(status)
    try:
        trust = only_typed_errors(load_trust, bundle_folder)
        if isinstance(trust, TrustStore):  # a store that loaded must also verify (or refuse) cards cleanly
            for purpose in ("museum", "bank"):
                only_typed_errors(Verifier(trust, purpose).verify, module_desk.qr(), module_desk.now)
    finally:
        (bundle_folder["folder"] / "trust-bundle.jwt").write_text(bundle_folder["bundle"])
        (bundle_folder["folder"] / "status" / "1.jwt").write_text(bundle_folder["status"])
