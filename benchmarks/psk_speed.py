"""CPU cost of our V.27ter and V.29 transmitters and receivers beside spandsp's, same run.

Each figure is CPU seconds per second of audio, in 160-sample (20 ms) blocks as a call
carries them, best of three runs (the machine is shared).  Channels per core = 1 / that.
The measuring code is `_modem_bench`'s (spandsp with C bit callbacks); benchmarks/modems.py
gives the same figures for every modem, this script the V.27ter/V.29 table alone.  ratio = our throughput / spandsp's (higher is
better).  Last line: one JSON object.

    .venv/bin/python benchmarks/psk_speed.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._modem_bench import BLOCK, SpanCModem, cpu_per_audio_second  # noqa: E402
from tests.support import psk_trials as P  # noqa: E402


def measure(modem: str, rate: int, seconds: int) -> tuple[float, float, float, float]:
    """(ours tx, ours rx, spandsp tx, spandsp rx) CPU seconds per audio second; both
    receivers hear spandsp's transmission of `seconds` of data (training included)."""
    audio = P.spandsp_signal(modem, rate, P.random_bits(3, rate * seconds))

    def our_tx():
        tx = P.TRANSMITTERS[modem](rate)
        tx.feed(P.random_bits(1, rate * (seconds + 3)))
        return tx

    return (cpu_per_audio_second("tx", our_tx, audio),
            cpu_per_audio_second("rx", lambda: P.RECEIVERS[modem](rate), audio),
            cpu_per_audio_second("tx", lambda: SpanCModem(modem, "tx", rate), audio),
            cpu_per_audio_second("rx", lambda: SpanCModem(modem, "rx", rate), audio))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    rows = {}
    print(f"{'modem':<14}{'ours tx':>10}{'ours rx':>10}{'sp tx':>10}{'sp rx':>10}"
          f"{'tx ch':>8}{'rx ch':>8}{'tx ratio':>9}{'rx ratio':>9}   (CPU s per audio s)")
    for modem, rate in P.ALL:
        otx, orx, stx, srx = measure(modem, rate, args.seconds)
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
