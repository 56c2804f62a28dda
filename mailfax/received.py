"""Received faxes: the value the telephony side hands over, and its durable store.

What does it do?  `ReceivedFax` is the seam between the call (``mailfax.faxcall``) and the
rest of the inbound side: one frozen value per call that delivered at least one page (or
none, when the call broke before the first page and the caller still wants a record).  The
telephony side builds it and calls ``InboundService.accept_received(fax)``
(`mailfax.inbound`), which stores it here before anything else happens.  Stable fields:

- ``pages``: `dsp.t4.Page` values, and/or ``coded``: the line bytes of each page
  (`CodedLinePage`, with their coding) — when given, the TIFF-F is made from those bytes
  without re-encoding (RFC 2306 TIFF-F, FillOrder as they came off the line);
- ``called`` (DNID), ``caller_id``, ``caller_name``, ``tsi`` (remote T.30 TSI),
  ``subaddress`` (T.30 SUB), ``pages_expected`` (None when unknown), ``resolution``
  ("standard" | "fine" | "superfine" | "300"), ``page_width`` (pixels), ``page_size``
  ("A4", "B4", "Letter", ...), ``bit_rate``, ``modem``, ``coding`` ("mh" | "mr" | "mmr"),
  ``ecm``, ``started_at`` (UNIX time), ``duration`` (seconds), ``completion`` (a
  `dsp.t30.Completion` name, "OK" when the call ended well), ``reason`` (plain words when
  it did not), ``trunk``; ``fax_id`` is None from the caller and set by the store.

How does it work?  Storage first (issue 7): the TIFF-F and a JSON copy of the metadata are
written with `write_durably` (temp file, fsync, rename, fsync dir) under
``<spool>/received/``, then one SQLite transaction (``synchronous=FULL``) inserts the fax
row and its delivery rows.  The tables live in the queue database file (``queue_db``) next
to the outbound tables, so ``mailfax received`` finds them on the same defaults as
``mailfax jobs``.  Each delivery row is one target (an email address, an IMAP folder, an
archive directory, or a fax-master alert) with its own state, attempt count, next try and
the Message-ID fixed when it was scheduled, so a retry after a restart can recognise a
copy that already arrived.  Every state change is ``UPDATE ... WHERE state = <expected>``.
IMAP passwords given inline in rules.yaml are copied into the delivery row (the queue file
should be readable by the gateway only); targets naming an ``imap:`` account store the name.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from mailfax.store import ThreadLocalDb, write_durably

SCHEMA = """
CREATE TABLE IF NOT EXISTS received_faxes (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL, path TEXT NOT NULL, meta TEXT NOT NULL, rule TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS received_deliveries (
    id INTEGER PRIMARY KEY,
    fax INTEGER NOT NULL REFERENCES received_faxes(id),
    kind TEXT NOT NULL, target TEXT NOT NULL, label TEXT NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    message_id TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', uncertain INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS received_deliveries_state ON received_deliveries(state, next_try_at);
CREATE INDEX IF NOT EXISTS received_deliveries_fax ON received_deliveries(fax);
"""


class DeliveryState(enum.Enum):
    PENDING = "pending"          # waiting for next_try_at
    DELIVERING = "delivering"    # an attempt is under way (found after a crash: outcome unknown)
    DELIVERED = "delivered"
    FAILED = "failed"            # permanent failure or retry period over (fax master alerted)

    @property
    def final(self) -> bool:
        return self in (DeliveryState.DELIVERED, DeliveryState.FAILED)


class TargetKind(enum.Enum):
    EMAIL = "email"
    IMAP = "imap"
    ARCHIVE = "archive"
    ALERT = "alert"              # a permanent failure reported to the fax master


@dataclass(frozen=True)
class CodedLinePage:
    """One page's T.4/T.6 bytes as they came off the line, for TIFF-F without re-encoding."""

    data: bytes
    width: int
    height: int
    coding: str                  # "mh" | "mr" | "mmr"
    x_res: int = 204
    y_res: int = 196
    lsb_first: bool = False      # bit order on the line (TIFF FillOrder 2)
    align_eol: bool = False
    bad_rows: int | None = None
    consecutive_bad_rows: int | None = None


@dataclass(frozen=True)
class ReceivedFax:
    """One received fax (see the module docstring for the seam's contract)."""

    pages: tuple = ()                          # dsp.t4.Page
    coded: tuple[CodedLinePage, ...] = ()
    called: str = ""
    caller_id: str = ""
    caller_name: str = ""
    tsi: str = ""
    subaddress: str = ""
    pages_expected: int | None = None
    resolution: str = "fine"
    page_width: int = 1728
    page_size: str = "A4"
    bit_rate: int | None = None
    modem: str = ""
    coding: str = "mh"
    ecm: bool = False
    started_at: float = 0.0
    duration: float = 0.0
    completion: str = "OK"
    reason: str = ""
    trunk: str = ""
    session_log: str = ""                      # the call's session log (mailfax.sessionlog), if kept
    recording: str = ""                        # the call's audio recording (mailfax.recording), if kept
    fax_id: int | None = None

    @property
    def pages_received(self) -> int:
        return max(len(self.pages), len(self.coded))

    @property
    def complete(self) -> bool:
        """The call ended well and (when known) every announced page arrived."""
        return self.completion.upper() == "OK" and (
            self.pages_expected is None or self.pages_received >= self.pages_expected)

    @property
    def sender(self) -> str:
        """Who sent it, for subjects and file names: the TSI, else the caller ID, else 'unknown'."""
        return self.tsi.strip() or self.caller_id.strip() or "unknown"

    def meta(self) -> dict[str, Any]:
        """Everything except the images, as JSON-ready data."""
        d = asdict(replace(self, pages=(), coded=()))
        del d["pages"], d["coded"]
        d["pages_received"] = self.pages_received
        return d

    @classmethod
    def from_meta(cls, meta: dict[str, Any], pages: Sequence = ()) -> "ReceivedFax":
        known = {f for f in cls.__dataclass_fields__} - {"pages", "coded"}
        return cls(pages=tuple(pages), **{k: v for k, v in meta.items() if k in known})


def tiff_of(fax: ReceivedFax) -> bytes:
    """The TIFF-F of a received fax: the line bytes wrapped as they are, else MMR from the pages."""
    from mailfax import tiff

    if fax.coded:
        return tiff.write_tiff([tiff.wrap_coded_page(
            c.data, c.width, c.height, c.coding, c.x_res, c.y_res, align_eol=c.align_eol,
            lsb_first=c.lsb_first, bad_rows=c.bad_rows, consecutive_bad_rows=c.consecutive_bad_rows)
            for c in fax.coded])
    return tiff.write_tiff_f(list(fax.pages), "mmr")


def pages_of_tiff(data: bytes) -> list:
    """The pages of a stored TIFF-F (rows that cannot be decoded are repaired by dsp.t4)."""
    from mailfax import tiff

    return [tiff.decode_fax_image(im, i)[0] for i, im in enumerate(tiff.read_tiff(data), 1)]


@dataclass(frozen=True)
class NewDelivery:
    """One target to deliver a stored fax to; ``target`` is JSON-ready (see `mailfax.delivery`)."""

    kind: TargetKind
    target: dict[str, Any]
    label: str                   # for people: "bob@example.com", "imap alice@host/Faxes"


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    fax: int
    kind: TargetKind
    target: dict[str, Any]
    label: str
    state: DeliveryState
    attempts: int
    next_try_at: float | None
    created_at: float
    updated_at: float
    message_id: str
    error: str
    uncertain: bool              # an attempt was interrupted: the copy may already be there


@dataclass(frozen=True)
class FaxRecord:
    id: int
    received_at: float
    path: Path
    rule: str
    meta: dict[str, Any] = field(repr=False)


class ReceivedStore(ThreadLocalDb):
    """Received faxes and their delivery rows (see the module docstring)."""

    def __init__(self, db_path: Path, spool_dir: Path, *, domain: str = "mailfax.localhost") -> None:
        self.db_path = Path(db_path)
        self.dir = Path(spool_dir) / "received"
        self.domain = domain
        for d in (self.db_path.parent, self.dir):
            d.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._db().executescript(SCHEMA)

    @classmethod
    def open(cls, storage, **kw) -> "ReceivedStore":
        """Open the store for a `mailfax.config.StorageConfig` (the queue DB, the spool)."""
        return cls(storage.queue_db, storage.spool_dir, **kw)


    def new_message_id(self) -> str:
        return f"<fax.{uuid.uuid4().hex}@{self.domain}>"

    # ------------------------------------------------------------ storing

    def add(self, fax: ReceivedFax, deliveries: Sequence[NewDelivery], *, now: float, rule: str = "") -> int:
        """Store the fax durably (files fsynced, then the rows in one transaction); its id."""
        stem = uuid.uuid4().hex
        tif = self.dir / f"{stem}.tif"
        meta = fax.meta()
        meta["received_at"] = now
        if fax.pages_received:
            write_durably(tif, tiff_of(fax))
        write_durably(self.dir / f"{stem}.json", json.dumps(meta, indent=1).encode())
        db = self._db()
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute("INSERT INTO received_faxes (received_at, path, meta, rule) VALUES (?, ?, ?, ?)",
                                 (now, stem, json.dumps(meta), rule))
                fid = cur.lastrowid
                for d in deliveries:
                    self._insert_delivery(db, fid, d, now)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return fid

    def _insert_delivery(self, db, fax_id: int, d: NewDelivery, now: float) -> int:
        cur = db.execute(
            "INSERT INTO received_deliveries (fax, kind, target, label, state, next_try_at, created_at, updated_at,"
            " message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fax_id, d.kind.value, json.dumps(d.target), d.label, DeliveryState.PENDING.value, now, now, now,
             self.new_message_id()))
        return cur.lastrowid

    def add_delivery(self, fax_id: int, d: NewDelivery, now: float) -> int:
        with self._lock:
            return self._insert_delivery(self._db(), fax_id, d, now)

    # ------------------------------------------------------------ reading

    def fax(self, fax_id: int) -> FaxRecord | None:
        row = self._db().execute("SELECT * FROM received_faxes WHERE id = ?", (fax_id,)).fetchone()
        return None if row is None else self._fax(row)

    def _fax(self, row) -> FaxRecord:
        return FaxRecord(row["id"], row["received_at"], self.dir / f"{row['path']}.tif", row["rule"],
                         json.loads(row["meta"]))

    def faxes(self) -> list[FaxRecord]:
        return [self._fax(r) for r in self._db().execute("SELECT * FROM received_faxes ORDER BY id")]

    def load(self, fax_id: int) -> ReceivedFax:
        """The stored fax with its pages decoded from the TIFF-F and ``fax_id`` set."""
        rec = self.fax(fax_id)
        if rec is None:
            raise KeyError(fax_id)
        pages = pages_of_tiff(rec.path.read_bytes()) if rec.path.exists() else []
        return replace(ReceivedFax.from_meta(rec.meta, pages), fax_id=fax_id)

    def tiff_bytes(self, fax_id: int) -> bytes | None:
        rec = self.fax(fax_id)
        return rec.path.read_bytes() if rec is not None and rec.path.exists() else None

    @staticmethod
    def _delivery(row) -> DeliveryRecord:
        d = dict(row)
        d["kind"] = TargetKind(d["kind"])
        d["state"] = DeliveryState(d["state"])
        d["target"] = json.loads(d["target"])
        d["uncertain"] = bool(d["uncertain"])
        return DeliveryRecord(**d)

    def delivery(self, delivery_id: int) -> DeliveryRecord | None:
        row = self._db().execute("SELECT * FROM received_deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return None if row is None else self._delivery(row)

    def deliveries(self, fax_id: int | None = None) -> list[DeliveryRecord]:
        sql, args = "SELECT * FROM received_deliveries", ()
        if fax_id is not None:
            sql, args = sql + " WHERE fax = ?", (fax_id,)
        return [self._delivery(r) for r in self._db().execute(sql + " ORDER BY id", args)]

    def next_wakeup(self) -> float | None:
        row = self._db().execute("SELECT MIN(next_try_at) FROM received_deliveries WHERE state = ?",
                                 (DeliveryState.PENDING.value,)).fetchone()
        return row[0]

    # ------------------------------------------------------------ state changes

    def _move(self, delivery_id: int, old: DeliveryState, new: DeliveryState, now: float, **fields) -> bool:
        sets = {"state": new.value, "updated_at": now, **fields}
        cols = ", ".join(f"{k} = ?" for k in sets)
        with self._lock:
            cur = self._db().execute(f"UPDATE received_deliveries SET {cols} WHERE id = ? AND state = ?",
                                     (*sets.values(), delivery_id, old.value))
        return cur.rowcount == 1

    def claim_due(self, now: float, limit: int = 20) -> list[DeliveryRecord]:
        """Pending deliveries whose time has come, now marked delivering (one process wins each)."""
        rows = self._db().execute(
            "SELECT id FROM received_deliveries WHERE state = ? AND next_try_at <= ? ORDER BY next_try_at, id LIMIT ?",
            (DeliveryState.PENDING.value, now, limit)).fetchall()
        out = []
        for (did,) in rows:
            if self._move(did, DeliveryState.PENDING, DeliveryState.DELIVERING, now,
                          attempts=self.delivery(did).attempts + 1):
                out.append(self.delivery(did))
        return out

    def delivered(self, delivery_id: int, now: float) -> bool:
        return self._move(delivery_id, DeliveryState.DELIVERING, DeliveryState.DELIVERED, now,
                          error="", next_try_at=None, uncertain=0)

    def retry_at(self, delivery_id: int, when: float, error: str, now: float) -> bool:
        return self._move(delivery_id, DeliveryState.DELIVERING, DeliveryState.PENDING, now,
                          next_try_at=when, error=error, uncertain=0)

    def failed(self, delivery_id: int, error: str, now: float, alert: NewDelivery | None = None) -> bool:
        """Give up on a delivery; ``alert`` (to the fax master) is queued in the same transaction,
        so a crash can neither lose the alert nor send it twice."""
        db = self._db()
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "UPDATE received_deliveries SET state = ?, updated_at = ?, next_try_at = NULL, error = ?"
                    " WHERE id = ? AND state = ?",
                    (DeliveryState.FAILED.value, now, error, delivery_id, DeliveryState.DELIVERING.value))
                if cur.rowcount == 1 and alert is not None:
                    fax = db.execute("SELECT fax FROM received_deliveries WHERE id = ?", (delivery_id,)).fetchone()[0]
                    self._insert_delivery(db, fax, alert, now)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return cur.rowcount == 1

    def recover(self, now: float, *, orphan_age: float = 600.0) -> int:
        """After a restart: attempts caught mid-way go back to pending, marked uncertain; files
        of a fax whose row was never committed (a crash inside `add`) are removed once older
        than ``orphan_age`` seconds (another process may be between its fsync and its commit)."""
        with self._lock:
            cur = self._db().execute(
                "UPDATE received_deliveries SET state = ?, next_try_at = ?, uncertain = 1, updated_at = ? WHERE state = ?",
                (DeliveryState.PENDING.value, now, now, DeliveryState.DELIVERING.value))
        known = {r[0] for r in self._db().execute("SELECT path FROM received_faxes")}
        for f in self.dir.iterdir():
            stem = f.name.lstrip(".").split(".", 1)[0]
            if stem not in known and f.stat().st_mtime <= now - orphan_age:
                f.unlink(missing_ok=True)
        return cur.rowcount

    def redeliver(self, fax_id: int, now: float) -> int:
        """Deliver every (non-alert) target of a fax again now, as a new copy (new Message-ID)."""
        n = 0
        for d in self.deliveries(fax_id):
            if d.kind is TargetKind.ALERT or d.state is DeliveryState.DELIVERING:
                continue
            with self._lock:
                cur = self._db().execute(
                    "UPDATE received_deliveries SET state = ?, attempts = 0, next_try_at = ?, created_at = ?,"
                    " updated_at = ?, error = '', uncertain = 0, message_id = ? WHERE id = ? AND state = ?",
                    (DeliveryState.PENDING.value, now, now, now, self.new_message_id(), d.id, d.state.value))
            n += cur.rowcount
        return n

    # ------------------------------------------------------------ retention (mailfax.retention)

    def remove_expired(self, before: float, *, limit: int | None = 500,
                       dry_run: bool = False) -> list[FaxRecord]:
        """Delete up to ``limit`` faxes received at or before ``before`` whose every delivery
        is final (delivered, or failed with the fax master's alert queued and itself final)
        and last changed at or before ``before``, with their delivery rows, in one committed
        transaction; returns the faxes deleted.  A fax with a delivery pending, under way or
        redelivered since is never removed.  Their files (`files_of`) are the caller's to
        delete after this returns: a crash in between leaves only unreferenced files, which
        `orphan_files` finds.  ``dry_run`` rolls back: the same answer, nothing changed."""
        finals = ",".join(f"'{s.value}'" for s in DeliveryState if s.final)
        sql = ("SELECT f.* FROM received_faxes f WHERE f.received_at <= ?1 AND NOT EXISTS"
               " (SELECT 1 FROM received_deliveries d WHERE d.fax = f.id"
               f" AND (d.state NOT IN ({finals}) OR d.updated_at > ?1)) ORDER BY f.id")
        sql += "" if limit is None else f" LIMIT {int(limit)}"
        db = self._db()
        with self._lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                faxes = [self._fax(r) for r in db.execute(sql, (before,)).fetchall()]
                db.executemany("DELETE FROM received_deliveries WHERE fax = ?", [(f.id,) for f in faxes])
                db.executemany("DELETE FROM received_faxes WHERE id = ?", [(f.id,) for f in faxes])
                db.execute("ROLLBACK" if dry_run else "COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return faxes

    @staticmethod
    def files_of(rec: FaxRecord) -> tuple[Path, Path]:
        """The files a stored fax owns: its TIFF-F (absent when no page arrived) and metadata."""
        return rec.path, rec.path.with_suffix(".json")

    def orphan_files(self, now: float, min_age: float) -> list[Path]:
        """Files under the received directory no fax row names (also temp files of an
        interrupted write), last modified at least ``min_age`` seconds before ``now``."""
        known = {r[0] for r in self._db().execute("SELECT path FROM received_faxes")}
        out = []
        for f in sorted(self.dir.iterdir()):
            stem = f.name.lstrip(".").split(".", 1)[0]
            try:
                if (f.name.startswith(".") or stem not in known) and f.is_file() \
                        and f.stat().st_mtime <= now - min_age:
                    out.append(f)
            except FileNotFoundError:
                continue
        return out
