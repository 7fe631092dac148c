"""RFC 9285 base45: the specification's examples, round trips, and every strictness rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verifier_sdk.errors import MalformedError
from verifier_sdk.format.base45 import ALPHABET, b45decode, b45encode

RFC_9285_EXAMPLES = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("data", "text"), RFC_9285_EXAMPLES)
def test_rfc_9285_examples(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


def test_edges_of_the_value_ranges() -> None:
    assert b45encode(b"") == "" and b45decode("") == b""
    assert b45decode(b45encode(b"\xff\xff")) == b"\xff\xff"  # 65535 = "FGW"
    assert b45encode(b"\xff\xff") == "FGW"
    assert b45decode(b45encode(b"\xff")) == b"\xff"  # 255 = "U5"
    assert b45decode(b45encode(b"\x00")) == b"\x00"


@given(st.binary(max_size=600))
def test_round_trip(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set(ALPHABET)
    assert b45decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "GGW",  # 65536: one more than two bytes hold
        "ZZZ",  # 35 + 45*35 + 2025*35 = 72695
        ":::",  # the largest triple, 91124
        "BB8GGW",  # a bad triple after a good one
    ],
)
def test_triple_out_of_range(text: str) -> None:
    with pytest.raises(MalformedError, match="out of range"):
        b45decode(text)


@pytest.mark.parametrize("text", ["V5", "::", "BB8::"])  # 256, 2024: more than one byte holds
def test_trailing_pair_out_of_range(text: str) -> None:
    with pytest.raises(MalformedError, match="out of range"):
        b45decode(text)


@pytest.mark.parametrize("text", ["A", "BB8A", "%69 VD92EX0XY"])
def test_length_one_more_than_a_multiple_of_three(text: str) -> None:
    with pytest.raises(MalformedError, match="truncated"):
        b45decode(text)


@pytest.mark.parametrize(
    "text",
    ["bb8", "BB8\n", "BB_", "BB=", "BB#", "BB\x00", "ÄB8", "ＢB8", "BB8\r\n"],
)
def test_characters_outside_the_alphabet(text: str) -> None:
    with pytest.raises(MalformedError, match="not base45"):
        b45decode(text)


def test_not_text() -> None:
    with pytest.raises(MalformedError):
        b45decode(b"BB8")  # type: ignore[arg-type]


def test_messages_do_not_echo_the_input() -> None:
    with pytest.raises(MalformedError) as info:
        b45decode("ZZZSECRET")
    assert "ZZZ" not in info.value.message and "SECRET" not in info.value.message
