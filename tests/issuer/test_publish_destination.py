"""Publishing never destroys anything: only an empty folder or this city's earlier publication is replaced."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from issuer import Issuer, IssuerError
from issuer_samples import NOW

REPO = Path(__file__).resolve().parents[2]


def tree(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with its bytes' digest: 'byte-for-byte intact' made checkable."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "issuer.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


@pytest.fixture
def city_dir(demo_city):
    demo_city.issue_card({"given_name": "Ana", "family_name": "Pérez", "birthdate": "1990-01-31"}, now=NOW)
    demo_city.close()
    return demo_city.dir


@pytest.mark.parametrize("where", ["city", "city/publication", "city/keys", "parent", "city/../city"])
def test_publish_in_or_around_the_city_folder_is_refused_and_changes_nothing(city_dir, where):
    base = city_dir.parent
    target = base / where.replace("city", city_dir.name, 1) if where != "parent" else base
    before = tree(base)
    done = cli("publish", str(city_dir), str(target))
    assert done.returncode == 1, done
    assert "city folder" in done.stderr and "Traceback" not in done.stderr
    assert tree(base) == before


def test_publish_through_a_symlink_to_the_city_folder_is_refused(city_dir, tmp_path):
    (tmp_path / "www").symlink_to(city_dir)
    before = tree(city_dir)
    with Issuer.open(city_dir) as city, pytest.raises(IssuerError, match="inside the city folder"):
        city.publish(tmp_path / "www")
    assert tree(city_dir) == before


def test_a_non_empty_web_root_is_refused_byte_for_byte_intact(city_dir, tmp_path):
    www = tmp_path / "www"
    (www / "assets").mkdir(parents=True)
    (www / "index.html").write_text("<h1>City hall</h1>")
    (www / "assets" / "logo.svg").write_text("<svg/>")
    before = tree(www)
    done = cli("publish", str(city_dir), str(www))
    assert done.returncode == 1 and "not empty" in done.stderr and "untouched" in done.stderr, done
    assert tree(www) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".www")]
    (tmp_path / "file").write_text("x")
    assert cli("publish", str(city_dir), str(tmp_path / "file")).returncode == 1
    assert (tmp_path / "file").read_text() == "x"


def test_empty_folder_then_own_publication_are_replaced_another_citys_is_not(city_dir, tmp_path):
    (tmp_path / "pub").mkdir()
    assert cli("publish", str(city_dir), str(tmp_path / "pub")).returncode == 0
    first = tree(tmp_path / "pub")
    done = cli("publish", str(city_dir), str(tmp_path / "pub"))
    assert done.returncode == 0, done.stderr
    assert tree(tmp_path / "pub") != first  # a new version replaced the old one
    with Issuer.init(tmp_path / "other", insecure_demo=True, now=NOW) as other:  # same default issuer URL
        before = tree(tmp_path / "pub")
        with pytest.raises(IssuerError, match="not an earlier publication of this city"):
            other.publish(tmp_path / "pub", now=NOW)
    assert tree(tmp_path / "pub") == before


def test_leftovers_of_a_killed_publish_are_swept_but_only_ours(city_dir, tmp_path):
    with Issuer.open(city_dir) as city:
        city.publish(tmp_path / "pub", now=NOW)
        marker = (tmp_path / "pub" / ".cityid-publication").read_bytes()
        ours, empty, foreign, unmarked = (tmp_path / f".pub.publishing-{n}" for n in ("a1", "b2", "c3", "d4"))
        for folder in (ours, empty, foreign, unmarked):
            folder.mkdir()
        (ours / ".cityid-publication").write_bytes(marker)
        (ours / "status").mkdir()
        (unmarked / ".cityid-publication").write_bytes(b"")  # killed between creating the marker and writing it
        (foreign / "notes.txt").write_text("someone else's")
        city.publish(tmp_path / "pub", now=NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pub.publishing-c3", "city", "city-root", "pub"]  # city-root: the demo root key, beside the city
