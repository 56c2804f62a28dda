"""Frame layout, DIS/DCS fields, ECM framing and timers."""

from __future__ import annotations

from hypothesis import given, strategies as st

from dsp.t30.dis import (
    RATE_LADDER, Capabilities, Coding, Dcs, Length, Modem, PageFormat, Refusal, Resolution, Width,
    accepts, decode_dcs, decode_dis, encode_dcs, encode_dis, negotiate,
)
from dsp.t30.ecm import BlockReceiver, BlockSender, decode_ppr, encode_ppr, pps_info, split_blocks
from dsp.t30.fcf import FCF, Frame, build, decode_fcf, decode_ident, encode_ident
from dsp.t30.timers import Timer, Timers, ms

# A DIS as spandsp 0.0.6 sends it (V.27ter/V.29/V.17, fine, MR, A3, unlimited, ECM, T.6,
# superfine, metric, ready to receive), captured from the frame-level link.
SPANDSP_DIS = bytes.fromhex("ff138000eefac48011")


def test_frame_layout_and_x_bit():
    assert build(FCF.MCF) == b"\xff\x13\x8c"
    assert build(FCF.MCF, x_bit=True) == b"\xff\x13\x8d"
    assert build(FCF.TSI, b"x", final=False) == b"\xff\x03\x42x"
    # DIS/DTC differ in what would be the X bit: never set it on them.
    assert build(FCF.DIS, x_bit=True)[2] == 0x80 and build(FCF.DTC)[2] == 0x81
    assert decode_fcf(0x8D) is FCF.MCF and decode_fcf(0x81) is FCF.DTC and decode_fcf(0x80) is FCF.DIS
    f = Frame.parse(b"\xff\x13\x2f")
    assert f.fcf is FCF.EOP and f.final
    assert Frame.parse(b"\xfe\x13\x2e") is None and Frame.parse(b"\xff") is None


@given(st.text(alphabet="0123456789+ ABC", max_size=20))
def test_ident_round_trip(ident):
    field = encode_ident(ident)
    assert len(field) == 20
    assert decode_ident(field) == ident.strip()


def test_spandsp_dis_decodes():
    remote = decode_dis(Frame.parse(SPANDSP_DIS).info)
    assert remote.rates == RATE_LADDER
    assert remote.ecm and remote.codings == frozenset(Coding)
    assert remote.max_width is Width.A3 and remote.ready_to_receive and remote.max_length is Length.UNLIMITED
    assert remote.min_scan_ms(Resolution.FINE) == 0
    assert Resolution.SUPERFINE in remote.resolutions


def test_dis_round_trip_of_our_capabilities():
    caps = Capabilities(modems=frozenset({Modem.V27TER, Modem.V29}), max_rate=9600, ecm=False,
                        codings=frozenset({Coding.MH}), max_width=Width.B4, min_scan_ms=20)
    remote = decode_dis(encode_dis(caps))
    assert [r.bit_rate for r in remote.rates] == [9600, 7200, 4800, 2400]
    assert not remote.ecm and remote.codings == {Coding.MH} and remote.max_width is Width.B4
    assert remote.min_scan_ms(Resolution.STANDARD) == 20


dcs_strategy = st.builds(
    Dcs, rate=st.sampled_from(RATE_LADDER), resolution=st.sampled_from(list(Resolution)),
    width=st.sampled_from(list(Width)), length=st.sampled_from(list(Length)),
    coding=st.sampled_from(list(Coding)), ecm=st.booleans(), ecm_frame_size=st.sampled_from([64, 256]),
    min_scan_ms=st.sampled_from([0, 5, 10, 20, 40]),
)


@given(dcs_strategy)
def test_dcs_round_trip(dcs):
    got = decode_dcs(encode_dcs(dcs))
    assert got.rate == dcs.rate and got.resolution == dcs.resolution and got.width == dcs.width
    assert got.coding == dcs.coding and got.ecm == dcs.ecm and got.length == dcs.length
    if dcs.ecm:
        assert got.ecm_frame_size == dcs.ecm_frame_size and got.min_row_bits == 0
    else:
        assert got.min_scan_ms == dcs.min_scan_ms


@given(st.binary(max_size=12))
def test_any_dis_or_dcs_field_decodes_without_error(info):
    decode_dis(info)
    decode_dcs(info)


def test_negotiation():
    ours = Capabilities()
    fine_a4 = PageFormat(Resolution.FINE, Width.A4)
    remote = decode_dis(encode_dis(Capabilities(ecm=False, codings=frozenset({Coding.MH, Coding.MR}),
                                                min_scan_ms=10)))
    dcs = negotiate(ours, remote, fine_a4)
    assert dcs.rate.bit_rate == 14400 and dcs.coding is Coding.MR and not dcs.ecm
    assert dcs.min_scan_ms == 10 and dcs.min_row_bits == 144
    assert accepts(Capabilities(), dcs)
    no_fine = decode_dis(encode_dis(Capabilities(resolutions=frozenset({Resolution.STANDARD}))))
    assert negotiate(ours, no_fine, fine_a4) is Refusal.RESOLUTION
    not_ready = decode_dis(encode_dis(Capabilities(ready_to_receive=False)))
    assert negotiate(ours, not_ready, fine_a4) is Refusal.NO_RECEIVER
    v27 = decode_dis(encode_dis(Capabilities(modems=frozenset({Modem.V27TER}))))
    assert negotiate(ours, v27, fine_a4).rate.bit_rate == 4800


def test_ecm_blocks_and_ppr():
    data = bytes(range(256)) * 300  # 76800 octets: 300 frames of 256 -> blocks of 256 + 44
    blocks = split_blocks(data, 256)
    assert [len(b) for b in blocks] == [256, 44]
    assert b"".join(b"".join(b) for b in blocks)[:len(data)] == data
    last = split_blocks(b"abc", 64)
    assert last == [[b"abc" + bytes(61)]]
    missing = {0, 7, 8, 100, 255}
    assert decode_ppr(encode_ppr(missing)) == missing
    assert pps_info(FCF.EOP, 1, 2, 44, x_bit=True) == bytes((0x2F, 1, 2, 43))
    assert pps_info(FCF.NULL, 0, 0, 256, x_bit=True) == bytes((0, 0, 0, 255))


def test_block_sender_and_receiver():
    frames = [bytes([i]) * 64 for i in range(10)]
    tx = BlockSender(frames)
    burst = tx.burst()
    assert len(burst) == 13 and all(f[2] == 0x06 for f in burst[:10]) and burst[-1] == b"\xff\x03\x86"
    rx = BlockReceiver()
    for f in burst[:10]:
        if f[3] not in (2, 5):
            rx.put(f[3], f[4:])
    assert rx.missing(10) == {2, 5}
    assert tx.apply_ppr(rx.missing(10)) == (2, 8)
    for f in tx.burst()[:2]:
        rx.put(f[3], f[4:])
    assert rx.missing(10) == set() and rx.assemble(10) == b"".join(frames)


def test_timers():
    t = Timers()
    t.start(Timer.T4)
    t.start(Timer.T2)
    assert t.next_expiry() == ms(3000)
    assert t.advance(ms(2999)) == []
    assert t.advance(ms(4000)) == [Timer.T4, Timer.T2]
    assert t.next_expiry() is None
