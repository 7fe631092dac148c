"""Oversized and hostile images: the CLI's image path, the partner app's upload, and cityid-verify as a real process."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import segno

import verifier_sdk

HUNDRED_MB = 100 * 1000 * 1000
HAS_APP = (Path(verifier_sdk.__file__).parent / "app" / "__init__.py").exists()
needs_app = pytest.mark.skipif(not HAS_APP, reason="the partner app (verifier_sdk.app) is not there yet")
CLI = Path(sys.executable).parent / "cityid-verify"
ALG_NONE = {"alg": "none", "typ": "dc+sd-jwt", "kid": "k1"}


def png(width: int, height: int, depth: int = 8) -> bytes:
    """A valid grayscale PNG of blank rows: tiny on disk, huge once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" + bytes((width * depth + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def image_bombs() -> dict[str, bytes]:
    return {
        "400-megapixels": png(20000, 20000, depth=1),  # ~50 KB file, refused from its header
        "just-under-the-pixel-cap": png(6300, 6300),  # 39.7 MP: decoded, no QR code found
    }


def sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as handle:
        handle.write(head)
        handle.truncate(size)  # no disk blocks: the test machine's disk is not filled
    return path


class CountingStream(io.RawIOBase):
    """An upload body of ``size`` zero bytes, generated as it is read; ``read_bytes`` is how far anyone read."""

    def __init__(self, size: int) -> None:
        self.size, self.pos, self.read_bytes = size, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client measures the body by seeking to its end
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self.size - self.pos))
        buffer[:n] = bytes(n)
        self.pos += n
        self.read_bytes = max(self.read_bytes, self.pos)
        return n


# -- the CLI's image path ---------------------------------------------------------------------------


