"""Batch issuance: input file -> registry reservations -> signed, rendered card folders, in parallel.

A city has at most one *open batch*.  Its journal maps each resident (a keyed hash of
the birth date and name words, salted with the batch's random id) to the card issued
for them, so a rerun of an edited input (fixed rows, new rows, reordered rows, another
``--out``) issues exactly the residents not issued yet and never a second card.  Card
numbers are derived from the same keyed hash, so they are never stored.  The journal
is erased for good when a run leaves nothing to do (every resident of the batch is in
the input and no row failed) or with ``close-batch``; after that the registry holds no
function of anyone's personal data.

Crash safety (``kill -9`` or Ctrl-C at any moment): a card is first *reserved* in the
registry with its journal entry in one transaction; workers sign and render into a
temporary folder renamed into place; then the entry is marked done.  A rerun finishes
reserved cards with the same number, status index and expiry.  Only this process
writes SQLite.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator

from . import cardnumber
from .config import CityConfig, from_json, to_json
from .errors import IssuerError
from .faces import CardParams, card_faces
from .hsm import TokenKeyStore, WorkerTokenKeys
from .files import replace_dir
from .keys import KeyStore, key_from_der, private_key_der
from .output import TMP_PREFIX, artwork, card_folder, check_printable, remove_stale_temporaries, write_card_folder
from .progress import Progress
from .records import InputRow, PersonRecord, RowError, read_input
from .registry import REVOKED, Registry
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
    #: Output folder -> how many of this input's residents already had their card there from an earlier run.
    earlier: Counter = field(default_factory=Counter)
    #: Cards in the batch so far, by output folder.
    batch_folders: Counter = field(default_factory=Counter)
    #: True when the batch completed with this run and its journal was erased.
    closed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        text = f"{self.rows} rows: {self.issued} cards issued into {self.out_dir}"
        if self.already_issued:
            where = ", ".join(f"{n} in {folder}" for folder, n in sorted(self.earlier.items()))
            text += f", {self.already_issued} already issued earlier in this batch ({where})"
        return text + f", {len(self.failed)} rows failed."

    def next_step(self) -> str:
        folders = ", ".join(f"{n} in {folder}" for folder, n in sorted(self.batch_folders.items())) or "none"
        if self.closed:
            return (f"Batch complete: its cards are {folders}. The batch journal is erased, so the registry no "
                    "longer links any row to a card; running this input again would issue new cards.")
        if self.failed:
            return ("The batch stays open. Fix the rows listed above and run the command again (any --out): "
                    "residents already issued are recognised by names and birth date and never get a second card. "
                    f"Cards so far: {folders}. To stop here, run `cityid-issuer close-batch`.")
        return (f"The batch stays open: it has cards for residents who are not in this input ({folders}). "
                "Run the command again with the whole input, or end the batch with `cityid-issuer close-batch`.")


@dataclass(frozen=True)
class Job:
    line: int
    record: PersonRecord
    params: CardParams
    out_dir: Path
    reprint: bool = False


# -- worker side: sign and render (no SQLite here) --------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(config_json: str, keys: dict[str, bytes] | WorkerTokenKeys) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no worker tracebacks
    signing = keys.open() if isinstance(keys, WorkerTokenKeys) else {kid: key_from_der(der) for kid, der in keys.items()}
    _worker.update(config=from_json(config_json), keys=signing)


def _worker_keys(keys: Any, signing: dict[str, Any]) -> tuple[dict[str, bytes] | WorkerTokenKeys, str | None]:
    """The keys for worker processes, and how to start them: HSM keys need a fresh process and session each."""
    if isinstance(keys, TokenKeyStore):
        return keys.worker_keys(list(signing)), "spawn"
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    return {k: private_key_der(v) for k, v in signing.items()}, method


def produce_card(config: CityConfig, key: Any, job: Job) -> None:
    faces = card_faces(config, job.record, job.params, key)
    art = artwork(config, job.record, job.params, faces)
    number = job.params.card_number
    if not job.reprint:
        write_card_folder(job.out_dir, number, art, faces)
        return
    staging = job.out_dir / f"{TMP_PREFIX}reprint-{os.getpid()}"
    staging.mkdir(mode=0o700, exist_ok=True)
    replace_dir(write_card_folder(staging, number, art, faces), card_folder(job.out_dir, number))


def _produce_chunk(jobs: list[Job]) -> list[tuple[int, str | None]]:
    results = []
    for job in jobs:
        try:
            produce_card(_worker["config"], _worker["keys"][job.params.kid], job)
            results.append((job.line, None))
        except RowError as exc:  # the photo or a name cannot be printed: the reason names no value
            results.append((job.line, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one bad card must not stop the batch; the reason names no value
            results.append((job.line, f"card could not be produced ({type(exc).__name__})"))
    return results


# -- parent side: the open batch, reservations, dispatch --------------------------------------------
class _Batch:
    """The open batch as this run sees it: residents already in it, and which rows of this input are whom."""

    def __init__(self, registry: Registry, config: CityConfig, batch: bytes, out_dir: Path | None, today: date,
                 expires_at: int, report: BatchReport) -> None:
        self.registry, self.config, self.batch = registry, config, batch
        self.out_dir, self.today, self.expires_at, self.report = out_dir, today, expires_at, report
        self.out_no = 0
        if out_dir is not None:  # where this run writes new cards
            with registry.transaction():
                self.out_no = registry.batch_output(batch, str(out_dir))
        self.outputs = {n: Path(p) for n, p in registry.batch_outputs(batch).items()}
        self.journal = registry.batch_cards(batch)
        self.kid = registry.current_key().kid
        self.usable_kids = {k.kid for k in registry.issuing_keys() if not k.withdrawn}
        self.faces = tuple(face.name for face in config.faces)
        self.vcts = tuple(face.vct for face in config.faces)
        self.seen: dict[bytes, int] = {}  # resident -> line of this input
        self.by_line: dict[int, bytes] = {}
        self.finished: list[tuple[bytes, int]] = []  # rendered before a crash, not yet marked

    def resident(self, record: PersonRecord) -> bytes:
        return self.registry.keyed_hash("resident", self.batch + record.identity())

    def number(self, resident: bytes, record: PersonRecord, card_hash: bytes) -> str | None:
        """The card number of a resident's card in this batch (derived, or the input's own)."""
        candidates = [record.card_number] if record.card_number else (
            self.registry.derived_card_number(self.batch, resident, a) for a in range(MAX_NUMBER_ATTEMPTS))
        return next((n for n in candidates if n and self.registry.card_hash(n) == card_hash), None)

    def identify(self, row: InputRow) -> tuple[bytes, PersonRecord] | None:
        """Count the row and find the resident; None (reported) for a bad row or a repeated resident."""
        self.report.rows += 1
        if row.record is None:
            self.report.failed.append((row.line, row.error or "invalid row"))
            return None
        resident = self.resident(row.record)
        if resident in self.seen:
            self.report.failed.append((row.line, f"same names and birth date as line {self.seen[resident]}; not "
                                       "issued twice (if it is another person, issue them after close-batch)"))
            return None
        self.seen[resident] = row.line
        self.by_line[row.line] = resident
        return resident, row.record

    def plan(self, rows: list[InputRow]) -> list[Job]:
        """Jobs for these rows, with all new reservations committed in one transaction."""
        jobs: list[Job] = []
        with self.registry.transaction():
            for row in rows:
                found = self.identify(row)
                if found is None:
                    continue
                try:
                    check_printable(self.config, row.record)
                    job = self._plan_row(row.line, *found)
                except RowError as exc:
                    self.report.failed.append((row.line, str(exc)))
                    continue
                if job is not None:
                    jobs.append(job)
            if self.finished:
                self.registry.batch_done(self.batch, self.finished)
                self.report.issued += len(self.finished)
                self.finished = []
        return jobs

    def _plan_row(self, line: int, resident: bytes, record: PersonRecord) -> Job | None:
        entry = self.journal.get(resident)
        if entry is not None:
            card_hash, out_no, done = entry
            if done:
                self.report.already_issued += 1
                self.report.earlier[self.outputs[out_no]] += 1
                return None
            return self._resume(line, resident, record, card_hash, out_no)
        number = record.card_number or self._new_number(resident)
        card_hash = self.registry.card_hash(number)
        if self.registry.has_card(card_hash):
            raise RowError("card_number is already issued (earlier batch or earlier line)")
        status = self.registry.reserve_card(card_hash, self.faces, self.vcts, self.today.isoformat(), self.expires_at,
                                            self.kid, self.config.status_list_fill)
        self.registry.batch_add(self.batch, resident, card_hash, self.out_no)
        assert self.out_dir is not None
        return Job(line, record, CardParams(number, status, self.today, self.expires_at, self.kid), self.out_dir)

    def _new_number(self, resident: bytes) -> str:
        for attempt in range(MAX_NUMBER_ATTEMPTS):
            number = self.registry.derived_card_number(self.batch, resident, attempt)
            if not self.registry.has_card(self.registry.card_hash(number)):
                return number
        raise RowError("no free card number found")

    def card_params(self, resident: bytes, record: PersonRecord, card_hash: bytes) -> CardParams:
        """The parameters the registry fixed for a resident's card (re-signed with the current key if its was withdrawn)."""
        number = self.number(resident, record, card_hash)
        card = self.registry.card(card_hash)
        if number is None or card is None:
            raise RowError("this resident's card cannot be recovered (was card_number changed?); "
                           "ask the registry administrator")
        kid = card.kid
        if kid not in self.usable_kids:
            kid = self.kid
            self.registry.set_card_kid(card_hash, kid)
        if set(card.faces) != set(self.faces):  # reserved by an older version or under other faces
            raise RowError("this resident's card was reserved for other card faces; issue it again after close-batch")
        return CardParams(number, card.faces, date.fromisoformat(card.issued_on), card.expires_at, kid)

    def _resume(self, line: int, resident: bytes, record: PersonRecord, card_hash: bytes, out_no: int) -> Job | None:
        params = self.card_params(resident, record, card_hash)
        if card_folder(self.outputs[out_no], params.card_number).exists():  # rendered before the crash, not marked
            self.finished.append((resident, out_no))
            return None
        assert self.out_dir is not None
        return Job(line, record, params, self.out_dir)


