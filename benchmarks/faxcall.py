"""CPU per fax call: a 1-page A4 fine document at 14400 bit/s with ECM, over G.711-free
audio in 20 ms lock-step, our FaxTerminal beside spandsp's fax terminal in the same run.

Three calls: ours -> spandsp, spandsp -> ours, spandsp -> spandsp (the reference).  Each
terminal's CPU is measured around its own transmit/receive calls.  Ratios are ours /
reference throughput (reference CPU / our CPU: higher is better).  The target is a
receiving terminal at <= 1/100 of real time (>= 100 calls per core).

Run: .venv/bin/python benchmarks/faxcall.py   (last line: one JSON object)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dsp.fax import FaxTerminal  # noqa: E402
from dsp.t30.completion import Completion  # noqa: E402
from dsp.t30.session import SessionConfig  # noqa: E402
from tests.dsp.t30.pages import read_tiff, text_page, write_tiff  # noqa: E402
from tests.support.spandsp_fax import SpandspFax  # noqa: E402


class Timed:
    """A terminal whose transmit/receive/fillin CPU is summed."""

    def __init__(self, term) -> None:
        self.term = term
        self.cpu = 0.0

    @property
    def finished(self):
        return self.term.finished

    def _t(self, fn, *a):
        t0 = time.process_time()
        r = fn(*a)
        self.cpu += time.process_time() - t0
        return r

    def transmit(self, n):
        return self._t(self.term.transmit, n)

    def receive(self, x):
        return self._t(self.term.receive, x)

    def fillin(self, n):
        return self._t(self.term.fillin, n)


def call(a, b, max_seconds=300):
    from tests.dsp.t30.audio import run_call

    return run_call(a, b, max_seconds=max_seconds)


def main() -> None:
    page = text_page(2024, 2292)  # A4 at fine resolution: 1728 x 2292
    tmp = tempfile.mkdtemp(prefix="faxcall-")
    tx_file = os.path.join(tmp, "tx.tif")
    write_tiff(tx_file, [page])
    # Warm up (numba compiles, caches fill) with a short call.
    call(FaxTerminal(SessionConfig(calling=True, pages=(text_page(1, 100),))), FaxTerminal(SessionConfig(calling=False)))

    ours_tx = Timed(FaxTerminal(SessionConfig(calling=True, pages=(page,))))
    sp_rx = Timed(SpandspFax(False, rx_file=os.path.join(tmp, "rx1.tif")))
    secs1 = call(ours_tx, sp_rx)
    ok1 = ours_tx.term.result.completion is Completion.OK and read_tiff(os.path.join(tmp, "rx1.tif"))[0].same_pixels(page)

    sp_tx = Timed(SpandspFax(True, tx_file=tx_file))
    ours_rx = Timed(FaxTerminal(SessionConfig(calling=False)))
    secs2 = call(sp_tx, ours_rx)
    got = [e for e in ours_rx.term.events if type(e).__name__ == "PageReceived"]
    ok2 = ours_rx.term.result.completion is Completion.OK and len(got) == 1 and got[0].page.same_pixels(page)

    ref_tx = Timed(SpandspFax(True, tx_file=tx_file))
    ref_rx = Timed(SpandspFax(False, rx_file=os.path.join(tmp, "rx3.tif")))
    secs3 = call(ref_tx, ref_rx)

    rows = [
        ("ours sender -> spandsp", ours_tx.cpu, sp_rx.cpu, secs1),
        ("spandsp -> ours receiver", sp_tx.cpu, ours_rx.cpu, secs2),
        ("spandsp -> spandsp", ref_tx.cpu, ref_rx.cpu, secs3),
    ]
    for name, tx_cpu, rx_cpu, secs in rows:
        print(f"{name:28s} audio {secs:6.2f} s   sender CPU {tx_cpu:7.4f} s   receiver CPU {rx_cpu:7.4f} s")
    result = {
        "page": "A4 fine 1728x2292, 14400 bit/s, ECM",
        "ok": bool(ok1 and ok2),
        "audio_seconds": round(secs2, 2),
        "ours_sender_cpu_s": round(ours_tx.cpu, 4),
        "ours_receiver_cpu_s": round(ours_rx.cpu, 4),
        "spandsp_sender_cpu_s": round(ref_tx.cpu, 4),
        "spandsp_receiver_cpu_s": round(ref_rx.cpu, 4),
        "ours_receiver_realtime_fraction": round(ours_rx.cpu / secs2, 5),
        "ours_receiver_calls_per_core": round(secs2 / ours_rx.cpu, 1),
        "ratio_sender": round(ref_tx.cpu / ours_tx.cpu, 4),
        "ratio_receiver": round(ref_rx.cpu / ours_rx.cpu, 4),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
