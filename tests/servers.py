"""Real services for tests: a fresh SoftHSM2 token and a PostgreSQL server on loopback.

``./run test`` installs Debian's softhsm2 and postgresql; these fixtures make a token in
a temporary SOFTHSM2_CONF and start a private PostgreSQL cluster (its own data folder,
a free loopback port, its unix socket in the temporary folder), and stop it afterwards.
PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user.
The benchmarks use the same classes (without pytest: a missing service raises ServiceMissing).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

SOFTHSM_MODULES = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so")
HSM_PIN = "246810"
HSM_SO_PIN = "13579135"


class ServiceMissing(RuntimeError):
    """softhsm2 or postgresql is not installed here (``./run`` installs them when run as root)."""


def softhsm_module() -> str | None:
    return next((m for m in SOFTHSM_MODULES if os.path.exists(m)), None)


class SoftHSM:
    """A SoftHSM2 configuration in a temporary folder, with tokens initialised by softhsm2-util."""

    def __init__(self, root: Path) -> None:
        module = softhsm_module()
        if module is None or shutil.which("softhsm2-util") is None:
            raise ServiceMissing("needs Debian's softhsm2 (./run test installs it when run as root)")
        self.module = module
        self.root = Path(root)
        (self.root / "tokens").mkdir(parents=True, exist_ok=True)
        self.conf = self.root / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {self.root / 'tokens'}\nobjectstore.backend = file\n"
                             "log.level = ERROR\nslots.removable = false\n")
        self.pin = HSM_PIN

    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def init_token(self, label: str) -> str:
        """Initialise a token and return its pkcs11: URI."""
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", HSM_SO_PIN,
                        "--pin", self.pin], check=True, capture_output=True, env={**os.environ, **self.env()})
        return f"pkcs11:token={label}?module-path={self.module}"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: no procps needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A throwaway PostgreSQL cluster: ``start()``, ``kill()`` (SIGKILL, as a crash), ``stop()``."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable  # fsync on (benchmarks) or off (tests: a killed server still loses nothing committed)
        self.bin = _pg_bin()
        if self.bin is None:
            raise ServiceMissing("needs Debian's postgresql (./run test installs it when run as root)")
        self.root = Path(tempfile.mkdtemp(prefix="cityid-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self._user: dict = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise ServiceMissing("running as root needs the postgres user (Debian's postgresql package creates it)") from None
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        self.root.chmod(0o700)
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "cityid", "--auth=trust", "-E", "UTF8",
                        "--no-sync", "--locale=C"], check=True, capture_output=True, **self._user)

    def start(self) -> "PostgresServer":
        log = open(self.root / "server.log", "ab")
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
             "-c", "listen_addresses=127.0.0.1", "-c", f"fsync={'on' if self.durable else 'off'}",
             "-c", "max_connections=60"],
            stdout=log, stderr=log, **self._user)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                ready = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                       capture_output=True)
                if ready.returncode == 0:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start: " + (self.root / "server.log").read_text()[-2000:])
            time.sleep(0.1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://cityid@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database for one test; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def kill(self) -> None:
        """Crash the server (SIGKILL on the postmaster and every backend)."""
        if self.process and self.process.poll() is None:
            for child in _children(self.process.pid):  # the backends, as a power cut would take them
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        # Backends orphaned by the kill exit on their own once the postmaster is gone; wait for the port.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    time.sleep(0.1)
            except OSError:
                break

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def softhsm(tmp_path, monkeypatch):
    """A SoftHSM2 configuration for this test, with SOFTHSM2_CONF and the PIN in the environment."""
    try:
        hsm = SoftHSM(tmp_path / "softhsm")
    except ServiceMissing as exc:
        pytest.skip(str(exc))
    for name, value in hsm.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITYID_HSM_PIN", hsm.pin)
    yield hsm
    # SoftHSM reads SOFTHSM2_CONF when initialised: finalise it so the next test's configuration is read.
    import pkcs11

    pkcs11.unload(os.path.realpath(hsm.module))  # issuer.hsm loads a module by its real path


@pytest.fixture
def hsm_token(softhsm) -> str:
    """A freshly initialised token; its pkcs11: URI."""
    return softhsm.init_token("city-" + uuid.uuid4().hex[:8])


def _started_postgres() -> PostgresServer:
    try:
        return PostgresServer().start()
    except ServiceMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def postgres_server():
    server = _started_postgres()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh database on the session's PostgreSQL server."""
    return postgres_server.new_database()


@pytest.fixture
def own_postgres_server():
    """A PostgreSQL server of this test's own, which it may kill and restart."""
    server = _started_postgres()
    yield server
    server.remove()
