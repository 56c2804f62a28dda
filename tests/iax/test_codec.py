"""Frame and information-element codecs: Hypothesis round trips and hostile edges."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from iax.frames import (Format, FrameType, FullFrame, Iax, MetaFrame, MiniFrame,
                        compress_subclass, decode, encode, encode_full, mark_retransmitted)
from iax.ies import (IE, KINDS, Kind, datetime_from_value, datetime_value, decode_ies,
                     encode_ies)

callno = st.integers(1, 0x7FFF)
subclass = st.one_of(st.integers(0, 0x7F), st.integers(7, 31).map(lambda b: 1 << b))
full_frames = st.builds(
    FullFrame, callno, st.integers(0, 0x7FFF), st.integers(0, 0xFFFFFFFF),
    st.integers(0, 255), st.integers(0, 255), st.integers(1, 0x7F), subclass,
    st.binary(max_size=300), st.booleans())
mini_frames = st.builds(MiniFrame, callno, st.integers(0, 0xFFFF), st.binary(max_size=320))


@given(full_frames)
def test_full_frames_round_trip(frame: FullFrame) -> None:
    assert decode(encode(frame)) == frame


@given(mini_frames)
def test_mini_frames_round_trip(frame: MiniFrame) -> None:
    assert decode(encode(frame)) == frame


def test_voice_format_subclass_uses_the_power_of_two_form() -> None:
    # RFC 5456 §8.1.2: subclasses from 0x80 up are sent as C bit + log2
    assert compress_subclass(int(Format.ALAW)) == 0x08
    assert compress_subclass(0x100) == 0x88
    assert compress_subclass(0x180) is None
    data = encode_full(FullFrame(5, 6, 7, 0, 0, FrameType.VOICE, 0x400, b"x"))
    assert data[11] == 0x8A and decode(data).subclass == 0x400


def test_retransmission_sets_only_the_r_bit() -> None:
    frame = FullFrame(5, 6, 1000, 3, 4, FrameType.IAX, Iax.PING)
    again = decode(mark_retransmitted(encode(frame)))
    assert again == FullFrame(5, 6, 1000, 3, 4, FrameType.IAX, Iax.PING, retransmitted=True)


def test_meta_frames_are_recognised_and_garbage_is_none() -> None:
    assert isinstance(decode(b"\x00\x00\x01\x00\x00\x00\x00\x01abc"), MetaFrame)  # trunk
    assert isinstance(decode(b"\x00\x00\x80\x05\x00\x10vid"), MetaFrame)  # video
    assert decode(b"") is None and decode(b"\x80\x01") is None
    assert decode(b"\x80\x00" + bytes(10)) is None          # source call number 0
    assert decode(b"\x80\x01" + bytes(10)) is None          # frame type 0
    assert decode(b"\x80\x01\x00\x00" + bytes(4) + b"\x00\x00\xff\x01") is None


def _ie_value(ie: int):
    kind = KINDS.get(ie, Kind.RAW)
    if kind is Kind.TEXT:
        return st.text(max_size=60)
    if kind is Kind.ADDR:
        return st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535))
    if kind is Kind.RAW:
        return st.binary(max_size=255)
    return st.integers(0, (1 << (8 * kind.value)) - 1)


ie_ids = st.one_of(st.sampled_from(list(IE)), st.integers(0x40, 0xFF))
ie_maps = st.lists(ie_ids, unique=True, max_size=12).flatmap(
    lambda ids: st.fixed_dictionaries({i: _ie_value(i) for i in ids}))


@given(ie_maps)
def test_information_elements_round_trip(ies: dict) -> None:
    assert decode_ies(encode_ies(ies)) == ies


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_any_ie_bytes_decode_or_are_refused_without_raising(data: bytes) -> None:
    ies = decode_ies(data)
    assert ies is None or isinstance(ies, dict)


def test_unknown_and_misshapen_ies_are_skipped_safely() -> None:
    data = bytes([0x7E, 3]) + b"abc" + bytes([IE.FORMAT, 2, 0, 8]) + bytes(
        [IE.CALLED_NUMBER, 4]) + b"5551"
    assert decode_ies(data) == {0x7E: b"abc", IE.CALLED_NUMBER: "5551"}
    assert decode_ies(bytes([IE.CALLED_NUMBER, 9]) + b"55") is None  # runs past the end
    assert decode_ies(b"\x01") is None


def test_datetime_ie_packs_the_rfc_fields() -> None:
    when = dt.datetime(2026, 11, 26, 7, 5, 42)
    value = datetime_value(when)
    assert value == (21 | 5 << 5 | 7 << 11 | 26 << 16 | 11 << 21 | 26 << 25)
    assert datetime_from_value(value) == when
    assert datetime_from_value(0) is None


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_decoding_arbitrary_bytes_never_raises(data: bytes) -> None:
    frame = decode(data)
    assert frame is None or isinstance(frame, (FullFrame, MiniFrame, MetaFrame))
