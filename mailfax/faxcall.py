"""One fax call's bridge: IAX2 call events <-> G.711 <-> `FaxTerminal`, one 20 ms tick at a time.

What does it do?  `FaxCall` joins one call of an `iax.endpoint.Endpoint` to one
`dsp.fax.FaxTerminal` (DESIGN.md §4).  It owns the call's playout buffer (fixed delay,
never time-stretched) and, on every `tick(now)`:

    playout slot -> G.711 decode -> terminal.receive(160)   (terminal.fillin(160) if lost)
    terminal.transmit(160) -> G.711 encode -> endpoint.send_voice(call, ..., now)

How does it work?  No sockets, no clock: the owner feeds the call's endpoint events with
`on_event(event)` and calls `tick(now)` every 20 ms of media time (`mailfax.telephony` does
it from its media clock, tests from injected time).  The terminal's sample clock starts
when the call is up (answered), so T.30's timers count line time only.  When the
terminal's call has finished, the bridge keeps the line open for `tail` seconds (the
last frame's audio is still in flight and in the far end's playout buffer), then hangs
up.  A hang-up from the far end ends the bridge at once.

Received pages are kept twice: decoded (``pages``, for thumbnails and PDF) and as the
line's coded bytes (``coded``, `mailfax.received.CodedLinePage`), which the store wraps as
TIFF-F without re-encoding (issue 7).  Non-ECM pages with bad rows are kept as received,
bad rows and all, with their counts for the BadFaxLines / ConsecutiveBadFaxLines tags (what
HylaFAX does; TIFF-F allows it with CleanFaxData = 2, RFC 2306): the received copy is the
evidence of what the line delivered, and readers (libtiff, our `dsp.t4`) repair such rows
as they decode.  If any page came without its line bytes, ``coded`` is left empty and the
store encodes the decoded pages instead.

Policy hooks, answered in the same tick: `on_negotiated(remote_ident) -> bool` (False
hangs up: refusal by TSI after phase B) and ``max_pages`` (more pages end the call).
The outcome is a `FaxCallResult` value, never an exception.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dsp import g711
from dsp.fax import FaxTerminal
from dsp.t30.completion import CallStats, Completion
from dsp.t30.dis import Capabilities
from dsp.t30.session import SessionConfig
from dsp.t4.page import Page
from dsp.t30.events import CallFinished, CodedImage, Negotiated, PageReceived, PageSent
from iax.events import CallAnswered, CallEnded, EndReason, Event, VoiceReceived
from iax.frames import Format
from iax.playout import PlayoutBuffer
from mailfax.received import CodedLinePage

BLOCK = 160            # samples per 20 ms tick at 8 kHz
TICK = 0.020           # seconds
SILENCE = np.zeros(BLOCK, np.int16)
#: Fixed playout delay in 20 ms slots: 100 ms of jitter (or of a stalled event loop) is
#: absorbed without a gap; T.30's timers are seconds, a constant delay costs nothing.
PLAYOUT_SLOTS = 5


class Phase(enum.Enum):
    """Where the bridge is: waiting for the line, carrying the fax, draining, ended."""

    WAITING = "waiting"    # call placed or offered, not up yet: nothing to carry
    MEDIA = "media"        # voice both ways, the terminal runs
    TAIL = "tail"          # terminal finished; the line stays open a little longer
    ENDED = "ended"


@dataclass(frozen=True)
class FaxCallResult:
    """How one call ended: the T.30 completion (None if T.30 never finished) and the line's."""

    completion: Completion | None
    end_reason: EndReason | None          # None: we hung up after the fax ended
    cause: str
    stats: CallStats
    cause_code: int = 0                   # Q.850 cause of the far end's REJECT/HANGUP
    pages: tuple = ()                     # received pages (dsp.t4.Page)
    coded: tuple = ()                     # their line bytes (CodedLinePage), one per page, or ()
    pages_sent: int = 0                   # pages confirmed by the far end (MCF)
    connected: bool = False               # the call was answered
    refused: str = ""                     # why we ended it on purpose (TSI rule, page limit)
    seconds: float = 0.0                  # media time
    session_log: str = ""                 # the call's session log file, when one was kept (telephony)
    recording: str = ""                   # the call's audio recording, when one was kept (telephony)

    @property
    def ok(self) -> bool:
        return self.completion is Completion.OK and not self.refused


