"""CPU cost of our modems and codecs against spandsp's, measured in the same run.

Each row of `ROWS` is (name, kind, our factory, spandsp factory, input): "rx" rows
feed `input` (int16 audio) in 20 ms blocks to ``.receive(block)``; "tx" rows call
``.transmit(160)`` for as many blocks as `input` lasts.  Figures: CPU seconds per
second of audio, channels per core (its inverse), and ratio = our throughput /
spandsp's (higher is better).  The last line printed is one JSON object.

Rows: every transmitter and receiver (V.21 with HDLC, V.27ter 2400/4800, V.29
4800/7200/9600, V.17 7200-14400), then tone detection and G.711.  A data receiver hears
our transmitter's whole transmission (training, `--seconds` of data, closing) over a
clean A-law line; spandsp's modems run with C bit callbacks (see `_modem_bench`).  Each
figure is the best of `--rounds` runs; the machine may be shared, so compare the ratios
(measured in the same run) rather than absolute figures across runs.

Usage: .venv/bin/python benchmarks/modems.py [--seconds 20] [--rounds 3] [--only v29]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._modem_bench import BLOCK, FS, SpanCModem, cpu_per_audio_second  # noqa: E402
from dsp import g711, hdlc  # noqa: E402
from dsp.modems.v17 import V17Receiver, V17Transmitter  # noqa: E402
from dsp.modems.v21 import V21Receiver, V21Transmitter  # noqa: E402
from dsp.modems.v27ter import V27terReceiver, V27terTransmitter  # noqa: E402
from dsp.modems.v29 import V29Receiver, V29Transmitter  # noqa: E402
from dsp.tones import Tone, ToneDetector  # noqa: E402
from tests.support.line import LineModel, transmit_all  # noqa: E402


class Row(NamedTuple):
    name: str
    kind: str  # "rx" or "tx"
    ours: Callable[[], object]
    reference: Callable[[], object] | None
    signal: Callable[[float], np.ndarray]  # seconds -> int16 audio (rx) / duration (tx)


# --- inputs -------------------------------------------------------------------------

def v21_audio(seconds: float) -> np.ndarray:
    """V.21 HDLC frames back to back, A-law, light noise: what a T.30 receiver hears."""
    rng = np.random.default_rng(0)
    n_bits = int(seconds * 300) + 600
    frames = [bytes([0xFF, 0x03]) + rng.integers(0, 256, 30, dtype=np.uint8).tobytes()
              for _ in range(n_bits // 300 + 1)]
    tx = V21Transmitter()
    tx.feed(hdlc.encode_frames(frames, preamble=38))
    x = tx.transmit(int(seconds * FS))
    return LineModel(1, snr_db=25, codec="alaw").process(x)


def speech_band_noise(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.rint(rng.standard_normal(int(seconds * FS)) * 3000).astype(np.int16)


# --- our side -----------------------------------------------------------------------

class OurV21RxHdlc:
    def __init__(self) -> None:
        self.modem = V21Receiver()
        self.hdlc = hdlc.HdlcReceiver()

    def receive(self, block):
        for item in self.modem.receive(block):
            if isinstance(item, np.ndarray):
                self.hdlc.feed(item)


class OurV21TxHdlc:
    """Flags and frames for the whole run are queued up front, as T.30 does per burst."""

    def __init__(self, seconds: float = 600.0) -> None:
        self.modem = V21Transmitter()
        self.modem.feed(hdlc.encode_frames([b"\xff\x03" + bytes(30)] * int(seconds), preamble=38))

    def transmit(self, n):
        return self.modem.transmit(n)


class _Codec:
    def __init__(self, fn) -> None:
        self.fn = fn

    def receive(self, block):
        return self.fn(block)


# --- spandsp side -------------------------------------------------------------------

def span_v21_rx():
    from tests.support.spandsp_v21 import SpanV21HdlcRx
    return SpanV21HdlcRx()


def span_v21_tx():
    from tests.support.spandsp_v21 import SpanV21HdlcTx
    return SpanV21HdlcTx()


def span_ced_detector():
    from tests.support.spandsp_tones import MODEM_CONNECT_TONES_ANS, SpanToneRx
    return SpanToneRx(MODEM_CONNECT_TONES_ANS)


def span_codec(mode: int, encode: bool):
    from tests.support.spandsp_g711 import SpanG711
    c = SpanG711(mode)
    codes = g711.encode(np.zeros(BLOCK, np.int16), g711.Law.ALAW)
    return _Codec(c.encode if encode else (lambda block: c.decode(codes)))


def ours_decode(law):
    codes = np.zeros(BLOCK, np.uint8)
    return _Codec(lambda block: g711.decode(codes, law))


# --- the data modems: (name, spandsp's name, our transmitter, our receiver, rates) -----

DATA_MODEMS = [
    ("v27ter", V27terTransmitter, V27terReceiver, (2400, 4800)),
    ("v29", V29Transmitter, V29Receiver, (4800, 7200, 9600)),
    ("v17", V17Transmitter, V17Receiver, (7200, 9600, 12000, 14400)),
]


def _bits(rate: int, seconds: float) -> np.ndarray:
    return np.random.default_rng(rate).integers(0, 2, int(rate * seconds)).astype(np.uint8)


def data_audio(tx_class, rate: int):
    """seconds -> our transmitter's whole transmission of that much data, A-law line."""
    def make(seconds: float) -> np.ndarray:
        tx = tx_class(rate)
        tx.feed(_bits(rate, seconds))
        return LineModel(rate, snr_db=40, codec="alaw").process(transmit_all(tx))
    return make


