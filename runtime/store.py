"""The run store: every run and every event, durable before the next action starts.

An embedded SQLite database in WAL mode with `synchronous=FULL`. Each event carries a SHA-256
chained to the previous event of its run, so `verify` finds a truncated, edited or reordered log.
Events are the typed models of `events.py`; the writer passes its redaction, applied to their
payload fields before the write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import RunEvent, parse

#: The folder that marks a project's run store, found upward from the working folder as git finds `.git`.
STORE_FOLDER = ".specc"
#: Where runs are kept when nothing else says where, relative to the working folder.
DEFAULT_STORE = os.path.join(STORE_FOLDER, "runs.db")
#: The env var that names the run store when `--store` is not given.
STORE_ENV = "SPECC_STORE"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    ir_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    updated REAL NOT NULL,
    input TEXT NOT NULL,
    result TEXT,
    reason TEXT,
    ir TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    spec TEXT NOT NULL,
    inputs TEXT NOT NULL,
    ir TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id TEXT NOT NULL REFERENCES batches(id),
    line INTEGER NOT NULL,
    input TEXT,
    problem TEXT,
    run_id TEXT REFERENCES runs(id),
    PRIMARY KEY (batch_id, line)
);
CREATE INDEX IF NOT EXISTS batch_items_run ON batch_items(run_id);
"""

GENESIS = "0" * 64


@dataclass(frozen=True)
class StoreLocation:
    """Where a command's run store is, and what chose it (to say so in messages)."""

    path: str
    #: `--store`, `SPECC_STORE`, `found` (a `.specc/` above the working folder) or `new`.
    source: str

    @property
    def exists(self) -> bool:
        return os.path.exists(self.path)

    def described(self) -> str:
        """The path and what chose it, for messages: "`/p/.specc/runs.db` (found above `/p/sub`)"."""
        how = {"--store": "given by --store", STORE_ENV: f"from ${STORE_ENV}",
               "found": "the nearest .specc/ folder", "new": "in the working folder"}[self.source]
        return f"`{self.path}` ({how})"


def locate(explicit: str | None = None, *, environ: Mapping[str, str] | None = None,
           cwd: str | None = None) -> StoreLocation:
    """The run store every command uses: `explicit` (the `--store` option), else `$SPECC_STORE`,
    else `runs.db` in the nearest `.specc/` folder in `cwd` or above it, else a new
    `.specc/runs.db` in `cwd`. Nothing is created here; a reader checks `exists` first."""
    if explicit:
        return StoreLocation(explicit, "--store")
    named = (os.environ if environ is None else environ).get(STORE_ENV, "")
    if named:
        return StoreLocation(named, STORE_ENV)
    start = os.path.abspath(os.getcwd() if cwd is None else cwd)
    folder = start
    while True:
        marker = os.path.join(folder, STORE_FOLDER)
        if os.path.isdir(marker):
            path = os.path.join(marker, "runs.db")
            # Within the working folder the short relative path reads better in messages.
            return StoreLocation(DEFAULT_STORE if folder == start and cwd is None else path, "found")
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return StoreLocation(DEFAULT_STORE if cwd is None else os.path.join(start, DEFAULT_STORE), "new")


class StoreError(Exception):
    """The store cannot be opened or written; the message says where and why."""


@dataclass(frozen=True)
class BatchRecord:
    """One batch's row (`specc batch`): the IR its runs use, where its inputs came from."""

    id: str
    agent: str
    spec: str
    inputs: str
    ir: str
    concurrency: int
    created: float
    status: str  # running, finished
    owner: str


@dataclass(frozen=True)
class BatchItem:
    """One input line of a batch: its input (JSON text), why it is not run, its run and status."""

    line: int
    input: str | None
    problem: str | None
    run_id: str | None
    status: str | None


@dataclass(frozen=True)
class RunRecord:
    """One run's row."""

    id: str
    agent: str
    spec_hash: str
    ir_hash: str
    status: str
    started: float
    updated: float
    input: Any
    result: Any
    reason: str | None
    ir: str
    owner: str


@dataclass(frozen=True)
class Event:
    """One stored event of a run: where it stands in the chain, its JSON, and its typed model."""

    run_id: str
    seq: int
    at: float
    kind: str
    data: dict[str, Any]
    prev: str
    hash: str
    _model: list[RunEvent] = field(default_factory=list, repr=False, compare=False)

    @property
    def event(self) -> RunEvent:
        """The typed model of this event (`events.Unreadable` for data no model admits)."""
        if not self._model:
            self._model.append(parse(self.kind, self.data))
        return self._model[0]


