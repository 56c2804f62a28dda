"""Error correction mode framing (T.4 Annex A, T.30 §5.3.6.1.7 and Annex A).

A page's coded data is cut into frames of 64 or 256 octets; up to 256 frames make a
block (a "partial page").  Each frame goes out as an FCD frame carrying its number,
the block ends with RCP frames, and the transmitter then sends PPS carrying the
post-message command (NULL inside a page), page number, block number and frame count.
The receiver answers MCF, or PPR with a 256-bit map of the frames to send again (bit n
of the map is frame n, first transmitted bit first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsp.t30.fcf import FCF, build

MAX_FRAMES = 256
PPR_MAP_OCTETS = 32


def split_blocks(data: bytes, frame_size: int) -> list[list[bytes]]:
    """The page's data as blocks of frame payloads; the last frame is padded with zeros
    to the frame size, as receivers expect (padding after RTC/EOFB decodes as fill)."""
    if frame_size not in (64, 256):
        raise ValueError(f"ECM frame size must be 64 or 256, not {frame_size}")
    if not data:
        data = bytes(frame_size)
    frames = [data[i:i + frame_size] for i in range(0, len(data), frame_size)]
    frames[-1] = frames[-1].ljust(frame_size, b"\0")
    return [frames[i:i + MAX_FRAMES] for i in range(0, len(frames), MAX_FRAMES)]


def fcd_frame(number: int, payload: bytes) -> bytes:
    return build(FCF.FCD, bytes((number & 0xFF,)) + payload, final=False)


def rcp_frame() -> bytes:
    return build(FCF.RCP, final=False)


def pps_info(post: FCF, page: int, block: int, frames: int, *, x_bit: bool) -> bytes:
    """PPS information field: post-message FCF, page and block numbers (mod 256), and
    the number of frames minus one."""
    code = int(post) | (1 if x_bit and post is not FCF.NULL else 0)
    return bytes((code, page & 0xFF, block & 0xFF, max(0, frames - 1) & 0xFF))


def encode_ppr(missing: set[int]) -> bytes:
    out = bytearray(PPR_MAP_OCTETS)
    for n in missing:
        if 0 <= n < MAX_FRAMES:
            out[n >> 3] |= 1 << (n & 7)
    return bytes(out)


def decode_ppr(info: bytes) -> set[int]:
    return {i * 8 + b for i, octet in enumerate(info[:PPR_MAP_OCTETS]) for b in range(8) if octet >> b & 1}


@dataclass
class BlockSender:
    """One block on the transmitting side: which frames still need to go."""

    frames: list[bytes]
    pending: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.pending:
            self.pending = set(range(len(self.frames)))

    def burst(self) -> tuple[bytes, ...]:
        """The FCD frames still pending, in order, then three RCP frames."""
        fcds = tuple(fcd_frame(n, self.frames[n]) for n in sorted(self.pending))
        return fcds + (rcp_frame(),) * 3

    def apply_ppr(self, requested: set[int]) -> tuple[int, int]:
        """Take a PPR; returns (frames to resend, frames newly acknowledged)."""
        requested = {n for n in requested if n < len(self.frames)}
        acknowledged = len(self.pending - requested)
        self.pending = requested
        return len(requested), acknowledged


@dataclass
class BlockReceiver:
    """One block on the receiving side: the frames that arrived intact."""

    frames: dict[int, bytes] = field(default_factory=dict)
    expected: int | None = None

    def put(self, number: int, payload: bytes) -> None:
        self.frames[number] = payload

    def missing(self, count: int) -> set[int]:
        return {n for n in range(count) if n not in self.frames}

    def assemble(self, count: int) -> bytes:
        return b"".join(self.frames.get(n, b"") for n in range(count))
