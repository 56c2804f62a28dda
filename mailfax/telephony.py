"""The telephony layer: one IAX2 endpoint for all calls, a media clock, sending and answering.

What does it do?  `Telephony` owns one `iax.aio.IaxProtocol` (one UDP port carries every
call), registers to the trunks that want it, and drives every live `mailfax.faxcall.FaxCall`
from one `MediaClock`.  It places outgoing fax calls (`send_fax`: caller and sender, used
through `TelephonySender`, the queue runner's `FaxSender`) and answers incoming ones after
the configured rings (answerer and receiver), asking the inbound service whether to take
the call (caller ID, before answering) and the fax (TSI, after phase B), enforcing the
per-trunk limit of concurrent inbound calls, and handing every reception that got at least
one page (complete or not) to the inbound service, which stores it before delivering.

How does it work?  The media clock fires at ``origin + k * 20 ms`` (absolute times, never
"sleep 20 ms"), so the DSP work of one tick never shifts the next; a late wake-up runs the
missed ticks at once, each with its nominal time, so every call still sends exactly one
frame per 20 ms of media time with regular timestamps.  How late each tick ran is kept in
`MediaClock.lateness` (for `mailfax status` and the benchmarks).  The clock runs only while
there are calls.  Before the first call, `mailfax.faxcall.warm_up` runs the fax engine's
compiled loops once (in a thread), so numba's first-call load never stalls a live call.
Endpoint events go to the call's bridge; outcomes are values (`FaxCallResult` ->
`SendOutcome` / `ReceivedFax`).

Diagnostics (issue 8): each tick also brings the call's session log up to date
(`mailfax.sessionlog`, under ``<data_dir>/log``), and with ``recording: {enabled: true}``
the terminal of each call is wrapped so both directions of its audio go to a WAV
(`mailfax.recording`).  At call end the paths kept are put into the result
(``FaxCallResult.session_log`` / ``.recording``), so the sender's report and the
received-fax email can name them.

Addresses: the socket's family follows ``iax.listen`` (``[::]`` is dual-stack, see
`iax.aio`); trunk host names are looked up off the loop when opening and again for each
outgoing call (`mailfax.trunk_addresses`), and an incoming call is matched to the trunk
whose host, or one of whose addresses, it came from.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Sequence

from dsp.fax import FaxTerminal
from dsp.t30.dis import Capabilities
from dsp.t30.session import SessionConfig
from dsp.t30.completion import CallStats
from iax.aio import IaxProtocol, open_endpoint, resolve
from iax.events import (CallAnswered, CallEnded, EndReason, Event, IncomingCall, Registered,
                        RegistrationFailed)
from iax.frames import Format
from iax.options import EndpointOptions, Peer, unmapped
from mailfax.config import Config, Trunk
from mailfax.faxcall import TICK, FaxCall, FaxCallResult, warm_up
from mailfax.jobs import FailureClass, failure_for_completion
from mailfax.netaddr import hostport, ip_version
from mailfax.trunk_addresses import Addr, pin, resolve_trunks, trunk_family
from mailfax.queue_runner import SendOutcome, SendProgress, SendRequest, format_header
from mailfax.recording import CallRecording, Recorder, RecordingTerminal
from mailfax.sessionlog import SessionLogs, file_lines

if TYPE_CHECKING:
    from mailfax.inbound import InboundService

log = logging.getLogger("mailfax.telephony")

#: Q.850 causes of a refused call, by what a retry can change.
BUSY_CAUSES = {17, 34, 38, 41, 42, 44}
PERMANENT_CAUSES = {1, 3, 21, 22, 27, 28, 58, 65, 88}


class MediaClock:
    """Calls ``on_tick(nominal_time)`` every `period` seconds from a fixed origin."""

    def __init__(self, on_tick: Callable[[float], None], *, period: float = TICK,
                 keep: int = 30000) -> None:
        self.on_tick = on_tick
        self.period = period
        self.lateness: deque[float] = deque(maxlen=keep)   # seconds late, one per tick
        self.ticks = 0
        self.wakeups = 0
        self.busy = 0.0                                    # seconds spent in on_tick
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._origin = 0.0
        self._k = 0                # ticks since the current origin
        self.running = False

    def start(self) -> None:
        """Start ticking now (no-op while running); an idle gateway stops the clock."""
        if self.running:
            return
        self.running = True
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()
        self._k = 0
        self._handle = self._loop.call_at(self._origin, self._fire)

    def stop(self) -> None:
        self.running = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        loop = self._loop
        now = loop.time()
        due = self._origin + self._k * self.period
        t0 = time.perf_counter()
        self.wakeups += 1
        while due <= now:          # missed ticks run now, each with its own media time
            self.lateness.append(now - due)
            self.ticks += 1
            self._k += 1
            try:
                self.on_tick(due)
            except Exception:      # one broken tick must not stop every call's clock
                log.exception("media tick failed")
            if not self.running:   # stopped from inside the tick
                break
            due = self._origin + self._k * self.period
            now = loop.time()
        self.busy += time.perf_counter() - t0
        if self.running:
            self._handle = loop.call_at(due, self._fire)

    def summary(self) -> dict:
        """How late ticks ran, in milliseconds (mean, p99, max), and the share of time in ticks."""
        lat = sorted(self.lateness)
        if not lat:
            return {"ticks": 0}
        elapsed = max(self.ticks * self.period, 1e-9)
        return {"ticks": len(lat), "wakeups": self.wakeups, "mean_ms": round(1000 * sum(lat) / len(lat), 3),
                "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 3),
                "max_ms": round(1000 * lat[-1], 3), "load": round(self.busy / elapsed, 3)}


class TickGroup:
    """Telephony layers of one process sharing one media clock (the gateway and its loopback
    line): each tick runs every member's calls, each member first draining its socket, so a
    frame one member sends during a caught-up burst reaches the other's playout buffer
    within the same burst instead of after it.  The clock stops when no member has a call."""

    def __init__(self) -> None:
        self.members: list[Telephony] = []
        self.clock = MediaClock(self)

    def __call__(self, t: float) -> None:
        for member in list(self.members):
            member._tick(t)
        if not any(member.calls for member in self.members):
            self.clock.stop()      # idle: no wake-ups until the next call


@dataclass
class _Live:
    """One call in progress: its bridge and what waits for its end."""

    bridge: FaxCall
    done: asyncio.Future
    trunk: Trunk | None
    incoming: IncomingCall | None = None
    on_progress: Callable[[SendProgress], None] | None = None
    reported_pages: int = 0
    reported_connected: bool = False
    started_at: float = 0.0
    answer_handle: asyncio.TimerHandle | None = None
    recording: CallRecording | None = None


@dataclass
class TelephonyStats:
    placed: int = 0
    answered: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    registrations: dict[str, str] = field(default_factory=dict)


def endpoint_options(trunks: Sequence[Trunk],
                     addresses: dict[str, tuple[Addr, ...]] | None = None) -> EndpointOptions:
    """Trunks may call us without call tokens (iaxmodem cannot); strangers need one.

    A trunk is pinned to its host when that is one address (a literal, or a name with one
    address in ``addresses``); a name with several (A and AAAA) is not pinned, since the far
    end may call from any of them -- it is still known by its username."""
    peers = tuple(Peer(t.username or t.name, secret=t.secret, address=pin(t, addresses),
                       calltoken_required=False) for t in trunks)
    return EndpointOptions(peers=peers, accept_unknown=True, calltoken_required=True,
                           formats=(Format.ALAW, Format.ULAW, Format.SLINEAR))


class Telephony:
    """All fax calls of one gateway on one IAX2 endpoint (see the module docstring)."""

    def __init__(self, protocol: IaxProtocol, config: Config, *,
                 inbound: "InboundService | None" = None, trunks: Sequence[Trunk] | None = None,
                 clock: Callable[[], float] = time.time,
                 terminal_factory: Callable[[SessionConfig], object] = FaxTerminal,
                 group: TickGroup | None = None, session_logs: SessionLogs | None = None,
                 recorder: Recorder | None = None,
                 addresses: dict[str, tuple[Addr, ...]] | None = None) -> None:
        self.protocol = protocol
        self.terminal_factory = terminal_factory   # another fax engine for comparisons
        self.endpoint = protocol.endpoint
        self.config = config
        self.trunks = tuple(config.trunks if trunks is None else trunks)
        self.inbound = inbound
        self.clock = clock
        self.stats = TelephonyStats()
        self.calls: dict[int, _Live] = {}
        self.group = group or TickGroup()
        self.group.members.append(self)
        self.media = self.group.clock
        self.session_logs = session_logs   # per-call logs, kept from every tick
        self.recorder = recorder           # call audio (recording.enabled), or None
        self._regs: dict[int, Trunk] = {}
        #: trunk name -> its numeric addresses (`resolve_trunks`); literal hosts need no entry
        self.addresses: dict[str, tuple[Addr, ...]] = dict(addresses or {})
        self._tasks: set[asyncio.Task] = set()
        self.draining = False              # graceful stop: refuse new calls, let running ones end
        self._closing = False              # close(): calls left are being hung up
        self.ended = asyncio.Event()       # set whenever a call ends (the drain waits on it)

    @classmethod
    async def open(cls, config: Config, *, host: str | None = None, port: int | None = None,
                   inbound: "InboundService | None" = None, trunks: Sequence[Trunk] | None = None,
                   rng: random.Random | None = None, **kw) -> "Telephony":
        trunks = tuple(config.trunks if trunks is None else trunks)
        took = await asyncio.to_thread(warm_up)  # compiled DSP loaded before any call needs it
        if took:
            log.info("fax engine ready (%.1f s to load its compiled loops)", took)
        holder: list[Telephony] = []
        if "session_logs" not in kw:
            try:
                kw["session_logs"] = SessionLogs(config.storage.data_dir / "log", clock=kw.get("clock", time.time))
            except OSError as e:
                log.warning("no session logs: %s", e)
        if "recorder" not in kw:
            kw["recorder"] = Recorder.from_config(config, clock=kw.get("clock", time.time))
        local = (host or config.iax.host, config.iax.port if port is None else port)
        try:
            if ip_version(local[0]) is None:  # a host name: bind its first address
                local = (await resolve(local[0], local[1]))[0]
            addresses = await resolve_trunks(trunks, trunk_family(local[0]))
            proto = await open_endpoint(local, endpoint_options(trunks, addresses), rng,
                                        on_event=lambda ev: holder[0].on_event(ev))
        except OSError as e:  # say which socket: the caller may be reporting the SMTP one
            raise OSError(e.errno, f"IAX2 on {hostport(*local)}: {e.strerror or e}") from None
        self = cls(proto, config, inbound=inbound, trunks=trunks, addresses=addresses, **kw)
        holder.append(self)
        self.start()
        return self

    @property
    def address(self) -> tuple[str, int]:
        return self.protocol.local_address

    def addresses_of(self, trunk: Trunk) -> tuple[Addr, ...]:
        """Where ``trunk`` is: its literal host, else what its name resolved to at open."""
        if ip_version(trunk.host) is not None:
            return ((trunk.host, trunk.port),)
        return self.addresses.get(trunk.name, ())

    async def _address(self, trunk: Trunk) -> Addr | str:
        """The address to call ``trunk`` at, looked up again for a name (it may have moved,
        or failed at open); a string says why there is none."""
        if ip_version(trunk.host) is not None:
            return trunk.host, trunk.port
        try:
            found = await resolve(trunk.host, trunk.port, trunk_family(self.protocol.local_address[0]))
        except OSError as e:
            known = self.addresses.get(trunk.name)
            if known:
                return known[0]
            return f"trunk {trunk.name}: no address for {trunk.host}: {e.strerror or e}"
        self.addresses[trunk.name] = tuple(found)
        return found[0]

    def start(self) -> None:
        now = self.protocol.now()
        for t in self.trunks:
            if t.register and t.username:
                where = self.addresses_of(t)
                if not where:
                    log.warning("trunk %s: not registering, no address for %s", t.name, t.host)
                    self.stats.registrations[t.name] = "failed: no address"
                    continue
                ident = self.endpoint.register(where[0], t.username, t.secret, now=now)
                self._regs[ident] = t
                self.stats.registrations[t.name] = "registering"
        self.protocol.transmit()

    def stop_answering(self) -> None:
        """Graceful stop, first step: refuse every new incoming call, let calls in progress go on.

        A refused call gets an IAX2 REJECT (RFC 5456) whose CAUSECODE is Q.850 cause 41
        "Temporary failure", so the far end (a PBX or another fax server) treats it as
        transient and tries again later, instead of a half-answered call.  A call still ringing
        (``inbound.rings`` > 1) is refused the same way now rather than answered into a drain
        that might cut it.  Each call that ends from now on is logged; `close` hangs up
        whatever is left."""
        self.draining = True
        now = self.protocol.now()
        for live in [lv for lv in self.calls.values() if lv.incoming is not None and lv.answer_handle is not None]:
            live.answer_handle.cancel()
            live.answer_handle = None
            self._count_refusal(live.incoming, "shutting down (while ringing)", "shutting down")
            live.bridge.hang_up(now, "Temporary failure", 41)
            self._finish(live)
        self.protocol.transmit()

    async def close(self) -> None:
        """Hang up every call (their waiters get their outcome), then close the socket."""
        self._closing = True
        now = self.protocol.now()
        for live in list(self.calls.values()):
            live.bridge.hang_up(now, "Normal Clearing", 16)
            self._finish(live)
        self.protocol.transmit()
        if self.session_logs is not None:
            self.session_logs.close_all()
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)   # every kept WAV finalised on disk
        if self in self.group.members:
            self.group.members.remove(self)
        if not any(m.calls for m in self.group.members):
            self.media.stop()
        for task in list(self._tasks):
            await asyncio.gather(task, return_exceptions=True)
        self.protocol.close()

    # --- events and ticks --------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        if isinstance(ev, IncomingCall):
            self._incoming(ev)
            return
        if isinstance(ev, Registered):
            self.stats.registrations[self._regs[ev.registration].name] = "registered"
            return
        if isinstance(ev, RegistrationFailed):
            t = self._regs[ev.registration]
            self.stats.registrations[t.name] = f"failed: {ev.cause}"
            log.warning("registration to trunk %s failed: %s", t.name, ev.cause)
            return
        live = self.calls.get(getattr(ev, "call", -1))
        if live is None:
            return
        live.bridge.on_event(ev)
        if isinstance(ev, CallAnswered):
            self._progress(live)
        if isinstance(ev, CallEnded):
            self._finish(live)

    def _tick(self, t: float) -> None:
        # frames that queued in the socket while the loop was busy go into the playout
        # buffers before this tick pops a slot (after a stall, ticks are caught up in a burst)
        drain = getattr(self.protocol, "drain", None) or self.protocol._readable
        drain()
        for live in list(self.calls.values()):
            live.bridge.tick(t)
            if live.on_progress is not None:
                self._progress(live)
            if live.bridge.finished:
                self._finish(live)
        self.protocol.transmit()
        if self.session_logs is not None:
            try:
                self.session_logs.follow(self.calls, t)
            except Exception:  # a log must never stop the media clock
                log.exception("session log update failed")

    def _progress(self, live: _Live) -> None:
        b = live.bridge
        if live.on_progress is None:
            return
        if b.connected and not live.reported_connected:
            live.reported_connected = True
            live.on_progress(SendProgress(connected=True))
        if b.pages_sent > live.reported_pages:
            live.reported_pages = b.pages_sent
            live.on_progress(SendProgress(pages_confirmed=b.pages_sent))

    def _finish(self, live: _Live) -> None:
        call = live.bridge.call
        if self.calls.pop(call, None) is None:
            return
        if live.answer_handle is not None:
            live.answer_handle.cancel()
        result = live.bridge.result()
        log_path = self.session_logs.paths.get(call) if self.session_logs is not None else None
        if self.session_logs is not None and log_path is not None:
            self.session_logs.follow(self.calls, None)     # closes this call's log now
            if not log_path.exists():
                log_path = None
        kept = None
        if live.recording is not None:
            kept = self.recorder.finish(live.recording, ok=result.ok)
        result = replace(result, session_log=str(log_path or ""), recording=str(kept or ""))
        if not live.done.done():
            live.done.set_result(result)
        self.ended.set()
        if self.draining:
            inc = live.incoming
            who = (f"incoming call {call} from {inc.calling_number or 'unknown'}" if inc is not None else
                   f"outgoing call {call} on trunk {live.trunk.name if live.trunk else '?'}")
            pages = len(result.pages) if inc is not None else result.pages_sent
            how = "hung up" if self._closing else f"ended ({describe_end(result)})"
            log.info("stopping: %s %s with %d pages; %d calls left", who, how, pages, len(self.calls))

    def _record(self, terminal, call: int, *, incoming: bool, number: str):
        """The terminal to use for ``call``: wrapped for recording when recording is on."""
        if self.recorder is None:
            return terminal, None
        rec = self.recorder.start(call, incoming=incoming, number=number)
        return RecordingTerminal(terminal, rec), rec

    # --- sending -------------------------------------------------------------------------
    async def send_fax(self, trunk: Trunk, dial: str, pages: Sequence, *, header=None,
                       on_progress: Callable[[SendProgress], None] | None = None) -> FaxCallResult:
        """Place one call on ``trunk`` and send ``pages``; returns when the call has ended."""
        where = await self._address(trunk)
        if isinstance(where, str):
            log.warning("%s", where)
            return FaxCallResult(None, None, where, CallStats())
        now = self.protocol.now()
        term = self.terminal_factory(SessionConfig(calling=True, pages=tuple(pages), ident=trunk.local_ident,
                                                   header=header, capabilities=Capabilities()))
        call = self.endpoint.place_call(
            where, dial, calling_number=trunk.caller_id or "",
            calling_name=trunk.local_ident, username=trunk.username, secret=trunk.secret, now=now)
        term, rec = self._record(term, call, incoming=False, number=dial)
        live = _Live(FaxCall(self.endpoint, call, term), asyncio.get_running_loop().create_future(),
                     trunk, on_progress=on_progress, started_at=self.clock(), recording=rec)
        self.calls[call] = live
        self.media.start()
        self.stats.placed += 1
        self.protocol.transmit()
        return await live.done

    # --- answering -----------------------------------------------------------------------
    def _trunk_of(self, ev: IncomingCall) -> Trunk | None:
        for t in self.trunks:
            if ev.peer and ev.peer in (t.username, t.name):
                return t
        host = unmapped(ev.addr[0])  # the aio adapter unmaps already; a 4-tuple core user may not
        for t in self.trunks:
            if any(a[0] == host for a in self.addresses_of(t)):
                return t
        return self.trunks[0] if self.trunks else None

    def _count_refusal(self, ev: IncomingCall, what: str, why: str) -> None:
        """Count a refused call under ``why`` and log it (``what``: how it was refused)."""
        self.stats.refused[why] = self.stats.refused.get(why, 0) + 1
        log.info("call from %s to %s refused: %s", ev.calling_number or "unknown", ev.called_number or "?", what)

    def _refuse(self, ev: IncomingCall, why: str, cause: str, code: int) -> None:
        self._count_refusal(ev, why, why)
        self.endpoint.hang_up(ev.call, cause, code, now=self.protocol.now())
        self.protocol.transmit()

    def _incoming(self, ev: IncomingCall) -> None:
        if self.draining:
            self._refuse(ev, "shutting down", "Temporary failure", 41)
            return
        if self.inbound is None:
            self._refuse(ev, "not receiving faxes", "Call rejected", 21)
            return
        trunk = self._trunk_of(ev)
        limit = self.config.inbound.max_calls(trunk) if trunk else 1
        busy = sum(1 for c in self.calls.values() if c.incoming is not None and c.trunk == trunk)
        if busy >= limit:
            self._refuse(ev, "inbound channel limit", "User busy", 17)
            return
        if self.inbound.decide_call(ev.called_number, ev.calling_number).value == "reject":
            self._refuse(ev, "caller ID rule", "Call rejected", 21)
            return
        now = self.protocol.now()
        self.endpoint.accept(ev.call, now=now)
        self.endpoint.ring(ev.call, now=now)

        def tsi_ok(tsi: str) -> bool:
            ok = self.inbound.decide_tsi(ev.called_number, ev.calling_number, tsi).value != "reject"
            if not ok:
                self.stats.refused["TSI rule"] = self.stats.refused.get("TSI rule", 0) + 1
            return ok

        ident = trunk.local_ident if trunk else ""
        term, rec = self._record(self.terminal_factory(SessionConfig(calling=False, ident=ident)), ev.call,
                                 incoming=True, number=ev.calling_number or "")
        bridge = FaxCall(self.endpoint, ev.call, term, max_pages=self.config.inbound.max_pages,
                         on_negotiated=tsi_ok)
        live = _Live(bridge, asyncio.get_running_loop().create_future(), trunk, incoming=ev,
                     started_at=self.clock(), recording=rec)
        self.calls[ev.call] = live
        self.media.start()
        delay = max(0, self.config.inbound.rings - 1) * self.config.iax.ring_period
        loop = asyncio.get_running_loop()
        live.answer_handle = loop.call_later(delay, self._answer, live)
        task = loop.create_task(self._store_when_done(live))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.protocol.transmit()

    def _answer(self, live: _Live) -> None:
        live.answer_handle = None
        if live.bridge.finished or not self.endpoint.answer(live.bridge.call, now=self.protocol.now()):
            return
        live.bridge.start_media()
        self.stats.answered += 1
        self.protocol.transmit()

    async def _store_when_done(self, live: _Live) -> None:
        result: FaxCallResult = await live.done
        if not result.pages:
            log.info("call from %s ended without a page: %s", live.incoming.calling_number or "unknown",
                     describe_end(result))
            return
        fax = received_fax(result, live.incoming, live.trunk, live.started_at)
        try:
            fax_id = await self.inbound.accept(fax)
        except Exception:
            log.exception("could not store a received fax (%d pages)", len(result.pages))
            return
        log.info("received fax %d stored", fax_id)


def describe_end(result: FaxCallResult) -> str:
    if result.refused:
        return result.refused
    if result.completion is not None:
        return f"{result.completion.name}: {result.completion.value}"
    if result.end_reason is not None:
        return f"{result.end_reason.value} ({result.cause})" if result.cause else result.end_reason.value
    return "ended"


def received_fax(result: FaxCallResult, ev: IncomingCall, trunk: Trunk | None, started_at: float):
    """The `ReceivedFax` value for the inbound service (partial receptions keep their pages)."""
    from mailfax.received import ReceivedFax

    s = result.stats
    first = result.pages[0]
    res = {98: "standard", 196: "fine", 391: "superfine"}.get(first.y_res, "fine")
    size = {1728: "A4", 2048: "B4", 2432: "A3"}.get(first.width, "A4")
    ok = result.completion is not None and result.completion.name == "OK" and not result.refused
    return ReceivedFax(
        pages=tuple(result.pages), coded=tuple(result.coded), called=ev.called_number, caller_id=ev.calling_number,
        caller_name=ev.calling_name, tsi=s.remote_ident.strip(), resolution=res,
        page_width=first.width, page_size=size, bit_rate=s.bit_rate or None, modem=s.modem,
        coding=(s.coding or "mh").lower(), ecm=bool(s.ecm), started_at=started_at,
        duration=result.seconds, completion="OK" if ok else (
            result.completion.name if result.completion else "HANGUP"),
        reason="" if ok else describe_end(result), trunk=trunk.name if trunk else "",
        session_log=result.session_log, recording=result.recording)


# --- the queue runner's FaxSender ------------------------------------------------------------

@dataclass(frozen=True)
class _Tti:
    """The TTI line for `dsp.tti.draw_header`: page numbers counted over the whole job."""

    fmt: str
    now: float
    ident: str
    sender: str
    to: str
    first_page: int
    pages_total: int
    job: int

    def text(self, number: int, count: int) -> str:
        return format_header(self.fmt, now=self.now, ident=self.ident, sender=self.sender, to=self.to,
                             page=self.first_page - 1 + number, pages=self.pages_total, job=self.job)


def outcome_of(result: FaxCallResult, pages_handed: int, earlier: Sequence[str] = ()) -> SendOutcome:
    """Map one call's end to the queue's `SendOutcome` (retry class per `mailfax.jobs`).

    The transcript ends with the call's files (`mailfax.sessionlog.file_lines`): the session
    logs of ``earlier`` calls of the same job, this call's log and its recording, if kept."""
    s = result.stats
    transcript = (f"sent: {' '.join(s.frames_sent)}", f"received: {' '.join(s.frames_received)}") + file_lines(
        [*earlier, result.session_log], [result.recording])
    common = dict(pages_confirmed=result.pages_sent, connected=result.connected and bool(s.frames_received),
                  bit_rate=s.bit_rate or None, ecm=bool(s.ecm) if s.bit_rate else None,
                  remote_ident=s.remote_ident.strip() or None, duration=round(result.seconds, 1),
                  transcript=transcript)
    comp = result.completion
    if comp is not None and comp.name == "OK" and result.pages_sent >= pages_handed:
        return SendOutcome("OK", None, **common)
    if comp is not None:  # "OK" with pages unconfirmed cannot be success ("done" needs every MCF)
        name = comp.name if comp.name != "OK" else "INCOMPLETE"
        return SendOutcome(name, failure_for_completion(comp.name) or FailureClass.PROTOCOL, **common)
    reason, code = result.end_reason, 0
    cause = result.cause or (reason.value if reason else "ended")
    if not result.connected:
        if reason in (EndReason.REJECTED, EndReason.HANGUP):  # a PBX may hang up a ringing call with "busy"
            code = result.cause_code
            failure = FailureClass.PERMANENT if code in PERMANENT_CAUSES else FailureClass.BUSY \
                if code in BUSY_CAUSES else FailureClass.LINE
        elif reason is EndReason.UNANSWERED:
            failure = FailureClass.NO_ANSWER
        elif reason in (EndReason.AUTH_FAILED, EndReason.NO_CODEC):
            failure = FailureClass.PERMANENT
        else:
            failure = FailureClass.LINE
        return SendOutcome(f"CALL_{reason.name if reason else 'ENDED'}: {cause}", failure, **common)
    failure = FailureClass.PROTOCOL if s.frames_received else FailureClass.NO_ANSWER
    return SendOutcome(f"HANGUP: {cause}", failure, **common)