def _codec(fmt: int) -> tuple[Callable[[bytes], np.ndarray], Callable[[np.ndarray], bytes]]:
    """Decoder and encoder for the call's negotiated format (IAX2 slinear is big-endian)."""
    if fmt == Format.ULAW:
        return g711.ulaw_decode, lambda s: g711.ulaw_encode(s).tobytes()
    if fmt == Format.SLINEAR:
        return (lambda b: np.frombuffer(b, ">i2").astype(np.int16),
                lambda s: np.asarray(s, ">i2").tobytes())
    return g711.alaw_decode, lambda s: g711.alaw_encode(s).tobytes()


@dataclass
class _Counters:
    ticks: int = 0
    lost: int = 0
    short: int = 0


class FaxCall:
    """One IAX2 call carrying one fax (see the module docstring)."""

    def __init__(self, endpoint, call: int, terminal: FaxTerminal, *, playout_delay: int = PLAYOUT_SLOTS,
                 tail: float = 1.0, max_pages: int | None = None,
                 on_negotiated: Callable[[str], bool] | None = None) -> None:
        self.endpoint = endpoint
        self.call = call
        self.terminal = terminal
        self.playout = PlayoutBuffer(delay_slots=playout_delay)
        self.phase = Phase.WAITING
        self.max_pages = max_pages
        self.on_negotiated = on_negotiated
        self.counters = _Counters()
        self.pages: list = []
        self._coded: list[CodedLinePage | None] = []
        self.pages_sent = 0
        self.remote_ident = ""
        self._tail_ticks = max(1, int(round(tail / TICK)))
        self._tail_left = self._tail_ticks
        self._seen = 0                 # terminal events handled so far
        self._connected = False
        self._end: CallEnded | None = None
        self._refused = ""
        self._decode, self._encode = _codec(Format.ALAW)

    # --- inputs -----------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.phase is Phase.ENDED

    @property
    def connected(self) -> bool:
        return self._connected

    def start_media(self) -> None:
        """The call is up (answered by them, or by us): voice flows from the next tick."""
        if self.phase is Phase.WAITING:
            self._decode, self._encode = _codec(self.endpoint.call_format(self.call))
            self._connected = True
            self.phase = Phase.MEDIA

    def on_event(self, event: Event) -> None:
        """One endpoint event for this call."""
        if isinstance(event, VoiceReceived):
            # early media (ring-back before ANSWER) is not fax: buffering it would set the
            # playout origin early and delay everything after by its length, for good
            if self.phase is Phase.MEDIA or self.phase is Phase.TAIL:
                self.playout.put(event.timestamp, event.payload)
        elif isinstance(event, CallAnswered):
            self.start_media()
        elif isinstance(event, CallEnded):
            self._end = event
            self.phase = Phase.ENDED

    def tick(self, now: float) -> None:
        """One 20 ms of media: hear a block, say a block."""
        if self.phase in (Phase.WAITING, Phase.ENDED):
            return
        self.counters.ticks += 1
        term = self.terminal
        slot = self.playout.pop()
        if slot is None:
            term.receive(SILENCE)          # nothing heard yet: the line is quiet
        elif slot.payload is None:
            self.counters.lost += 1
            term.fillin(BLOCK)             # a lost 20 ms: the receivers hold on
        else:
            samples = self._decode(slot.payload)
            if len(samples) != BLOCK:      # a peer with another packetisation
                self.counters.short += 1
                samples = np.resize(samples, BLOCK) if len(samples) else SILENCE
            term.receive(samples)
        self.endpoint.send_voice(self.call, self._encode(term.transmit(BLOCK)), now)
        self._handle_terminal_events()
        if self.phase is Phase.MEDIA and (term.finished or self._refused):
            self.phase = Phase.TAIL
            if self._refused:
                self._tail_left = 1
        if self.phase is Phase.TAIL:
            self._tail_left -= 1
            if self._tail_left <= 0:
                self.hang_up(now, "Normal Clearing", 16)

    def hang_up(self, now: float, cause: str = "Normal Clearing", code: int = 16) -> None:
        """End the call from our side (no-op once ended)."""
        if self.phase is not Phase.ENDED:
            self.endpoint.hang_up(self.call, cause, code, now=now)
            self.phase = Phase.ENDED

    def refuse(self, why: str) -> None:
        """End the fax on purpose at the next tick (a rule said no)."""
        self._refused = self._refused or why

    # --- outcome ------------------------------------------------------------------------
    def _handle_terminal_events(self) -> None:
        events = self.terminal.events
        while self._seen < len(events):
            ev = events[self._seen]
            self._seen += 1
            if isinstance(ev, PageReceived):
                self.pages.append(ev.page)
                self._coded.append(coded_line_page(ev.coded) if ev.coded is not None else None)
                if self.max_pages is not None and len(self.pages) >= self.max_pages \
                        and not self.terminal.finished:
                    self.refuse(f"page limit of {self.max_pages} reached")
            elif isinstance(ev, PageSent):
                self.pages_sent = max(self.pages_sent, ev.number)
            elif isinstance(ev, Negotiated):
                self.remote_ident = ev.remote_ident
                if self.on_negotiated is not None and not self.on_negotiated(ev.remote_ident):
                    self.refuse(f"refused by rule for TSI '{ev.remote_ident.strip()}'")

    def result(self) -> FaxCallResult:
        fin: CallFinished | None = self.terminal.result
        stats = fin.stats if fin else self.terminal.session.stats
        end = self._end
        return FaxCallResult(
            completion=fin.completion if fin else None,
            end_reason=end.reason if end else None,
            cause=(end.cause or end.reason.value) if end else "",
            cause_code=end.cause_code if end else 0,
            stats=stats, pages=tuple(self.pages), pages_sent=self.pages_sent,
            coded=tuple(self._coded) if None not in self._coded else (),
            connected=self._connected, refused=self._refused,
            seconds=self.terminal.samples_in / 8000)


