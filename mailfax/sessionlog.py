"""Per-call session logs, like HylaFAX's ``log/c*`` files: what was said on the line, and when.

What does it do?  One text file per call under ``<data_dir>/log/`` (``c00000001``, ...):
a header (direction, trunk, peer, wall-clock start), then one line per event at its
media time since the call was answered — every T.30 frame sent and received (``SEND
DCS``, ``RECV CFR``), phase changes, the negotiated parameters (remote ident, modem, rate,
ECM, resolution), training results (CFR after DCS = trained, FTT = failed: retrain
lower), each page sent or received with its rows and bad rows — and a closing line with
the completion, the pages and the call's statistics.  Nothing is buffered for long: a
crashed server leaves the log up to its last line.

How does it work?  `SessionLogs.follow(calls, now)` is called once per media tick with
the telephony layer's live calls (``{call: live}`` with ``live.bridge`` a
`mailfax.faxcall.FaxCall`); it opens a log for a new call, appends what the bridge's
terminal added since the last tick (the `CallStats` frame lists and the terminal's event
list only grow), and closes the log of a call that left the mapping.  Reading is cheap:
a few length comparisons per call per tick.  `mailfax.telephony` runs it from each tick
of its calls and puts the path into the call's result, so reports can name it.

Where the files are named: a sending job's transcript (the queue's text field) ends with
one ``session log: PATH`` line per call and ``recording: PATH`` when audio was kept
(`file_lines` writes them, `files_in` reads them back for the sender's report and
``mailfax status``).
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Mapping

log = logging.getLogger("mailfax.sessionlog")


#: Labels of the file lines in a transcript, in the order they are written.
FILE_LABELS = ("session log", "recording")


def file_lines(session_logs, recordings=()) -> tuple[str, ...]:
    """Transcript lines naming a job's call files (empty paths are skipped)."""
    return tuple(f"{label}: {p}" for label, paths in zip(FILE_LABELS, (session_logs, recordings))
                 for p in paths if p)


def files_in(transcript: str) -> list[tuple[str, str]]:
    """The ``(label, path)`` pairs `file_lines` put into a transcript, in order."""
    out = []
    for line in (transcript or "").splitlines():
        label, sep, path = line.partition(": ")
        if sep and label in FILE_LABELS and path.strip():
            out.append((label, path.strip()))
    return out