class TelephonySender:
    """`mailfax.queue_runner.FaxSender` over a `Telephony` (opened lazily on first use)."""

    def __init__(self, config: Config, telephony: Telephony | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.telephony = telephony
        self.clock = clock
        self._opening: asyncio.Lock | None = None
        self._logs: dict[int, list[str]] = {}   # job -> session logs of its calls (this process)

    async def _phone(self) -> Telephony:
        if self.telephony is None:
            self._opening = self._opening or asyncio.Lock()
            async with self._opening:
                if self.telephony is None:
                    self.telephony = await Telephony.open(self.config)
        return self.telephony

    async def send(self, job: SendRequest, pages: Sequence, *,
                   on_progress: Callable[[SendProgress], None]) -> SendOutcome:
        phone = await self._phone()
        trunk = job.trunk
        header = _Tti(job.header, self.clock(), trunk.local_ident, trunk.caller_id or trunk.local_ident,
                      job.number, job.first_page, job.pages_total, job.job_id) if job.header else None
        result = await phone.send_fax(trunk, job.dial, pages, header=header, on_progress=on_progress)
        earlier = self._logs.setdefault(job.job_id, [])
        outcome = outcome_of(result, len(pages), tuple(earlier))
        if result.session_log:
            earlier.append(result.session_log)
        while len(self._logs) > 1000:             # bounded: the oldest jobs are forgotten
            del self._logs[next(iter(self._logs))]
        log.info("job %d call to %s: %s, %d/%d pages confirmed", job.job_id, job.dial,
                 outcome.completion, outcome.pages_confirmed, len(pages))
        return outcome


def build_sender(config: Config) -> TelephonySender:
    """The FaxSender ``mailfax serve`` uses when a trunk is configured."""
    return TelephonySender(config)
