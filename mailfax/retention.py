"""Retention: remove finished work once it is old (HylaFAX's faxqclean and faxcron).

What does it do?  `cleanup` removes, per ``retention:`` in the config (0 keeps forever):

- **jobs** that are final (done, failed, cancelled) and ended more than ``retention.jobs``
  ago: their rows and rendered pages (``<spool>/pages/<id>.npz``, from which the report's
  thumbnail is made); a **message** (its row and ``<spool>/messages/*.eml``) goes with the
  last of its jobs.  A job whose message report is still pending stays, unless every job
  of the message is that old.  A job that is not final is never touched, whatever its age.
- **received** faxes whose every delivery is final (delivered, or failed with the fax
  master alerted) and that nothing changed for ``retention.received``: their rows, TIFF-F
  and metadata.  A fax with a delivery pending or retrying stays.
- **session logs** (``<data_dir>/log/c*``, also the loopback line's ``log/loopback/c*``)
  and **recordings** (``*.wav`` in the recording directory), by modification time.
- **orphans**: spool files no row refers to, a day old (what a crash between a row's
  deletion and its files' left behind, or an acceptance cut off before its commit).

How does it work?  Rows go first, in committed transactions of at most 500 jobs or faxes
(`Store.remove_expired_jobs`, `ReceivedStore.remove_expired`, which re-check every
condition inside the transaction, so a job retried meanwhile is not removed); their files
are deleted after the commit.  A kill at any point therefore leaves nothing referenced but
missing, only unreferenced files, which the next run's orphan pass removes.  A dry run
asks the same questions and rolls back.  SQLite may give a new job the id of the highest
one deleted; a page file newer than the jobs' cutoff therefore belongs to that new job and
is kept.  Expected trouble (a file that cannot be removed) is a value in the report, not an
exception.  `run_cleanup` is the daily pass of ``mailfax serve``; ``mailfax cleanup`` runs
one pass by hand.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

log = logging.getLogger("mailfax.retention")

ORPHAN_AGE = 86400.0     # spool files without a row are removed once this old
BATCH = 500              # rows per transaction: the queue's write lock is held briefly
_SESSION_LOG = re.compile(r"c\d{8}")


class Kind(enum.Enum):
    JOBS = "jobs"                    # job rows and their page files
    MESSAGES = "messages"            # message rows and their spooled .eml files
    RECEIVED = "received"            # received fax rows, TIFF-F and metadata
    SESSION_LOGS = "session_logs"
    RECORDINGS = "recordings"
    ORPHANS = "orphans"              # spool files no row refers to

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


#: kinds that are rows: they count even when their files were already gone
_ROWS = (Kind.JOBS, Kind.MESSAGES, Kind.RECEIVED)


@dataclass(frozen=True)
class Removal:
    """One thing removed (or that a dry run would remove): what, its files, their size."""

    kind: Kind
    what: str
    files: tuple[str, ...] = ()
    bytes: int = 0


@dataclass(frozen=True)
class Tally:
    count: int = 0
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class CleanupReport:
    """The outcome of one pass: what went (or would go), and files that could not be removed."""

    now: float
    dry_run: bool
    removals: tuple[Removal, ...] = ()
    errors: tuple[str, ...] = ()

    def tally(self, kind: Kind) -> Tally:
        rs = [r for r in self.removals if r.kind is kind]
        return Tally(len(rs), sum(len(r.files) for r in rs), sum(r.bytes for r in rs))

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.removals)

    def summary(self) -> str:
        """One line for the log: counts and bytes per kind."""
        parts = [f"{t.count} {k.label} ({human(t.bytes)})" for k in Kind if (t := self.tally(k)).count]
        verb = "would remove" if self.dry_run else "removed"
        text = f"cleanup: {verb} {', '.join(parts) if parts else 'nothing'}; {human(self.bytes)} in all"
        return text + (f"; {len(self.errors)} file(s) could not be removed" if self.errors else "")

    def to_json(self) -> dict:
        return {
            "now": self.now, "dry_run": self.dry_run, "bytes": self.bytes,
            "totals": {k.value: vars(self.tally(k)) for k in Kind},
            "removed": [{"kind": r.kind.value, "what": r.what, "files": list(r.files), "bytes": r.bytes}
                        for r in self.removals],
            "errors": list(self.errors),
        }


def human(n: float) -> str:
    """A byte count for people: ``999 B``, ``1.2 kB``, ``3.4 MB`` (decimal units)."""
    if n < 1000:
        return f"{int(n)} B"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            return f"{n:.1f} {unit}"


@dataclass
class _Pass:
    """The state of one pass: the removals so far and the files that resisted."""

    dry_run: bool
    removals: list[Removal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def drop(self, kind: Kind, what: str, paths: Iterable[Path], *, keep_newer_than: float | None = None) -> None:
        """Record ``what`` and delete its existing files (unless a dry run)."""
        files, size = [], 0
        for p in paths:
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            except OSError as e:
                self.errors.append(f"{p}: {e.strerror or e}")
                continue
            if keep_newer_than is not None and st.st_mtime > keep_newer_than:
                continue
            if not self.dry_run:
                try:
                    p.unlink()
                except FileNotFoundError:
                    continue
                except OSError as e:
                    self.errors.append(f"{p}: {e.strerror or e}")
                    continue
            files.append(str(p))
            size += st.st_size
        self.removals.append(Removal(kind, what, tuple(files), size))


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _jobs(p: _Pass, store, before: float) -> None:
    while True:
        jobs, messages = store.remove_expired_jobs(before, limit=None if p.dry_run else BATCH, dry_run=p.dry_run)
        for j in jobs:
            # a page file newer than the cutoff was written for a new job given the same id
            p.drop(Kind.JOBS, f"job {j.id} ({j.state.value}, {j.number}, ended {_stamp(j.updated_at)})",
                   [store.page_path(j.id)], keep_newer_than=before)
        for m in messages:
            p.drop(Kind.MESSAGES, f"message {m.id} from {m.sender or '<>'} ({_stamp(m.received_at)})", [m.path])
        if p.dry_run or len(jobs) < BATCH:
            return


def _received(p: _Pass, received_store, before: float) -> None:
    while True:
        faxes = received_store.remove_expired(before, limit=None if p.dry_run else BATCH, dry_run=p.dry_run)
        for f in faxes:
            sender = (f.meta.get("tsi") or "").strip() or f.meta.get("caller_id") or "unknown"
            p.drop(Kind.RECEIVED, f"received fax {f.id} from {sender} ({_stamp(f.received_at)})",
                   received_store.files_of(f))
        if p.dry_run or len(faxes) < BATCH:
            return


def _old_files(p: _Pass, kind: Kind, files: Iterable[Path], before: float) -> None:
    for f in sorted(files):
        try:
            if f.is_file() and f.stat().st_mtime <= before:
                p.drop(kind, str(f), [f])
        except OSError:
            continue  # vanished meanwhile


def session_log_files(data_dir: Path) -> list[Path]:
    """Session logs (`mailfax.sessionlog`): ``<data_dir>/log/cNNNNNNNN`` and one level below,
    except the highest-numbered one of each directory: `SessionLogs` numbers on from it, so
    keeping it means a number (and the path a report names) is never used twice."""
    root = Path(data_dir) / "log"
    if not root.is_dir():
        return []
    logs = [f for f in (*root.iterdir(), *root.glob("*/c*")) if _SESSION_LOG.fullmatch(f.name)]
    newest = {}
    for f in logs:
        if f.name > newest.get(f.parent, f).name or f.parent not in newest:
            newest[f.parent] = f
    keep = set(newest.values())
    return [f for f in logs if f not in keep]


def recording_files(config) -> list[Path]:
    """Call recordings (`mailfax.recording`): the ``*.wav`` files of the recording directory."""
    d = config.recording.directory(config.storage.data_dir)
    return sorted(d.glob("*.wav")) if d.is_dir() else []


def cleanup(config, store, received_store, *, now: float, dry_run: bool = False,
            orphan_age: float = ORPHAN_AGE) -> CleanupReport:
    """One retention pass at ``now`` (see the module docstring); blocking, logs one line."""
    r = config.retention
    p = _Pass(dry_run)
    if r.jobs > 0:
        _jobs(p, store, now - r.jobs)
    if r.received > 0:
        _received(p, received_store, now - r.received)
    if r.session_logs > 0:
        _old_files(p, Kind.SESSION_LOGS, session_log_files(config.storage.data_dir), now - r.session_logs)
    if r.recordings > 0:
        _old_files(p, Kind.RECORDINGS, recording_files(config), now - r.recordings)
    for f in (*store.spool_orphans(now, orphan_age), *received_store.orphan_files(now, orphan_age)):
        p.drop(Kind.ORPHANS, str(f), [f])
    report = CleanupReport(now, dry_run, tuple(x for x in p.removals if x.files or x.kind in _ROWS),
                           tuple(p.errors))
    log.info("%s", report.summary())
    for e in report.errors:
        log.warning("cleanup: could not remove %s", e)
    return report


async def run_cleanup(config, store, received_store, stop: asyncio.Event, *, clock: Callable[[], float],
                      every: float = 86400.0, first_after: float = 60.0) -> None:
    """``mailfax serve``'s retention task: a pass ``first_after`` seconds after start, then
    every ``every`` seconds, each in a worker thread (the event loop keeps serving), until
    ``stop`` is set.  A pass that fails is logged and tried again at the next turn."""
    loop = asyncio.get_running_loop()
    delay = first_after
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
            return
        except asyncio.TimeoutError:
            pass
        try:
            await loop.run_in_executor(None, lambda: cleanup(config, store, received_store, now=clock()))
        except Exception:
            log.exception("cleanup pass failed; next try in %g s", every)
        delay = every
