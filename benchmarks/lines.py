"""How many fax lines one process carries: N concurrent calls at real time over loopback IAX2.

One process, one event loop: a sending `Telephony` (the gateway's own, as the queue runner
uses it) places N calls at once to a second `Telephony` on 127.0.0.1 that answers them with
the receiving path and stores every reception through the real `InboundService`.  So the
process runs N sending and N receiving fax terminals (2N fax calls), every voice frame a
UDP datagram through the kernel, every call paced by the media clock at origin + k*20 ms.
Each call carries one A4 fine page that codes like text, V.17 14400 with ECM.

Reported: calls completed OK, wall and CPU time, CPU as a share of one core, peak RSS, the
media clocks' DSP load and wake-up lateness, and **fax calls per core** = call-seconds
carried (both legs) / CPU seconds (how many calls one core would carry at real time, by
CPU alone).  ``--stagger S`` starts the calls S seconds apart instead of all in one tick.
The reference is the 30-line target
(ratio = calls per core / 30, higher is better) and real time itself.

Run: .venv/bin/python benchmarks/lines.py [--pairs 15] [--rt]   (last line: one JSON object)
``--rt`` asks for SCHED_FIFO priority 10 (root) as REFERENCE.md §6 recommends under load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mailfax.config import Trunk, load_config  # noqa: E402
from mailfax.inbound import InboundService  # noqa: E402
from mailfax.received import ReceivedStore  # noqa: E402
from mailfax.rules import load_rules  # noqa: E402
from mailfax.rules_in import inbound_rules  # noqa: E402
from mailfax.telephony import Telephony  # noqa: E402
from tests.dsp.t30.pages import text_page  # noqa: E402

TARGET = 30


class NoMail:
    async def send(self, *a, **kw) -> None:  # delivery is not run in this benchmark
        return None


async def run(pairs: int, data: Path, stagger: float = 0.0) -> dict:
    (data / "c.yaml").write_text(f"storage: {{data_dir: {data}}}\ninbound: {{max_calls_per_trunk: {pairs}}}\n")
    config = load_config(data / "c.yaml")
    rules = load_rules(None, config)
    inbound = InboundService(config, inbound_rules(rules, config), ReceivedStore.open(config.storage), NoMail())
    answer_trunk = Trunk(name="bench", host="127.0.0.1", port=0, channels=pairs, local_ident="+1 555 0199")
    rx = await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=(answer_trunk,))
    tx = await Telephony.open(config, host="127.0.0.1", port=0, trunks=())
    trunk = Trunk(name="line", host="127.0.0.1", port=rx.address[1], channels=pairs,
                  caller_id="15550100", local_ident="+1 555 0100")
    pages = [text_page(i, height=2287) for i in range(pairs)]   # A4 at 196 lpi
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    async def one(i: int):
        await asyncio.sleep(i * stagger)   # calls arriving one after another, not all in one tick
        return await tx.send_fax(trunk, f"555{i:04d}", [pages[i]])

    results = await asyncio.gather(*(one(i) for i in range(pairs)))
    wall = time.monotonic() - t0
    await asyncio.sleep(1.5)          # the receivers' tails and stores
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    received = ReceivedStore.open(config.storage).faxes()
    out = {
        "pairs": pairs, "fax_calls": 2 * pairs, "stagger_s": stagger,
        "sent_ok": sum(1 for r in results if r.ok and r.pages_sent == 1),
        "received": len(received),
        "completions": sorted({(r.completion.name if r.completion else str(r.end_reason)) for r in results}),
        "bit_rates": sorted({r.stats.bit_rate for r in results}),
        "call_seconds_max": round(max(r.seconds for r in results), 1),
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cpu_share_of_one_core": round(cpu / wall, 3),
        "peak_rss_mb": round(r1.ru_maxrss / 1024, 1),
        "media_tx": tx.media.summary(), "media_rx": rx.media.summary(),
    }
    await tx.close()
    await rx.close()
    busy = sum(r.seconds for r in results) * 2     # call-seconds carried (both legs)
    calls_per_core = busy / max(cpu, 1e-9)
    out["fax_calls_per_core"] = round(calls_per_core, 1)
    out["ratio_vs_30_line_target"] = round(calls_per_core / TARGET, 2)
    out["all_completed"] = out["sent_ok"] == pairs and out["received"] == pairs
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=15, help="sending calls (each with its receiving call)")
    ap.add_argument("--rt", action="store_true", help="SCHED_FIFO priority 10 for this process")
    ap.add_argument("--stagger", type=float, default=0.0, help="seconds between call starts (default: all at once)")
    args = ap.parse_args()
    rt = False
    if args.rt:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
            rt = True
        except (PermissionError, OSError) as e:
            print(f"no real-time priority: {e}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="mailfax-lines-") as d:
        out = asyncio.run(run(args.pairs, Path(d), args.stagger))
    out["realtime_priority"] = rt
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    for k, v in out.items():
        if not isinstance(v, dict):
            print(f"{k}: {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
