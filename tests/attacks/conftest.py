"""The attack corpus's shared parts: a desk with installed trust data, channels into it, resource limits.

Every attack goes in through a public door: ``Verifier.verify``, ``TrustStore.load``, the
``cityid-verify`` CLI (``verifier_sdk.cli.main``; once as a subprocess) and, when the partner
app exists, its JSON API and its desk page.  Each is run under ``within_limits``: generous bounds that catch
hangs and memory blowups, not slowness.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import re
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

import pytest
from hypothesis import HealthCheck, settings

import verifier_sdk
from factory import PERSON, TestCity, kb_jwt, new_key, pem
from verifier_sdk import Purpose, TrustStore, VerificationError, Verifier, encode_qr
from verifier_sdk.cli import main as cli_main
from verifier_sdk.format import jws
from verifier_sdk.format.strict import b64url_encode, json_dumps

# -- hypothesis: a small CI profile by default, HYPOTHESIS_PROFILE=long for the 100,000-example run ----

_COMMON = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=200, **_COMMON)
settings.register_profile("long", max_examples=100_000, **_COMMON)
# test_fuzz.py applies the profile named by HYPOTHESIS_PROFILE per test, not globally: other areas keep theirs.

MIB = 1 << 20
#: Claim values the factory puts on cards: they must never appear in an error message or CLI output.
SECRET_VALUES = tuple(v for v in PERSON.values())
KB_PURPOSE = Purpose("wallet", vct="urn:cityid:culture:1", claims={"museum_tier", "age_over_65"}, require_key_binding=True)
NONCE, AUD = "n-0S6_WzA2Mj", "https://museum.example"
#: The partner app is built concurrently; its channel joins in once the package exists.
HAS_APP = (Path(verifier_sdk.__file__).parent / "app" / "__init__.py").exists()


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None
    seconds: float = 0.0
    peak_mib: float = 0.0


def within_limits(fn: Callable[[], Any], seconds: float = 2.0, mib: float = 64.0) -> Outcome:
    """Run ``fn`` and fail the test if it takes longer than ``seconds`` or allocates a peak above ``mib``.

    Exceptions are captured in the outcome, not raised: the caller asserts on them.
    """
    was_tracing = tracemalloc.is_tracing()
    if was_tracing:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    outcome = Outcome()
    start = time.perf_counter()
    try:
        outcome.result = fn()
    except Exception as exc:  # noqa: BLE001 - the caller checks the type
        outcome.error = exc
    finally:
        outcome.seconds = time.perf_counter() - start
        outcome.peak_mib = (tracemalloc.get_traced_memory()[1] - baseline) / MIB
        if not was_tracing:
            tracemalloc.stop()
    assert outcome.seconds < seconds, f"took {outcome.seconds:.2f} s (limit {seconds} s)"
    assert outcome.peak_mib < mib, f"peak allocation {outcome.peak_mib:.1f} MiB (limit {mib} MiB)"
    return outcome


def expect_code(code: str | Collection[str], fn: Callable[[], Any], seconds: float = 2.0, mib: float = 64.0) -> VerificationError:
    """``fn`` must raise a VerificationError with exactly this code, within the limits.

    A collection of codes is for attacks whose first failing check depends on the mutation
    (a flipped bit may break the JSON, the kid or the signature); the README's order decides.
    """
    codes = {code} if isinstance(code, str) else set(code)
    outcome = within_limits(fn, seconds, mib)
    err = outcome.error
    assert err is not None, f"accepted; expected {sorted(codes)}"
    assert isinstance(err, VerificationError), f"untyped failure {err!r}; expected {sorted(codes)}"
    assert err.code in codes, f"got {err.code!r} ({err.message}); expected {sorted(codes)}"
    assert not any(value in err.message for value in SECRET_VALUES), "a claim value leaked into the message"
    return err


@dataclass
class Desk:
    """A verifier installation: the city's publication in a folder, the pinned root key, the clock.

    The clock is the real one (rounded), so the CLI, which cannot be given ``now``, sees
    the same world as the SDK.
    """

    folder: Path
    city: TestCity = field(default_factory=TestCity)
    nonce: str = NONCE
    aud: str = AUD
    kb_purpose: Purpose = KB_PURPOSE
    now: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.root_file = self.folder.parent / f"{self.folder.name}-root.pem"
        self.root_file.write_text(pem(self.city.root.public_key()))
        self._apps: dict[tuple[str, int], Any] = {}
        self.generation = 0
        self.publish()

    # -- the city's side ---------------------------------------------------------------

    def publish(self, *, status_token: str | None = None, **kwargs: Any) -> Path:
        """(Re)write the publication folder; fresh status data by default."""
        token = status_token or self.status_token()
        if "claims" not in kwargs:  # key windows around the real clock, not the factory's fixed NOW
            windows = {kid: (self.now - 365 * 86400, self.now + 5 * 365 * 86400) for kid in self.city.keys}
            kwargs["windows"] = {**windows, **kwargs.get("windows", {})}
        self.generation += 1  # the partner app is rebuilt for each publication
        return self.city.publish(self.folder, status_token=token, **kwargs)

    def status_token(self, *, age: float = 60, **kwargs: Any) -> str:
        return self.city.status_token(iat=self.now - age, **kwargs)

    def card(self, face: str = "culture", **kwargs: Any) -> str:
        """A compact SD-JWT card face valid for 30 days (factory knobs pass through)."""
        kwargs.setdefault("exp", self.now + 30 * 86400)
        return self.city.card(face, **kwargs)

    def qr(self, face: str = "culture", **kwargs: Any) -> str:
        return encode_qr(self.card(face, **kwargs))

    def payload(self, face: str = "culture", **extra: Any) -> dict[str, Any]:
        return {**self.city.base_payload(face), "exp": self.now + 30 * 86400, "status": {"status_list": {"idx": 7, "uri": f"{self.city.issuer}/status/1"}}, **extra}

    def signed(self, header: bytes | dict[str, Any], payload: bytes | dict[str, Any], disclosures: Sequence[str] = (), *, key: Any = None, alg: str = "ES256") -> str:
        """Sign exactly these header and payload bytes (duplicate keys and odd types allowed)."""
        if isinstance(header, dict):
            header = json_dumps(header)
        if isinstance(payload, dict):
            payload = json_dumps(payload)
        signing_input = f"{b64url_encode(header)}.{b64url_encode(payload)}"
        if alg.startswith("HS"):
            digestmod = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
            signature = hmac.new(key, signing_input.encode(), digestmod).digest()
        elif alg == "none":
            signature = b""
        else:
            signature = jws._ALGORITHMS[alg].sign(signing_input.encode(), key or self.city.keys["k1"])
        return f"{signing_input}.{b64url_encode(signature)}~" + "".join(d + "~" for d in disclosures)

    def bound(self, card: str, holder: Any, **kwargs: Any) -> str:
        kwargs.setdefault("iat", self.now)
        kwargs.setdefault("nonce", NONCE)
        kwargs.setdefault("aud", AUD)
        return kb_jwt(card, holder, **kwargs)

    # -- the desk's side ---------------------------------------------------------------

    def trust(self, **kwargs: Any) -> TrustStore:
        return TrustStore.load(self.folder, root_key=str(self.root_file), **kwargs)

    def verify(self, text: Any, purpose: str | Purpose = "museum", **kwargs: Any) -> Any:
        return Verifier(self.trust(), purpose=purpose).verify(text, now=self.now, **kwargs)

    def cli(self, text: str, purpose: str = "museum", stdin: bytes | None = None, *, seconds: float = 2.0, mib: float = 64.0) -> tuple[int, dict[str, Any], str]:
        """``cityid-verify --json`` in this process, within limits; returns (exit status, the JSON it printed, stderr)."""
        outcome = within_limits(lambda: self._cli(text, purpose, stdin), seconds, mib)
        assert outcome.error is None, f"CLI crashed: {outcome.error!r}"
        return outcome.result

    def _cli(self, text: str, purpose: str, stdin: bytes | None) -> tuple[int, dict[str, Any], str]:
        out, err = io.StringIO(), io.StringIO()
        argv = ["--trust", str(self.folder), "--root-key", str(self.root_file), "--purpose", purpose, "--json", "--", text]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if stdin is not None:
                with _stdin(stdin):
                    status = cli_main(argv)
            else:
                status = cli_main(argv)
        printed = out.getvalue()
        assert not any(value in printed for value in SECRET_VALUES) or status == 0, "claim values printed for an invalid card"
        return status, json.loads(printed) if printed.strip() else {}, err.getvalue()

    def _client(self, purpose: str) -> Any:
        """The reference partner app for this publication and purpose (Flask test client)."""
        key = (purpose, self.generation)
        if key not in self._apps:
            from verifier_sdk.app import create_app

            config = {"TESTING": True, "TRUST_DIR": str(self.folder), "ROOT_KEY": str(self.root_file), "PURPOSE": purpose}
            self._apps = {key: create_app(config, instance_path=str(self.folder.parent / "instance")).test_client()}
        return self._apps[key]

    def http(self, text: Any, purpose: str = "museum") -> tuple[int, dict[str, Any]]:
        """``POST /api/verify {"qr": text}``; returns (HTTP status, the JSON result)."""
        response = self._client(purpose).post("/api/verify", json={"qr": text})
        return response.status_code, response.get_json(silent=True) or {}

    def page(self, text: str, purpose: str = "museum") -> tuple[int, str | None, str]:
        """The desk page's form post (a hand-held scanner); returns (HTTP status, the result's data-code, the HTML)."""
        response = self._client(purpose).post("/verify", data={"qr": text})
        html = response.get_data(as_text=True)
        found = re.search(r'data-code="([a-z_]+)"', html)
        return response.status_code, found.group(1) if found else None, html

    def refused(self, text: Any, code: str, purpose: str | Purpose = "museum", *, channels: Sequence[str] = ("sdk", "cli", "http"), seconds: float = 2.0, mib: float = 64.0, **kwargs: Any) -> VerificationError:
        """The attack must fail with ``code`` through every channel, within the limits."""
        err = expect_code(code, lambda: self.verify(text, purpose, **kwargs), seconds, mib)
        if "cli" in channels and isinstance(purpose, str) and isinstance(text, str):
            outcome = within_limits(lambda: self._cli(text, purpose, None), seconds, mib)
            assert outcome.error is None, f"CLI crashed: {outcome.error!r}"
            status, printed, _ = outcome.result
            assert (status, printed.get("code")) == (1, code), f"CLI said {status} {printed}"
        if HAS_APP and "http" in channels and isinstance(purpose, str) and not kwargs:
            outcome = within_limits(lambda: self.http(text, purpose), seconds, mib)
            assert outcome.error is None, f"app crashed: {outcome.error!r}"
            status, body = outcome.result
            assert status in (200, 400) and body.get("code") == code, f"app said {status} {body}"
            assert body.get("claims") == {} and not any(value in json.dumps(body) for value in SECRET_VALUES)
            outcome = within_limits(lambda: self.page(text, purpose), seconds, mib)
            assert outcome.error is None, f"desk page crashed: {outcome.error!r}"
            status, shown, html = outcome.result
            assert status in (200, 400) and shown == code, f"desk page said {status} {shown}"
            assert len(text) < 16 or text.strip() not in html, "the scanned text was reflected into the page"
        return err


class _stdin(contextlib.AbstractContextManager):
    """Replace sys.stdin with bytes, as a scanner or a pipe would deliver them."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> None:
        self.saved = sys.stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(self.data))

    def __exit__(self, *exc: Any) -> None:
        sys.stdin = self.saved


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path / "publication")


@pytest.fixture(scope="module")
def module_desk(tmp_path_factory: pytest.TempPathFactory) -> Desk:
    """One desk for a whole module (hypothesis refuses function-scoped fixtures)."""
    return Desk(tmp_path_factory.mktemp("desk") / "publication")


@pytest.fixture
def holder() -> Any:
    return new_key()


@pytest.fixture
def limits() -> Callable[..., Outcome]:
    return within_limits


@pytest.fixture
def expect() -> Callable[..., VerificationError]:
    return expect_code
