"""Enrolment input: read CSV or JSON Lines, check each row, report bad rows by line and reason.

Reasons never repeat the values ("line 17: birthdate is not a real date"): the
report goes to terminals and logs, and the values are residents' personal data.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from . import cardnumber

FIELDS = ("given_name", "family_name", "birthdate", "card_number", "museum_tier", "rx_eligible", "gender")
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

    def canonical(self) -> bytes:
        """Stable bytes for the keyed row hash that lets a rerun recognise this row."""
        values = [self.given_name, self.family_name, self.birthdate.isoformat(), self.card_number,
                  self.museum_tier, self.rx_eligible] + ([self.gender] if self.gender else [])
        return json.dumps(values, ensure_ascii=False).encode("utf-8")


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


def check_record(fields: dict[str, Any], today: date, max_name_length: int = 100,
                 gender_options: tuple[str, ...] = ("F", "M", "X")) -> PersonRecord:
    """A checked record from one row's fields, or RowError with a value-free reason."""
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
    return PersonRecord(given, family, born, number, tier, eligible, check_gender(fields.get("gender"), gender_options))


@dataclass(frozen=True)
class InputRow:
    """One input line: a record, or the reason it was refused."""

    line: int
    record: PersonRecord | None
    error: str | None


def read_rows(path: Path, today: date, max_name_length: int = 100,
              gender_options: tuple[str, ...] = ("F", "M", "X")) -> Iterator[InputRow]:
    """Rows of a CSV (with header) or JSON Lines file, by 1-based line number; blank lines are skipped."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json") or data.lstrip()[:1] == b"{"
    header: list[str] | None = None
    for number, raw in enumerate(lines, start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            yield InputRow(number, None, "line is too long")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield InputRow(number, None, "not valid UTF-8")
            continue
        if is_jsonl:
            fields, error = _json_fields(text)
        else:
            if header is None:
                header = [h.strip().lower() for h in _csv_cells(text) or []]
                missing = [f for f in REQUIRED if f not in header]
                if missing:
                    raise RowError(f"line {number}: the CSV header lacks column(s) {', '.join(missing)}")
                continue
            fields, error = _csv_fields(text, header)
        if error:
            yield InputRow(number, None, error)
            continue
        try:
            yield InputRow(number, check_record(fields, today, max_name_length, gender_options), None)
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
    return obj, None


def _csv_cells(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None


def _csv_fields(text: str, header: list[str]) -> tuple[dict[str, Any], str | None]:
    cells = _csv_cells(text)
    if cells is None:
        return {}, "not valid CSV (check the quotes)"
    if len(cells) != len(header):
        return {}, f"has {len(cells)} columns, the header has {len(header)}"
    return {name: cell for name, cell in zip(header, cells) if name in FIELDS}, None
