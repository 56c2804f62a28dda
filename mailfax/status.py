"""What the running gateway is doing, for ``mailfax status`` and the metrics endpoint.

What does it do?  Two sources, read the same way by the status command and by
`mailfax.metrics`:

- the **status snapshot** (``<data_dir>/status.json``): trunks and their registration,
  active calls (direction, peer, T.30 phase, page, speed, modem), call counters and the
  media clock's DSP load and lateness.  Only the running server knows these; `Operations`
  writes the file once a second (write to a temporary file, rename: a reader never sees
  half a file) and a last time with ``"state": "stopped"`` when the server stops;
- the **queue database**, read-only: jobs by state, failures by completion code, pages
  sent, the most recent failures, received faxes and their deliveries.

How does it work?  `snapshot()` reads only public attributes of the telephony layer
(`Telephony.calls`, `.stats`, `.media`, the bridges' terminals).  `queue_summary()` opens
its own read-only SQLite connection, so ``mailfax status`` works while ``serve`` writes,
and also when the server is not running at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

from mailfax.netaddr import hostport

log = logging.getLogger("mailfax.status")

SNAPSHOT_NAME = "status.json"
INTERVAL = 1.0          # seconds between snapshots
STALE_AFTER = 10.0      # a snapshot older than this (and not "stopped") means a dead server


def snapshot_path(config) -> Path:
    return config.storage.data_dir / SNAPSHOT_NAME


# ---------------------------------------------------------------- the running server's side


def call_info(live, now: float) -> dict[str, Any]:
    """One active call as plain data: direction, peer, T.30 phase, page, speed."""
    from dsp.t30.events import PhaseChanged

    bridge = live.bridge
    term = bridge.terminal
    stats = term.session.stats
    phase = next((ev.phase.name for ev in reversed(term.events) if isinstance(ev, PhaseChanged)), "")
    incoming = live.incoming is not None
    return {
        "direction": "in" if incoming else "out",
        "trunk": live.trunk.name if live.trunk is not None else "",
        "peer": (live.incoming.calling_number or "") if incoming else "",
        "remote_ident": stats.remote_ident.strip(),
        "line": bridge.phase.value,                      # waiting / media / tail / ended
        "t30_phase": phase,                              # A..E, T.30 figure 2
        "t30_state": term.session.state.name,
        "page": (len(bridge.pages) if incoming else bridge.pages_sent) + (1 if phase == "C" else 0),
        "bit_rate": stats.bit_rate or None,
        "modem": stats.modem or None,
        "ecm": bool(stats.ecm),
        "seconds": round(term.samples_in / 8000, 1),
        "age": round(max(0.0, now - live.started_at), 1),
    }


def snapshot(telephony, *, now: float, started_at: float, trunks=None, pid: int | None = None,
             state: str = "running") -> dict[str, Any]:
    """The status of one running gateway as plain data (see the module docstring)."""
    calls = [call_info(live, now) for live in list(telephony.calls.values())] if telephony else []
    stats = telephony.stats if telephony else None
    regs = dict(stats.registrations) if stats else {}
    trunk_rows = [{"name": t.name, "host": t.host, "port": t.port, "channels": t.channels,
               "registration": regs.get(t.name, "not registering" if not t.register else "registering"),
               "active": sum(1 for c in calls if c["trunk"] == t.name)}
              for t in (trunks if trunks is not None else telephony.trunks if telephony else ())]
    media = telephony.media.summary() if telephony else {}
    try:
        iax = list(telephony.address) if telephony else None
    except OSError:  # the socket is closed once the server stops
        iax = None
    return {
        "state": state, "pid": pid if pid is not None else os.getpid(), "started_at": started_at,
        "updated_at": now, "iax": iax,
        "trunks": trunk_rows, "calls": calls,
        "counters": {"placed": stats.placed, "answered": stats.answered,
                     "refused": dict(stats.refused)} if stats else {},
        "media": media,
    }


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON in one rename (no fsync: it is a live view)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_snapshot(path: Path, *, now: float) -> dict[str, Any] | None:
    """The snapshot, or None when there is none; a stale "running" one is marked "dead"."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if data.get("state") in ("running", "stopping") and now - float(data.get("updated_at", 0)) > STALE_AFTER:
        data["state"] = "not responding"
    return data


