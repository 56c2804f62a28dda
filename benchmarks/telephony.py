"""The telephony layer against spandsp's fax engine on the same bridges: N calls each way at once.

Two telephony layers (`mailfax.telephony.Telephony`, one IAX2 endpoint each) live in this
process; each sends N one-page faxes (a rendered A4 text page, fine, V.17 14400, ECM) to the
other while answering the other's N: 2N calls and 4N fax terminals at once, every frame a
real UDP datagram on 127.0.0.1, every tick from the media clock (origin + k*20 ms).
Reported: completed calls, wall time, CPU seconds of the process, CPU per call-second, peak
RSS, the media clocks' tick lateness (p99, max) and DSP load.

The reference, measured in the same run: the same harness with spandsp's fax terminal
(libspandsp through ctypes, `tests/support/spandsp_iax.SpandspTerminal`) in place of ours at
both ends (``Telephony(terminal_factory=...)``).  ratio_cpu = reference CPU / our CPU for the
same calls (= our throughput / the reference's; higher is better).  (`benchmarks/lines.py`
measures the line count of our engine alone against the 30-line target.)

Usage: ``.venv/bin/python benchmarks/telephony.py [--calls 4] [--no-reference]``; the last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailfax.config import Trunk, load_config  # noqa: E402
from mailfax.inbound import InboundService  # noqa: E402
from mailfax.maildir import MaildirMailer  # noqa: E402
from mailfax.received import ReceivedStore  # noqa: E402
from mailfax.rules import load_rules  # noqa: E402
from mailfax.rules_in import inbound_rules  # noqa: E402
from mailfax.telephony import Telephony  # noqa: E402


def page():
    from mailfax.render import render

    text = ("Telephony benchmark\n\n" + "The quick brown fox jumps over the lazy dog. 0123456789\n" * 40).encode()
    return render(text, resolution="fine")[0]


class SpandspFactory:
    """Makes spandsp terminals for `Telephony` (a TIFF file for each sender's pages)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.made: list = []

    def __call__(self, cfg):
        from mailfax.tiff import write_tiff_f
        from tests.support.spandsp_fax import SpandspFax
        from tests.support.spandsp_iax import SpandspTerminal

        n = len(self.made)
        tx = rx = None
        if cfg.pages:
            tx = self.tmp / f"tx{n}.tif"
            tx.write_bytes(write_tiff_f(list(cfg.pages)))
        else:
            rx = self.tmp / f"rx{n}.tif"
        fax = SpandspFax(cfg.calling, tx_file=str(tx) if tx else None, rx_file=str(rx) if rx else None,
                         ident=cfg.ident or "SPANDSP")
        term = SpandspTerminal(fax)
        self.made.append((cfg.calling, term))
        return term


async def side(tmp: Path, name: str, n: int, factory):
    d = tmp / name
    d.mkdir()
    (d / "m.yaml").write_text(f"storage: {{data_dir: {d / 'data'}}}\n")
    config = load_config(d / "m.yaml")
    store = ReceivedStore.open(config.storage)
    inbound = InboundService(config, inbound_rules(load_rules(None, config), config), store, MaildirMailer(d / "md"))
    peers = (Trunk(name="peer", host="127.0.0.1", port=0, channels=n, local_ident=f"+1 555 000{name}"),)
    kw = {"terminal_factory": factory} if factory is not None else {}
    return await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=peers, **kw)


async def run_calls(n: int, pg, factory=None) -> dict:
    with tempfile.TemporaryDirectory(prefix="mailfax-bench-tel-") as t:
        tmp = Path(t)
        a = await side(tmp, "1", n, factory)
        b = await side(tmp, "2", n, factory)
        to_b = Trunk(name="b", host="127.0.0.1", port=b.address[1], caller_id="1", local_ident="+1 555 0001")
        to_a = Trunk(name="a", host="127.0.0.1", port=a.address[1], caller_id="2", local_ident="+1 555 0002")
        cpu0, wall0 = time.process_time(), time.monotonic()
        try:
            calls = [a.send_fax(to_b, f"20{i}", [pg]) for i in range(n)]
            calls += [b.send_fax(to_a, f"10{i}", [pg]) for i in range(n)]
            results = await asyncio.gather(*calls)
        finally:
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            clocks = [a.media.summary(), b.media.summary()]
            await a.close()
            await b.close()
        if factory is None:
            ok = sum(1 for r in results if r.completion is not None and r.completion.name == "OK")
        else:
            ok = sum(1 for calling, term in factory.made if calling and term.fax.completion == 0)
        call_seconds = sum(r.seconds for r in results)
        return {"calls": 2 * n, "completed": ok, "wall_s": round(wall, 1), "cpu_s": round(cpu, 2),
                "call_seconds": round(call_seconds, 1),
                "cpu_per_call_second": round(cpu / max(call_seconds, 1e-9), 5),
                "lateness_p99_ms": max(c.get("p99_ms", 0) for c in clocks),
                "lateness_max_ms": max(c.get("max_ms", 0) for c in clocks),
                "clock_load": round(sum(c.get("load", 0) for c in clocks), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=4, help="calls each way (default 4: 8 calls, 16 terminals)")
    ap.add_argument("--no-reference", action="store_true")
    args = ap.parse_args()
    pg = page()
    ours = asyncio.run(run_calls(args.calls, pg))
    print("ours:", json.dumps(ours), flush=True)
    out = {"benchmark": "telephony", "calls_each_way": args.calls, "ours": ours}
    if not args.no_reference:
        with tempfile.TemporaryDirectory(prefix="mailfax-bench-tel-ref-") as t:
            ref = asyncio.run(run_calls(args.calls, pg, SpandspFactory(Path(t))))
        print("spandsp:", json.dumps(ref), flush=True)
        out["spandsp"] = ref
        out["ratio_cpu"] = round(ref["cpu_s"] / max(ours["cpu_s"], 1e-9), 3)
    out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    # a gateway line is one end of a call; this process ran both ends of every call
    out["lines_per_core_estimate"] = int(2 / max(ours["cpu_per_call_second"], 1e-9))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
