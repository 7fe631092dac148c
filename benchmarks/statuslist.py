"""Figure 4: status lists for 1,000,000 cards with 1% revoked.

City side: build the 2-bit list (as ``issuer.publish`` does: an empty list, then each
non-valid card's status set) and sign its token.  Partner side: verify the token and
decompress the list (``verify_status_list_token``), load a whole publication folder
(``TrustStore.load``: bundle signature, keys, status token), and look one card up.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from verifier_sdk import TrustStore
from verifier_sdk.format.statuslist import StatusList, make_status_list_token, verify_status_list_token

from .fixtures import ISSUER, NOW, STATUS_URI, BenchCity
from .report import Family, Row
from .timing import Stats, interleaved, measure

CARDS = 1_000_000
REVOKED_SHARE = 0.01


COUNTS = {"smoke": 1, "quick": 3, "full": 7}  # runs (verifier side: 3x)


def run(mode: str) -> Family:
    repeat = COUNTS[mode]
    family = Family("statuslist", f"Status list: {CARDS:,} cards, {REVOKED_SHARE:.0%} revoked (2 bits per card)")
    city = BenchCity(status_size=CARDS)
    rng = random.Random(1)
    revoked = rng.sample(range(CARDS), int(CARDS * REVOKED_SHARE))  # indexes are allocated at random

    def build() -> str:
        status_list = StatusList.empty(CARDS, 2)
        for idx in revoked:
            status_list[idx] = StatusList.INVALID
        return make_status_list_token(status_list, sub=STATUS_URI, iss=ISSUER, kid="s1", private_key=city.status_key,
                                      iat=NOW - 3600, ttl=86400, exp=NOW + 6 * 86400)

    token = build()
    family.rows.append(Row("build + sign the list (city side)", measure(build, repeat=repeat).scaled(1e3), "ms", headline=True))
    family.rows.append(Row("status list token size", len(token), "bytes", headline=True,
                           note=f"{len(token) / 1024:.0f} KiB; the raw list is {CARDS * 2 // 8 // 1024} KiB"))

    def lookup_key(kid: object) -> tuple[str, object]:
        return "ES256", city.status_key.public_key()

    family.rows.append(Row("verify_status_list_token (signature, then inflate)",
                           measure(lambda: verify_status_list_token(token, lookup_key, expected_sub=STATUS_URI), repeat=repeat * 3).scaled(1e3), "ms", headline=True))
    with tempfile.TemporaryDirectory() as tmp:
        folder = city.publish(Path(tmp), status_token=token)
        root = (folder / "root-key.pem").read_text()
        family.rows.append(Row("TrustStore.load (bundle + this list, from disk)",
                               measure(lambda: TrustStore.load(folder, root_key=root), repeat=repeat * 3).scaled(1e3), "ms", headline=True))
        trust = TrustStore.load(folder, root_key=root)
    status_list = trust.status_list(STATUS_URI).status_list
    probes = [rng.randrange(CARDS) for _ in range(1000)]
    assert sum(status_list[i] for i in revoked) == len(revoked)

    def lookups() -> None:
        for idx in probes:
            status_list[idx]

    family.rows.append(Row("lookup one card (StatusList[idx])",
                           measure(lookups, number=20, repeat=repeat * 3).scaled(1e9 / len(probes)), "ns", headline=True))
    if mode != "smoke":  # seconds per run at level 9: the smoke test only checks the rest still runs
        _zlib_levels(family, repeat, rng)
    return family


def _zlib_levels(family: Family, repeat: int, rng: random.Random) -> None:
    """Why ZLIB_LEVEL is 6: the largest list a city may publish, 10% revoked, compressed at each level (interleaved)."""
    import zlib

    from verifier_sdk.format.statuslist import ZLIB_LEVEL, max_entries

    entries = 1 << (max_entries(2).bit_length() - 1)  # the largest power of two the token cap allows
    big = StatusList.empty(entries, 2)
    for idx in rng.sample(range(entries), entries // 10):
        big[idx] = StatusList.INVALID
    data = big.to_bytes()
    levels = (1, 6, 9)
    times = interleaved({str(level): (lambda level=level: zlib.compress(data, level)) for level in levels}, number=1, repeat=repeat)
    for level in levels:
        size = len(zlib.compress(data, level))
        family.rows.append(Row(f"zlib level {level}, {entries:,} entries 10% revoked{' (used)' if level == ZLIB_LEVEL else ''}",
                               Stats.of(times[str(level)]).scaled(1e3), "ms", note=f"{size:,} bytes compressed"))
