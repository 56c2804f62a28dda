"""IAX2 frame codec (RFC 5456 §8.1): full frames, mini frames, meta frames.

What does it do?  Turns datagrams into frame values and back.  A full frame (F bit set)
carries both call numbers, a 32-bit timestamp, the sequence numbers and a type/subclass;
a mini frame (F clear, source call number non-zero) carries only the source call number,
the low 16 bits of the timestamp and voice data; a meta frame (first 16 bits zero, §8.1.3)
is trunk or video data, which a fax gateway recognises and drops.

`decode()` never raises: anything too short or self-contradictory comes back as ``None``
so the endpoint can count and drop it.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

FULL_HEADER = struct.Struct("!HHIBBBB")
MINI_HEADER = struct.Struct("!HH")
FLAG_FULL = 0x8000  # §8.1.2: F bit of the source call number
FLAG_RETRANS = 0x8000  # §8.1.2: R bit of the destination call number
CALLNO_MASK = 0x7FFF
SUBCLASS_LOG = 0x80  # §8.1.2: C bit, subclass is a power of two


class FrameType(enum.IntEnum):
    """Full frame types (RFC 5456 §8.2)."""

    DTMF_END = 0x01
    VOICE = 0x02
    VIDEO = 0x03
    CONTROL = 0x04
    NULL = 0x05
    IAX = 0x06
    TEXT = 0x07
    IMAGE = 0x08
    HTML = 0x09
    CNG = 0x0A
    MODEM = 0x0B
    DTMF_BEGIN = 0x0C


class Iax(enum.IntEnum):
    """IAX control frame subclasses (RFC 5456 §8.4, plus CALLTOKEN from Asterisk 1.6)."""

    NEW = 0x01
    PING = 0x02
    PONG = 0x03
    ACK = 0x04
    HANGUP = 0x05
    REJECT = 0x06
    ACCEPT = 0x07
    AUTHREQ = 0x08
    AUTHREP = 0x09
    INVAL = 0x0A
    LAGRQ = 0x0B
    LAGRP = 0x0C
    REGREQ = 0x0D
    REGAUTH = 0x0E
    REGACK = 0x0F
    REGREJ = 0x10
    REGREL = 0x11
    VNAK = 0x12
    DPREQ = 0x13
    DPREP = 0x14
    DIAL = 0x15
    TXREQ = 0x16
    TXCNT = 0x17
    TXACC = 0x18
    TXREADY = 0x19
    TXREL = 0x1A
    TXREJ = 0x1B
    QUELCH = 0x1C
    UNQUELCH = 0x1D
    POKE = 0x1E
    MWI = 0x20
    UNSUPPORT = 0x21
    TRANSFER = 0x22
    PROVISION = 0x23
    FWDOWNL = 0x24
    FWDATA = 0x25
    TXMEDIA = 0x26
    RTKEY = 0x27
    CALLTOKEN = 0x28


class Control(enum.IntEnum):
    """Control frame subclasses (RFC 5456 §8.3)."""

    HANGUP = 0x01
    RING = 0x02
    RINGING = 0x03
    ANSWER = 0x04
    BUSY = 0x05
    CONGESTION = 0x08
    FLASH = 0x09
    OPTION = 0x0B
    KEY = 0x0C
    UNKEY = 0x0D
    PROGRESS = 0x0E
    PROCEEDING = 0x0F
    HOLD = 0x10
    UNHOLD = 0x11


class Format(enum.IntFlag):
    """Media formats (RFC 5456 §8.7).  A fax gateway uses only the three uncompressed ones."""

    G723_1 = 0x1
    GSM = 0x2
    ULAW = 0x4
    ALAW = 0x8
    G726 = 0x10
    ADPCM = 0x20
    SLINEAR = 0x40
    LPC10 = 0x80
    G729 = 0x100
    SPEEX = 0x200
    ILBC = 0x400


FAX_FORMATS = Format.ALAW | Format.ULAW | Format.SLINEAR

# §8.1.4 and Asterisk/libiax2 practice: these never advance the receiver's iseqno.
UNSEQUENCED = frozenset({Iax.ACK, Iax.INVAL, Iax.TXCNT, Iax.TXACC, Iax.VNAK})


@dataclass(frozen=True, slots=True)
class FullFrame:
    """A full frame; ``subclass`` is the uncompressed value (a format bit for voice)."""

    src_call: int
    dst_call: int
    timestamp: int
    oseqno: int
    iseqno: int
    frametype: int
    subclass: int
    payload: bytes = b""
    retransmitted: bool = False

    def is_iax(self, sub: Iax) -> bool:
        return self.frametype == FrameType.IAX and self.subclass == sub

    @property
    def sequenced(self) -> bool:
        """True when this frame advances the receiver's iseqno (§8.1.4)."""
        return not (self.frametype == FrameType.IAX and self.subclass in UNSEQUENCED)