class Operations:
    """The server's operations side: writes the snapshot every second, serves metrics.

    `run(stop)` is one task of the gateway (`mailfax.app`); it ends when ``stop`` is set,
    after writing the final "stopped" snapshot and closing the metrics listener.
    """

    def __init__(self, config, store, telephony, *, clock: Callable[[], float] = time.time,
                 interval: float = INTERVAL) -> None:
        self.config = config
        self.store = store
        self.telephony = telephony
        self.clock = clock
        self.interval = interval
        self.started_at = clock()
        self.path = snapshot_path(config)
        self.metrics_server: asyncio.AbstractServer | None = None
        self.sessions = None  # mailfax.sessionlog.SessionLogs while running: .paths[call] -> log file

    def current(self, state: str = "running") -> dict[str, Any]:
        return snapshot(self.telephony, now=self.clock(), started_at=self.started_at,
                        trunks=self.config.trunks, state=state)

    def publish(self, state: str = "running") -> None:
        try:
            write_atomic(self.path, self.current(state))
        except OSError as e:  # a full disk must not stop the faxes
            log.warning("could not write %s: %s", self.path, e)

    async def run(self, stop: asyncio.Event) -> None:
        from mailfax import metrics

        listen = getattr(self.config, "metrics", None)
        if listen is not None and listen.port:
            try:
                self.metrics_server = await metrics.start_server(self, listen.host, listen.port)
            except OSError as e:
                log.error("metrics: cannot listen on %s: %s", hostport(listen.host, listen.port), e.strerror or e)
        self.sessions = self.follow_sessions()
        try:
            while not stop.is_set():
                # "stopping" while a graceful stop lets the calls in progress finish (mailfax.app)
                self.publish("stopping" if getattr(self.telephony, "draining", False) else "running")
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            if self.metrics_server is not None:
                self.metrics_server.close()
                await self.metrics_server.wait_closed()
            self.publish("stopped")

    def follow_sessions(self):
        """The telephony layer's session logs (`mailfax.sessionlog`; it keeps them from every
        media tick and names them in each call's result), or None when it keeps none."""
        return getattr(self.telephony, "session_logs", None)


# ---------------------------------------------------------------- the queue database, read-only


def _failure_row(row: sqlite3.Row) -> dict[str, Any]:
    """A recent failure with its last call's session log (and recording) instead of the transcript."""
    from mailfax.sessionlog import files_in

    d = dict(row)
    files = files_in(d.pop("transcript", "") or "")
    d["session_log"] = next((p for label, p in reversed(files) if label == "session log"), "")
    d["recording"] = next((p for label, p in reversed(files) if label == "recording"), "")
    return d


def queue_summary(db_path: Path, *, recent: int = 5) -> dict[str, Any]:
    """Jobs by state, failures by completion, pages sent, recent failures, received faxes."""
    out: dict[str, Any] = {"jobs": {}, "failures": {}, "pages_sent": 0, "recent_failures": [],
                           "received": 0, "deliveries": {}}
    if not Path(db_path).exists():
        return out
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
    try:
        db.row_factory = sqlite3.Row
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "jobs" in tables:
            # a job waiting for its `send --at` time sits in retry-wait, never dialled: count it apart
            out["jobs"] = {r[0]: r[1] for r in db.execute(
                "SELECT CASE WHEN state = 'retry-wait' AND dials = 0"
                " AND json_extract(settings, '$.not_before') IS NOT NULL THEN 'scheduled' ELSE state END AS s,"
                " COUNT(*) FROM jobs GROUP BY s")}
            out["failures"] = {r[0] or "UNKNOWN": r[1] for r in db.execute(
                "SELECT completion, COUNT(*) FROM jobs WHERE state = 'failed' GROUP BY completion")}
            out["pages_sent"] = db.execute("SELECT COALESCE(SUM(pages_confirmed), 0) FROM jobs").fetchone()[0]
            out["recent_failures"] = [_failure_row(r) for r in db.execute(
                "SELECT id, number, completion, reason, updated_at, tries, dials, transcript FROM jobs"
                " WHERE state = 'failed' OR (state = 'retry-wait' AND reason != '')"
                " ORDER BY updated_at DESC LIMIT ?", (recent,))]
            out["active"] = [dict(r) for r in db.execute(
                "SELECT id, number, state, pages_confirmed, pages_total, bit_rate FROM jobs"
                " WHERE state IN ('dialling', 'sending') ORDER BY id")]
        if "received_faxes" in tables:
            out["received"] = db.execute("SELECT COUNT(*) FROM received_faxes").fetchone()[0]
        if "received_deliveries" in tables:
            out["deliveries"] = {r[0]: r[1] for r in db.execute(
                "SELECT state, COUNT(*) FROM received_deliveries GROUP BY state")}
    finally:
        db.close()
    return out