def _chunks(rows: Iterator[InputRow], size: int) -> Iterator[list[InputRow]]:
    chunk: list[InputRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _holds_cards(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_dir() and cardnumber.is_valid(p.name) for p in folder.iterdir())


def _start(registry: Registry, out_dir: Path, now: int) -> bytes:
    """The open batch (opened now if none is); refuses an output folder holding another batch's cards."""
    with registry.transaction():
        current = registry.open_batch(now, create=False)
        known = registry.batch_outputs(current[0]).values() if current else ()
        if str(out_dir) not in known and _holds_cards(out_dir):
            raise IssuerError(f"{out_dir} already holds cards of an earlier, closed batch",
                              "give each new batch its own empty --out folder")
        opened = registry.open_batch(now)
    assert opened is not None
    return opened[0]


def run_batch(registry: Registry, keys: KeyStore, config: CityConfig, input_path: Path, out_dir: Path, *,
              today: date, expires_at: int, now: int, workers: int, progress: bool,
              vault: Vault | None = None) -> BatchReport:
    """Issue every good row of ``input_path`` into ``out_dir`` (the caller holds the city's lock);
    with a ``vault``, each card's enrolment record goes into it before the card is printed."""
    out_dir = Path(out_dir).absolute()
    source = read_input(input_path, today, config.max_name_length, config.gender_options)
    report = BatchReport(out_dir=out_dir, notes=source.notes)
    batch = _start(registry, out_dir, now)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir)
    run = _Batch(registry, config, batch, out_dir, today, expires_at, report)
    bar = Progress(source.count, enabled=progress)

    def finish(results: list[tuple[int, str | None]]) -> None:
        done = [(run.by_line[line], run.out_no) for line, error in results if error is None]
        report.failed.extend((line, error) for line, error in results if error is not None)
        with registry.transaction():
            registry.batch_done(batch, done)
        report.issued += len(done)
        bar.update(len(results))

    def after_planning(chunk: list[InputRow], jobs: list[Job]) -> None:
        bar.update(len(chunk) - len(jobs))
        if vault is not None:
            vault.put(*(enrolment_record(j.params.card_number, j.record, j.params.issued_on, j.params.expires_at)
                        for j in jobs))

    try:
        _dispatch(run.plan, source.rows, keys, _signing_keys(run, keys), config, workers, finish, after_planning)
    finally:
        bar.close()
    report.failed.sort()
    journal = registry.batch_cards(batch)
    outputs = registry.batch_outputs(batch)
    report.batch_folders.update(Path(outputs[out_no]) for _, out_no, done in journal.values() if done)
    if not report.failed and all(done for _, _, done in journal.values()) and set(journal) <= set(run.seen):
        registry.erase_batch()
        report.closed = True
    return report


