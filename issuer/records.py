"""Enrolment input: read CSV or JSON Lines, check each row, report bad rows by line and reason.

Reasons never repeat the values ("line 17: birthdate is not a real date"): the
report goes to terminals and logs, and the values are residents' personal data.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from . import cardnumber
from .errors import InputError
from .photo import PhotoError, PhotoSource, check_photo

FIELDS = ("given_name", "family_name", "birthdate", "card_number", "museum_tier", "rx_eligible", "gender", "photo")
#: Required columns; a resident with one name leaves given_name or family_name empty.
REQUIRED = ("given_name", "family_name", "birthdate")
MAX_LINE_BYTES = 4096
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIER = re.compile(r"[a-z][a-z0-9_-]{0,15}")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}
#: Characters allowed in names although they are "format" characters: joiners some scripts need.
_JOINERS = {"\u200c", "\u200d"}


class RowError(ValueError):
    """One bad input row; the message is safe to log (it holds no value from the row)."""


@dataclass(frozen=True)
class PersonRecord:
    """One resident's enrolment data, checked.  Lives in memory only; never written to the registry."""

    given_name: str | None  # a resident with one name has only one of the two, carried exactly
    family_name: str | None
    birthdate: date
    card_number: str | None = None
    museum_tier: str | None = None
    rx_eligible: bool = False
    gender: str | None = None  # self-designated, optional, one of the city's gender_options

    @property
    def names(self) -> str:
        """Every printed name character (for font checks)."""
        return (self.given_name or "") + (self.family_name or "")
    #: The photo to print: a file (read when the card is drawn, never copied) or, from the API, its bytes.
    photo: PhotoSource | None = None

    def identity(self) -> bytes:
        """Who this row is, for "already issued in this batch": the birth date and the words of both names.

        Not the whole row, so a fixed tier or a re-saved file never gives anyone a second card; and folded
        (case, accents, punctuation, which field a word is in), so a swapped or re-accented name does not either.
        """
        words = sorted(name_words(" ".join(n for n in (self.given_name, self.family_name) if n)))
        return json.dumps([self.birthdate.isoformat(), words], ensure_ascii=False).encode("utf-8")


