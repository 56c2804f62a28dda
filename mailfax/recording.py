"""Recording a call's audio, both directions, for diagnosis (issue 8, ``recording:`` config).

What does it do?  With ``recording: {enabled: true}`` every fax call leaves one stereo WAV
(8 kHz, 16-bit, little-endian PCM): the left channel is what the fax terminal heard (the
far end, after G.711 decoding), the right channel what it sent (before G.711 encoding).
Both are aligned per 20 ms tick: sample k of either channel is the same instant of media
time, from the moment the call was answered.  A lost 20 ms (empty playout slot) is
recorded as silence; the session log of the call says how many were lost.  The file is
named ``<YYYYmmdd-HHMMSS>-call<N>-<in|out>-<number>.wav`` (UTC start, IAX2 call number,
direction, the dialled or calling number).  With ``calls: failed`` the recording of a call
that ended well is deleted at call end.

How does it work?  `RecordingTerminal` wraps the call's `dsp.fax.FaxTerminal` at the one
place where both directions pass as samples (``receive``/``fillin`` then ``transmit``, once
per tick: DESIGN.md §4), so neither the bridge nor the terminal knows about recording.  The
media clock only copies each tick's two blocks into a per-call list; every second of audio
(50 ticks) is handed to the `Recorder`'s one writer thread through a bounded queue, which
opens, appends to and finalises the WAV files (stdlib `wave`).  The media clock never
touches the disk.  Memory is bounded: if the writer falls behind (a stalled disk) a call
keeps its unwritten seconds and retries the hand-over next second, and no call records
more than ``max_length`` (default 30 min: 30 min x 32 KB/s = 58 MB at most per call).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
import wave
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger("mailfax.recording")

RATE = 8000
CHUNK_TICKS = 50            # hand audio to the writer once per second of media time
QUEUE_CHUNKS = 256          # the writer's backlog, in chunks (256 s of one call's audio)


def recording_name(start: float, call: int, incoming: bool, number: str) -> str:
    """``20261126-083000-call17-out-5550199.wav`` (UTC); the number keeps digits and '+' only."""
    num = re.sub(r"[^0-9+]", "", number or "")[:32] or "unknown"
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(start))}-call{call}-{'in' if incoming else 'out'}-{num}.wav"


class CallRecording:
    """One call's audio on its way to a WAV file: filled per tick, drained by the `Recorder`."""

    def __init__(self, recorder: "Recorder", path: Path, max_samples: int) -> None:
        self.recorder = recorder
        self.path = path
        self.samples = 0                 # per channel, kept so far
        self.max_samples = max_samples
        self.truncated = False
        self.lost_blocks = 0
        self._heard: np.ndarray | None = None
        self._pending: list[bytes] = []  # stereo frames not yet handed to the writer
        self._ticks = 0
        self.finished = False

    def heard(self, samples: np.ndarray | None, n: int) -> None:
        """What the terminal heard this tick (None: a lost block, recorded as silence)."""
        if samples is None:
            self.lost_blocks += 1
            self._heard = np.zeros(n, np.int16)
        else:
            self._heard = np.asarray(samples, np.int16)

    def said(self, samples: np.ndarray, n: int) -> None:
        """What the terminal sent this tick; closes the tick (heard first, then said)."""
        if self.finished:
            return
        heard = self._heard if self._heard is not None else np.zeros(0, np.int16)
        self._heard = None
        n = max(n, len(heard), len(samples))
        if self.samples + n > self.max_samples:
            n = self.max_samples - self.samples
            self.truncated = True
            if n <= 0:
                return
        frame = np.zeros((n, 2), "<i2")           # a short block is padded: both stay aligned
        frame[:min(n, len(heard)), 0] = heard[:n]
        frame[:min(n, len(samples)), 1] = np.asarray(samples, np.int16)[:n]
        self._pending.append(frame.tobytes())
        self.samples += n
        self._ticks += 1
        if self._ticks % CHUNK_TICKS == 0:
            self._hand_over()

    def _hand_over(self) -> bool:
        if not self._pending:
            return True
        if self.recorder._put(("write", self, b"".join(self._pending)), block=False):
            self._pending.clear()
            return True
        return False                            # writer behind: keep it, try next second

    @property
    def seconds(self) -> float:
        return self.samples / RATE


