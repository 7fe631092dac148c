"""Batch issuance: input file -> registry reservations -> signed, rendered card folders, in parallel.

Crash safety (``kill -9`` at any moment): each card is first *reserved* in the
registry together with a journal entry (batch, line, keyed row hash) in one
transaction; workers then sign and render into a temporary folder renamed into
place; finally the journal entry is marked done.  A rerun of the same input skips
done lines, finishes reserved ones with the same card number, status index and
expiry, and never reserves a line twice.  Only this process writes SQLite.
"""

from __future__ import annotations

import multiprocessing
import queue
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from .cards import missing_glyphs
from .config import CityConfig, from_json, to_json
from .errors import IssuerError
from .faces import CardParams, card_faces
from .keys import KeyStore, key_from_der, private_key_der
from .output import artwork, card_folder, remove_stale_temporaries, write_card_folder
from .progress import Progress
from .records import InputRow, PersonRecord, RowError, read_rows
from .registry import Registry
from .vault import Vault, enrolment_record

CHUNK = 32
MAX_NUMBER_ATTEMPTS = 64


@dataclass
class BatchReport:
    """The outcome of one run; ``failed`` and ``warnings`` hold (line, reason) without any personal value."""

    rows: int = 0
    issued: int = 0
    already_issued: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    out_dir: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (f"{self.rows} rows: {self.issued} cards issued, {self.already_issued} already issued earlier, "
                f"{len(self.failed)} rows failed")


@dataclass(frozen=True)
class Job:
    line: int
    record: PersonRecord
    params: CardParams


# -- worker side: sign and render (no SQLite here) --------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(config_json: str, keys_der: dict[str, bytes], out_dir: str) -> None:
    _worker.update(config=from_json(config_json), out_dir=Path(out_dir),
                   keys={kid: key_from_der(der) for kid, der in keys_der.items()})


def produce_card(config: CityConfig, key: Any, out_dir: Path, job: Job) -> None:
    faces = card_faces(config, job.record, job.params, key)
    write_card_folder(out_dir, job.params.card_number, artwork(config, job.record, job.params, faces), faces)


def _produce_chunk(jobs: list[Job]) -> list[tuple[int, str | None]]:
    results = []
    for job in jobs:
        try:
            produce_card(_worker["config"], _worker["keys"][job.params.kid], _worker["out_dir"], job)
            results.append((job.line, None))
        except Exception as exc:  # noqa: BLE001 - one bad card must not stop the batch; the reason names no value
            results.append((job.line, f"card could not be produced ({type(exc).__name__})"))
    return results


# -- parent side: reservations, dispatch, journal ---------------------------------------------------
def batch_id(registry: Registry, input_path: Path) -> bytes:
    """A keyed hash of the input file: rerunning the same file resumes the same batch."""
    return registry.keyed_hash("batch", Path(input_path).read_bytes())[:16]


class _Planner:
    """Turns checked rows into jobs, reserving new cards and recovering interrupted ones."""

    def __init__(self, registry: Registry, config: CityConfig, batch: bytes, out_dir: Path, today: date,
                 expires_at: int, report: BatchReport) -> None:
        self.registry, self.config, self.batch = registry, config, batch
        self.out_dir, self.today, self.expires_at, self.report = out_dir, today, expires_at, report
        self.journal = self.registry.journal_rows(batch)
        self.kid = self.registry.current_key().kid
        self.usable_kids = {k.kid for k in self.registry.issuing_keys() if not k.withdrawn}
        self.faces = tuple(face.name for face in config.faces)
        self.vcts = tuple(face.vct for face in config.faces)
        self.finished_lines: list[int] = []

    def plan(self, rows: list[InputRow]) -> list[Job]:
        """Jobs for these rows, with all new reservations committed in one transaction."""
        jobs: list[Job] = []
        with self.registry.transaction():
            for row in rows:
                self.report.rows += 1
                if row.record is None:
                    self.report.failed.append((row.line, row.error or "invalid row"))
                    continue
                try:
                    job = self._plan_row(row.line, row.record)
                except RowError as exc:
                    self.report.failed.append((row.line, str(exc)))
                    continue
                if job is not None:
                    jobs.append(job)
            if self.finished_lines:
                self.registry.journal_done(self.batch, self.finished_lines)
                self.report.issued += len(self.finished_lines)
                self.finished_lines = []
        return jobs

    def _plan_row(self, line: int, record: PersonRecord) -> Job | None:
        row_hash = self.registry.keyed_hash("row", line.to_bytes(8, "big") + record.canonical())
        entry = self.journal.get(line)
        if entry is not None:
            journal_row_hash, card_hash, done = entry
            if journal_row_hash != row_hash:
                raise RowError("differs from the interrupted run of this batch; not issued")
            if done:
                self.report.already_issued += 1
                return None
            return self._resume(line, record, card_hash)
        number = record.card_number or self._new_number(line)
        card_hash = self.registry.card_hash(number)
        if self.registry.has_card(card_hash):
            raise RowError("card_number is already issued (earlier batch or earlier line)")
        status = self.registry.reserve_card(card_hash, self.faces, self.vcts, self.today.isoformat(), self.expires_at,
                                            self.kid, self.config.status_list_fill)
        self.registry.journal_add(self.batch, line, row_hash, card_hash)
        return Job(line, record, CardParams(number, status, self.today, self.expires_at, self.kid))

    def _new_number(self, line: int) -> str:
        for attempt in range(MAX_NUMBER_ATTEMPTS):
            number = self.registry.derived_card_number(self.batch, line, attempt)
            if not self.registry.has_card(self.registry.card_hash(number)):
                return number
        raise RowError("no free card number found")

    def _resume(self, line: int, record: PersonRecord, card_hash: bytes) -> Job | None:
        number = record.card_number
        if number is None:
            candidates = (self.registry.derived_card_number(self.batch, line, a)
                          for a in range(MAX_NUMBER_ATTEMPTS))
            number = next((n for n in candidates if self.registry.card_hash(n) == card_hash), None)
        card = self.registry.card(card_hash)
        if number is None or card is None or self.registry.card_hash(number) != card_hash:
            raise RowError("interrupted card cannot be recovered; ask the registry administrator")
        if card_folder(self.out_dir, number).exists():  # rendered before the crash, not yet marked
            self.finished_lines.append(line)
            return None
        kid = card.kid
        if kid not in self.usable_kids:  # its key was withdrawn meanwhile: sign with the current one
            kid = self.kid
            self.registry.set_card_kid(card_hash, kid)
        if set(card.faces) != set(self.faces):  # reserved by an older version or under other faces
            raise RowError("interrupted card was reserved for other card faces; issue it again in a new batch")
        return Job(line, record, CardParams(number, card.faces, date.fromisoformat(card.issued_on),
                                            card.expires_at, kid))