def _signing_keys(run: _Batch, keys: KeyStore) -> dict[str, Any]:
    return {kid: keys.issuing_key(kid) for kid in run.usable_kids}


def _dispatch(plan: Callable[[list[InputRow]], list[Job]], rows: Iterator[InputRow], keys: KeyStore,
              signing_keys: dict[str, Any], config: CityConfig, workers: int, finish: Callable,
              after_planning: Callable) -> None:
    """Plan chunk by chunk; sign and render here (one worker) or in a pool of worker processes."""
    if workers <= 1:
        _worker.update(config=config, keys=signing_keys)
        for chunk in _chunks(rows, CHUNK):
            jobs = plan(chunk)
            after_planning(chunk, jobs)
            finish(_produce_chunk(jobs))
        return
    worker_keys, method = _worker_keys(keys, signing_keys)
    ctx = multiprocessing.get_context(method)
    results: queue.Queue = queue.Queue()
    in_flight = 0
    initargs = (to_json(config), worker_keys)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # forked workers start ignoring Ctrl-C
    try:
        pool = ctx.Pool(workers, initializer=_init_worker, initargs=initargs)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    with pool:
        for chunk in _chunks(rows, CHUNK):
            jobs = plan(chunk)
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


# -- after a batch: close it, reprint it, find the cards a key signed --------------------------------
def close_batch(registry: Registry, *, abandon_unfinished: bool = False) -> tuple[int, dict[str, int], int]:
    """Erase the open batch's journal: (cards in it, cards by folder, unfinished reservations revoked)."""
    with registry.transaction():
        current = registry.open_batch(0, create=False)
    if current is None:
        registry.erase_batch()  # nothing open; still leaves no free page or WAL frame behind
        return 0, {}, 0
    journal = registry.batch_cards(current[0])
    outputs = registry.batch_outputs(current[0])
    unfinished = [card_hash for card_hash, _, done in journal.values() if not done]
    if unfinished and not abandon_unfinished:
        raise IssuerError(f"{len(unfinished)} cards of the open batch were reserved but never written (the run was "
                          "interrupted)", "run the same issue command again to finish them, or close with "
                          "--abandon-unfinished, which revokes those unprinted cards")
    with registry.transaction():
        for card_hash in unfinished:  # never printed: make sure they can never be valid
            registry.set_status(card_hash, REVOKED)
    folders = Counter(outputs[out_no] for _, out_no, done in journal.values() if done)
    registry.erase_batch()
    return len(journal) - len(unfinished), dict(folders), len(unfinished)


