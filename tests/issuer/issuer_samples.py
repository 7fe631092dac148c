"""Sample data for the issuer tests: fictional residents in many scripts, a fixed clock."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PASSPHRASE = "correct horse battery staple"

#: Fictional residents: many scripts, lengths and shapes of names (none of them is in the issuer's code).
PEOPLE = [
    {"given_name": "Ana María", "family_name": "Pérez Quispe", "birthdate": "1988-03-14", "museum_tier": "gold", "rx_eligible": True},
    {"given_name": "Дмитрий", "family_name": "Коваленко", "birthdate": "1956-11-02", "museum_tier": "silver"},
    {"given_name": "فاطمة الزهراء", "family_name": "الحسيني", "birthdate": "2001-07-30", "rx_eligible": "yes"},
    {"given_name": "Thị Lan", "family_name": "Nguyễn", "birthdate": "1979-01-09"},
    {"given_name": "美咲", "family_name": "佐藤", "birthdate": "2008-02-29", "museum_tier": "standard"},
    {"given_name": "अनन्या", "family_name": "शर्मा", "birthdate": "1960-12-31"},
    {"given_name": "Yael", "family_name": "בן־דוד", "birthdate": "1990-09-09", "rx_eligible": False},
    {"given_name": "Αικατερίνη", "family_name": "Παπαδοπούλου", "birthdate": "1945-06-15", "museum_tier": "gold"},
    {"given_name": "Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaftschaferswessenschafe",
     "family_name": "O'Brien-Łukasiewicz", "birthdate": "1999-04-01"},
    {"given_name": "X", "family_name": "Ng", "birthdate": "2008-03-01"},
    {"given_name": "ሰላም", "family_name": "ተስፋዬ", "birthdate": "1985-08-08", "rx_eligible": "true"},
    {"given_name": "Zoë", "family_name": "Ó Súilleabháin", "birthdate": "1961-03-01", "museum_tier": "silver"},
    # One name only (either column), and a self-designated gender.
    {"given_name": "Aroha", "birthdate": "1972-05-17", "gender": "X"},
    {"given_name": "", "family_name": "Sukarno", "birthdate": "1964-10-20", "rx_eligible": True, "gender": "m"},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path

