"""City scale: issuing into one PostgreSQL registry from 1, 2 and 4 processes, beside SQLite; signing in SoftHSM2.

Every figure uses real services started here: a private PostgreSQL cluster on loopback
and a fresh SoftHSM2 token (the same helpers as the tests, ``tests/servers.py``).

- Issuance: N issuing processes (each one ``Issuer.open`` + ``issue_batch(workers=1)``, as
  N enrollment desks would run) start together on a signal; cards/s is all their cards
  over the wall time from the signal to the last one done.  SQLite allows one writer, so
  it is shown with one process (and with one process using every core).
- Registry only: the same, but each process only reserves cards (chunks of 32 in one
  transaction, as a batch does), without signing or drawing: what the registry itself allows.
- Signing: one ES256 JWS through the token (PKCS#11 C_Sign in SoftHSM2) against the same
  with a key in memory (what key files give after unlocking), interleaved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import Family, Row
from .timing import Stats, interleaved, ratios

REPO = Path(__file__).resolve().parents[1]
COUNTS = {"smoke": (1, 4, 64), "quick": (2, 40, 640), "full": (3, 120, 3200)}  # rounds, cards, reservations per process
SIGN = {"smoke": (20, 3), "quick": (200, 5), "full": (500, 9)}  # signatures per run, runs

CHILD = r"""
import json, os, random, sys, time
sys.path.insert(0, sys.argv[1])
from issuer import Issuer
mode, city_dir, work = sys.argv[2], sys.argv[3], sys.argv[4]
with Issuer.open(city_dir) as city:
    print("ready", flush=True)
    sys.stdin.readline()  # go
    start = time.perf_counter()
    if mode == "issue":
        report = city.issue_batch(work + "/people.jsonl", work + "/out", workers=int(sys.argv[5]), progress=False)
        done = report.issued
    else:
        registry, rng, done = city.registry, random.Random(os.getpid()), 0
        kid = registry.current_key().kid
        with registry.transaction():
            batch = registry.open_batch(int(time.time()))[0]
        for chunk in range(int(sys.argv[5]) // 32):
            with registry.transaction():
                for i in range(32):
                    card_hash = registry.card_hash(str(rng.randrange(10**11, 10**12)))
                    registry.reserve_card(card_hash, ("id", "perks"), ("urn:cityid:id:1", "urn:cityid:perks:1"), "2026-12-02", 2**31, kid, 0.5)
                    registry.batch_add(batch, rng.randbytes(32), card_hash, 1)
                    done += 1
print(json.dumps({"done": done, "seconds": time.perf_counter() - start}), flush=True)
"""


def _people(count: int, process: int) -> str:
    """Residents distinct within and across processes (a resident is the birth date and the set of name words)."""
    return "".join(json.dumps({"given_name": f"Ana María p{process}r{i}", "family_name": "Pérez Quispe", "birthdate": "1988-03-14",
                               "museum_tier": "gold", "rx_eligible": "yes"}, ensure_ascii=False) + "\n" for i in range(count))


def _round(base: Path, registry_url: str, processes: int, mode: str, count: int, workers: int = 1) -> float:
    """Cards (or reservations) per second of ``processes`` processes issuing at once into one fresh city."""
    from issuer import Issuer

    base.mkdir(parents=True)
    city_dir = base / "city"
    Issuer.init(city_dir, insecure_demo=True, registry=registry_url).close()
    children = []
    for n in range(processes):
        work = base / f"p{n}"
        work.mkdir()
        (work / "people.jsonl").write_text(_people(count, n), encoding="utf-8")
        children.append(subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), mode, str(city_dir), str(work),
                                          str(workers if mode == "issue" else count)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for child in children:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a benchmark process did not start: " + child.communicate()[1][-500:])
    start = time.perf_counter()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    done = 0
    for child in children:
        out, err = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError("a benchmark process failed: " + err[-500:])
        done += json.loads(out.strip().splitlines()[-1])["done"]
    elapsed = time.perf_counter() - start
    if done != processes * count:
        raise RuntimeError(f"{done} of {processes * count} done")
    return done / elapsed


def _signing(family: Family, mode: str) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from servers import SoftHSM  # noqa: E402  (tests/servers.py: the test fixtures' helpers)

    from cryptography.hazmat.primitives.asymmetric import ec

    from issuer.hsm import TokenKeyStore
    from verifier_sdk.format.jws import sign

    number, repeat = SIGN[mode]
    with tempfile.TemporaryDirectory() as tmp:
        hsm = SoftHSM(Path(tmp))
        os.environ.update(hsm.env())
        store = TokenKeyStore.create(hsm.init_token("bench"), hsm.pin)
        try:
            token_key = store.new_issuing_key("k1")
            file_key = ec.generate_private_key(ec.SECP256R1())
            header, payload = {"typ": "dc+sd-jwt", "kid": "k1"}, {"iss": "https://id.example.gov", "_sd": ["x" * 43] * 4}
            runs = interleaved({"file": lambda: sign(header, payload, file_key, "ES256"),
                                "hsm": lambda: sign(header, payload, token_key, "ES256")}, number=number, repeat=repeat)
        finally:
            store.close()
    family.rows.append(Row("ES256 JWS, key in memory (key files, unlocked)", Stats.of(runs["file"]).scaled(1e6), "µs"))
    family.rows.append(Row("ES256 JWS signed in SoftHSM2 (PKCS#11 C_Sign, CKM_ECDSA)", Stats.of(runs["hsm"]).scaled(1e6),
                           "µs", headline=True))
    family.rows.append(Row("SoftHSM2 / key in memory", ratios(runs["hsm"], runs["file"]), "x", headline=True,
                           note="a card has two faces: two signatures"))


def run(mode: str) -> Family:
    rounds, cards, reservations = COUNTS[mode]
    cores = os.cpu_count() or 1
    family = Family("scale", f"City scale: one PostgreSQL registry for many processes, keys in SoftHSM2 "
                             f"({cards} cards or {reservations} reservations per process)")
    try:
        import pkcs11  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as exc:
        family.notes.append(f"the scale extra is not installed ({exc}): pip install 'cityid[scale]'")
        return family
    sys.path.insert(0, str(REPO / "tests"))
    from servers import PostgresServer  # noqa: E402

    _signing(family, mode)
    server = PostgresServer(durable=True).start()
    configs = [("SQLite, 1 process", "", 1, 1)] + ([] if mode == "smoke" else [(f"SQLite, 1 process, {cores} workers", "", 1, cores)])
    configs += [(f"PostgreSQL, {n} process{'es' if n > 1 else ''}", "pg", n, 1) for n in ((1,) if mode == "smoke" else (1, 2, 4))]
    rates: dict[tuple[str, str], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(rounds):  # interleaved: each round runs every configuration once
                for label, backend, processes, workers in configs:
                    for what, count in (("issue", cards), ("reserve", reservations)):
                        if what == "reserve" and workers > 1:
                            continue
                        url = server.new_database() if backend else ""
                        base = Path(tmp) / f"{r}-{len(rates)}-{what}-{backend}{processes}x{workers}"
                        rates.setdefault((what, label), []).append(_round(base, url, processes, what, count, workers))
    finally:
        server.remove()
    sqlite = rates[("issue", "SQLite, 1 process")]
    for (what, label), values in rates.items():
        if what == "issue":
            family.rows.append(Row(f"issuance: {label}", Stats.of(values), "cards/s", headline=label.startswith("PostgreSQL"),
                                   note=f"{ratios(values, sqlite).median:.2f}x SQLite with 1 process"))
    base_pg = rates[("reserve", "PostgreSQL, 1 process")]
    for (what, label), values in rates.items():
        if what == "reserve":
            family.rows.append(Row(f"registry only (reserve + journal): {label}", Stats.of(values), "cards/s",
                                   headline=label.startswith("PostgreSQL"),
                                   note=f"{ratios(values, base_pg).median:.2f}x PostgreSQL with 1 process"))
    family.notes.append(f"{cores} cores: issuance is CPU-bound (signing, QR, PNG), so beyond {cores} processes it cannot grow here")
    family.notes.append("both durable: PostgreSQL with fsync on, SQLite with synchronous=FULL, on the same disk")
    return family
