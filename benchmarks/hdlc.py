"""HDLC framing of one ECM block (256 frames of 256 octets + header).

- whole block in one call (what dsp/fax.py did inside one 20 ms media tick): the
  one-pass framer against the first, frame-by-frame framer
  (tests/support/hdlc_reference.py), measured in the same run;
- the pieces dsp/fax.py now frames as the modem needs them (`FrameEncoder`, 4 frames
  at a time): the largest piece is what one tick pays at most.

    .venv/bin/python -m benchmarks.hdlc [--repeat N]

The last line is one JSON object: best ms of each (per piece: best over repeats, then
the largest and the median piece), and the whole-block throughput ratio ours /
reference (higher is better)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsp.fax import _FedAsItGoes  # noqa: E402
from dsp.hdlc import FrameEncoder, encode_frames  # noqa: E402
from tests.support.hdlc_reference import encode_frames_reference  # noqa: E402


def best_ms(fn, frames, repeat: int) -> float:
    fn(frames)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(frames)
        times.append(time.perf_counter() - t)
    return 1e3 * min(times)


def piece_ms(frames, repeat: int) -> np.ndarray:
    """Per piece, the best time over `repeat` framings of the block."""
    best = None
    for _ in range(repeat):
        enc, times = FrameEncoder(frames), []
        while not enc.done:
            t = time.perf_counter()
            enc.next_bits(_FedAsItGoes.FRAMES_PER_FEED)
            times.append(time.perf_counter() - t)
        best = np.array(times) if best is None else np.minimum(best, times)
    return 1e3 * best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    rng = np.random.default_rng(5)
    frames = [b"\xff\x03\x60" + bytes([i]) + rng.integers(0, 256, 256, dtype=np.uint8).tobytes()
              for i in range(256)]
    assert np.array_equal(encode_frames(frames), encode_frames_reference(frames))
    ours = best_ms(encode_frames, frames, args.repeat)
    ref = best_ms(encode_frames_reference, frames, args.repeat)
    pieces = piece_ms(frames, max(3, args.repeat // 5))
    print(f"ECM block (256 x 260 octets) in one call: ours {ours:.2f} ms, "
          f"frame-by-frame reference {ref:.2f} ms")
    print(f"fed as it goes ({_FedAsItGoes.FRAMES_PER_FEED} frames a piece): largest piece "
          f"{pieces.max():.3f} ms, median {np.median(pieces):.3f} ms")
    print(json.dumps({"block_frames": 256, "frame_octets": 260, "ours_block_ms": round(ours, 3),
                      "reference_block_ms": round(ref, 3), "ratio": round(ref / ours, 2),
                      "piece_frames": _FedAsItGoes.FRAMES_PER_FEED,
                      "piece_max_ms": round(float(pieces.max()), 3),
                      "piece_median_ms": round(float(np.median(pieces)), 3)}))


if __name__ == "__main__":
    main()