def fed_transmitter(tx_class, rate: int, seconds: float):
    """A transmitter holding more data than the run asks of it (it never finishes early)."""
    def make():
        tx = tx_class(rate)
        tx.feed(_bits(rate, seconds + 3))
        return tx
    return make


def data_rows(seconds: float) -> list[Row]:
    rows = []
    for name, tx_class, rx_class, rates in DATA_MODEMS:
        for rate in rates:
            audio = data_audio(tx_class, rate)
            rows.append(Row(f"{name} {rate} tx", "tx", fed_transmitter(tx_class, rate, seconds),
                            lambda n=name, r=rate: SpanCModem(n, "tx", r), audio))
            rows.append(Row(f"{name} {rate} rx", "rx", lambda c=rx_class, r=rate: c(r),
                            lambda n=name, r=rate: SpanCModem(n, "rx", r), audio))
    return rows


V21_ROWS: list[Row] = [
    Row("v21 rx", "rx", V21Receiver, span_v21_rx, v21_audio),
    Row("v21 rx+hdlc", "rx", OurV21RxHdlc, span_v21_rx, v21_audio),
    Row("v21 tx", "tx", lambda: OurV21TxHdlc(), span_v21_tx, speech_band_noise),
]
OTHER_ROWS: list[Row] = [
    Row("ced detect", "rx", lambda: ToneDetector((Tone.CED,)), span_ced_detector, v21_audio),
    Row("g711 alaw encode", "rx", lambda: _Codec(g711.alaw_encode), lambda: span_codec(0, True), speech_band_noise),
    Row("g711 alaw decode", "rx", lambda: ours_decode(g711.Law.ALAW), lambda: span_codec(0, False), speech_band_noise),
    Row("g711 ulaw encode", "rx", lambda: _Codec(g711.ulaw_encode), lambda: span_codec(1, True), speech_band_noise),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="audio per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="runs per figure (the best counts)")
    ap.add_argument("--only", default="", help="run rows whose name contains this")
    args = ap.parse_args(argv)
    results = []
    for row in V21_ROWS + data_rows(args.seconds) + OTHER_ROWS:
        if args.only not in row.name:
            continue
        audio = row.signal(args.seconds)
        ours = cpu_per_audio_second(row.kind, row.ours, audio, args.rounds)
        ref = None
        if row.reference is not None:
            try:
                ref = cpu_per_audio_second(row.kind, row.reference, audio, args.rounds)
            except Exception as exc:  # spandsp missing: report ours alone
                print(f"{row.name}: spandsp unavailable ({exc})")
        res = {
            "name": row.name,
            "ours_cpu_s_per_audio_s": round(ours, 7),
            "ours_channels_per_core": round(1 / ours) if ours > 0 else None,
            "spandsp_cpu_s_per_audio_s": None if ref is None else round(ref, 7),
            "spandsp_channels_per_core": None if not ref else round(1 / ref),
            "ratio": None if not ref else round(ref / ours, 3),
        }
        results.append(res)
        theirs = "-" if ref is None else f"{ref * 1e3:8.3f} ms/s ({res['spandsp_channels_per_core']} ch/core)"
        print(f"{row.name:18s} ours {ours * 1e3:8.3f} ms/s ({res['ours_channels_per_core']} ch/core)"
              f"   spandsp {theirs}   ratio {res['ratio']}", flush=True)
    print(json.dumps({"benchmark": "modems", "seconds": args.seconds, "rounds": args.rounds,
                      "rows": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
