"""IAX2 load: many concurrent calls on loopback in one process, A-law both ways.

Two endpoints of ours on two UDP sockets under one asyncio loop.  Endpoint A places
``--calls`` calls to B; once all are answered, a media clock ticks every 20 ms from a fixed
origin (start + k * 20 ms) and sends one 160-byte A-law frame on every call in both
directions, for ``--seconds``.  Figures: process CPU per call-second, frames lost (sent
minus received, both directions; target 0), CPU as a percentage of one core per 10 calls
(target < 1 %), and late ticks.  The reference, measured in the same run, is the same
number of 172-byte datagrams through the same asyncio socket plumbing with no IAX2 at all;
ratio = our frames per CPU-second / the reference's.

    .venv/bin/python benchmarks/iax.py [--calls 200] [--seconds 60]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iax.aio import open_endpoint  # noqa: E402
from iax.events import CallAnswered, IncomingCall, VoiceReceived  # noqa: E402
from iax.frames import Format  # noqa: E402
from iax.options import EndpointOptions, Peer  # noqa: E402

FRAME = bytes([0xD5]) * 160


async def _media(seconds: float, tick) -> tuple[int, float]:
    """Call ``tick()`` every 20 ms from a fixed origin; returns (ticks, worst lateness s)."""
    loop = asyncio.get_running_loop()
    start, worst = loop.time(), 0.0
    ticks = int(seconds / 0.02)
    for k in range(ticks):
        due = start + k * 0.02
        worst = max(worst, loop.time() - due)
        tick()
        await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - loop.time()))
    return ticks, worst


async def run_iax(calls: int, seconds: float, host: str = "127.0.0.1") -> dict:
    received = {"a": 0, "b": 0}
    pending: list[int] = []
    answered: set[int] = set()

    def on_a(ev) -> None:
        if isinstance(ev, VoiceReceived):
            received["a"] += 1
        elif isinstance(ev, CallAnswered):
            answered.add(ev.call)

    def on_b(ev) -> None:
        if isinstance(ev, VoiceReceived):
            received["b"] += 1
        elif isinstance(ev, IncomingCall):
            pending.append(ev.call)

    peer = Peer("bench", calltoken_required=False)
    a = await open_endpoint((host, 0), EndpointOptions(max_calls=calls + 10),
                            random.Random(1), on_a)
    b = await open_endpoint((host, 0), EndpointOptions(peers=(peer,),
                                                              max_calls=calls + 10),
                            random.Random(2), on_b)
    ea, eb = a.endpoint, b.endpoint
    try:
        out_calls = []
        for _ in range(calls):
            out_calls.append(ea.place_call(b.local_address, "5551234", username="bench",
                                           format=Format.ALAW, now=a.now()))
        a.transmit()
        in_calls: list[int] = []
        deadline = time.monotonic() + 30
        while len(answered) < calls and time.monotonic() < deadline:
            while pending:
                c = pending.pop()
                eb.answer(c, now=b.now())
                in_calls.append(c)
            b.transmit()
            await asyncio.sleep(0.01)
        if len(answered) < calls:
            raise RuntimeError(f"only {len(answered)} of {calls} calls answered")
        sent = {"a": 0, "b": 0}

        def tick() -> None:
            now = a.now()
            for c in out_calls:
                sent["a"] += ea.send_voice(c, FRAME, now)
            for c in in_calls:
                sent["b"] += eb.send_voice(c, FRAME, now)
            a.transmit()
            b.transmit()

        before = received["a"] + received["b"]
        cpu0, wall0 = time.process_time(), time.monotonic()
        ticks, worst = await _media(seconds, tick)
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        await asyncio.sleep(0.5)
        got = received["a"] + received["b"] - before
        frames = sent["a"] + sent["b"]
        return {"cpu_s": cpu, "wall_s": wall, "frames": frames, "lost": frames - got,
                "worst_lateness_ms": round(worst * 1000, 2), "ticks": ticks,
                "internal_errors": ea.stats.internal_errors + eb.stats.internal_errors}
    finally:
        a.close()
        b.close()


class _Sink:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.count = sock, 0
        asyncio.get_running_loop().add_reader(sock.fileno(), self.readable)

    def readable(self) -> None:
        for _ in range(1000):
            try:
                self.sock.recvfrom(4096)
            except BlockingIOError:
                return
            self.count += 1


async def run_reference(calls: int, seconds: float, host: str = "127.0.0.1") -> dict:
    """Bare UDP through the same asyncio plumbing: the floor any stack stands on."""
    socks = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        s.bind((host, 0))
        s.setblocking(False)
        socks.append(s)
    sinks = [_Sink(s) for s in socks]
    addr = [s.getsockname() for s in socks]
    payload = bytes(12) + FRAME
    sent = 0

    def tick() -> None:
        nonlocal sent
        for i in (0, 1):
            sendto, dst = socks[i].sendto, addr[1 - i]
            for _ in range(calls):
                sendto(payload, dst)
                sent += 1

    cpu0 = time.process_time()
    await _media(seconds, tick)
    cpu = time.process_time() - cpu0
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    for s in socks:
        loop.remove_reader(s.fileno())
        s.close()
    return {"cpu_s": cpu, "frames": sent, "lost": sent - sum(x.count for x in sinks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reference-seconds", type=float, default=None,
                        help="duration of the bare-UDP reference (default: min(seconds, 20))")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address for both ends, e.g. ::1 for IPv6")
    args = parser.parse_args()
    ours = asyncio.run(run_iax(args.calls, args.seconds, args.host))
    ref_seconds = args.reference_seconds or min(args.seconds, 20.0)
    ref = asyncio.run(run_reference(args.calls, ref_seconds, args.host))
    call_seconds = args.calls * ours["wall_s"]
    per_call_second = ours["cpu_s"] / call_seconds
    pct_per_10_calls = 100 * ours["cpu_s"] / ours["wall_s"] / args.calls * 10
    ours_fps = ours["frames"] / ours["cpu_s"]
    ref_fps = ref["frames"] / ref["cpu_s"]
    print(f"{args.calls} calls x {ours['wall_s']:.1f} s: CPU {ours['cpu_s']:.2f} s, "
          f"{ours['frames']} frames, lost {ours['lost']}, worst tick lateness "
          f"{ours['worst_lateness_ms']} ms")
    print(f"reference bare UDP: CPU {ref['cpu_s']:.2f} s for {ref['frames']} datagrams "
          f"({ref_seconds:.0f} s), lost {ref['lost']}")
    print(json.dumps({
        "benchmark": "iax", "host": args.host, "calls": args.calls, "seconds": round(ours["wall_s"], 2),
        "cpu_seconds": round(ours["cpu_s"], 3),
        "cpu_ms_per_call_second": round(1000 * per_call_second, 4),
        "cpu_percent_of_one_core_per_10_calls": round(pct_per_10_calls, 3),
        "frames_sent": ours["frames"], "frames_lost": ours["lost"],
        "worst_tick_lateness_ms": ours["worst_lateness_ms"],
        "internal_errors": ours["internal_errors"],
        "frames_per_cpu_second": round(ours_fps), "reference": "bare asyncio UDP, same rate",
        "reference_frames_per_cpu_second": round(ref_fps),
        "reference_lost": ref["lost"],
        "ratio": round(ours_fps / ref_fps, 3)}))


if __name__ == "__main__":
    main()
