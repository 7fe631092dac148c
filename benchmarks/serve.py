"""Figure 8: ``cityid-verify serve`` under load: waitress (what it runs now), Flask's development server (before), gunicorn.

Each server is a real process on 127.0.0.1 serving the museum desk app; 16 client threads
(keep-alive sessions) post the QR text of a real card to ``/api/verify`` as fast as the
answers come, for a bounded number of requests per round.  Rounds alternate between the
servers; latency percentiles are over all requests of a server, throughput is per round
(median, min, max).  Client and servers share this machine's cores: compare the ratio.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .fixtures import BenchCity
from .report import Family, Row
from .timing import Stats

CONCURRENCY = 16
COUNTS = {"smoke": (32, 1), "quick": (400, 3), "full": (1600, 5)}  # requests per round, rounds per server
REPO = Path(__file__).resolve().parents[1]

_SERVER = """
import sys
from verifier_sdk.app import create_app
from verifier_sdk.app.commands import THREADS, _serve_gunicorn, _serve_waitress
kind, port, trust, root = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
app = create_app({"PURPOSE": "museum", "TRUST_DIR": trust, "ROOT_KEY": root, "SECRET_KEY": sys.argv[5]}, instance_path=trust + "-instance")
if kind == "waitress":
    _serve_waitress(app, "127.0.0.1", port, THREADS)
elif kind == "gunicorn":  # the README's production choice for more than one core
    _serve_gunicorn(app, "127.0.0.1", port, 4, None, workers=2)
else:  # what serve ran before: Flask's development server, one thread per request
    app.run(host="127.0.0.1", port=port, threaded=True, debug=False, load_dotenv=False)
"""
SERVERS = {"waitress": "waitress, 8 threads (serve now)", "development": "Flask development server, threaded (serve before)",
           "gunicorn": "gunicorn, 2 worker processes x 4 threads"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _round(url: str, body: bytes, total: int) -> tuple[list[float], float]:
    """``total`` requests from CONCURRENCY threads: every latency (s) and the wall time."""
    import requests

    latencies: list[float] = []
    lock = threading.Lock()
    left = [total]

    def client() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                started = time.perf_counter()
                response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200 and response.json()["valid"], response.text[:200]
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(mode: str) -> Family:
    per_round, rounds = COUNTS[mode]
    family = Family("serve", f"cityid-verify serve under load: {CONCURRENCY} concurrent POST /api/verify on loopback")
    try:
        import requests
        import waitress  # noqa: F401
    except ImportError as exc:
        family.notes.append(f"needs the app extra ({exc})")
        return family
    import json

    now = int(time.time())
    city = BenchCity(status_size=1 << 20)
    processes: dict[str, tuple[subprocess.Popen, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trust = city.publish(Path(tmp) / "trust", status_token=city.status_token(iat=now - 60))
        body = json.dumps({"qr": city.qr(city.culture_at(now))}).encode()
        try:
            for kind in SERVERS:
                port = _free_port()
                process = subprocess.Popen([sys.executable, "-c", _SERVER, kind, str(port), str(trust), str(trust / "root-key.pem"),
                                            secrets.token_hex(32)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           env={**os.environ, "PYTHONPATH": str(REPO)})
                url = f"http://127.0.0.1:{port}/api/verify"
                for _ in range(200):
                    try:
                        requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=5)
                        break
                    except requests.ConnectionError:
                        time.sleep(0.05)
                processes[kind] = (process, url)
            latencies: dict[str, list[float]] = {k: [] for k in SERVERS}
            throughput: dict[str, list[float]] = {k: [] for k in SERVERS}
            for _ in range(rounds):  # interleaved
                for kind, (_, url) in processes.items():
                    got, wall = _round(url, body, per_round)
                    latencies[kind] += got
                    throughput[kind].append(per_round / wall)
        finally:
            for process, _ in processes.values():
                process.terminate()
                process.wait(timeout=10)
    for kind, label in SERVERS.items():
        values = latencies[kind]
        family.rows.append(Row(f"{label}: p50 / p99 latency", f"{1e3 * _percentile(values, 0.5):.1f} / {1e3 * _percentile(values, 0.99):.1f}",
                               "ms", headline=True))
        family.rows.append(Row(f"{label}: throughput", Stats.of(throughput[kind]), "req/s", headline=True))
    ratio = statistics.median(throughput["waitress"]) / statistics.median(throughput["development"])
    family.rows.append(Row("throughput ratio waitress / development server (medians)", round(ratio, 2), "x"))
    family.notes.append(f"{rounds} rounds of {per_round} requests per server, alternating; museum desk, QR text as JSON; "
                        "client threads run on the same cores as the server")
    return family
