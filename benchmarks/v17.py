"""V.17 14400 speed against spandsp in the same run; optional BER-vs-SNR table.

Speed: CPU seconds per second of audio and channels per core for our transmitter and
receiver (160-sample blocks, the 20 ms tick) beside spandsp 0.0.6's through ctypes, on
the same 10 s transmission (long train + data).  spandsp's bit callbacks are C functions
(libc `rand` as get_bit, `free(NULL)` as put_bit), so no Python runs inside its loop.
Each figure is the best of ROUNDS rounds (the machine is shared).

`--loss`: success rates under 1 % and 2 % packet loss, ours and spandsp's receiver on
the same packets from spandsp's transmitter (see `loss_table`).

`--ber`: bit error rate against line SNR (white noise over 0-4 kHz, tests/support/line.py)
for every rate, ours and spandsp's receiver on the same signals from our transmitter, with
our training threshold lowered so the curve goes below the SNR where we would refuse.

Last line: one JSON object; ratio = ours / spandsp in channels per core (higher is better).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from dsp.modems.base import ModemStatus, Status  # noqa: E402
from dsp.modems.v17 import RATES, V17Receiver, V17Transmitter  # noqa: E402
from tests.support import spandsp as sp  # noqa: E402
from tests.support.line import LineModel, silence, transmit_all  # noqa: E402

ROUNDS = 5
BLOCK = 160
SECONDS = 10


def _cpu(fn) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def speed() -> dict:
    lib = sp.load()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    c_rand = ctypes.cast(libc.rand, ctypes.c_void_p).value
    c_free = ctypes.cast(libc.free, ctypes.c_void_p).value
    vp, ci = ctypes.c_void_p, ctypes.c_int
    tx_init = sp.declare(lib, "v17_tx_init", vp, vp, ci, ci, vp, vp)
    tx_run = sp.declare(lib, "v17_tx", ci, vp, vp, ci)
    tx_free = sp.declare(lib, "v17_tx_free", ci, vp)
    rx_init = sp.declare(lib, "v17_rx_init", vp, vp, ci, vp, vp)
    rx_run = sp.declare(lib, "v17_rx", ci, vp, vp, ci)
    rx_free = sp.declare(lib, "v17_rx_free", ci, vp)

    rng = np.random.default_rng(1)
    data = rng.integers(0, 2, 14400 * SECONDS).astype(np.uint8)
    tx = V17Transmitter(14400)
    tx.feed(data)
    signal = transmit_all(tx)
    audio_s = len(signal) / 8000
    blocks = [np.ascontiguousarray(signal[i:i + BLOCK]) for i in range(0, len(signal), BLOCK)]
    V17Receiver(14400).receive(signal[:BLOCK])              # compile / load the cache

    def ours_tx():
        t = V17Transmitter(14400)
        t.feed(data)
        while len(t.transmit(BLOCK)) == BLOCK:
            pass

    def ours_rx():
        r = V17Receiver(14400)
        for b in blocks:
            r.receive(b)

    out = np.zeros(BLOCK, np.int16)

    def span_tx():
        s = tx_init(None, 14400, 0, c_rand, None)
        for _ in range(len(blocks)):
            tx_run(s, out.ctypes.data, BLOCK)
        tx_free(s)

    def span_rx():
        s = rx_init(None, 14400, c_free, None)
        for b in blocks:
            rx_run(s, b.ctypes.data, len(b))
        rx_free(s)

    res = {}
    for name, ours, theirs in (("v17_14400_tx", ours_tx, span_tx), ("v17_14400_rx", ours_rx, span_rx)):
        a, b = _cpu(ours) / audio_s, _cpu(theirs) / audio_s
        res[name] = {"ours_cpu_s_per_audio_s": round(a, 6), "ours_channels_per_core": round(1 / a),
                     "spandsp_cpu_s_per_audio_s": round(b, 6), "spandsp_channels_per_core": round(1 / b),
                     "ratio": round(b / a, 3)}
    return res


def ber_table(snrs=(30, 26, 24, 22, 20, 18, 16, 14, 12, 10), nbits=40000, seeds=2) -> dict:
    from tests.support.spandsp_v17 import SpanV17Rx
    table = {}
    for rate in RATES:
        rows = {}
        for snr in snrs:
            errs = {"ours": 0, "spandsp": 0}
            total = {"ours": 0, "spandsp": 0}
            for seed in range(seeds):
                data = np.random.default_rng(seed).integers(0, 2, nbits).astype(np.uint8)
                tx = V17Transmitter(rate)
                tx.feed(data)
                sig = LineModel(seed, snr_db=snr).process(
                    np.concatenate([silence(240), transmit_all(tx), silence(800)]))
                rx = V17Receiver(rate, min_snr_db=0.0)
                items = []
                for i in range(0, len(sig), BLOCK):
                    items += rx.receive(sig[i:i + BLOCK])
                bits = [x for x in items if not isinstance(x, ModemStatus)]
                bits = np.concatenate(bits) if bits else np.zeros(0, np.uint8)
                trained = any(isinstance(x, ModemStatus) and x.status == Status.TRAINING_SUCCEEDED for x in items)
                srx = SpanV17Rx(rate)
                srx.receive(sig)
                for who, got, ok in (("ours", bits, trained), ("spandsp", srx.received_bits(), srx.trained())):
                    got = got[:nbits]
                    if not ok:
                        got = np.zeros(0, np.uint8)
                    # Untrained or short output counts as errors (half the missing bits).
                    errs[who] += int(np.sum(got != data[:len(got)])) + (nbits - len(got)) // 2
                    total[who] += nbits
            rows[snr] = {who: errs[who] / total[who] for who in errs}
        table[rate] = rows
    return table


def main() -> None:
    res = speed()
    for name, r in res.items():
        print(f"{name}: ours {r['ours_cpu_s_per_audio_s']:.5f} CPU s/s ({r['ours_channels_per_core']} ch/core), "
              f"spandsp {r['spandsp_cpu_s_per_audio_s']:.5f} ({r['spandsp_channels_per_core']} ch/core), "
              f"ratio {r['ratio']}")
    if "--ber" in sys.argv:
        table = ber_table()
        print("BER vs line SNR (dB, noise over 0-4 kHz): ours / spandsp")
        for rate, rows in table.items():
            print(f"  {rate}: " + "  ".join(f"{snr}:{v['ours']:.1e}/{v['spandsp']:.1e}" for snr, v in rows.items()))
        res["ber"] = {str(rate): {str(snr): v for snr, v in rows.items()} for rate, rows in table.items()}
    if "--loss" in sys.argv:
        res["loss"] = loss_table()
        for key, v in res["loss"].items():
            print(f"{key}: trained and exact ours {v['ours']:.4f} spandsp {v['spandsp']:.4f} "
                  f"(n={v['n']}; with a loss in the transmission: ours {v['ours_lossy']:.4f} "
                  f"spandsp {v['spandsp_lossy']:.4f}, n={v['n_lossy']}); success with wrong data: "
                  f"ours {v['ours_bad']} spandsp {v['spandsp_bad']}")
    print(json.dumps(res))


def loss_table(calls: int = 200) -> dict:
    """spandsp's transmitter (long train, then 3 short trains per call) over an A-law line
    losing 20 ms packets at 1 % and 2 %, into our receiver and spandsp's, same packets
    (tests/dsp/test_v17.py `_loss_trials`): success rates where no lost packet fell on
    segment 4 (after a successful train of ours, for short trains); ratio = ours/spandsp."""
    from tests.dsp.test_v17 import _loss_trials, _summary
    out = {}
    for loss in (0.01, 0.02):
        s = _summary(_loss_trials(14400, loss, range(1000, 1000 + calls)))
        s["ratio"] = round(s["ours"] / max(s["spandsp"], 1e-9), 3)
        out[f"v17_14400_loss_{loss:g}"] = s
    return out


if __name__ == "__main__":
    main()
