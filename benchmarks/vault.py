"""Records vault: storing and reading one record, and how long `destroy-all` takes.

A passphrase-sealed vault with five years of monthly period keys (60) and records
carrying a 20 KB stand-in photo.  `destroy-all` is timed twice per run: the
function (destroy every period key, unlink the vault files) and the whole command
as the card office runs it (`python -m issuer.cli destroy-all --confirm DESTROY`,
Python start-up included).  Each run restores a fresh copy of the vault and keys.
The same for an HSM city: 60 period keys in a fresh SoftHSM2 token (made again for
each run), destroyed with C_DestroyObject after a login with the PIN.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from issuer.config import VaultConfig, default_config, save
from issuer.periodkeys import PeriodKeys, default_key_store
from issuer.vault import Vault, VaultRecord, destroy_everything, vault_path

from .report import Family, Row
from .timing import Stats, measure

PASSPHRASE = b"benchmark passphrase, not a secret"
PERIODS = 60
RECORDS = {"smoke": 120, "quick": 600, "full": 3000}
RUNS = {"smoke": 1, "quick": 3, "full": 7}
GOAL_SECONDS = 2.0
REPO = Path(__file__).resolve().parents[1]


def _record(i: int, month: int) -> VaultRecord:
    fields = {"given_name": f"Resident {i}", "family_name": "Benchmark", "birthdate": "1980-01-01",
              "museum_tier": "gold", "rx_eligible": False}
    return VaultRecord(f"{100000000000 + i}", date(2022 + month // 12, month % 12 + 1, 1), 2_000_000_000, fields,
                       secrets.token_bytes(20_000))


def _build(base: Path, records: int) -> tuple[Path, Path]:
    city = base / "city"
    city.mkdir()
    save(city, replace(default_config("https://id.example.gov"), vault=VaultConfig(enabled=True)))
    vault = Vault.open(city, PeriodKeys(default_key_store(city), PASSPHRASE), "month")
    batch = [_record(i, i % PERIODS) for i in range(records)]
    vault.put(*batch)
    vault.close()
    return city, default_key_store(city)


def run(mode: str) -> Family:
    family = Family("vault", f"Records vault: {RECORDS[mode]:,} records (20 KB photo each), {PERIODS} monthly period keys")
    with tempfile.TemporaryDirectory(dir=os.environ.get("CITYID_BENCH_DIR")) as tmp:
        pristine = Path(tmp) / "pristine"
        pristine.mkdir()
        city, store = _build(pristine, RECORDS[mode])
        vault = Vault.open(city, PeriodKeys(store, PASSPHRASE), "month")
        started = time.perf_counter()
        vault.get(_record(0, 0).card_number, _record(0, 0).issued_on)
        family.rows.append(Row("first record in a new process (unseals its one period key)",
                               (time.perf_counter() - started) * 1e3, "ms"))
        probe = _record(RECORDS[mode] + 1, 59)
        family.rows.append(Row("store one record (encrypt, wrap, insert, fsync)",
                               measure(lambda: vault.put(probe), repeat=RUNS[mode] * 3, number=5).scaled(1e3), "ms"))
        family.rows.append(Row("find and decrypt one record",
                               measure(lambda: vault.get(probe.card_number, probe.issued_on), repeat=RUNS[mode] * 3, number=20).scaled(1e3),
                               "ms"))
        vault.close()
        size = sum(p.stat().st_size for p in city.rglob("*") if p.is_file())
        family.notes.append(f"vault file {size / 2**20:.1f} MiB; key store {len(list(store.iterdir()))} sealed keys")
        function, command = [], []
        for run_no in range(RUNS[mode]):
            for kind, times in (("function", function), ("command", command)):
                work = Path(tmp) / f"run-{run_no}-{kind}"
                shutil.copytree(pristine, work)
                work_city = work / "city"
                keys = PeriodKeys(default_key_store(work_city), None)
                started = time.perf_counter()
                if kind == "function":
                    destroyed = len(destroy_everything(work_city, keys).destroyed)
                else:
                    done = subprocess.run([sys.executable, "-m", "issuer.cli", "destroy-all", str(work_city),
                                           "--confirm", "DESTROY"], capture_output=True, timeout=120,
                                          env={**os.environ, "PYTHONPATH": str(REPO)})
                    assert done.returncode == 0, done.stderr
                    destroyed = PERIODS
                times.append(time.perf_counter() - started)
                assert destroyed == PERIODS and not list(keys.dir.iterdir())
                shutil.rmtree(work)
        family.rows.append(Row("destroy-all: destroy 60 period keys + unlink the vault (function)",
                               Stats.of(function).scaled(1e3), "ms", headline=True))
        family.rows.append(Row("destroy-all: the whole command, Python start-up included", Stats.of(command), "s",
                               goal=f"< {GOAL_SECONDS:g} s", met=Stats.of(command).max < GOAL_SECONDS, headline=True))
        _hsm_destroy_all(family, mode, Path(tmp))
    return family


def _hsm_destroy_all(family: Family, mode: str, tmp: Path) -> None:
    """destroy-all in an HSM city: its period keys are secret keys in the city's token (SoftHSM2 here)."""
    sys.path.insert(0, str(REPO / "tests"))
    from servers import ServiceMissing, SoftHSM  # noqa: E402  (tests/servers.py: the test fixtures' helpers)

    import pkcs11

    from issuer.hsm import PIN_ENV, Token, parse_uri
    from issuer.vault_token import TokenPeriodKeys

    try:
        hsm = SoftHSM(tmp / "softhsm")
    except ServiceMissing as exc:
        family.notes.append(f"HSM city not measured: {exc}")
        return
    os.environ.update(hsm.env())
    uri = hsm.init_token("bench-vault")
    city = tmp / "hsm-city"
    city.mkdir()
    save(city, replace(default_config("https://id.example.gov"), key_store=uri, vault=VaultConfig(enabled=True)))
    env = {**os.environ, "PYTHONPATH": str(REPO), PIN_ENV: hsm.pin}
    function, command = [], []
    try:
        for run_no in range(RUNS[mode]):
            for kind, times in (("function", function), ("command", command)):
                keys = TokenPeriodKeys(Token(parse_uri(uri), hsm.pin), owns_session=True)
                vault = Vault.open(city, keys, "month")
                vault.put(*(_record(i, i) for i in range(PERIODS)))  # one record, so one key, per month
                started = time.perf_counter()
                if kind == "function":
                    destroyed = len(destroy_everything(city, keys).destroyed)
                else:
                    vault.close()
                    done = subprocess.run([sys.executable, "-m", "issuer.cli", "destroy-all", str(city),
                                           "--confirm", "DESTROY"], capture_output=True, timeout=120, env=env)
                    assert done.returncode == 0, done.stderr
                    destroyed = PERIODS
                times.append(time.perf_counter() - started)
                if kind == "function":
                    assert keys.periods() == []
                    vault.close()
                keys.close()
                assert destroyed == PERIODS and not vault_path(city).exists()
    finally:
        pkcs11.unload(os.path.realpath(hsm.module))  # SoftHSM2 reads its configuration once per load: leave none behind
    family.rows.append(Row("HSM city: destroy 60 period keys in SoftHSM2 + unlink the vault (function)",
                           Stats.of(function).scaled(1e3), "ms", headline=True))
    family.rows.append(Row("HSM city: destroy-all, the whole command (start-up and token login included)",
                           Stats.of(command), "s", goal=f"< {GOAL_SECONDS:g} s", met=Stats.of(command).max < GOAL_SECONDS,
                           headline=True))
