"""resolve() has a fast path for payloads without disclosures (every printed card).

It must be exactly equivalent to the full RFC 9901 resolution: same claims, or the same
error.  The reference below is the full resolution as it stood before the fast path.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier_sdk.errors import DisclosureInvalidError, MalformedError, UnsupportedError
from verifier_sdk.format.sdjwt import ARRAY_DIGEST, DIGEST_ALGS, MAX_DEPTH, NEVER_DISCLOSABLE, SD, SD_ALG, Disclosure, digest, resolve


def reference_resolve(payload: dict[str, Any], encoded_disclosures) -> dict[str, Any]:
    """The full resolution, verbatim from before the fast path."""
    sd_alg = payload.get(SD_ALG, "sha-256")
    if not isinstance(sd_alg, str) or sd_alg not in DIGEST_ALGS:
        raise UnsupportedError(f"digest algorithm {str(sd_alg)[:20]!r} is not accepted")
    by_digest: dict[str, Disclosure] = {}
    for encoded in encoded_disclosures:
        key = digest(encoded, sd_alg)
        if key in by_digest:
            raise DisclosureInvalidError("the same disclosure is presented twice")
        by_digest[key] = Disclosure.parse(encoded)
    seen: set[str] = set()

    def take(key: Any) -> Disclosure | None:
        if not isinstance(key, str):
            raise DisclosureInvalidError("a digest is not a string")
        if key in seen:
            raise DisclosureInvalidError("a digest appears more than once")
        seen.add(key)
        return by_digest.get(key)

    def walk(value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise MalformedError("credential nested too deeply")
        if isinstance(value, dict):
            if depth and SD_ALG in value:
                raise DisclosureInvalidError("_sd_alg is only allowed at the top level")
            digests = value.get(SD, [])
            if not isinstance(digests, list):
                raise DisclosureInvalidError("_sd must be an array of digests")
            out = {name: walk(item, depth + 1) for name, item in value.items() if name not in (SD, SD_ALG)}
            for key in digests:
                disclosure = take(key)
                if disclosure is None:
                    continue
                if disclosure.name is None:
                    raise DisclosureInvalidError("an array-element disclosure is referenced from an object")
                if disclosure.name in out:
                    raise DisclosureInvalidError("a disclosure repeats a claim that already exists")
                if depth == 0 and disclosure.name in NEVER_DISCLOSABLE:
                    raise DisclosureInvalidError(f"{disclosure.name} must not be selectively disclosed")
                out[disclosure.name] = walk(disclosure.value, depth + 1)
            return out
        if isinstance(value, list):
            out_list = []
            for item in value:
                if isinstance(item, dict) and len(item) == 1 and ARRAY_DIGEST in item:
                    disclosure = take(item[ARRAY_DIGEST])
                    if disclosure is None:
                        continue
                    if disclosure.name is not None:
                        raise DisclosureInvalidError("an object-property disclosure is referenced from an array")
                    out_list.append(walk(disclosure.value, depth + 1))
                else:
                    out_list.append(walk(item, depth + 1))
            return out_list
        return value

    claims = walk(payload, 0)
    if not seen.issuperset(by_digest):
        raise DisclosureInvalidError("a disclosure is not referenced by the signed credential")
    return claims


def outcome(fn, payload, disclosures) -> tuple[str, str]:
    """('ok', canonical JSON with types kept apart) or (error class, message)."""
    try:
        result = fn(payload, disclosures)
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return type(exc).__name__, str(exc)
    return "ok", json.dumps(result, sort_keys=False, default=repr) + repr(_types(result))


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


# Keys and values chosen to hit every special case: _sd, _sd_alg, "..." digests, decoy-like strings.
KEYS = st.sampled_from(["iss", "exp", "status", "a", "b", SD, SD_ALG, ARRAY_DIGEST])
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "x", "sha-256", "sha-999", "abc"]),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(KEYS, inner, max_size=4),
        st.builds(lambda d: {ARRAY_DIGEST: d}, inner),
    ),
    max_leaves=20,
)
PAYLOADS = st.dictionaries(KEYS, JSON, max_size=6)


@settings(max_examples=1500, deadline=None)
@given(PAYLOADS, st.sampled_from([(), []]))
def test_fast_path_equals_full_resolution(payload, disclosures):
    assert outcome(resolve, payload, disclosures) == outcome(reference_resolve, payload, disclosures)


def _nested(depth: int, kind: str, leaf: Any = 1) -> Any:
    value: Any = leaf
    for _ in range(depth):
        value = {"a": value} if kind == "dict" else [value]
    return value


@pytest.mark.parametrize("kind", ["dict", "list"])
@pytest.mark.parametrize("depth", range(MAX_DEPTH - 2, MAX_DEPTH + 3))
@pytest.mark.parametrize("leaf", [1, {}, [], {"x": 1}])
def test_fast_path_depth_limit_is_the_same(kind, depth, leaf):
    payload = {"deep": _nested(depth, kind, leaf)}
    assert outcome(resolve, payload, ()) == outcome(reference_resolve, payload, ())


@pytest.mark.parametrize(
    "payload",
    [
        {"iss": "x", "status": {"status_list": {"idx": 1, "uri": "u"}}, "age_over_18": True, "n": None, "f": 1.5},
        {"a": [1, {"...": "d"}]},
        {"a": [{"...": "d", "x": 1}]},
        {"a": {"_sd": ["d", "d"]}},
        {"a": {"_sd": "d"}},
        {"a": {"_sd_alg": "sha-256"}},
        {"_sd_alg": "sha-256", "a": 1},
        {"_sd_alg": "md5"},
        {"a": ({"b": 1},)},  # non-JSON containers go the full way
    ],
)
def test_fast_path_edge_cases(payload):
    assert outcome(resolve, payload, ()) == outcome(reference_resolve, payload, ())


def test_fast_path_result_is_a_copy():
    payload = {"status": {"status_list": {"idx": 1}}, "tags": ["a"]}
    claims = resolve(payload, ())
    assert claims == payload and claims is not payload
    assert claims["status"] is not payload["status"] and claims["tags"] is not payload["tags"]