def _chunks(rows: Iterator[InputRow], size: int) -> Iterator[list[InputRow]]:
    chunk: list[InputRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_batch(registry: Registry, keys: KeyStore, config: CityConfig, input_path: Path, out_dir: Path, *,
              today: date, expires_at: int, workers: int, progress: bool, vault: Vault | None = None) -> BatchReport:
    """Issue every good row of ``input_path`` into ``out_dir`` (the caller holds the city's lock);
    with a ``vault``, each card's enrolment record goes into it before the card is printed."""
    input_path, out_dir = Path(input_path), Path(out_dir)
    report = BatchReport(out_dir=out_dir)
    if not input_path.is_file():
        raise IssuerError("the input file does not exist", "check the --input path")
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    planner = _Planner(registry, config, batch_id(registry, input_path), out_dir, today, expires_at, report)
    rows = read_rows(input_path, today, config.max_name_length, config.gender_options)
    bar = Progress(_count_lines(input_path), enabled=progress)

    def finish(results: list[tuple[int, str | None]]) -> None:
        done = [line for line, error in results if error is None]
        report.failed.extend((line, error) for line, error in results if error is not None)
        with registry.transaction():
            registry.journal_done(planner.batch, done)
        report.issued += len(done)
        bar.update(len(results))

    def after_planning(chunk: list[InputRow], jobs: list[Job]) -> None:
        bar.update(len(chunk) - len(jobs))
        if vault is not None:
            vault.put(*(enrolment_record(j.params.card_number, j.record, j.params.issued_on, j.params.expires_at)
                        for j in jobs))
        for job in jobs:
            if missing_glyphs(job.record.names, config.card_font):
                report.warnings.append((job.line, "the printed name uses characters the card font lacks; "
                                                  "set card_font in city.json and reprint"))

    signing_keys = {kid: keys.issuing_key(kid) for kid in planner.usable_kids}
    try:
        if workers <= 1:
            _worker.update(config=config, out_dir=out_dir, keys=signing_keys)
            for chunk in _chunks(rows, CHUNK):
                jobs = planner.plan(chunk)
                after_planning(chunk, jobs)
                finish(_produce_chunk(jobs))
        else:
            _run_parallel(planner, rows, signing_keys, config, out_dir, workers, finish, after_planning)
    finally:
        bar.close()
    report.failed.sort()
    return report


def _run_parallel(planner: _Planner, rows: Iterator[InputRow], keys: dict[str, Any], config: CityConfig,
                  out_dir: Path, workers: int, finish: Any, after_planning: Any) -> None:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    ctx = multiprocessing.get_context(method)
    results: queue.Queue = queue.Queue()
    in_flight = 0
    initargs = (to_json(config), {k: private_key_der(v) for k, v in keys.items()}, str(out_dir))
    with ctx.Pool(workers, initializer=_init_worker, initargs=initargs) as pool:
        for chunk in _chunks(rows, CHUNK):
            jobs = planner.plan(chunk)
            after_planning(chunk, jobs)
            if not jobs:
                continue
            lines = [job.line for job in jobs]
            pool.apply_async(_produce_chunk, (jobs,), callback=results.put,
                             error_callback=lambda exc, lines=lines: results.put(
                                 [(n, f"card could not be produced ({type(exc).__name__})") for n in lines]))
            in_flight += 1
            while in_flight >= workers * 3:
                finish(results.get())
                in_flight -= 1
        while in_flight:
            finish(results.get())
            in_flight -= 1


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) or 1