def coded_line_page(c: CodedImage) -> CodedLinePage:
    """The store's view of a page's line bytes (no EOL alignment: fill is as the line sent it)."""
    return CodedLinePage(c.data, c.width, c.height, c.coding, c.x_res, c.y_res, lsb_first=c.lsb_first,
                         align_eol=False, bad_rows=c.bad_rows, consecutive_bad_rows=c.consecutive_bad_rows)


_warmed = False


def warm_up() -> float:
    """Run the fax engine's compiled paths once, back to back without a line: V.21, V.17 with
    ECM, V.29 and V.27 ter without.  numba loads (or compiles) a loop on its first call, which
    stalls the caller for ~0.6 s — inside a live call that would hold every call's media
    clock.  Called once per process before the first call (`Telephony.open`, in a thread);
    returns the seconds it took."""
    global _warmed
    if _warmed:
        return 0.0
    import time

    t0 = time.perf_counter()
    page = Page(np.zeros((24, 1728), np.uint8))
    page.rows[8:16, 100:400] = 1
    for ecm, rate in ((True, 14400), (False, 9600), (False, 4800)):
        a = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=ecm, max_rate=rate)))
        b = FaxTerminal(SessionConfig(calling=False))
        for _ in range(3000):  # about 60 s of line time at most; a short page takes ~8 s
            x, y = a.transmit(BLOCK), b.transmit(BLOCK)
            b.receive(x)
            a.receive(y)
            if a.finished and b.finished:
                break
    _warmed = True
    return time.perf_counter() - t0
