"""HDLC framing of one ECM block (256 frames of 256 octets + header) in one call, as
dsp/fax.py does inside a 20 ms media tick: the one-pass framer against the first,
frame-by-frame framer (tests/support/hdlc_reference.py), measured in the same run.

    .venv/bin/python benchmarks/hdlc.py [--repeat N]

The last line is one JSON object: best ms per block of each, and the throughput
ratio ours / reference (higher is better)."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dsp.hdlc import encode_frames
from tests.support.hdlc_reference import encode_frames_reference


def best_ms(fn, frames, repeat: int) -> float:
    fn(frames)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(frames)
        times.append(time.perf_counter() - t)
    return 1e3 * min(times)


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
    print(f"ECM block (256 x 260 octets): ours {ours:.2f} ms, frame-by-frame reference {ref:.2f} ms")
    print(json.dumps({"block_frames": 256, "frame_octets": 260, "ours_ms": round(ours, 3),
                      "reference_ms": round(ref, 3), "ratio": round(ref / ours, 2)}))


if __name__ == "__main__":
    main()
