"""Rows of the benchmark table, the printed table, and the JSON document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .timing import Stats


@dataclass
class Row:
    """One figure: a Stats (median/min/max) or a single value, with its unit and goal."""

    name: str
    value: Stats | float | int | str
    unit: str = ""
    goal: str | None = None
    met: bool | None = None
    note: str | None = None
    headline: bool = False  # shown in the summary table even without a goal

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "unit": self.unit}
        if isinstance(self.value, Stats):
            out.update(self.value.as_dict())
        else:
            out["value"] = self.value
        for key in ("goal", "met", "note"):  # (headline only shapes the summary)
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Family:
    """The rows of one figure family, plus notes and free-form details for the JSON."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "rows": [r.as_dict() for r in self.rows], "notes": self.notes,
                "details": self.details, "seconds": round(self.seconds, 2)}


def _fmt(x: float, unit: str = "") -> str:
    if isinstance(x, int) or (unit != "x" and float(x).is_integer()):
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _cells(row: Row) -> list[str]:
    if isinstance(row.value, Stats):
        median, low, high = (_fmt(v, row.unit) for v in (row.value.median, row.value.min, row.value.max))
    else:
        median, low, high = (_fmt(row.value, row.unit) if isinstance(row.value, (int, float)) else str(row.value)), "", ""
    met = "" if row.met is None else ("yes" if row.met else "**NO**")
    return [row.name, median, low, high, row.unit, row.goal or "", met, row.note or ""]


def markdown(families: list[Family]) -> str:
    """One Markdown table per family (README-ready)."""
    out = []
    for family in families:
        out.append(f"**{family.title}**\n")
        notes = any(row.note for row in family.rows)
        out.append("| figure | median | min | max | unit | goal | met |" + (" note |" if notes else ""))
        out.append("|---|---:|---:|---:|---|---|---|" + ("---|" if notes else ""))
        out += ["| " + " | ".join(_cells(row)[: 8 if notes else 7]) + " |" for row in family.rows]
        if family.notes:
            out.append("")
            out += [f"- {note}" for note in family.notes]
        out.append("")
    return "\n".join(out)


def summary(families: list[Family]) -> str:
    """One table of the goals and headline figures (the README's table)."""
    out = ["| family | figure | median | min | max | unit | goal | met |", "|---|---|---:|---:|---:|---|---|---|"]
    for family in families:
        for row in family.rows:
            if row.goal is not None or row.headline:
                out.append(f"| {family.key} | " + " | ".join(_cells(row)[:7]) + " |")
    return "\n".join(out)