def event_hash(run_id: str, seq: int, at: float, kind: str, data: str, prev: str) -> str:
    payload = json.dumps([run_id, seq, repr(at), kind, data, prev], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _private_folder(folder: str) -> None:
    """Create the store's folder so that only its owner can enter it; tighten a `.specc/` folder
    an earlier version made world-readable. Another existing folder is the user's to set."""
    if not os.path.isdir(folder):
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        os.mkdir(folder, 0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    elif os.path.basename(folder) == STORE_FOLDER and os.stat(folder).st_uid == os.geteuid():
        os.chmod(folder, 0o700)


def _private_files(path: str) -> None:
    """The database 0600 before SQLite opens it (its -wal and -shm files copy its mode): runs hold
    inputs, results and people's decisions."""
    # Created here only when missing: closing any descriptor of a database file drops every POSIX lock
    # this process holds on it, so an open-and-close of an existing store would break the locks of the
    # other connections of the process (a batch's workers, a server's sessions): a disk I/O error.
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass
    for name in (path, f"{path}-wal", f"{path}-shm"):
        try:
            if os.stat(name).st_uid == os.geteuid():
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


class RunStore:
    """The SQLite run store: a file only its owner can read, in a folder only its owner can enter."""

    def __init__(self, path: str = DEFAULT_STORE) -> None:
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        try:
            _private_folder(folder)
            _private_files(path)
            self._db = sqlite3.connect(path, timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the run store `{path}`: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        try:
            self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the run store `{self.path}`: {exc}") from None

    def create_run(self, run_id: str, agent: str, spec_hash: str, ir_hash: str, input_value: Any, ir: str,
                   owner: str = "", *, batch: tuple[str, int] | None = None) -> None:
        """Record a new run; with `batch` (its id and a line), the run is that line's, in the same
        transaction: a batch never loses track of a run it started."""
        now = time.time()
        statements: list[tuple[str, tuple[Any, ...]]] = [(
            "INSERT INTO runs (id, agent, spec_hash, ir_hash, status, started, updated, input, ir, owner)"
            " VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (run_id, agent, spec_hash, ir_hash, now, now, json.dumps(input_value, ensure_ascii=False), ir, owner),
        )]
        if batch is not None:
            statements.append(("UPDATE batch_items SET run_id = ? WHERE batch_id = ? AND line = ? AND run_id IS NULL",
                               (run_id, *batch)))
        self._transaction(statements)

    def _transaction(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        with self._immediate():
            for sql, args in statements:
                self._db.execute(sql, args)

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[None]:
        """One write transaction, taken at once (BEGIN IMMEDIATE): committed when the block ends,
        rolled back and a `StoreError` when SQLite fails in it."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise StoreError(f"cannot write to the run store `{self.path}`: {exc}") from None

    # --- batches ---------------------------------------------------------------------------

    def create_batch(self, batch: BatchRecord, items: Sequence[tuple[int, str | None, str | None]]) -> None:
        """Record a batch and its input lines (line number, the input as JSON text or None, and why
        the line is not run, or None), all or nothing."""
        statements: list[tuple[str, tuple[Any, ...]]] = [(
            "INSERT INTO batches (id, agent, spec, inputs, ir, concurrency, created, status, owner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (batch.id, batch.agent, batch.spec, batch.inputs, batch.ir, batch.concurrency, batch.created,
             batch.status, batch.owner))]
        statements += [("INSERT INTO batch_items (batch_id, line, input, problem) VALUES (?, ?, ?, ?)",
                         (batch.id, line, value, problem)) for line, value, problem in items]
        self._transaction(statements)

    def set_batch(self, batch_id: str, *, status: str, owner: str | None = None) -> None:
        if owner is None:
            self._write("UPDATE batches SET status = ? WHERE id = ?", (status, batch_id))
        else:
            self._write("UPDATE batches SET status = ?, owner = ? WHERE id = ?", (status, owner, batch_id))

    def batch(self, prefix: str | None = None) -> BatchRecord | None:
        """A batch by its id or an unambiguous prefix; with None, the newest unfinished one."""
        if prefix is None:
            rows = self._db.execute("SELECT * FROM batches WHERE status != 'finished' ORDER BY created DESC LIMIT 1"
                                    ).fetchall()
        else:
            rows = self._db.execute("SELECT * FROM batches WHERE id LIKE ? ESCAPE '\\' ORDER BY created",
                                    (_like_prefix(prefix),)).fetchall()
            exact = [r for r in rows if r[0] == prefix]
            rows = exact or rows
            if len(rows) > 1:
                raise StoreError(f"`{prefix}` matches {len(rows)} batches; give more of the id")
        return BatchRecord(*rows[0]) if rows else None

    def batch_items(self, batch_id: str) -> list[BatchItem]:
        """A batch's lines in order, each with its run's status when it has a run."""
        rows = self._db.execute(
            "SELECT i.line, i.input, i.problem, i.run_id, r.status FROM batch_items i"
            " LEFT JOIN runs r ON r.id = i.run_id WHERE i.batch_id = ? ORDER BY i.line", (batch_id,)).fetchall()
        return [BatchItem(*row) for row in rows]

    def append(self, run_id: str, event: RunEvent, redact: Callable[[Any], Any] | None = None) -> Event:
        """Append one event, chained to the last, and make it durable before returning; `redact`
        takes the secrets out of its payload fields before anything is written."""
        return self.append_all(run_id, [event], redact)[0]

    def append_all(self, run_id: str, events: Sequence[RunEvent],
                   redact: Callable[[Any], Any] | None = None) -> list[Event]:
        """Append events in order, chained, in one transaction: all of them are durable before this
        returns, or none is written."""
        rows = []
        for event in events:
            data = event.data()
            if redact is not None:
                data = {k: redact(v) if k in event.PAYLOAD else v for k, v in data.items()}
            rows.append((event, data, json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)))
        written: list[Event] = []
        with self._immediate():
            row = self._db.execute(
                "SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,)
            ).fetchone()
            seq, prev = (row[0], row[1]) if row else (0, GENESIS)
            at = time.time()
            for event, data, text in rows:
                seq += 1
                digest = event_hash(run_id, seq, at, event.KIND, text, prev)
                self._db.execute(
                    "INSERT INTO events (run_id, seq, at, kind, data, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, seq, at, event.KIND, text, prev, digest),
                )
                written.append(Event(run_id, seq, at, event.KIND, data, prev, digest,
                                     [event] if redact is None else []))
                prev = digest
            self._db.execute("UPDATE runs SET updated = ? WHERE id = ?", (at, run_id))
        return written

    def set_status(self, run_id: str, status: str, *, result: Any = None, reason: str | None = None,
                   owner: str | None = None) -> None:
        if owner is None:
            self._write(
                "UPDATE runs SET status = ?, result = ?, reason = ?, updated = ? WHERE id = ?",
                (status, json.dumps(result, ensure_ascii=False) if result is not None else None, reason,
                 time.time(), run_id),
            )
        else:
            self._write(
                "UPDATE runs SET status = ?, result = ?, reason = ?, updated = ?, owner = ? WHERE id = ?",
                (status, json.dumps(result, ensure_ascii=False) if result is not None else None, reason,
                 time.time(), owner, run_id),
            )

    def claim(self, run_id: str, status: str, owner: str) -> bool:
        """Atomically mark a paused or crashed run as `running` by `owner`; False when another
        process changed its status first (two `specc resume` at once run it once)."""
        try:
            cursor = self._db.execute(
                "UPDATE runs SET status = 'running', owner = ?, updated = ? WHERE id = ? AND status = ?",
                (owner, time.time(), run_id, status))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the run store `{self.path}`: {exc}") from None
        return cursor.rowcount == 1

    def claim_crashed(self, run_id: str, dead_owner: str, owner: str) -> bool:
        """Atomically take over a run whose process died, while that dead owner is still recorded."""
        try:
            cursor = self._db.execute(
                "UPDATE runs SET owner = ?, updated = ? WHERE id = ? AND status = 'running' AND owner = ?",
                (owner, time.time(), run_id, dead_owner))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the run store `{self.path}`: {exc}") from None
        return cursor.rowcount == 1

    # --- reading ---------------------------------------------------------------------------

    def find(self, prefix: str) -> RunRecord | None:
        """A run by its id or an unambiguous prefix of it."""
        rows = self._db.execute("SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY started",
                                (_like_prefix(prefix),)).fetchall()
        exact = [r for r in rows if r[0] == prefix]
        if exact:
            return _record(exact[0])
        if len(rows) == 1:
            return _record(rows[0])
        if len(rows) > 1:
            raise StoreError(f"`{prefix}` matches {len(rows)} runs; give more of the id")
        return None

    def runs(self, status: str | None = None, limit: int = 50, *, batch: str | None = None) -> list[RunRecord]:
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if batch is not None:
            where.append("id IN (SELECT run_id FROM batch_items WHERE batch_id = ?)")
            args.append(batch)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(f"SELECT * FROM runs{clause} ORDER BY started DESC LIMIT ?", (*args, limit)).fetchall()
        return [_record(r) for r in rows]

    def events(self, run_id: str, *, after: int = 0) -> list[Event]:
        """The run's events in order; with `after`, only those after that sequence number."""
        rows = self._db.execute(
            "SELECT run_id, seq, at, kind, data, prev, hash FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
            (run_id, after),
        ).fetchall()
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def verify(self, run_id: str) -> list[str]:
        """Problems with a run's event chain: an edited, missing or reordered event, a cut tail."""
        rows = self._db.execute(
            "SELECT seq, at, kind, data, prev, hash FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        ).fetchall()
        problems: list[str] = []
        prev = GENESIS
        for index, (seq, at, kind, data, stored_prev, stored_hash) in enumerate(rows, 1):
            if seq != index:
                problems.append(f"event {index} is missing (the next stored event is {seq})")
            if stored_prev != prev:
                problems.append(f"event {seq} does not follow the event before it (reordered or removed)")
            if event_hash(run_id, seq, at, kind, data, stored_prev) != stored_hash:
                problems.append(f"event {seq} ({kind}) was edited after it was written")
            prev = stored_hash
        run = self.find(run_id)
        if run is not None and run.status != "running" and (
            not rows or rows[-1][2] != "run_finished"
        ):
            problems.append("the log ends before the run's final event: it was truncated")
        return problems


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _record(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        id=row[0], agent=row[1], spec_hash=row[2], ir_hash=row[3], status=row[4], started=row[5], updated=row[6],
        input=json.loads(row[7]), result=json.loads(row[8]) if row[8] is not None else None, reason=row[9],
        ir=row[10], owner=row[11],
    )
