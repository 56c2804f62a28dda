"""CPU cost of our V.27ter and V.29 transmitters and receivers beside spandsp's, same run.

Each figure is CPU seconds per second of audio, in 160-sample (20 ms) blocks as a call
carries them, best of three runs (the machine is shared).  Channels per core = 1 / that.
spandsp is driven through ctypes with C functions from libc as its bit callbacks (abs(),
which ignores its arguments' meaning), so no Python runs per bit and the figure is its C
cost plus one ctypes call per block.  ratio = our throughput / spandsp's (higher is
better).  Last line: one JSON object.

    .venv/bin/python benchmarks/psk_speed.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support import psk_trials as P  # noqa: E402
from tests.support import spandsp  # noqa: E402

BLOCK = 160


def best_of(fn, runs=3):
    return min(fn() for _ in range(runs))


def ours_tx(modem, rate, seconds):
    bits = P.random_bits(1, rate * seconds)

    def run():
        tx = P.TRANSMITTERS[modem](rate)
        tx.feed(bits)
        t = time.process_time()
        n = 0
        while True:
            k = len(tx.transmit(BLOCK))
            n += k
            if k < BLOCK:
                break
        return (time.process_time() - t) / (n / 8000)
    P.TRANSMITTERS[modem](rate).transmit(BLOCK)  # compile/load outside the timing
    return best_of(run)


def ours_rx(modem, rate, seconds):
    sig = P.our_signal(modem, rate, P.random_bits(2, rate * seconds))
    blocks = [sig[i: i + BLOCK] for i in range(0, len(sig), BLOCK)]
    P.RECEIVERS[modem](rate).receive(sig[:BLOCK])

    def run():
        rx = P.RECEIVERS[modem](rate)
        t = time.process_time()
        for b in blocks:
            rx.receive(b)
        return (time.process_time() - t) / (len(sig) / 8000)
    return best_of(run)


def _libc_abs():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return ctypes.cast(libc.abs, ctypes.c_void_p).value


def spandsp_tx(modem, rate, seconds):
    lib = spandsp.require()
    vp = ctypes.c_void_p
    init = spandsp.declare(lib, f"{modem}_tx_init", vp, vp, ctypes.c_int, ctypes.c_int, vp, vp)
    tx = spandsp.declare(lib, f"{modem}_tx", ctypes.c_int, vp, ctypes.POINTER(ctypes.c_int16), ctypes.c_int)
    free = spandsp.declare(lib, f"{modem}_tx_free", ctypes.c_int, vp)
    buf = np.zeros(BLOCK, np.int16)
    ptr = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
    n_blocks = seconds * 8000 // BLOCK

    def run():
        s = init(None, rate, 0, _libc_abs(), None)  # get_bit = abs(NULL) = 0: all zeros
        t = time.process_time()
        for _ in range(n_blocks):
            tx(s, ptr, BLOCK)
        dt = time.process_time() - t
        free(s)
        return dt / seconds
    return best_of(run)


def spandsp_rx(modem, rate, seconds):
    # Made first: SpanTx declares the same C functions with Python callback types.
    sig = P.spandsp_signal(modem, rate, P.random_bits(3, rate * seconds))
    lib = spandsp.require()
    vp = ctypes.c_void_p
    init = spandsp.declare(lib, f"{modem}_rx_init", vp, vp, ctypes.c_int, vp, vp)
    rx = spandsp.declare(lib, f"{modem}_rx", ctypes.c_int, vp, ctypes.POINTER(ctypes.c_int16), ctypes.c_int)
    free = spandsp.declare(lib, f"{modem}_rx_free", ctypes.c_int, vp)
    blocks = [np.ascontiguousarray(sig[i: i + BLOCK]) for i in range(0, len(sig), BLOCK)]
    ptrs = [(b.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), len(b)) for b in blocks]

    def run():
        s = init(None, rate, _libc_abs(), None)  # put_bit = abs(): discards the bits
        t = time.process_time()
        for p, n in ptrs:
            rx(s, p, n)
        dt = time.process_time() - t
        free(s)
        return dt / (len(sig) / 8000)
    return best_of(run)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    rows = {}
    print(f"{'modem':<14}{'ours tx':>10}{'ours rx':>10}{'sp tx':>10}{'sp rx':>10}"
          f"{'tx ch':>8}{'rx ch':>8}{'tx ratio':>9}{'rx ratio':>9}   (CPU s per audio s)")
    for modem, rate in P.ALL:
        otx, orx = ours_tx(modem, rate, args.seconds), ours_rx(modem, rate, args.seconds)
        stx, srx = spandsp_tx(modem, rate, args.seconds), spandsp_rx(modem, rate, args.seconds)
        row = {"ours_tx_cpu_per_s": otx, "ours_rx_cpu_per_s": orx,
               "spandsp_tx_cpu_per_s": stx, "spandsp_rx_cpu_per_s": srx,
               "ours_tx_channels": 1 / otx, "ours_rx_channels": 1 / orx,
               "spandsp_tx_channels": 1 / stx, "spandsp_rx_channels": 1 / srx,
               "tx_ratio": stx / otx, "rx_ratio": srx / orx}
        rows[f"{modem}_{rate}"] = row
        print(f"{modem + ' ' + str(rate):<14}{otx:10.5f}{orx:10.5f}{stx:10.5f}{srx:10.5f}"
              f"{1 / otx:8.0f}{1 / orx:8.0f}{stx / otx:9.3f}{srx / orx:9.3f}", flush=True)
    print(json.dumps({"benchmark": "psk_speed", "block": BLOCK, "seconds": args.seconds,
                      "results": rows}))


if __name__ == "__main__":
    main()