@dataclass
class ReprintReport:
    rows: int = 0
    reprinted: Counter = field(default_factory=Counter)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        where = ", ".join(f"{n} in {folder}" for folder, n in sorted(self.reprinted.items())) or "none"
        return (f"{self.rows} rows: {sum(self.reprinted.values())} cards reprinted with their own numbers and "
                f"status ({where}), {len(self.skipped)} rows not reprinted.")


def reprint_batch(registry: Registry, keys: KeyStore, config: CityConfig, input_path: Path,
                  out_dir: Path | None, *, today: date, workers: int, progress: bool) -> ReprintReport:
    """Render the open batch's cards again from the input: same numbers, status indexes and expiry, re-signed.

    Into ``out_dir``, or over each card's folder where it was issued.
    """
    source = read_input(input_path, today, config.max_name_length, config.gender_options)
    with registry.transaction():
        current = registry.open_batch(0, create=False)
    if current is None:
        raise IssuerError("no batch is open, so no row can be matched to its card (a closed batch keeps no link)",
                          "replace the cards that must be printed again")
    target = Path(out_dir).absolute() if out_dir is not None else None
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
    run = _Batch(registry, config, current[0], None, today, 0, BatchReport())
    report = ReprintReport()
    folders: dict[int, Path] = {}
    bar = Progress(source.count, enabled=progress)

    def plan(rows: list[InputRow]) -> list[Job]:
        jobs = []
        with registry.transaction():
            for row in rows:
                report.rows += 1
                job, reason = _reprint_job(run, row, target)
                if job is None:
                    report.skipped.append((row.line, reason))
                else:
                    jobs.append(job)
                    folders[job.line] = job.out_dir
        return jobs

    def finish(results: list[tuple[int, str | None]]) -> None:
        for line, error in results:
            if error is None:
                report.reprinted[str(folders[line])] += 1
            else:
                report.skipped.append((line, error))
        bar.update(len(results))

    try:
        _dispatch(plan, source.rows, keys, _signing_keys(run, keys), config, workers, finish,
                  lambda chunk, jobs: bar.update(len(chunk) - len(jobs)))
    finally:
        bar.close()
        for folder in set(folders.values()):
            remove_stale_temporaries(folder)
    report.skipped.sort()
    return report