def name_words(name: str) -> list[str]:
    """A name's words without case, combining marks or punctuation ("Nguyễn Thị-Lan" -> nguyen, thi, lan)."""
    decomposed = unicodedata.normalize("NFKD", name)
    kept = "".join(" " if unicodedata.category(c)[0] in "PZ" else c
                   for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", kept.casefold()).split()


def check_name(value: Any, field: str, max_length: int) -> str | None:
    """A checked name, or None when empty (the resident has no such name)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise RowError(f"{field} must be text")
    name = unicodedata.normalize("NFC", value.strip())
    if len(name) > max_length:
        raise RowError(f"{field} is longer than {max_length} characters")
    for ch in name:
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp") or (category == "Cf" and ch not in _JOINERS):
            raise RowError(f"{field} contains a control or invisible character")
    return name


def check_birthdate(value: Any, today: date) -> date:
    if value is None or value == "":
        raise RowError("birthdate is missing")
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise RowError("birthdate must be written YYYY-MM-DD")
    try:
        born = date.fromisoformat(value)
    except ValueError:
        raise RowError("birthdate is not a real date") from None
    if born > today:
        raise RowError("birthdate is in the future")
    if born.year < today.year - 130:
        raise RowError("birthdate is more than 130 years ago")
    return born


def check_gender(value: Any, options: tuple[str, ...]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    chosen = {option.lower(): option for option in options}.get(value.strip().lower()) if isinstance(value, str) else None
    if chosen is None:
        raise RowError(f"gender must be empty or one of {', '.join(options)}")
    return chosen


def check_photo_field(value: Any, base: Path | None) -> PhotoSource | None:
    """The photo column: a path, relative to the input file's folder (or the bytes, from the API); named but
    unusable is the row's error."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (bytes, bytearray)):
        path: PhotoSource = bytes(value)
    elif isinstance(value, (str, Path)):
        path = Path(str(value).strip())
    else:
        raise RowError("photo must be a file path")
    if isinstance(path, Path) and base is not None and not path.is_absolute():
        path = base / path
    try:
        check_photo(path)
    except PhotoError as exc:
        raise RowError(str(exc)) from None
    return path


def check_record(fields: dict[str, Any], today: date, max_name_length: int = 100,
                 photo_base: Path | None = None, gender_options: tuple[str, ...] = ("F", "M", "X")) -> PersonRecord:
    """A checked record from one row's fields, or RowError with a value-free reason.

    A relative photo path is taken from ``photo_base`` (the input file's folder), else the current folder.
    """
    given = check_name(fields.get("given_name"), "given_name", max_name_length)
    family = check_name(fields.get("family_name"), "family_name", max_name_length)
    if given is None and family is None:
        raise RowError("name is missing (given_name or family_name; a resident with one name fills either)")
    born = check_birthdate(fields.get("birthdate"), today)
    number = fields.get("card_number")
    if number in (None, ""):
        number = None
    elif not isinstance(number, str) or not cardnumber.is_valid(number.strip()):
        raise RowError("card_number must be 12 digits with a valid check digit")
    else:
        number = number.strip()
    tier = fields.get("museum_tier")
    if tier in (None, ""):
        tier = None
    elif not isinstance(tier, str) or not _TIER.fullmatch(tier.strip().lower()):
        raise RowError("museum_tier must be a short word such as gold")
    else:
        tier = tier.strip().lower()
    rx = fields.get("rx_eligible")
    if isinstance(rx, bool):
        eligible = rx
    elif rx is None or (isinstance(rx, str) and rx.strip().lower() in _TRUE | _FALSE):
        eligible = rx is not None and rx.strip().lower() in _TRUE
    else:
        raise RowError("rx_eligible must be true or false")
    photo = check_photo_field(fields.get("photo"), photo_base)
    return PersonRecord(given, family, born, number, tier, eligible, check_gender(fields.get("gender"), gender_options), photo)


@dataclass(frozen=True)
class InputRow:
    """One input line: a record, or the reason it was refused."""

    line: int
    record: PersonRecord | None
    error: str | None


@dataclass
class InputFile:
    """A readable input file: how many data rows it has (not the header), notes for the user, and its rows."""

    count: int
    notes: list[str]
    rows: Iterator[InputRow]


#: Spreadsheet files by their first bytes: they must be exported as CSV first.
_SPREADSHEETS = ((b"PK\x03\x04", "a spreadsheet workbook (.xlsx or .ods)"),
                 (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"))
_EXPORT_ADVICE = ("in the spreadsheet choose Save As / Export, format 'CSV UTF-8' (LibreOffice: 'Text CSV' with "
                  "character set UTF-8), and pass that file")
_DELIMITERS = (",", ";", "\t", "|")
_COLUMN_ALIASES = {"first_name": "given_name", "firstname": "given_name", "forename": "given_name",
                   "last_name": "family_name", "lastname": "family_name", "surname": "family_name",
                   "date_of_birth": "birthdate", "dob": "birthdate", "birthday": "birthdate"}
_EXPECTED_HEADER = ",".join(FIELDS)


def _suggest(name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    if name in _COLUMN_ALIASES and _COLUMN_ALIASES[name] in choices:
        return _COLUMN_ALIASES[name]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.75)
    return close[0] if close else None


def _decode(path: Path, data: bytes) -> bytes:
    """UTF-8 bytes without a byte order mark, or InputError for a file that is not text we can read."""
    for magic, kind in _SPREADSHEETS:
        if data.startswith(magic):
            raise InputError(f"{path.name} is {kind}, not a CSV or JSON Lines file", _EXPORT_ADVICE)
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec).encode("utf-8") if codec != "utf-8" else data[len(bom):]
            except UnicodeDecodeError:
                raise InputError(f"{path.name} is not valid {codec.upper()} text", _EXPORT_ADVICE) from None
    if b"\0" in data[:4096]:
        raise InputError(f"{path.name} is not a text file (or is UTF-16 without a byte order mark)", _EXPORT_ADVICE)
    non_ascii = [line for line in data.split(b"\n") if not line.isascii()]
    if non_ascii and not any(_is_utf8(line) for line in non_ascii):
        raise InputError(f"{path.name} is not UTF-8 (it looks like a legacy Windows or Latin-1 export), so names "
                         "would print wrong", _EXPORT_ADVICE)
    return data


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _read_header(path: Path, text: str) -> tuple[list[str], str, list[str]]:
    """Column names, delimiter and notes from a CSV header; InputError naming a missing or misspelt column."""
    def cells(delimiter: str) -> list[str]:
        return [c.strip().lower().replace(" ", "_").replace("-", "_")
                for c in _csv_cells(text, delimiter) or []]

    delimiter = max(_DELIMITERS, key=lambda d: (sum(c in FIELDS for c in cells(d)), len(cells(d))))
    header = cells(delimiter)
    while header and not header[-1]:  # spreadsheets export trailing separators ("a,b,c,,")
        header.pop()
    unknown = [c for c in header if c not in FIELDS]
    for name in REQUIRED:
        if name not in header:
            near = next((c for c in unknown if _suggest(c, [name])), None)
            hint = (f"rename the column '{near}' to {name}" if near else
                    f"the first line must name the columns, e.g. {_EXPECTED_HEADER}")
            raise InputError(f"{path.name} has no column {name}", hint)
    for name in unknown:
        near = _suggest(name, FIELDS)
        if near:
            raise InputError(f"{path.name} has an unknown column '{name}'", f"did you mean {near}? rename it")
    repeated = sorted({c for c in header if header.count(c) > 1 and c in FIELDS})
    if repeated:
        raise InputError(f"{path.name} has the column {repeated[0]} twice", "keep one of them")
    notes = [f"column '{name}' is not used and was ignored" for name in unknown if name]
    return header, delimiter, notes


def read_input(path: Path, today: date, max_name_length: int = 100,
               gender_options: tuple[str, ...] = ("F", "M", "X")) -> InputFile:
    """A CSV (header first; comma, semicolon, tab or bar separated) or JSON Lines file; InputError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"the input file {path} does not exist or is not a file", "check the --input path")
    data = _decode(path, path.read_bytes())
    lines = [(n, raw.rstrip(b"\r")) for n, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]
    if not lines:
        raise InputError(f"{path.name} is empty", f"write a header ({_EXPECTED_HEADER}) and one row per resident")
    first = lines[0][1].lstrip()
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json") or first[:1] == b"{"
    if is_jsonl and first[:1] == b"[":
        raise InputError(f"{path.name} is one JSON array", "write one JSON object per line (JSON Lines)")
    header: list[str] | None = None
    notes: list[str] = []
    delimiter = ","
    if not is_jsonl:
        if not _is_utf8(lines[0][1]) or len(lines[0][1]) > MAX_LINE_BYTES:
            raise InputError(f"{path.name}: its first line is not a readable header", _EXPORT_ADVICE)
        header, delimiter, notes = _read_header(path, lines[0][1].decode("utf-8"))
        lines = lines[1:]
    return InputFile(len(lines), notes, _rows(lines, header, delimiter, today, max_name_length, path.parent, gender_options))


def read_rows(path: Path, today: date, max_name_length: int = 100,
              gender_options: tuple[str, ...] = ("F", "M", "X")) -> Iterator[InputRow]:
    """Rows of a CSV (with header) or JSON Lines file, by 1-based line number; blank lines are skipped."""
    return read_input(path, today, max_name_length, gender_options).rows


def _rows(lines: list[tuple[int, bytes]], header: list[str] | None, delimiter: str, today: date,
          max_name_length: int, photo_base: Path, gender_options: tuple[str, ...]) -> Iterator[InputRow]:
    for number, raw in lines:
        if len(raw) > MAX_LINE_BYTES:
            yield InputRow(number, None, "line is too long")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield InputRow(number, None, "not valid UTF-8 (save the file as CSV UTF-8)")
            continue
        fields, error = _json_fields(text) if header is None else _csv_fields(text, header, delimiter)
        if error:
            yield InputRow(number, None, error)
            continue
        try:
            yield InputRow(number, check_record(fields, today, max_name_length, photo_base, gender_options), None)
        except RowError as exc:
            yield InputRow(number, None, str(exc))


def _json_fields(text: str) -> tuple[dict[str, Any], str | None]:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError("duplicate")
        return dict(pairs)

    try:
        obj = json.loads(text, object_pairs_hook=unique)
    except (ValueError, RecursionError):
        return {}, "not a valid JSON object (or a repeated field)"
    if not isinstance(obj, dict):
        return {}, "not a JSON object"
    for key in obj:
        near = _suggest(str(key).lower(), FIELDS) if key not in FIELDS else None
        if near:
            return {}, f"has an unknown field (did you mean {near}?)"
    return obj, None


def _csv_cells(text: str, delimiter: str = ",") -> list[str] | None:
    try:
        return next(csv.reader([text], delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration):
        return None


def _csv_fields(text: str, header: list[str], delimiter: str) -> tuple[dict[str, Any], str | None]:
    cells = _csv_cells(text, delimiter)
    if cells is None:
        return {}, "not valid CSV (check the quotes)"
    if len(cells) > len(header) and not any(c.strip() for c in cells[len(header):]):
        cells = cells[:len(header)]  # trailing empty cells of a spreadsheet export
    if len(cells) != len(header):
        return {}, f"has {len(cells)} columns, the header has {len(header)}"
    return {name: cell for name, cell in zip(header, cells) if name in FIELDS}, None
