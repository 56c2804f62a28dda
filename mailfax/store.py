"""The durable queue: SQLite (WAL) job rows plus a spool of message and page files.

What does it do?  `Store.accept` puts one received message and its jobs (one per
recipient, grouped by the message) durably on disk; only after it returns may SMTP say 250.
The other methods move jobs between states (`mailfax.jobs.TRANSITIONS`), record attempts,
and list jobs for the CLI.  Several processes (``serve``, ``send``, ``jobs``, ``cancel``)
share one store safely.

How does it work?  Durability order for `accept`: write the message to a new file and
fdatasync it, fsync the directory, then insert the rows in one transaction with
``synchronous=FULL`` (the WAL is fsynced at commit).  A crash before the commit leaves an
unreferenced (perhaps partial) file, removed by `recover`; a crash after it leaves a
complete job.  The two halves are public for group commit: `spool_message` writes one
file (the SMTP listener runs several at once), `commit_batch` covers every spooled
message with one directory fsync and one commit; `accept_batch` composes them.  A resubmission of the same Message-ID from the same sender to the same
recipients (a client that lost our 250, RFC 1047) is recognised and not queued twice.
Every state change is an ``UPDATE ... WHERE state = <expected>`` so two processes cannot
both win a job.  `recover` (at start-up) puts jobs caught mid-conversion back to queued
and jobs caught mid-call to retry-wait: the call's outcome is unknown, so the job resumes
at its first unconfirmed page.  Methods are blocking; async callers run them in an executor.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

from mailfax.jobs import Candidate, JobSettings, JobState, can_move

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    message_id TEXT, sender TEXT NOT NULL, auth_user TEXT, peer TEXT, subject TEXT,
    received_at REAL NOT NULL, path TEXT NOT NULL, dedup_key TEXT UNIQUE,
    report_state TEXT NOT NULL DEFAULT 'pending'
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    message INTEGER NOT NULL REFERENCES messages(id),
    number TEXT NOT NULL, dial TEXT NOT NULL, trunk TEXT, settings TEXT NOT NULL,
    state TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    next_try_at REAL, dials INTEGER NOT NULL DEFAULT 0, tries INTEGER NOT NULL DEFAULT 0,
    pages_total INTEGER NOT NULL DEFAULT 0, pages_confirmed INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '', completion TEXT NOT NULL DEFAULT '',
    retryable INTEGER NOT NULL DEFAULT 0,
    bit_rate INTEGER, ecm INTEGER, remote_ident TEXT, duration REAL,
    transcript TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_message ON jobs(message);
"""


@dataclass(frozen=True)
class NewJob:
    """One recipient of an accepted message, as the rules decided it."""

    number: str
    dial: str
    trunk: str | None
    settings: JobSettings


@dataclass(frozen=True)
class Envelope:
    sender: str
    auth_user: str | None = None
    peer: str | None = None
    message_id: str | None = None
    subject: str = ""


@dataclass(frozen=True)
class Submission:
    """One message to accept: its bytes, envelope, jobs and the time of acceptance."""

    raw: bytes
    envelope: Envelope
    jobs: tuple[NewJob, ...]
    now: float


@dataclass(frozen=True)
class Accepted:
    message: int
    jobs: tuple[int, ...]
    duplicate: bool = False


@dataclass(frozen=True)
class JobRecord:
    id: int
    message: int
    number: str
    dial: str
    trunk: str | None
    settings: JobSettings
    state: JobState
    created_at: float
    updated_at: float
    next_try_at: float | None
    dials: int
    tries: int
    pages_total: int
    pages_confirmed: int
    reason: str
    completion: str
    retryable: bool
    bit_rate: int | None
    ecm: bool | None
    remote_ident: str | None
    duration: float | None
    transcript: str

    @property
    def scheduled(self) -> bool:
        """Waiting for its ``--at`` time (`JobSettings.not_before`), never dialled yet: kept in
        retry-wait with ``next_try_at`` = that time, so the retry wake-up dials it then."""
        return self.settings.not_before is not None and self.dials == 0 and self.state in (
            JobState.QUEUED, JobState.CONVERTING, JobState.RETRY_WAIT)


@dataclass(frozen=True)
class MessageRecord:
    id: int
    message_id: str | None
    sender: str
    auth_user: str | None
    peer: str | None
    subject: str
    received_at: float
    path: Path
    report_state: str