def _reprint_job(run: _Batch, row: InputRow, target: Path | None) -> tuple[Job | None, str]:
    found = run.identify(row)
    if found is None:
        return None, run.report.failed[-1][1]
    resident, record = found
    entry = run.journal.get(resident)
    if entry is None:
        return None, "not a card of the open batch (issue it first)"
    try:
        check_printable(run.config, record)
    except RowError as exc:
        return None, str(exc)
    card_hash, out_no, done = entry
    if not done:
        return None, "its card was never finished: run the issue command again first"
    card = run.registry.card(card_hash)
    if card is not None and card.status == REVOKED:
        return None, "its card is revoked: not reprinted"
    try:
        params = run.card_params(resident, record, card_hash)
    except RowError as exc:
        return None, str(exc)
    return Job(row.line, record, params, target or run.outputs[out_no], reprint=True), ""


def open_batch_cards_signed_by(registry: Registry, kid: str) -> tuple[list[tuple[str, str]], int]:
    """(card number, folder) of the open batch's cards signed by ``kid``, and how many of its cards are elsewhere."""
    signed = registry.cards_signed_by(kid)
    with registry.transaction():
        current = registry.open_batch(0, create=False)
    found: list[tuple[str, str]] = []
    if current is not None:
        outputs = registry.batch_outputs(current[0])
        for resident, (card_hash, out_no, _) in registry.batch_cards(current[0]).items():
            if card_hash not in signed:
                continue
            number = next((n for n in (registry.derived_card_number(current[0], resident, a)
                                       for a in range(MAX_NUMBER_ATTEMPTS)) if registry.card_hash(n) == card_hash),
                          None)
            if number is None:  # its number came from the input's card_number column: find its folder
                folder = Path(outputs[out_no])
                names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
                number = next((n for n in names if cardnumber.is_valid(n) and registry.card_hash(n) == card_hash), "?")
            found.append((number, outputs[out_no]))
    return sorted(found), len(signed) - len(found)
