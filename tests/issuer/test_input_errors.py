"""Input mistakes a card office makes: each is named with what to do, none reaches "unexpected error".

Reproduces the measured fault: a wrong header, a semicolon-separated CSV or an .xlsx file ended in
``unexpected error (RowError) -- please report it``.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import zipfile
from pathlib import Path

import pytest
from issuer_samples import NOW

from issuer import IssuerError
from issuer.cli import main

ROWS = [("Ana María", "Pérez", "1988-03-14"), ("Дмитрий", "Коваленко", "1956-11-02"), ("Zoë", "Ó Súilleabháin", "1961-03-01")]


def table(header: str = "given_name,family_name,birthdate", sep: str = ",") -> str:
    return "\n".join([header.replace(",", sep)] + [sep.join(r) for r in ROWS]) + "\n"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    base = tmp_path_factory.mktemp("input")
    done = cli("init", str(base / "city"), "--insecure-demo")
    assert done.returncode == 0, done.stderr
    return base / "city"


def cli(*args: str) -> subprocess.CompletedProcess:
    """The command line in this process (the same code as the installed script, without a Python start-up)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--workers", "1"] if args[0] == "issue" else list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def issue(city: Path, tmp_path: Path, name: str, data: bytes) -> subprocess.CompletedProcess:
    path = tmp_path / name
    path.write_bytes(data)
    done = cli("issue", str(city), "--input", str(path), "--out", str(tmp_path / f"out-{name}"))
    assert "unexpected error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    return done


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "data", "issued"), [
    ("semicolon.csv", table(sep=";").encode(), 3),
    ("tabs.txt", table(sep="\t").encode(), 3),
    ("bom.csv", b"\xef\xbb\xbf" + table().encode(), 3),
    ("utf16.csv", table(sep="\t").encode("utf-16"), 3),  # Excel's "Unicode text"
    ("crlf.csv", table().replace("\n", "\r\n").encode(), 3),
    ("spaced-header.csv", table("Given Name, Family-Name ,BIRTHDATE").encode(), 3),
    ("trailing-separators.csv", table("given_name;family_name;birthdate;;", ";").replace("\n", ";;\n")
     .replace(";;;;\n", ";;\n", 1).encode(), 3),
])
def test_dialects_and_encodings_spreadsheets_export_are_read(city, tmp_path, name, data, issued):
    done = issue(city, tmp_path, name, data)
    assert done.returncode == 0, done.stderr
    assert f"{issued} cards issued" in done.stdout


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("misspelt.csv", table("given_name,family_name,birth_date").encode(),
     "has no column birthdate -- rename the column 'birth_date' to birthdate"),
    ("alias.csv", table("first_name,family_name,birthdate").encode(), "rename the column 'first_name' to given_name"),
    ("typo-optional.csv", (table() .replace("birthdate\n", "birthdate,museum_teir\n", 1)).encode(),
     "unknown column 'museum_teir' -- did you mean museum_tier?"),
    ("no-header.csv", "\n".join(",".join(r) for r in ROWS).encode(), "has no column given_name -- the first line"),
    ("twice.csv", table("given_name,family_name,birthdate,birthdate").encode(), "has the column birthdate twice"),
    ("book.xlsx", xlsx_bytes(), "is a spreadsheet workbook (.xlsx or .ods), not a CSV"),
    ("renamed.csv", xlsx_bytes(), "is a spreadsheet workbook"),  # detected by its bytes, not its name
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "is an Excel 97-2003 workbook (.xls)"),
    ("latin1.csv", table().replace("Дмитрий,Коваленко", "José,Núñez").encode("cp1252"), "is not UTF-8"),
    ("utf16-no-bom.csv", table().encode("utf-16-le"), "UTF-16 without a byte order mark"),
    ("empty.csv", b"", "is empty"),
    ("array.json", b'[{"given_name": "A"}]', "one JSON array"),
])
def test_input_file_mistakes_are_named_with_what_to_do(city, tmp_path, name, data, expected):
    done = issue(city, tmp_path, name, data)
    assert done.returncode == 1
    assert expected in done.stderr, done.stderr
    assert not (tmp_path / f"out-{name}").exists() or not any((tmp_path / f"out-{name}").iterdir())


def test_spreadsheet_advice_says_what_to_export(city, tmp_path):
    done = issue(city, tmp_path, "book.xlsx", xlsx_bytes())
    assert "CSV UTF-8" in done.stderr


def test_an_unused_column_is_noted_not_fatal(city, tmp_path):
    done = issue(city, tmp_path, "notes.csv", table().replace("birthdate\n", "birthdate,office_notes\n", 1)
                 .replace("1988-03-14\n", "1988-03-14,x\n").replace("1956-11-02\n", "1956-11-02,\n")
                 .replace("1961-03-01\n", "1961-03-01,\n").encode())
    assert done.returncode == 0, done.stderr
    assert "note: column 'office_notes' is not used and was ignored" in done.stderr


def test_a_missing_input_or_a_folder_is_a_clear_error(city, tmp_path):
    for target in (tmp_path / "nope.csv", tmp_path):
        done = cli("issue", str(city), "--input", str(target), "--out", str(tmp_path / "out"))
        assert done.returncode == 1 and "does not exist or is not a file" in done.stderr


def test_a_json_lines_field_typo_is_a_row_error(demo_city, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"given_name": "A", "family_name": "B", "birthdate": "2000-01-01", "museum_teir": "gold"}\n')
    report = demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
    assert report.failed == [(1, "has an unknown field (did you mean museum_tier?)")]


def test_the_api_raises_a_typed_error_for_a_bad_header(demo_city, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(table("givenname,family_name,birthdate"))
    with pytest.raises(IssuerError, match="rename the column 'givenname' to given_name"):
        demo_city.issue_batch(path, tmp_path / "out", now=NOW, workers=1, progress=False)
