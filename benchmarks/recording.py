"""What call recording costs the media clock: two fax terminals exchanging a one-page V.17
ECM fax back to back (no line), once plain and once with the answering terminal wrapped by
`mailfax.recording.RecordingTerminal` (its WAV written by the recorder's thread), measured
in the same run.  Also the largest single tick's recording work (copying two blocks, and
once a second handing a chunk to the writer queue).

    .venv/bin/python -m benchmarks.recording [--repeat N]

The last line is one JSON object: media seconds per CPU second of each run, the ratio
recorded / plain (higher is better; 1.0 = recording is free), and the recording's own cost
per tick in microseconds (mean and max)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsp.fax import FaxTerminal  # noqa: E402
from dsp.t30.dis import Capabilities  # noqa: E402
from dsp.t30.session import SessionConfig  # noqa: E402
from mailfax.faxcall import warm_up  # noqa: E402
from mailfax.recording import Recorder, RecordingTerminal  # noqa: E402
from tests.mailfax.test_faxcall import sample_page  # noqa: E402


def one_call(recorder: Recorder | None) -> tuple[float, float, list]:
    """(media seconds, CPU seconds, the blocks both ways per tick) of one page."""
    a = FaxTerminal(SessionConfig(calling=True, pages=(sample_page(1),), capabilities=Capabilities()))
    b = FaxTerminal(SessionConfig(calling=False))
    rec = None
    if recorder is not None:
        rec = recorder.start(1, incoming=True, number="1")
        b = RecordingTerminal(b, rec)
    blocks = []
    t0 = time.process_time()
    for _ in range(6000):
        x = a.transmit(160)
        b.receive(x)
        y = b.transmit(160)
        a.receive(y)
        blocks.append((x, y))
        if a.finished and b.finished:
            break
    cpu = time.process_time() - t0
    if rec is not None:
        recorder.finish(rec, ok=True)
    return b.samples_in / 8000, cpu, blocks


def record_costs(recorder: Recorder, blocks: list) -> list[float]:
    """The recording's own work per tick (wall seconds), replaying one call's blocks."""
    rec = recorder.start(2, incoming=False, number="2")
    costs = []
    for x, y in blocks:
        s = time.perf_counter()
        rec.heard(x, 160)
        rec.said(y, 160)
        costs.append(time.perf_counter() - s)
    recorder.finish(rec, ok=True)
    return costs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(Path(tmp), calls="failed")
        plain, recorded, costs = [], [], []
        for _ in range(args.repeat):
            media, cpu, blocks = one_call(None)
            plain.append(media / cpu)
            media, cpu, _ = one_call(recorder)
            recorded.append(media / cpu)
            costs += record_costs(recorder, blocks)
        recorder.close()
    costs_us = np.array(costs) * 1e6
    out = {"plain_realtime_x": round(max(plain), 1), "recorded_realtime_x": round(max(recorded), 1),
           "ratio": round(max(recorded) / max(plain), 3),
           "record_us_per_tick_mean": round(float(costs_us.mean()), 1),
           "record_us_per_tick_max": round(float(costs_us.max()), 1), "tick_budget_us": 20000}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