@pytest.mark.parametrize("head", [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0"], ids=["zeros", "png-magic", "jpeg-magic"])
def test_hundred_megabyte_upload_to_the_cli(desk, tmp_path, head):
    """A 100 MB "photo" is refused without reading it all: at most the 20 MB image cap is read."""
    path = sparse_file(tmp_path / "card.png", HUNDRED_MB, head)
    status, printed, _ = desk.cli(str(path), seconds=2, mib=32)
    assert (status, printed["code"]) == (1, "malformed")


@pytest.mark.parametrize("name", ["400-megapixels", "just-under-the-pixel-cap"])
def test_image_decompression_bomb_to_the_cli(desk, tmp_path, image_bombs, name):
    path = tmp_path / "card.png"
    path.write_bytes(image_bombs[name])
    # A 39 KB PNG just under imaging.MAX_PIXELS costs ~80 MB (decoded + grey copy): reported, bounded here.
    status, printed, _ = desk.cli(str(path), seconds=10, mib=128)
    assert (status, printed["code"]) == (1, "malformed")


def test_image_that_is_not_an_image(desk, tmp_path):
    for content in (b"", b"GIF89a" + bytes(100), b"\x89PNG\r\n\x1a\n" + b"\xff" * 100, "caf\xe9".encode("latin-1")):
        path = tmp_path / "card.jpg"
        path.write_bytes(content)
        status, printed, _ = desk.cli(str(path))
        assert (status, printed["code"]) == (1, "malformed")


def test_image_carrying_an_attack(desk, tmp_path):
    """A real QR image whose text is an alg-none credential: the image path reaches the same checks."""
    text = desk.signed(ALG_NONE, {**desk.payload(), "museum_tier": "gold"}, alg="none")
    path = tmp_path / "card.png"
    segno.make(text, error="q").save(str(path), scale=4)
    status, printed, _ = desk.cli(str(path))
    assert (status, printed["code"]) == (1, "unsupported")


# -- cityid-verify as a real process -------------------------------------------------------------------


def run_cli(desk, *args: str, stdin: bytes = b"") -> tuple[int, dict, int]:
    """Run cityid-verify in a child of a tiny wrapper, so the child's peak RSS is its own."""
    wrapper = (
        "import resource, subprocess, sys; "
        "r = subprocess.run(sys.argv[1:], input=sys.stdin.buffer.read(), capture_output=True, timeout=30); "
        "sys.stdout.write(str(r.returncode) + '\\n' + str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + '\\n' + r.stdout.decode())"
    )
    argv = [sys.executable, "-c", wrapper, str(CLI), "--trust", str(desk.folder), "--root-key", str(desk.root_file),
            "--purpose", "museum", "--json", "--", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=60, check=True)
    status, rss_kib, out = done.stdout.decode().split("\n", 2)
    return int(status), json.loads(out) if out.strip() else {}, int(rss_kib)


def test_cli_as_a_subprocess(desk, tmp_path):
    """The installed cityid-verify: alg none, 1 MB on stdin, a latin-1 file on stdin, a 100 MB photo."""
    status, printed, _ = run_cli(desk, desk.qr())
    assert (status, printed["valid"]) == (0, True)
    status, printed, _ = run_cli(desk, desk.signed(ALG_NONE, {**desk.payload(), "museum_tier": "gold"}, alg="none"))
    assert (status, printed["code"]) == (1, "unsupported")
    status, printed, _ = run_cli(desk, "-", stdin=b"CID1:" + b"0" * (1 << 20))
    assert (status, printed["code"]) == (1, "malformed")
    status, printed, _ = run_cli(desk, "-", stdin=(desk.qr() + "\u00e9").encode("latin-1"))
    assert (status, printed["code"]) == (1, "malformed")
    baseline = run_cli(desk, "-", stdin=b"x")[2]
    status, printed, rss_kib = run_cli(desk, str(sparse_file(tmp_path / "card.jpg", HUNDRED_MB, b"\xff\xd8\xff\xe0")))
    assert (status, printed["code"]) == (1, "malformed")
    assert rss_kib - baseline < 48 * 1024, f"reading a 100 MB file grew the process by {(rss_kib - baseline) // 1024} MiB"


# -- the partner app -------------------------------------------------------------------------------------


@pytest.fixture
def app_client(desk):
    from verifier_sdk.app import create_app

    config = {"TESTING": True, "TRUST_DIR": str(desk.folder), "ROOT_KEY": str(desk.root_file), "PURPOSE": "museum"}
    return create_app(config, instance_path=str(desk.folder.parent / "instance")).test_client()


@needs_app
@pytest.mark.parametrize("path", ["/api/verify", "/verify"])
def test_hundred_megabyte_upload_to_the_app(app_client, path, limits):
    """Refused with 413 from its Content-Length, before the body is read."""
    body = CountingStream(HUNDRED_MB)
    headers = {"Content-Type": "multipart/form-data; boundary=xxxxxxxxxxxxxxxx", "Content-Length": str(HUNDRED_MB)}
    outcome = limits(lambda: app_client.post(path, input_stream=body, headers=headers), seconds=5, mib=32)
    assert outcome.error is None, repr(outcome.error)
    response = outcome.result
    assert response.status_code == 413
    assert body.read_bytes <= 8 * 1024 * 1024 + 64 * 1024
    if path.startswith("/api/"):
        assert response.get_json()["valid"] is False and response.get_json()["code"] == "too_large"


@needs_app
@pytest.mark.parametrize("name", ["400-megapixels", "just-under-the-pixel-cap"])
def test_image_decompression_bomb_to_the_app(app_client, image_bombs, name, limits):
    data = {"image": (io.BytesIO(image_bombs[name]), "card.png", "image/png")}
    outcome = limits(lambda: app_client.post("/api/verify", data=data, content_type="multipart/form-data"), seconds=10, mib=128)
    response = outcome.result
    assert response.status_code == 400 and response.get_json()["code"] == "malformed"


@needs_app
@pytest.mark.parametrize("body", [{"qr": 12345}, {"qr": None}, {"qr": ["CID1:"]}, {"qr": {"a": 1}}, [1, 2], "CID1:", {"text": "CID1:"}], ids=repr)
def test_app_json_of_the_wrong_shape(app_client, body):
    response = app_client.post("/api/verify", json=body)
    assert response.status_code == 400 and response.get_json()["code"] == "malformed"


@needs_app
def test_app_non_utf8_body(app_client):
    for raw in (b'{"qr": "CID1:\xe9"}', b"\xff\xfe{", "{\"qr\": \"CID1:\u00e9\"}".encode("utf-16")):
        response = app_client.post("/api/verify", data=raw, content_type="application/json")
        assert response.status_code == 400 and response.get_json()["code"] == "malformed"
    response = app_client.post("/verify", data=b"qr=CID1%3A%E9%FF", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and b"CID1:" not in response.data


@needs_app
@pytest.mark.parametrize(
    "text",
    ['CID1:<script>alert(1)</script>', '"><img src=x onerror=alert(1)>~', "eyJ<svg/onload=alert(1)>.eyJ.~",
     "CID9:<b>bold</b>", "{{7*7}}~", "\u202e<script>~"],
    ids=["script-qr", "attr-break", "svg", "other-version", "template", "rtl"],
)
def test_app_page_never_reflects_the_scanned_text(app_client, text):
    """The desk page shows a plain invalid result, never a 500, and never echoes the input unescaped."""
    response = app_client.post("/verify", data={"qr": text})
    assert response.status_code in (200, 400)
    page = response.get_data(as_text=True)
    for fragment in ("<script>", "<img", "<svg", "<b>bold", "onerror=", "onload="):
        assert fragment not in page or fragment in page.replace(text, "")
    assert text not in page or text == "{{7*7}}~"  # escaped or absent; a template string is inert text
    api = app_client.post("/api/verify", json={"qr": text})
    assert api.status_code in (200, 400) and api.get_json()["valid"] is False