class Recorder:
    """The recordings directory of one gateway and its writer thread (see the module docstring)."""

    def __init__(self, directory: Path, *, calls: str = "all", max_length: float = 1800.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.only_failed = calls == "failed"
        self.max_samples = int(max_length * RATE)
        self.clock = clock
        self.kept: list[Path] = []
        self.deleted: list[Path] = []
        self._queue: queue.Queue = queue.Queue(QUEUE_CHUNKS)
        self._files: dict[int, wave.Wave_write] = {}
        self._thread = threading.Thread(target=self._run, name="mailfax-recorder", daemon=True)
        self._thread.start()

    @classmethod
    def from_config(cls, config, *, clock: Callable[[], float] = time.time) -> "Recorder | None":
        """The recorder ``config.recording`` asks for, or None (disabled, or no usable directory)."""
        rc = config.recording
        if not rc.enabled:
            return None
        try:
            return cls(rc.directory(config.storage.data_dir), calls=rc.calls, max_length=rc.max_length, clock=clock)
        except OSError as e:
            log.warning("call recording disabled: %s", e)
            return None

    # ------------------------------------------------------------ the media clock's side

    def start(self, call: int, *, incoming: bool, number: str) -> CallRecording:
        path = self.directory / recording_name(self.clock(), call, incoming, number)
        rec = CallRecording(self, path, self.max_samples)
        self._put(("open", rec, None), block=True)
        return rec

    def finish(self, rec: CallRecording, *, ok: bool) -> Path | None:
        """End a call's recording; returns the path kept: None when ``calls: failed`` and the
        call went well, or when no audio flowed (never answered).  Hands the rest to the
        writer without waiting, unless its queue is full (a stalled disk: up to 5 s)."""
        if rec.finished:
            return rec.path if rec.path in self.kept else None
        rec.finished = True
        keep = rec.samples > 0 and not (self.only_failed and ok)
        if rec._pending:
            self._put(("write", rec, b"".join(rec._pending)), block=True)
            rec._pending.clear()
        self._put(("close", rec, keep), block=True)
        (self.kept if keep else self.deleted).append(rec.path)
        return rec.path if keep else None

    def _put(self, item, *, block: bool) -> bool:
        try:
            self._queue.put(item, block=block, timeout=5.0 if block else None)
            return True
        except queue.Full:
            return False

    # ------------------------------------------------------------ lifetime

    def flush(self) -> None:
        """Wait until everything handed over so far is on disk (blocking: call from a thread)."""
        self._queue.join()

    def close(self) -> None:
        """Finish the writer thread after what is queued (blocking: call from a thread)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    # ------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._do(*item)
            except Exception:  # one bad file must not stop the others' recordings
                log.exception("recording: %s failed", item[0] if item else "?")
            finally:
                self._queue.task_done()

    def _do(self, op: str, rec: CallRecording, arg) -> None:
        key = id(rec)
        if op == "open":
            w = wave.open(str(rec.path), "wb")
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(RATE)
            self._files[key] = w
        elif op == "write":
            w = self._files.get(key)
            if w is not None:
                w.writeframesraw(arg)
        elif op == "close":
            w = self._files.pop(key, None)
            if w is not None:
                w.close()             # patches the header's lengths
            if not arg:
                try:
                    os.unlink(rec.path)
                except FileNotFoundError:
                    pass
            elif rec.truncated:
                log.info("recording %s stopped at its maximum length (%.0f s)", rec.path, rec.seconds)


class RecordingTerminal:
    """A fax terminal whose audio, both ways, also goes to a `CallRecording`.

    The three audio verbs are recorded; everything else (``events``, ``finished``,
    ``session``, ``result``, ``samples_in``...) is the wrapped terminal's own.
    """

    def __init__(self, terminal, recording: CallRecording) -> None:
        self.terminal = terminal
        self.recording = recording

    def receive(self, samples: np.ndarray) -> None:
        self.recording.heard(samples, len(samples))
        self.terminal.receive(samples)

    def fillin(self, n: int) -> None:
        self.recording.heard(None, n)
        self.terminal.fillin(n)

    def transmit(self, n: int) -> np.ndarray:
        out = self.terminal.transmit(n)
        self.recording.said(out, n)
        return out

    def __getattr__(self, name: str):
        return getattr(self.terminal, name)
