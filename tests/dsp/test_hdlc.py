"""HDLC framing: CRC, stuffing, streaming receiver, and interop with spandsp's framer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import hdlc
from dsp.hdlc import Frame, HdlcEvent, HdlcReceiver
from tests.support.line import split
from tests.support.spandsp_hdlc import SpanHdlcRx, SpanHdlcTx

# T.30-shaped frames: address 0xFF, control 0x03/0x13, FCF, parameters.
FRAMES = [b"\xff\x03\x40" + b"0123456789ABCDEFGHIJ", b"\xff\x03\x80\x00\xce\xf4\x80\x80\x81",
          b"\xff\x13\x83\x00\x46\x1f\x7e\x7e\xff", bytes(range(256))]


def crc16_reference(data: bytes) -> int:
    """Bit-serial CRC-16/ITU (reflected 0x8408, preset 0xFFFF): the textbook loop."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def frames_only(items):
    return [i for i in items if isinstance(i, Frame)]


def test_crc_check_value_and_residue():
    # CRC-16/X-25 check value for "123456789" is 0x906E.
    assert hdlc.crc16(b"123456789") ^ 0xFFFF == 0x906E
    data = b"\xff\x13\x80hello"
    assert hdlc.crc_ok(data + hdlc.fcs(data))
    assert not hdlc.crc_ok(data + bytes([hdlc.fcs(data)[0] ^ 1, hdlc.fcs(data)[1]]))


@given(st.binary(max_size=300))
def test_crc_matches_bit_serial_reference(data):
    assert hdlc.crc16(data) == crc16_reference(data)


@given(st.lists(st.integers(0, 1), max_size=400))
def test_stuffing_leaves_no_six_ones_and_is_undone(bits):
    b = np.array(bits, dtype=np.uint8)
    s = hdlc.stuff(b)
    runs = np.diff(np.flatnonzero(np.concatenate([[0], s, [0]]) == 0)) - 1
    assert runs.max(initial=0) <= 5
    # Removing each 0 that follows five 1s restores the input.
    out, ones, skip = [], 0, False
    for bit in s:
        if skip:
            skip = False
            ones = 0
            continue
        out.append(bit)
        ones = ones + 1 if bit else 0
        if ones == 5:
            skip = True
    assert out == bits


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=2, max_size=80), min_size=1, max_size=4),
       st.lists(st.integers(1, 50), min_size=1, max_size=5), st.integers(1, 3))
def test_round_trip_any_slicing(frames, sizes, between):
    bits = hdlc.encode_frames(frames, preamble=6, between=between)
    rx = HdlcReceiver()
    items = []
    for part in split(bits, sizes):
        items.extend(rx.feed(part))
    assert items[0] == HdlcEvent.FRAMING_OK
    assert frames_only(items) == [Frame(f, True) for f in frames]


@pytest.mark.parametrize("size", [1, 7, 160, 4000])
def test_block_size_independence(size):
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 2, 500).astype(np.uint8)
    bits = np.concatenate([noise, hdlc.encode_frames(FRAMES, preamble=38), noise,
                           hdlc.encode_frames(FRAMES[:2], preamble=3), np.ones(50, np.uint8)])
    whole = HdlcReceiver().feed(bits)
    rx = HdlcReceiver()
    parts = [x for p in split(bits, [size]) for x in rx.feed(p)]
    assert parts == whole
    good = [f for f in frames_only(whole) if f.crc_ok]
    assert good == [Frame(f, True) for f in FRAMES + FRAMES[:2]]


def test_abort_discards_frame_and_bad_fcs_is_reported():
    good = hdlc.encode_frames([FRAMES[1]], preamble=4)
    body = hdlc.stuff(hdlc.bytes_to_bits(FRAMES[0]))[:60]
    aborted = np.concatenate([np.tile(hdlc.FLAG_BITS, 4), body, hdlc.ABORT_BITS, np.ones(20, np.uint8)])
    items = HdlcReceiver().feed(np.concatenate([aborted, good]))
    assert items == [HdlcEvent.FRAMING_OK, HdlcEvent.ABORT, HdlcEvent.FRAMING_OK, Frame(FRAMES[1], True)]
    wrong = FRAMES[1] + bytes(a ^ b for a, b in zip(hdlc.fcs(FRAMES[1]), b"\x00\x10"))
    flags = np.tile(hdlc.FLAG_BITS, 4)
    bad = np.concatenate([flags, hdlc.stuff(hdlc.bytes_to_bits(wrong)), flags])
    got = frames_only(HdlcReceiver().feed(bad))
    assert len(got) == 1 and not got[0].crc_ok


def test_noise_alone_yields_no_good_frames():
    rng = np.random.default_rng(1)
    items = HdlcReceiver().feed(rng.integers(0, 2, 300_000).astype(np.uint8))
    assert not [i for i in items if isinstance(i, Frame) and i.crc_ok]


def test_preamble_length_for_v21():
    n = hdlc.preamble_flags(300)
    assert n == 38 and 0.85 <= n * 8 / 300 <= 1.15  # T.30 §5.3: 1 s ± 15 %


