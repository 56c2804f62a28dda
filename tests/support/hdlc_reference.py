"""The first HDLC framer, frame by frame, kept as the plain reference for
`dsp.hdlc.encode_frames` (which stuffs all frames of a block in one pass)."""

from __future__ import annotations

import numpy as np

from dsp.hdlc import FLAG_BITS, bytes_to_bits, fcs


def stuff_reference(bits: np.ndarray) -> np.ndarray:
    """Insert a 0 after every five consecutive 1s: position within the run of ones."""
    b = np.asarray(bits, np.uint8)
    idx = np.arange(len(b))
    last_zero = np.maximum.accumulate(np.where(b == 0, idx, -1))
    run = idx - last_zero
    after = np.flatnonzero((b == 1) & (run % 5 == 0))
    return np.insert(b, after + 1, 0)


def encode_frames_reference(frames, *, preamble: int = 38, between: int = 1, closing: int = 2) -> np.ndarray:
    """Preamble flags, each frame + FCS stuffed on its own, flags between, closing flags."""
    parts = [np.tile(FLAG_BITS, max(preamble, 1))]
    for i, data in enumerate(frames):
        if i:
            parts.append(np.tile(FLAG_BITS, max(between, 1)))
        parts.append(stuff_reference(bytes_to_bits(bytes(data) + fcs(bytes(data)))))
    parts.append(np.tile(FLAG_BITS, max(closing, 1)))
    return np.concatenate(parts)
