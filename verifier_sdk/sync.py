"""Trust sync: fetch the city's newest trust bundle and status lists, check them, then swap them in.

    result = sync_trust("trust/", root_key="city-root.pem", source="https://id.example.gov/trust/")

``source`` is the city's publication URL (HTTP/HTTPS) or a folder (a USB stick).
Everything is checked against the *pinned* root key before the installed copy
is touched: the bundle's signature, its version (never older than the installed
one), every status list's signature and age.  The swap is a rename on the same
file system; a failed sync leaves the installed copy exactly as it was.  The
root key itself is never fetched or replaced.  HTTP needs the ``sync`` extra
(requests); conditional requests (ETag / If-Modified-Since) keep daily syncs tiny.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit

from .errors import TrustRollbackError, VerificationError
from .format.statuslist import StatusListToken
from .timeutil import epoch
from .trust import BUNDLE_FILE, ROOT_KEY_FILE, TrustStore, load_root_key, verify_trust_bundle

#: Where the validators of the last sync live, inside the trust folder (no card data in it).
STATE_FILE = ".sync-state.json"
_KEPT_FILES = (ROOT_KEY_FILE, "root-key.fingerprint")  # informative copies, never used as the pin
_STATUS_PATH = re.compile(r"status/[A-Za-z0-9_-]{1,64}\.jwt")
_MAX_BUNDLE_BYTES = 1 << 20
_MAX_STATUS_BYTES = 4 << 20
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds


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
    session: Any = None,
    now: Any = None,
) -> SyncResult:
    """Update ``trust_dir`` from ``source`` (URL or folder; default: the installed bundle's publication_url).

    Raises :class:`SyncError` (network, files) or a :class:`VerificationError`
    (signature, rollback) and then leaves the installed copy untouched.
    """
    trust_dir = Path(trust_dir)
    root = load_root_key(root_key)
    _recover(trust_dir)
    installed = _load_installed(trust_dir, root)
    source = str(source) if source is not None else _publication_url(trust_dir, root)
    state = _read_state(trust_dir) if installed is not None and _read_state(trust_dir).get("source") == source else {}
    fetcher = _HttpFetcher(source, timeout, session, state) if _is_url(source) else _FolderFetcher(source)

    bundle_text = fetcher.get(BUNDLE_FILE, _MAX_BUNDLE_BYTES)
    unchanged_bundle = bundle_text is None
    if unchanged_bundle:
        bundle_text = _read(trust_dir / BUNDLE_FILE)
    claims = verify_trust_bundle(bundle_text, root)  # signature first: paths below come from the city
    files = {BUNDLE_FILE: bundle_text}
    for relative in _status_paths(claims):
        text = fetcher.get(relative, _MAX_STATUS_BYTES)
        if text is None:
            text = _read(trust_dir / relative)
        files[relative] = text
    if not fetcher.changed or all(_same(trust_dir / relative, text) for relative, text in files.items()):
        return SyncResult(False, installed.version if installed else None, source, "trust data already up to date")

    staged = Path(tempfile.mkdtemp(prefix=f".{trust_dir.name}.sync-", dir=trust_dir.parent))
    try:
        staged.chmod(trust_dir.stat().st_mode & 0o777 if trust_dir.is_dir() else 0o755)  # public data: keep it readable by the app
        for relative, text in files.items():
            (staged / relative).parent.mkdir(parents=True, exist_ok=True)
            (staged / relative).write_text(text, encoding="ascii")
        for name in _KEPT_FILES:
            if (trust_dir / name).is_file():
                shutil.copyfile(trust_dir / name, staged / name)
        new = TrustStore.load(staged, root_key=root, min_version=installed.version if installed else None)
        _check_status_lists(new, installed)
        _write_state(staged, {"source": source, "synced_at": int(epoch(now)), "files": fetcher.validators})
        _swap(staged, trust_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return SyncResult(True, new.version, source, f"trust data updated to version {new.version}")


def _check_status_lists(new: TrustStore, installed: TrustStore | None) -> None:
    """Every status list must verify, and none may go back in time (a replayed list un-revokes cards)."""
    if new.problems:
        uri, problem = next(iter(new.problems.items()))
        raise type(problem)(f"status list {uri} refused: {problem.message}")
    for uri, entry in new.status_lists.items():
        old = installed.status_lists.get(uri) if installed else None
        if isinstance(entry, StatusListToken) and isinstance(old, StatusListToken) and entry.iat < old.iat:
            raise TrustRollbackError(f"status list {uri} is older than the installed one")


def _status_paths(claims: Mapping[str, Any]) -> list[str]:
    entries = claims.get("status_lists", [])
    paths = [e.get("path") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    bad = [p for p in paths if not isinstance(p, str) or _STATUS_PATH.fullmatch(p) is None]
    if bad or (isinstance(entries, list) and len(paths) != len(entries)):
        raise SyncError("the trust bundle names a status list path that is not allowed")
    return paths


# -- the installed copy ------------------------------------------------------------------


def _load_installed(trust_dir: Path, root: Any) -> TrustStore | None:
    if not (trust_dir / BUNDLE_FILE).is_file():
        return None  # first sync: nothing installed yet
    try:
        return TrustStore.load(trust_dir, root_key=root)
    except VerificationError:
        return None  # a broken install may be repaired by a good bundle (rollback is still checked against nothing)


def _publication_url(trust_dir: Path, root: Any) -> str:
    try:
        url = verify_trust_bundle(_read(trust_dir / BUNDLE_FILE), root).get("publication_url")
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
        state = json.loads((trust_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(folder: Path, state: Mapping[str, Any]) -> None:
    (folder / STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")


def last_synced_at(trust_dir: str | Path) -> int | None:
    """Epoch seconds of the last successful sync into ``trust_dir``, if any."""
    value = _read_state(Path(trust_dir)).get("synced_at")
    return value if isinstance(value, int) else None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise SyncError(f"the installed copy of {path.name} is missing or unreadable; sync from a full source") from None


def _same(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="ascii") == text
    except (OSError, UnicodeDecodeError):
        return False


def _is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


# -- where the files come from -----------------------------------------------------------------


class _FolderFetcher:
    """A publication folder, e.g. on a USB stick (files are compared with the installed copy)."""

    def __init__(self, folder: str) -> None:
        self.changed = True
        self.validators: dict[str, Any] = {}
        self.folder = Path(folder)
        if not (self.folder / BUNDLE_FILE).is_file():
            raise SyncError(f"no {BUNDLE_FILE} in {self.folder}")

    def get(self, relative: str, limit: int) -> str:
        path = self.folder / relative
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except OSError:
            raise SyncError(f"{relative} is missing from the source folder") from None
        return _ascii(data, relative, limit)


class _HttpFetcher:
    """The city's publication URL, with conditional requests; ``get`` returns None for 304 Not Modified."""

    def __init__(self, base: str, timeout: Any, session: Any, state: Mapping[str, Any]) -> None:
        try:
            import requests
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise SyncError("HTTP sync needs the 'sync' extra: pip install 'cityid[sync]'") from exc
        self.requests = requests
        self.base = base if base.endswith("/") else base + "/"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.old: Mapping[str, Any] = state.get("files", {}) if isinstance(state.get("files"), dict) else {}
        self.validators: dict[str, Any] = {}
        self.changed = False

    def get(self, relative: str, limit: int) -> str | None:
        url = urljoin(self.base, relative)
        old = self.old.get(relative) if isinstance(self.old.get(relative), dict) else {}
        headers = {"Accept": "application/jwt, text/plain;q=0.5"}
        if old.get("etag"):
            headers["If-None-Match"] = old["etag"]
        if old.get("last_modified"):
            headers["If-Modified-Since"] = old["last_modified"]
        try:
            with self.session.get(url, headers=headers, timeout=self.timeout, stream=True, allow_redirects=True) as response:
                if urlsplit(response.url).scheme not in ("http", "https"):
                    raise SyncError(f"{relative}: redirected to an unsupported address")
                if response.status_code == 304:
                    self.validators[relative] = dict(old)
                    return None
                if response.status_code != 200:
                    raise SyncError(f"{relative}: the server answered HTTP {response.status_code}")
                data = b""
                for chunk in response.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > limit:
                        raise SyncError(f"{relative} is too large")
                validators = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}
        except self.requests.RequestException as exc:
            raise SyncError(f"could not download {relative} ({type(exc).__name__})") from None
        self.validators[relative] = {k: v for k, v in validators.items() if v}
        self.changed = True
        return _ascii(data, relative, limit)


def _ascii(data: bytes, relative: str, limit: int) -> str:
    if len(data) > limit:
        raise SyncError(f"{relative} is too large")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise SyncError(f"{relative} is not a token (non-ASCII bytes)") from None
