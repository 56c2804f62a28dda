"""V.21 frames that lost a 20 ms VoIP packet are mended from the erasure (`dsp.v21_repair`)."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.hdlc import Frame, HdlcReceiver, encode_frames
from dsp.modems.base import ModemStatus
from dsp.modems.v21 import V21Receiver, V21Transmitter
from dsp.v21_repair import ErasureRepair

PACKET = 160


def _signal(frame: bytes) -> np.ndarray:
    tx = V21Transmitter()
    bits = encode_frames((frame,), preamble=38)
    tx.feed(bits)
    sig = np.concatenate([np.zeros(800, np.int16), tx.transmit(len(bits) * 27 + 100), np.zeros(1600, np.int16)])
    return np.concatenate([sig, np.zeros(-len(sig) % PACKET, np.int16)])


def _receive(sig: np.ndarray, lost: set[int]) -> list[bytes | str]:
    """What a receiver makes of `sig` with packets `lost`: good frames, mended frames
    (as bytes) and "bad" for frames neither."""
    rx, hdlc, repair, got = V21Receiver(), HdlcReceiver(), ErasureRepair(), []

    def deframe(bits, erased=False):
        if not erased:
            repair.feed(bits)
        damaged = hdlc.damaged
        for ev in hdlc.feed(bits):
            if isinstance(ev, Frame):
                got.append(ev.data if ev.crc_ok else (repair.repair() or "bad"))
        if hdlc.damaged > damaged:
            got.append(repair.repair() or "bad")

    for k in range(len(sig) // PACKET):
        if k in lost:
            deframe(repair.erase(rx.fillin(PACKET)), erased=True)
        else:
            for item in rx.receive(sig[k * PACKET:(k + 1) * PACKET]):
                if not isinstance(item, ModemStatus):
                    deframe(item)
    return got


@pytest.mark.parametrize("seed", [1, 2])
def test_every_single_lost_packet_is_mended(seed):
    """A PPR-sized frame (35 octets, ~1 s) with one packet lost anywhere: the frame
    comes out whole, wherever the loss falls (flags, address, FIF, FCS)."""
    rng = np.random.default_rng(seed)
    frame = bytes([0xFF, 0x13, 0x3D]) + bytes(rng.integers(0, 256, 32).tolist())
    sig = _signal(frame)
    assert _receive(sig, set()) == [frame]
    for k in range(6, len(sig) // PACKET - 12):
        assert _receive(sig, {k}) == [frame], f"packet {k} lost"


def test_two_lost_packets_in_one_frame_are_not_guessed():
    """Two gaps (14 unknown bits) are beyond `MAX_ERASED`: the frame stays bad."""
    frame = bytes([0xFF, 0x13, 0x3D]) + bytes(range(32))
    sig = _signal(frame)
    assert _receive(sig, {60, 66}) == ["bad"]  # packets 56-88 carry the frame


def test_fillin_counts_the_bit_slots_it_skipped():
    """One packet is 6 bits at 300 bit/s; without a carrier none are counted."""
    rx = V21Receiver()
    assert rx.fillin(PACKET) == 0
    tx = V21Transmitter()
    tx.feed(np.tile([0, 1, 1, 1, 1, 1, 1, 0], 40).astype(np.uint8))
    rx.receive(tx.transmit(1600))
    assert rx.fillin(PACKET) == 6


def test_repair_without_erasures_claims_nothing():
    rep = ErasureRepair()
    rep.feed(encode_frames((b"\xff\x13\x84",), preamble=4))
    assert rep.repair() is None
