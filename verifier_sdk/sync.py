"""Trust sync: fetch the city's newest trust bundle and status lists, check them, then swap them in.

    result = sync_trust("trust/", root_key="city-root.pem", source="https://id.example.gov/trust/")

``source`` is the city's publication URL (https; plain http only for loopback or with
``allow_http=True``) or a folder (a USB stick: only regular files inside it are read).
Everything is checked against the *pinned* root key before the installed copy
is touched: the bundle's signature, its version (never older than the installed
one), every status list's signature and age.  The swap is a rename on the same
file system; a failed sync leaves the installed copy exactly as it was.  The
root key itself is never fetched or replaced.  HTTP needs the ``sync`` extra
(requests); conditional requests (ETag / If-Modified-Since) keep daily syncs tiny.
Redirects are followed only within the same origin, and each whole download has a
deadline.  A sync fails loudly (:class:`SyncError`) whenever the data it would leave
installed cannot vouch for a card (expired, dated in the future, older than the
desk's policy): "already up to date" is never said of unusable data.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urljoin, urlsplit

from .errors import TrustRollbackError, VerificationError
from .format.statuslist import MAX_TOKEN_CHARS, StatusListToken
from .freshness import freshness
from .installed import highest_version, remember_version
from .purpose import PRESETS
from .timeutil import epoch
from .trust import (
    _STATUS_PATH,
    BUNDLE_FILE,
    DEFAULT_CLOCK_SKEW,
    ROOT_KEY_FILE,
    TrustStore,
    load_root_key,
    read_regular_file,
    root_key_fingerprint,
    verify_trust_bundle,
)

#: Where the validators of the last sync live, inside the trust folder (no card data in it).
STATE_FILE = ".sync-state.json"
_KEPT_FILES = (ROOT_KEY_FILE, "root-key.fingerprint")  # informative copies, never used as the pin
_MAX_BUNDLE_BYTES = 1 << 20
_MAX_STATUS_BYTES = MAX_TOKEN_CHARS  # what the verifier accepts, and not a byte more
_MAX_REDIRECTS = 5
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
#: Seconds one whole download may take, however slowly the server drips it.
DEFAULT_DEADLINE = 60.0
#: With no desk policy given: data older than every preset purpose allows is useless to every desk.
_ANY_DESK = max(purpose.max_status_age for purpose in PRESETS.values())


class SyncError(Exception):
    """The sync failed; the installed trust data was not changed.  ``str(err)`` is safe to show."""


@dataclass(frozen=True)
class SyncResult:
    changed: bool
    version: int | None
    source: str
    message: str


def sync_trust(
    trust_dir: str | Path,
    root_key: Any,
    source: str | Path | None = None,
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
    session: Any = None,
    now: Any = None,
    max_status_age: timedelta | None = None,
    allow_http: bool = False,
) -> SyncResult:
    """Update ``trust_dir`` from ``source`` (URL or folder; default: the installed bundle's publication_url).

    ``max_status_age``: the desk's policy (a purpose's ``max_status_age``; default: the most
    lenient preset's); the data left installed must satisfy it.  ``allow_http``: accept a plain-http URL beyond loopback.
    Raises :class:`SyncError` (network, files, unusable data) or a :class:`VerificationError`
    (signature, rollback) and then leaves the installed copy untouched.
    """
    trust_dir = Path(trust_dir)
    root = load_root_key(root_key)
    now_ts = epoch(now)
    _recover(trust_dir)
    installed = _load_installed(trust_dir, root, now_ts)
    source = str(source) if source is not None else _publication_url(trust_dir, root)
    state = _read_state(trust_dir) if installed is not None and _read_state(trust_dir).get("source") == source else {}
    if _is_url(source):
        fetcher: Any = _HttpFetcher(_checked_url(source, allow_http), timeout, deadline, session, state)
    else:
        fetcher = _FolderFetcher(source)

    bundle_text = fetcher.get(BUNDLE_FILE, _MAX_BUNDLE_BYTES)
    if bundle_text is None:
        bundle_text = _read(trust_dir, BUNDLE_FILE)
    claims = verify_trust_bundle(bundle_text, root)  # signature first: paths below come from the city
    files = {BUNDLE_FILE: bundle_text}
    for relative in _status_paths(claims):
        text = fetcher.get(relative, _MAX_STATUS_BYTES)
        files[relative] = _read(trust_dir, relative) if text is None else text
    policy = max_status_age or _ANY_DESK
    if installed is not None and (not fetcher.changed or all(_same(trust_dir, relative, text) for relative, text in files.items())):
        _refuse_unusable(installed, policy, now_ts, "the source has nothing newer, and the installed trust data")
        return SyncResult(False, installed.version, source, "trust data already up to date")

    fingerprint = root_key_fingerprint(root)
    floor = max(installed.version if installed and installed.version else 0, highest_version(fingerprint) or 0)
    staged = Path(tempfile.mkdtemp(prefix=f".{trust_dir.name}.sync-", dir=trust_dir.parent))
    try:
        staged.chmod(trust_dir.stat().st_mode & 0o777 if trust_dir.is_dir() else 0o755)  # public data: keep it readable by the app
        for relative, text in files.items():
            (staged / relative).parent.mkdir(parents=True, exist_ok=True)
            (staged / relative).write_text(text, encoding="ascii")
        for name in _KEPT_FILES:
            if (trust_dir / name).is_file() and not (trust_dir / name).is_symlink():
                shutil.copyfile(trust_dir / name, staged / name)
        new = TrustStore.load(staged, root_key=root, min_version=floor or None, now=now_ts, remember=False)
        _check_status_lists(new, installed, trust_dir, now_ts)
        _refuse_unusable(new, policy, now_ts, f"the trust data from {source}")
        _write_state(staged, {"source": source, "synced_at": int(now_ts), "files": fetcher.validators})
        _swap(staged, trust_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    remember_version(fingerprint, new.version or 0)
    return SyncResult(True, new.version, source, f"trust data updated to version {new.version}")


def _refuse_unusable(store: TrustStore, max_age: timedelta, now: float, what: str) -> None:
    """The one freshness rule: sync never reports success for data that cannot vouch for a card."""
    report = freshness(store, max_age, now)
    if not report.can_check:
        raise SyncError(f"{what} cannot vouch for cards ({report.reason}): {report.message}")


def _check_status_lists(new: TrustStore, installed: TrustStore | None, trust_dir: Path, now: float) -> None:
    """Every status list must verify, and none may go back in time (a replayed list un-revokes cards).

    An installed list counts only while the new bundle still vouches for it (its key not
    withdrawn, not dated in the future): a bad list never blocks a good bundle.
    """
    if new.problems:
        uri, problem = next(iter(new.problems.items()))
        raise type(problem)(f"status list {uri} refused: {problem.message}")
    if installed is None:
        return
    paths = installed.status_paths
    for uri, entry in new.status_lists.items():
        old = installed.status_lists.get(uri)
        if not (isinstance(entry, StatusListToken) and isinstance(old, StatusListToken)) or entry.iat >= old.iat:
            continue
        try:
            still_vouched = new.verify_status_token(read_regular_file(trust_dir / paths[uri], MAX_TOKEN_CHARS, "status list"), uri)
        except (KeyError, VerificationError):
            continue
        if still_vouched.iat <= now + DEFAULT_CLOCK_SKEW.total_seconds():
            raise TrustRollbackError(f"status list {uri} is older than the installed one")


def _status_paths(claims: Mapping[str, Any]) -> list[str]:
    entries = claims.get("status_lists", [])
    paths = [e.get("path") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    bad = [p for p in paths if not isinstance(p, str) or _STATUS_PATH.fullmatch(p) is None]
    if bad or (isinstance(entries, list) and len(paths) != len(entries)):
        raise SyncError("the trust bundle names a status list path that is not allowed")
    return paths


# -- the installed copy ------------------------------------------------------------------


def _load_installed(trust_dir: Path, root: Any, now: float) -> TrustStore | None:
    if not (trust_dir / BUNDLE_FILE).is_file():
        return None  # first sync: nothing installed yet
    try:
        return TrustStore.load(trust_dir, root_key=root, now=now, remember=False)
    except VerificationError:
        return None  # a broken install may be repaired by a good bundle (the remembered version still guards rollback)


def _publication_url(trust_dir: Path, root: Any) -> str:
    try:
        url = verify_trust_bundle(_read(trust_dir, BUNDLE_FILE), root).get("publication_url")
    except (SyncError, VerificationError):
        url = None
    if not isinstance(url, str) or not _is_url(url):
        raise SyncError("no source given and the installed trust data names no publication URL")
    return url


def _swap(staged: Path, trust_dir: Path) -> None:
    """Replace trust_dir by staged: two renames on one file system; _recover finishes an interrupted swap."""
    backup = trust_dir.with_name(f".{trust_dir.name}.previous")
    shutil.rmtree(backup, ignore_errors=True)
    if trust_dir.exists():
        os.rename(trust_dir, backup)
    try:
        os.rename(staged, trust_dir)
    except OSError:
        if backup.exists():
            os.rename(backup, trust_dir)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _recover(trust_dir: Path) -> None:
    backup = trust_dir.with_name(f".{trust_dir.name}.previous")
    if not trust_dir.exists() and backup.is_dir():
        os.rename(backup, trust_dir)


def _read_state(trust_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads(read_regular_file(trust_dir / STATE_FILE, 1 << 20, "sync state"))
    except (VerificationError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(folder: Path, state: Mapping[str, Any]) -> None:
    (folder / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")


def last_synced_at(trust_dir: str | Path) -> int | None:
    """Epoch seconds of the last successful sync into ``trust_dir``, if any."""
    value = _read_state(Path(trust_dir)).get("synced_at")
    return value if isinstance(value, int) else None


def _read(trust_dir: Path, relative: str) -> str:
    try:
        return read_regular_file(trust_dir / relative, _MAX_STATUS_BYTES, relative, inside=trust_dir)
    except VerificationError:
        raise SyncError(f"the installed copy of {relative} is missing or unreadable; sync from a full source") from None


def _same(trust_dir: Path, relative: str, text: str) -> bool:
    try:
        return _read(trust_dir, relative) == text
    except SyncError:
        return False


def _is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


def _is_loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _checked_url(url: str, allow_http: bool) -> str:
    """https only; plain http for loopback (tests, a local mirror) or when the operator says so."""
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and (allow_http or _is_loopback(parts.hostname))):
        return url
    raise SyncError(f"refusing plain-http publication URL {url}: use https (or pass --allow-http for a trusted local network)")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


# -- where the files come from -----------------------------------------------------------------


class _FolderFetcher:
    """A publication folder, e.g. on a USB stick: regular files inside it only (no FIFOs, devices, links out)."""

    def __init__(self, folder: str) -> None:
        self.changed = True
        self.validators: dict[str, Any] = {}
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SyncError(f"no publication folder at {self.folder}")

    def get(self, relative: str, limit: int) -> str:
        try:
            return read_regular_file(self.folder / relative, limit, relative, inside=self.folder)
        except VerificationError as exc:
            raise SyncError(f"{relative} in the source folder cannot be used ({exc.message})") from None


class _HttpFetcher:
    """The city's publication URL, with conditional requests; ``get`` returns None for 304 Not Modified."""

    def __init__(self, base: str, timeout: Any, deadline: float, session: Any, state: Mapping[str, Any]) -> None:
        try:
            import requests
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise SyncError("HTTP sync needs the 'sync' extra: pip install 'cityid[sync]'") from exc
        self.requests = requests
        self.base = base if base.endswith("/") else base + "/"
        self.timeout = timeout
        self.deadline = deadline
        self.session = session or requests.Session()
        self.old: Mapping[str, Any] = state.get("files", {}) if isinstance(state.get("files"), dict) else {}
        self.validators: dict[str, Any] = {}
        self.changed = False

    def get(self, relative: str, limit: int) -> str | None:
        """One whole download within the deadline, however slowly the server sends it."""
        outcome: dict[str, Any] = {}
        stop = threading.Event()

        def work() -> None:
            try:
                outcome["value"] = self._get(relative, limit, stop)
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=work, name=f"cityid-sync {relative}", daemon=True)
        worker.start()
        worker.join(self.deadline)
        if worker.is_alive():
            stop.set()  # the worker gives up at its next read
            raise SyncError(f"{relative}: the download did not finish within {self.deadline:g} seconds")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _get(self, relative: str, limit: int, stop: threading.Event) -> str | None:
        url = urljoin(self.base, relative)
        old = self.old.get(relative) if isinstance(self.old.get(relative), dict) else {}
        headers = {"Accept": "application/jwt, text/plain;q=0.5"}
        if old.get("etag"):
            headers["If-None-Match"] = old["etag"]
        if old.get("last_modified"):
            headers["If-Modified-Since"] = old["last_modified"]
        started = time.monotonic()
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                with self.session.get(url, headers=headers, timeout=self.timeout, stream=True, allow_redirects=False) as response:
                    if response.status_code in (301, 302, 303, 307, 308):
                        url = self._redirect(url, response.headers.get("Location"), relative)
                        continue
                    if response.status_code == 304:
                        if not old:
                            raise SyncError(f"{relative}: the server answered 'not modified' to a first request")
                        self.validators[relative] = dict(old)
                        return None
                    if response.status_code != 200:
                        raise SyncError(f"{relative}: the server answered HTTP {response.status_code}")
                    data = self._body(response, relative, limit, started, stop)
                    validators = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}
                    break
            else:
                raise SyncError(f"{relative}: too many redirects")
        except self.requests.RequestException as exc:
            raise SyncError(f"could not download {relative} ({type(exc).__name__})") from None
        self.validators[relative] = {k: v for k, v in validators.items() if v}
        self.changed = True
        return _ascii(data, relative, limit)

    def _redirect(self, url: str, location: str | None, relative: str) -> str:
        """Follow a redirect only within the publication's origin (same scheme, host and port)."""
        target = urljoin(url, location or "")
        if not location or _origin(target) != _origin(self.base):
            raise SyncError(f"{relative}: the server redirected to another site ({urlsplit(target).scheme}://{urlsplit(target).netloc}); refused")
        return target

    def _body(self, response: Any, relative: str, limit: int, started: float, stop: threading.Event) -> bytes:
        data = bytearray()
        raw = response.raw
        read1: Callable[..., bytes] | None = getattr(raw, "read1", None)
        while True:
            if stop.is_set() or time.monotonic() - started > self.deadline:
                raise SyncError(f"{relative}: the download did not finish within {self.deadline:g} seconds")
            # read1 returns what one receive brought, so a slow drip meets the deadline check above.
            chunk = read1(64 * 1024, decode_content=True) if read1 else raw.read(1024, decode_content=True)
            if not chunk:
                return bytes(data)
            data += chunk
            if len(data) > limit:
                raise SyncError(f"{relative} is too large")


def _ascii(data: bytes, relative: str, limit: int) -> str:
    if len(data) > limit:
        raise SyncError(f"{relative} is too large")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise SyncError(f"{relative} is not a token (non-ASCII bytes)") from None