_datasync = getattr(os, "fdatasync", os.fsync)  # fdatasync is Linux/BSD; fsync elsewhere


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it survives a crash: temp, fsync, rename, fsync dir."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class ThreadLocalDb:
    """One SQLite connection per thread to ``self.db_path`` (WAL, synchronous=FULL, so a
    commit is on disk when it returns); subclasses set ``db_path`` and ``_local``."""

    db_path: Path
    _local: threading.local

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class Store(ThreadLocalDb):
    """The queue database and spool directory (see the module docstring)."""

    def __init__(self, db_path: Path, spool_dir: Path) -> None:
        self.db_path = Path(db_path)
        self.spool = Path(spool_dir)
        self.msg_dir = self.spool / "messages"
        self.page_dir = self.spool / "pages"
        for d in (self.db_path.parent, self.msg_dir, self.page_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._db() as db:
            db.executescript(SCHEMA)

    @classmethod
    def open(cls, storage) -> "Store":
        """Open the store named by a `mailfax.config.StorageConfig`."""
        return cls(storage.queue_db, storage.spool_dir)


    # ------------------------------------------------------------ acceptance

    def accept(self, raw: bytes, envelope: Envelope, jobs: Sequence[NewJob], now: float) -> Accepted:
        """Store a message and its jobs durably; returns their ids (see module docstring)."""
        (result,) = self.accept_batch([Submission(raw, envelope, tuple(jobs), now)])
        if isinstance(result, BaseException):
            raise result
        return result

    def accept_batch(self, items: Sequence["Submission"]) -> list[Accepted | Exception]:
        """`accept` for several messages at once (group commit): each file is written and
        fsynced, then one directory fsync and one SQLite commit cover them all.

        Results are in order; an item whose file could not be written gets its exception
        (the others are still queued).  An exception from the database fails the whole
        batch (nothing of it is committed) and is raised.
        """
        results: list[Accepted | Exception | None] = [None] * len(items)
        spooled: list[tuple[int, str]] = []  # (index, file name)
        for i, it in enumerate(items):
            found = self._find_duplicate(self._dedup_key(it)) if it.envelope.message_id else None
            if found is not None:
                results[i] = found
                continue
            try:
                spooled.append((i, self.spool_message(it.raw)))
            except OSError as e:
                results[i] = e
        done = self.commit_batch([(items[i], name) for i, name in spooled])
        for (i, _), r in zip(spooled, done):
            results[i] = r
        return results  # type: ignore[return-value]

    def spool_message(self, raw: bytes) -> str:
        """Write a message to a new spool file and fdatasync it; returns the file's name
        for `commit_batch`.  No temp file and rename: until a committed row names the file
        it is unreferenced, and `recover` removes such files, complete or not.  Several
        threads may spool at once (their fsyncs then share the filesystem's journal commit)."""
        name = f"{uuid.uuid4().hex}.eml"
        fd = os.open(self.msg_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies, as open()
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            _datasync(fd)  # data and size; the directory entry is synced by commit_batch
        finally:
            os.close(fd)
        return name

    def commit_batch(self, entries: Sequence[tuple["Submission", str]]) -> list[Accepted]:
        """Make spooled messages durable jobs: one directory fsync, then one transaction
        (one WAL fsync) for all their rows.  A resend already queued (or earlier in the
        batch) gets the first one's ids and its file is removed.  On failure nothing of
        the batch is committed, its files are removed, and the exception is raised."""
        if not entries:
            return []
        db = self._db()
        try:
            _fsync_dir(self.msg_dir)
            with self._write_lock:
                db.execute("BEGIN IMMEDIATE")
                try:
                    out = [self._insert(db, it, self._dedup_key(it) if it.envelope.message_id else None, name)
                           for it, name in entries]
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except BaseException:
            for _, name in entries:
                (self.msg_dir / name).unlink(missing_ok=True)
            raise
        return out

    @staticmethod
    def _dedup_key(it: "Submission") -> str:
        env = it.envelope
        return json.dumps([env.message_id, env.sender.lower(), sorted(j.number for j in it.jobs)])

    def _insert(self, db: sqlite3.Connection, it: "Submission", key: str | None, name: str) -> Accepted:
        """Insert one message and its jobs inside the open transaction (or find its twin)."""
        env = it.envelope
        if key is not None:
            row = db.execute("SELECT id FROM messages WHERE dedup_key = ?", (key,)).fetchone()
            if row is not None:  # committed meanwhile, or earlier in this batch
                (self.msg_dir / name).unlink(missing_ok=True)
                ids = tuple(r[0] for r in db.execute("SELECT id FROM jobs WHERE message = ? ORDER BY id", (row[0],)))
                return Accepted(row[0], ids, duplicate=True)
        cur = db.execute(
            "INSERT INTO messages (message_id, sender, auth_user, peer, subject, received_at, path, dedup_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (env.message_id, env.sender, env.auth_user, env.peer, env.subject, it.now, name, key),
        )
        mid = cur.lastrowid
        ids = []
        for j in it.jobs:
            c = db.execute(
                "INSERT INTO jobs (message, number, dial, trunk, settings, state, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (mid, j.number, j.dial, j.trunk, json.dumps(j.settings.to_json()), JobState.QUEUED.value, it.now, it.now),
            )
            ids.append(c.lastrowid)
        return Accepted(mid, tuple(ids))

    def _find_duplicate(self, key: str) -> Accepted | None:
        db = self._db()
        row = db.execute("SELECT id FROM messages WHERE dedup_key = ?", (key,)).fetchone()
        if row is None:
            return None
        ids = tuple(r[0] for r in db.execute("SELECT id FROM jobs WHERE message = ? ORDER BY id", (row[0],)))
        return Accepted(row[0], ids, duplicate=True)

    # ------------------------------------------------------------ reading

    @staticmethod
    def _job(row: sqlite3.Row) -> JobRecord:
        d = dict(row)
        d["settings"] = JobSettings.from_json(json.loads(d["settings"]))
        d["state"] = JobState(d["state"])
        d["retryable"] = bool(d["retryable"])
        d["ecm"] = None if d["ecm"] is None else bool(d["ecm"])
        return JobRecord(**d)

    def job(self, job_id: int) -> JobRecord | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else self._job(row)

    def jobs(self, states: Iterable[JobState] | None = None, message: int | None = None) -> list[JobRecord]:
        sql, args = "SELECT * FROM jobs WHERE 1", []
        if states is not None:
            st = [s.value for s in states]
            sql += f" AND state IN ({','.join('?' * len(st))})"
            args += st
        if message is not None:
            sql += " AND message = ?"
            args.append(message)
        return [self._job(r) for r in self._db().execute(sql + " ORDER BY id", args)]

    def message(self, message_id: int) -> MessageRecord | None:
        row = self._db().execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d.pop("dedup_key")
        d["path"] = self.msg_dir / d["path"]
        return MessageRecord(**d)

    def message_count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    def read_message(self, message_id: int) -> bytes:
        rec = self.message(message_id)
        if rec is None:
            raise KeyError(message_id)
        return rec.path.read_bytes()

    # ------------------------------------------------------------ state changes

    def move(self, job_id: int, old: JobState | Iterable[JobState], new: JobState, now: float, **fields) -> bool:
        """Move a job from ``old`` (one state or several) to ``new``, setting ``fields``.

        Returns False (and changes nothing) when the job is not in ``old`` any more, e.g.
        cancelled by another process meanwhile.  Illegal transitions are programming errors.
        """
        olds = [old] if isinstance(old, JobState) else list(old)
        for o in olds:
            if not can_move(o, new):
                raise ValueError(f"illegal job transition {o.value} -> {new.value}")
        sets = {"state": new.value, "updated_at": now, **fields}
        cols = ", ".join(f"{k} = ?" for k in sets)
        marks = ",".join("?" * len(olds))
        with self._write_lock:
            cur = self._db().execute(
                f"UPDATE jobs SET {cols} WHERE id = ? AND state IN ({marks})",
                (*sets.values(), job_id, *(o.value for o in olds)),
            )
        return cur.rowcount == 1

    def update(self, job_id: int, states: Iterable[JobState], **fields) -> bool:
        """Set ``fields`` on a job still in one of ``states`` (no state change)."""
        st = [s.value for s in states]
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._write_lock:
            cur = self._db().execute(
                f"UPDATE jobs SET {cols} WHERE id = ? AND state IN ({','.join('?' * len(st))})",
                (*fields.values(), job_id, *st),
            )
        return cur.rowcount == 1

    def claim_queued(self, now: float) -> JobRecord | None:
        """The oldest queued job, now in converting (None when there is none)."""
        while True:
            row = self._db().execute("SELECT id FROM jobs WHERE state = ? ORDER BY id LIMIT 1", (JobState.QUEUED.value,)).fetchone()
            if row is None:
                return None
            if self.move(row[0], JobState.QUEUED, JobState.CONVERTING, now):
                return self.job(row[0])

    def wake_retries(self, now: float) -> list[int]:
        """Move every retry-wait job whose time has come to ready."""
        rows = self._db().execute(
            "SELECT id FROM jobs WHERE state = ? AND next_try_at <= ?", (JobState.RETRY_WAIT.value, now)
        ).fetchall()
        return [r[0] for r in rows if self.move(r[0], JobState.RETRY_WAIT, JobState.READY, now, next_try_at=None)]

    def next_wakeup(self) -> float | None:
        row = self._db().execute("SELECT MIN(next_try_at) FROM jobs WHERE state = ?", (JobState.RETRY_WAIT.value,)).fetchone()
        return row[0]

    def candidates(self) -> list[Candidate]:
        return [Candidate(j.id, j.number, j.trunk, j.updated_at) for j in self.jobs([JobState.READY])]

    def active(self) -> list[JobRecord]:
        return self.jobs([JobState.DIALLING, JobState.SENDING])

    def mark_reported(self, message_id: int, state: str) -> bool:
        with self._write_lock:
            cur = self._db().execute(
                "UPDATE messages SET report_state = ? WHERE id = ? AND report_state = 'pending'", (state, message_id)
            )
        return cur.rowcount == 1

    def unreported_finished(self) -> list[int]:
        """Messages whose jobs are all final and whose report has not been handled."""
        finals = ",".join(f"'{s.value}'" for s in JobState if s.final)
        rows = self._db().execute(
            "SELECT m.id FROM messages m WHERE m.report_state = 'pending' AND NOT EXISTS"
            f" (SELECT 1 FROM jobs j WHERE j.message = m.id AND j.state NOT IN ({finals})) ORDER BY m.id"
        ).fetchall()
        return [r[0] for r in rows]

    def cancel(self, job_id: int, now: float) -> str | None:
        """Cancel a job that has not ended; None on success, else why not."""
        job = self.job(job_id)
        if job is None:
            return f"no job {job_id}"
        if job.state.final:
            return f"job {job_id} is already {job.state.value}"
        ok = self.move(job_id, job.state, JobState.CANCELLED, now, reason="cancelled by a user", next_try_at=None)
        return None if ok else f"job {job_id} changed state meanwhile; try again"

    def retry(self, job_id: int, now: float) -> str | None:
        """Try a job again now: counters and the give-up clock restart, confirmed pages stay;
        a scheduled job (``--at``) loses its schedule and is sent now."""
        job = self.job(job_id)
        if job is None:
            return f"no job {job_id}"
        unscheduled = json.dumps(replace(job.settings, not_before=None).to_json())
        if job.state is JobState.QUEUED and job.scheduled:  # not converted yet: just drop the schedule
            ok = self.update(job_id, (JobState.QUEUED,), settings=unscheduled, created_at=now)
            return None if ok else f"job {job_id} changed state meanwhile; try again"
        if job.state not in (JobState.FAILED, JobState.CANCELLED, JobState.RETRY_WAIT):
            return f"job {job_id} is {job.state.value}; only failed, cancelled, waiting or scheduled jobs can be retried"
        target = JobState.READY if job.pages_total and self.page_path(job_id).exists() else JobState.QUEUED
        if job.state is JobState.RETRY_WAIT:
            target = JobState.READY
        # the schedule is dropped too: "retry now" on a scheduled job sends it now, and the
        # give-up clock restarts now (JobSettings.give_up_start)
        ok = self.move(job_id, job.state, target, now, dials=0, tries=0, created_at=now, next_try_at=None,
                       reason="retry requested by a user", settings=unscheduled)
        if ok:
            with self._write_lock:
                self._db().execute("UPDATE messages SET report_state = 'pending' WHERE id = ?", (job.message,))
        return None if ok else f"job {job_id} changed state meanwhile; try again"

    # ------------------------------------------------------------ recovery

    def recover(self, now: float, *, orphan_age: float = 600.0) -> dict[str, int]:
        """After a restart: resume every job and drop spool files no row refers to.

        Only files older than ``orphan_age`` seconds count as orphans: another process
        (``mailfax send``) may be between writing its file and committing its row.
        """
        counts = {"requeued": 0, "interrupted": 0, "orphans": 0}
        for j in self.jobs([JobState.CONVERTING]):
            counts["requeued"] += self.move(j.id, JobState.CONVERTING, JobState.QUEUED, now)
        for j in self.active():
            if j.pages_total and j.pages_confirmed >= j.pages_total:
                # the last MCF was stored but not the call's end: done, never dialled again
                counts["interrupted"] += self.move(
                    j.id, j.state, JobState.DONE, now, next_try_at=None, completion="OK", retryable=0,
                    reason=f"all {j.pages_total} pages confirmed (the call's end was interrupted by a restart)",
                )
                continue
            counts["interrupted"] += self.move(
                j.id, j.state, JobState.RETRY_WAIT, now, next_try_at=now,
                reason="interrupted by a restart; resuming at the first unconfirmed page",
            )
        known = {r[0] for r in self._db().execute("SELECT path FROM messages")}
        for f in self.msg_dir.iterdir():
            if f.name not in known and f.stat().st_mtime <= now - orphan_age:
                f.unlink(missing_ok=True)
                counts["orphans"] += 1
        return counts

    # ------------------------------------------------------------ pages

    def page_path(self, job_id: int) -> Path:
        return self.page_dir / f"{job_id}.npz"

    def save_pages(self, job_id: int, pages: Sequence) -> None:
        """Store a job's rendered pages (bit-packed, compressed, durably; an internal format)."""
        import io

        import numpy as np

        arrays = {}
        for i, p in enumerate(pages):
            arrays[f"p{i}"] = np.packbits(p.rows != 0, axis=1)
            arrays[f"m{i}"] = np.array([p.width, p.height, p.x_res, p.y_res], dtype=np.int64)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        write_durably(self.page_path(job_id), buf.getvalue())

    def load_pages(self, job_id: int) -> list:
        """The pages stored by `save_pages`, as `dsp.t4.page.Page` values."""
        import numpy as np

        from dsp.t4.page import Page

        out = []
        with np.load(self.page_path(job_id)) as z:
            for i in range(len(z.files) // 2):
                w, h, xr, yr = (int(v) for v in z[f"m{i}"])
                rows = np.unpackbits(z[f"p{i}"], axis=1, count=w)[:h]
                out.append(Page(rows.astype(np.uint8), xr, yr))
        return out

    # ------------------------------------------------------------ retention (mailfax.retention)

    def _expired_sql(self) -> str:
        """Final jobs that ended at or before ?1 and whose message no longer needs them: its
        report was handled, or every job of the message ended by ?1 too (a report still
        pending that long will not go out).  A job not final is never expired."""
        finals = ",".join(f"'{s.value}'" for s in JobState if s.final)
        return (f"SELECT j.* FROM jobs j JOIN messages m ON m.id = j.message"
                f" WHERE j.state IN ({finals}) AND j.updated_at <= ?1 AND (m.report_state != 'pending'"
                f" OR NOT EXISTS (SELECT 1 FROM jobs o WHERE o.message = j.message"
                f" AND (o.state NOT IN ({finals}) OR o.updated_at > ?1))) ORDER BY j.id")

    def remove_expired_jobs(self, before: float, *, limit: int | None = 500,
                            dry_run: bool = False) -> tuple[list[JobRecord], list[MessageRecord]]:
        """Delete up to ``limit`` expired jobs (see `_expired_sql`) and the messages left
        without jobs, in one committed transaction; returns the rows deleted.

        Their spool files (``page_path(job.id)``, ``message.path``) are the caller's to
        delete after this returns: rows go first, so a crash leaves only unreferenced files,
        which `spool_orphans` finds.  ``dry_run`` rolls the transaction back: the same
        answer, nothing changed.
        """
        db = self._db()
        sql = self._expired_sql() + ("" if limit is None else f" LIMIT {int(limit)}")
        with self._write_lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                jobs = [self._job(r) for r in db.execute(sql, (before,)).fetchall()]
                mids = sorted({j.message for j in jobs})
                db.executemany("DELETE FROM jobs WHERE id = ?", [(j.id,) for j in jobs])
                messages = []
                for mid in mids:
                    if db.execute("SELECT 1 FROM jobs WHERE message = ? LIMIT 1", (mid,)).fetchone() is None:
                        messages.append(self.message(mid))
                        db.execute("DELETE FROM messages WHERE id = ?", (mid,))
                db.execute("ROLLBACK" if dry_run else "COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return jobs, messages

    def spool_orphans(self, now: float, min_age: float) -> list[Path]:
        """Spool files no row refers to, last modified at least ``min_age`` seconds before
        ``now``: message files no message names, page files of job ids that do not exist,
        and temp files left by an interrupted write.  Young files are left alone: another
        process may be between writing its file and committing its row."""
        known_msgs = {r[0] for r in self._db().execute("SELECT path FROM messages")}
        known_jobs = {str(r[0]) for r in self._db().execute("SELECT id FROM jobs")}
        out = []
        for d, known, key in ((self.msg_dir, known_msgs, lambda n: n),
                              (self.page_dir, known_jobs, lambda n: n.removesuffix(".npz"))):
            for f in sorted(d.iterdir()):
                orphan = f.name.startswith(".") or key(f.name) not in known
                try:
                    if orphan and f.is_file() and f.stat().st_mtime <= now - min_age:
                        out.append(f)
                except FileNotFoundError:
                    continue
        return out
