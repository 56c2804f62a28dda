"""Bit error rate against SNR for our V.27ter and V.29 modems beside spandsp's.

For each modem, rate and SNR (white noise over the 0-4 kHz band, relative to the -14
dBm0 signal, A-law G.711 on the line), one seeded transmission of random bits goes
our transmitter -> line -> our receiver, and the same through spandsp's transmitter and
receiver.  A cell shows the BER over the data, or "no-train" when the receiver did not
report a successful training.  "ungated" is our receiver with its training acceptance
threshold switched off: the demodulator's own BER where the real receiver would (rightly)
refuse to train and let T.30 fall back.  Last line: one JSON object with every figure.

    .venv/bin/python benchmarks/ber_psk.py [--bits N] [--snr 10,12,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dsp.modems import psk_rx  # noqa: E402
from tests.support import line  # noqa: E402
from tests.support import psk_trials as P  # noqa: E402

DEFAULT_SNR = {"v27ter": [6, 8, 10, 12, 14, 16, 18, 20, 25, 30, 35],
               "v29": [8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 30, 35]}


def ber(sent: np.ndarray, got: np.ndarray, max_lead: int = 400) -> float:
    """Errors per bit after aligning `got` on `sent` (the best of the first offsets)."""
    got = np.asarray(got, np.uint8)
    probe = min(2000, len(sent))
    best, at = None, 0
    for off in range(0, min(max_lead, max(0, len(got) - probe)) + 1):
        e = int(np.count_nonzero(got[off: off + probe] != sent[:probe]))
        if best is None or e < best:
            best, at = e, off
    if best is None:
        return 1.0
    n = min(len(sent), len(got) - at)
    errors = int(np.count_nonzero(got[at: at + n] != sent[:n])) + (len(sent) - n)
    return errors / len(sent)


def ours(modem, rate, bits, snr, seed, gated=True):
    """Our BER; ``gated=False`` accepts any training (the demodulator's raw BER)."""
    y = line.LineModel(seed, snr_db=snr, codec="alaw").process(P.our_signal(modem, rate, bits))
    cfg = P.RECEIVERS[modem](rate).cfg
    if not gated:
        cfg = dataclasses.replace(cfg, snr_min_db=-99.0)
    items = psk_rx.PskReceiver(cfg).receive(y)
    if psk_rx.Status.TRAINING_SUCCEEDED not in psk_rx.statuses(items):
        return None
    return ber(bits, psk_rx.bits_of(items))


def spandsp(modem, rate, bits, snr, seed):
    from tests.support.spandsp_psk import SpanRx

    y = line.LineModel(seed, snr_db=snr, codec="alaw").process(P.spandsp_signal(modem, rate, bits))
    rx = SpanRx(modem, rate)
    rx.receive(y)
    if not rx.trained():
        return None
    return ber(bits, np.array(rx.bits, np.uint8))


def cell(x):
    return "no-train" if x is None else f"{x:.1e}" if x else "0"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bits", type=int, default=30000)
    ap.add_argument("--snr", type=str, default="")
    args = ap.parse_args()
    results = {}
    for modem, rate in P.ALL:
        snrs = [float(s) for s in args.snr.split(",")] if args.snr else DEFAULT_SNR[modem]
        print(f"\n{modem} {rate} bit/s   (BER over {args.bits} bits; A-law line)")
        print(f"{'SNR dB':>7} {'ours':>10} {'ungated':>10} {'spandsp':>10}")
        rows = []
        for k, snr in enumerate(snrs):
            seed = 100 * rate + k
            bits = P.random_bits(seed, args.bits)
            a = ours(modem, rate, bits, snr, seed)
            u = ours(modem, rate, bits, snr, seed, gated=False)
            b = spandsp(modem, rate, bits, snr, seed)
            print(f"{snr:7.1f} {cell(a):>10} {cell(u):>10} {cell(b):>10}", flush=True)
            rows.append({"snr_db": snr, "ours": a, "ours_ungated": u, "spandsp": b})
        results[f"{modem}_{rate}"] = rows
    print(json.dumps({"benchmark": "ber_psk", "bits_per_point": args.bits, "line": "alaw+awgn",
                      "results": results}))


if __name__ == "__main__":
    main()