def _stamp(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m // 60):02d}:{int(m % 60):02d}:{s:05.2f}"


@dataclass
class _Follow:
    """How far one call's log has got."""

    live: object
    file: IO[str]
    path: Path
    sent: int = 0
    received: int = 0
    events: int = 0
    last_dcs: str = ""


class SessionLogs:
    """The session log directory of one gateway and the logs of its running calls."""

    def __init__(self, directory: Path, *, clock=time.time) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        seqs = [int(m.group(1)) for p in self.directory.iterdir() if (m := re.fullmatch(r"c(\d{8})", p.name))]
        self._next = max(seqs, default=0) + 1
        self._open: dict[int, _Follow] = {}
        self.paths: dict[int, Path] = {}       # call -> its log (also after the call)

    # ------------------------------------------------------------ per tick

    def follow(self, calls: Mapping[int, object], now: float | None = None) -> None:
        for call, live in list(calls.items()):
            f = self._open.get(call)
            if f is None or f.live is not live:
                if f is not None:
                    self._close(call)
                f = self._start(call, live)
                if f is None:
                    continue
            self._catch_up(f)
        for call in [c for c in self._open if c not in calls]:
            self._close(call)

    def close_all(self) -> None:
        for call in list(self._open):
            self._close(call)

    # ------------------------------------------------------------ internals

    def _start(self, call: int, live) -> _Follow | None:
        for _ in range(1000):
            path = self.directory / f"c{self._next:08d}"
            self._next += 1
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                continue
            except OSError as e:
                log.warning("no session log for call %d: %s", call, e)
                return None
        else:
            return None
        file = os.fdopen(fd, "w", buffering=1)  # line-buffered: a crash keeps what was written
        incoming = getattr(live, "incoming", None)
        trunk = getattr(live, "trunk", None)
        start = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(getattr(live, "started_at", 0) or self.clock()))
        file.write(f"SESSION {path.name}: {'RECEIVE' if incoming is not None else 'SEND'} call {call}"
                   f" on trunk {trunk.name if trunk else '-'}, started {start}\n")
        if incoming is not None:
            file.write(f"CALLER {incoming.calling_number or '-'} ({incoming.calling_name or '-'}), "
                       f"CALLED {incoming.called_number or '-'}\n")
        f = _Follow(live, file, path)
        self._open[call] = f
        self.paths[call] = path
        return f

    def _catch_up(self, f: _Follow) -> None:
        from dsp.t30.events import CallFinished, Negotiated, PageReceived, PageSent, PhaseChanged

        term = f.live.bridge.terminal
        stats = term.session.stats
        at = _stamp(term.samples_in / 8000)
        # within one 20 ms tick a terminal hears first and answers after: received, then sent
        for name in stats.frames_received[f.received:]:
            f.file.write(f"{at} RECV {name}\n")
            self._training(f, at, name, stats)
        f.received = len(stats.frames_received)
        for name in stats.frames_sent[f.sent:]:
            f.file.write(f"{at} SEND {name}\n")
            self._training(f, at, name, stats)
        f.sent = len(stats.frames_sent)
        events = term.events
        for ev in events[f.events:]:
            if isinstance(ev, PhaseChanged):
                f.file.write(f"{at} PHASE {ev.phase.name}\n")
            elif isinstance(ev, Negotiated):
                f.file.write(f"{at} NEGOTIATED remote ident \"{ev.remote_ident.strip()}\", {_dcs(ev.dcs)}\n")
            elif isinstance(ev, PageReceived):
                s = ev.stats
                f.file.write(f"{at} PAGE RECEIVED {ev.page.width}x{s.rows} rows, {s.bad_rows} bad, "
                             f"{s.bit_rate} bit/s{', ECM' if s.ecm else ''}\n")
            elif isinstance(ev, PageSent):
                f.file.write(f"{at} PAGE {ev.number} SENT (confirmed)\n")
            elif isinstance(ev, CallFinished):
                f.file.write(f"{at} T.30 END {ev.completion.name}: {ev.completion.value}\n")
        f.events = len(events)

    @staticmethod
    def _training(f: _Follow, at: str, name: str, stats) -> None:
        """CFR/FTT answer the TCF after a DCS: the training result at the negotiated rate."""
        if name == "DCS":
            f.last_dcs = f"{stats.modem or '?'} {stats.bit_rate or '?'} bit/s"
        elif name in ("CFR", "FTT") and f.last_dcs:
            verdict = "trained" if name == "CFR" else "failed (FTT), retrain at a lower rate"
            f.file.write(f"{at} TRAINING {f.last_dcs}: {verdict}\n")

    def _close(self, call: int) -> None:
        f = self._open.pop(call)
        try:
            self._catch_up(f)
            r = f.live.bridge.result()
            s = r.stats
            end = r.refused or (f"{r.end_reason.value} ({r.cause})" if r.end_reason else "we hung up")
            f.file.write(
                f"{_stamp(r.seconds)} SESSION END {r.completion.name if r.completion else 'no T.30 result'}; "
                f"line: {end}; pages sent {r.pages_sent}, received {len(r.pages)}; {s.modem or '-'} "
                f"{s.bit_rate or '-'} bit/s, ECM {'yes' if s.ecm else 'no'}, remote \"{s.remote_ident.strip()}\", "
                f"retrains {s.retrains}, retransmitted frames {s.retransmitted_frames}, bad rows {s.bad_rows}, "
                f"lost audio blocks {getattr(getattr(f.live.bridge, 'counters', None), 'lost', 0)}\n")
        except Exception:  # a log must never take a call down
            log.exception("session log %s: could not close cleanly", f.path)
        finally:
            f.file.close()


def _dcs(dcs) -> str:
    """The DCS fields worth a log line (whatever the Dcs value offers)."""
    parts = []
    for attr in ("rate", "ecm", "resolution", "coding", "width", "min_scan_ms"):
        v = getattr(dcs, attr, None)
        if attr == "rate" and v is not None:
            parts.append(f"{getattr(v.modem, 'value', v.modem)} {v.bit_rate} bit/s")
        elif v is not None:
            parts.append(f"{attr} {getattr(v, 'name', v)}")
    return ", ".join(parts) or repr(dcs)