@dataclass(frozen=True, slots=True)
class MiniFrame:
    """A mini voice frame (§8.1.2): source call number, 16-bit timestamp, data."""

    src_call: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class MetaFrame:
    """A meta (trunk or video) frame (§8.1.3); recognised so it can be dropped."""

    kind: int
    payload: bytes


Frame = FullFrame | MiniFrame | MetaFrame


def compress_subclass(value: int) -> int | None:
    """Subclass byte for ``value``: itself below 0x80, else C bit + log2 (one bit only)."""
    if 0 <= value < SUBCLASS_LOG:
        return value
    if value <= 0 or value & (value - 1) or value.bit_length() - 1 > 0x7F:
        return None
    return SUBCLASS_LOG | (value.bit_length() - 1)


def uncompress_subclass(byte: int) -> int:
    return 1 << (byte & 0x7F) if byte & SUBCLASS_LOG else byte


def encode_full(f: FullFrame) -> bytes:
    sub = compress_subclass(f.subclass)
    if sub is None:
        raise ValueError(f"subclass {f.subclass:#x} is not encodable")
    dst = (f.dst_call & CALLNO_MASK) | (FLAG_RETRANS if f.retransmitted else 0)
    return FULL_HEADER.pack(FLAG_FULL | (f.src_call & CALLNO_MASK), dst,
                            f.timestamp & 0xFFFFFFFF, f.oseqno & 0xFF, f.iseqno & 0xFF,
                            f.frametype, sub) + f.payload


def encode_mini(src_call: int, timestamp: int, payload: bytes) -> bytes:
    return MINI_HEADER.pack(src_call & CALLNO_MASK, timestamp & 0xFFFF) + payload


def encode(f: Frame) -> bytes:
    if isinstance(f, FullFrame):
        return encode_full(f)
    if isinstance(f, MiniFrame):
        return encode_mini(f.src_call, f.timestamp, f.payload)
    return b"\x00\x00" + bytes([f.kind & 0xFF]) + f.payload


def mark_retransmitted(datagram: bytes) -> bytes:
    """The same full frame with the R bit set (§8.1.2), for a retransmission."""
    return datagram[:2] + bytes([datagram[2] | 0x80]) + datagram[3:]


def decode(data: bytes) -> Frame | None:
    """Parse one datagram; ``None`` when it is no valid IAX2 frame."""
    n = len(data)
    if n < 4:
        return None
    first = (data[0] << 8) | data[1]
    if first & FLAG_FULL:
        if n < FULL_HEADER.size:
            return None
        src, dst, ts, oseq, iseq, ftype, csub = FULL_HEADER.unpack_from(data)
        src &= CALLNO_MASK
        if src == 0 or ftype == 0 or ftype > 0x7F:
            return None  # call number 0 is reserved as a source (§8.1.2)
        return FullFrame(src, dst & CALLNO_MASK, ts, oseq, iseq, ftype,
                         uncompress_subclass(csub), bytes(data[12:]),
                         bool(dst & FLAG_RETRANS))
    if first == 0:
        return MetaFrame(data[2], bytes(data[3:]))
    return MiniFrame(first, (data[2] << 8) | data[3], bytes(data[4:]))