@pytest.mark.spandsp
def test_our_bits_equal_spandsps():
    ours = hdlc.encode_frames(FRAMES, preamble=38, closing=2)
    theirs = SpanHdlcTx().encode(FRAMES, 38, closing=4)
    assert np.array_equal(theirs[: len(ours)], ours)


@pytest.mark.spandsp
def test_spandsp_transmitter_into_ours_including_bad_fcs():
    bits = SpanHdlcTx().encode(FRAMES, 10, corrupt=frozenset({1}))
    rx = HdlcReceiver()
    got = frames_only([x for p in split(bits, [13]) for x in rx.feed(p)])
    assert got == [Frame(FRAMES[0], True), Frame(FRAMES[1], False), Frame(FRAMES[2], True),
                   Frame(FRAMES[3], True)]


@pytest.mark.spandsp
def test_ours_into_spandsp_receiver():
    rx = SpanHdlcRx()
    rx.feed(hdlc.encode_frames(FRAMES, preamble=38, between=2))
    assert rx.frames == [(f, True) for f in FRAMES]


def test_compiled_deframer_equals_python_original():
    rng = np.random.default_rng(3)
    bits = np.concatenate([rng.integers(0, 2, 3000).astype(np.uint8), hdlc.encode_frames(FRAMES, preamble=5),
                           hdlc.ABORT_BITS, hdlc.encode_frames(FRAMES[:1], preamble=2)])
    results = []
    for kernel in (hdlc._deframe, hdlc._deframe.py_func):
        st = np.zeros(hdlc._N_STATE, np.int64)
        st[hdlc._ONES] = 7
        frame = np.zeros(1025, np.uint8)
        cap = len(bits)
        ev = [np.zeros(cap, np.int64) for _ in range(3)]
        out = np.zeros(cap, np.uint8)
        ne = kernel(bits, st, frame, 32, 1024, 4, hdlc._CRC_TABLE, *ev, out)
        results.append(([e[:ne].tolist() for e in ev], out[: int(ev[1][:ne].max(initial=0) + 300)].tolist(), st.tolist()))
    assert results[0] == results[1]
    kinds = results[0][0][0]
    assert kinds.count(hdlc._EV_GOOD_FRAME) == len(FRAMES) + 1 and hdlc._EV_ABORT in kinds


# --- the one-pass framer against the frame-by-frame original and spandsp -------------

from tests.support.hdlc_reference import encode_frames_reference, stuff_reference  # noqa: E402

_ONES_HEAVY = st.binary(max_size=40).map(lambda b: bytes(x | 0xF8 if i % 3 else x for i, x in enumerate(b)))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), _ONES_HEAVY, st.just(b"\xff" * 7)), max_size=6),
       st.integers(1, 3), st.integers(1, 3), st.integers(0, 3))
def test_one_pass_framer_equals_frame_by_frame_reference(frames, between, closing, preamble):
    ours = hdlc.encode_frames(frames, preamble=preamble, between=between, closing=closing)
    ref = encode_frames_reference(frames, preamble=preamble, between=between, closing=closing)
    assert np.array_equal(ours, ref)


@given(st.lists(st.integers(0, 1), max_size=400))
def test_stuff_equals_reference(bits):
    b = np.array(bits, dtype=np.uint8)
    assert np.array_equal(hdlc.stuff(b), stuff_reference(b))


def ecm_block(seed: int) -> list[bytes]:
    """256 ECM-sized frames (4 header octets + 256), some all ones, some random."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(256):
        body = b"\xff" * 256 if i % 17 == 0 else rng.integers(0, 256, 256, dtype=np.uint8).tobytes()
        frames.append(b"\xff\x03\x60" + bytes([i]) + body)
    return frames


def test_ecm_block_equals_reference():
    frames = ecm_block(11)
    assert np.array_equal(hdlc.encode_frames(frames, preamble=60), encode_frames_reference(frames, preamble=60))


@pytest.mark.spandsp
def test_ecm_block_bits_equal_spandsps():
    frames = ecm_block(12)[:40]
    ours = hdlc.encode_frames(frames, preamble=38, closing=2)
    theirs = SpanHdlcTx().encode(frames, 38, closing=4)
    assert np.array_equal(theirs[: len(ours)], ours)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=30), _ONES_HEAVY), max_size=7),
       st.lists(st.integers(0, 4), min_size=1, max_size=8), st.integers(1, 3))
def test_frame_encoder_pieces_join_to_encode_frames(frames, steps, between):
    enc = hdlc.FrameEncoder(frames, preamble=5, between=between, closing=2)
    pieces, i = [], 0
    while not enc.done:
        k = steps[i % len(steps)]
        pieces.append(enc.next_bits(k if i < 20 else max(k, 1)))  # 0 frames asked: the head only once
        i += 1
    assert len(enc.next_bits(3)) == 0
    ref = encode_frames_reference(frames, preamble=5, between=between, closing=2)
    assert np.array_equal(np.concatenate(pieces), ref)
