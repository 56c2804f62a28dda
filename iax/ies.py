"""IAX2 information elements (RFC 5456 §8.6): the payload of IAX control frames.

What does it do?  Encodes a mapping ``{IE: value}`` into the type-length-value list that
follows an IAX frame's header, and decodes it back.  Each known IE has a kind (text, 8/16/32
bit unsigned, raw bytes, or an apparent address) so callers get typed values.  Unknown IEs
are kept as raw bytes under their numeric id and otherwise ignored; a known fixed-width IE
of the wrong length is skipped (as Asterisk does) rather than failing the frame.  Only a
list whose lengths run past the end is malformed: `decode_ies` then returns ``None``.
"""

from __future__ import annotations

import datetime as _dt
import enum
import socket
import struct
from collections.abc import Iterable, Mapping


class IE(enum.IntEnum):
    """Information element ids (RFC 5456 §8.6, CALLTOKEN from Asterisk 1.6)."""

    CALLED_NUMBER = 0x01
    CALLING_NUMBER = 0x02
    CALLING_ANI = 0x03
    CALLING_NAME = 0x04
    CALLED_CONTEXT = 0x05
    USERNAME = 0x06
    PASSWORD = 0x07
    CAPABILITY = 0x08
    FORMAT = 0x09
    LANGUAGE = 0x0A
    VERSION = 0x0B
    ADSICPE = 0x0C
    DNID = 0x0D
    AUTHMETHODS = 0x0E
    CHALLENGE = 0x0F
    MD5_RESULT = 0x10
    RSA_RESULT = 0x11
    APPARENT_ADDR = 0x12
    REFRESH = 0x13
    DPSTATUS = 0x14
    CALLNO = 0x15
    CAUSE = 0x16
    IAX_UNKNOWN = 0x17
    MSGCOUNT = 0x18
    AUTOANSWER = 0x19
    MUSICONHOLD = 0x1A
    TRANSFERID = 0x1B
    RDNIS = 0x1C
    DATETIME = 0x1F
    DEVICETYPE = 0x20
    SERVICEIDENT = 0x21
    FIRMWAREVER = 0x22
    CALLINGPRES = 0x26
    CALLINGTON = 0x27
    CALLINGTNS = 0x28
    SAMPLINGRATE = 0x29
    CAUSECODE = 0x2A
    ENCRYPTION = 0x2B
    CODEC_PREFS = 0x2D
    RR_JITTER = 0x2E
    RR_LOSS = 0x2F
    RR_PKTS = 0x30
    RR_DELAY = 0x31
    RR_DROPPED = 0x32
    RR_OOO = 0x33
    CALLTOKEN = 0x36


class Kind(enum.Enum):
    TEXT = "text"
    U8 = 1
    U16 = 2
    U32 = 4
    RAW = "raw"
    ADDR = "addr"


class AuthMethod(enum.IntFlag):
    """AUTHMETHODS bits (§8.6.13)."""

    PLAINTEXT = 0x1
    MD5 = 0x2
    RSA = 0x4


KINDS: dict[int, Kind] = {
    **{ie: Kind.TEXT for ie in (
        IE.CALLED_NUMBER, IE.CALLING_NUMBER, IE.CALLING_ANI, IE.CALLING_NAME,
        IE.CALLED_CONTEXT, IE.USERNAME, IE.PASSWORD, IE.LANGUAGE, IE.DNID, IE.CHALLENGE,
        IE.MD5_RESULT, IE.RSA_RESULT, IE.CAUSE, IE.RDNIS, IE.DEVICETYPE, IE.SERVICEIDENT,
        IE.CODEC_PREFS)},
    **{ie: Kind.U8 for ie in (IE.IAX_UNKNOWN, IE.CALLINGPRES, IE.CALLINGTON, IE.CAUSECODE)},
    **{ie: Kind.U16 for ie in (
        IE.VERSION, IE.ADSICPE, IE.AUTHMETHODS, IE.REFRESH, IE.DPSTATUS, IE.CALLNO,
        IE.MSGCOUNT, IE.FIRMWAREVER, IE.CALLINGTNS, IE.SAMPLINGRATE, IE.ENCRYPTION,
        IE.RR_DELAY)},
    **{ie: Kind.U32 for ie in (
        IE.CAPABILITY, IE.FORMAT, IE.TRANSFERID, IE.DATETIME, IE.RR_JITTER, IE.RR_LOSS,
        IE.RR_PKTS, IE.RR_DROPPED, IE.RR_OOO)},
    IE.APPARENT_ADDR: Kind.ADDR,
    IE.CALLTOKEN: Kind.RAW,
    IE.AUTOANSWER: Kind.RAW,
    IE.MUSICONHOLD: Kind.RAW,
}

Value = str | int | bytes | tuple[str, int]
IEMap = dict[int, Value]


def _encode_value(kind: Kind, value: Value) -> bytes:
    if kind is Kind.TEXT:
        return str(value).encode("utf-8", "surrogateescape")
    if kind is Kind.RAW:
        return bytes(value)  # type: ignore[arg-type]
    if kind is Kind.ADDR:
        host, port = value[0], value[1]  # type: ignore[index]
        # struct sockaddr_in as Asterisk and libiax2 copy it: family in host (little-endian)
        # order, port and address in network order, eight zero bytes.  An IPv6 address goes
        # as a 28-octet struct sockaddr_in6 (Asterisk's ast_sockaddr does the same).
        if ":" in host:
            return struct.pack("<H", socket.AF_INET6) + struct.pack("!HI", port, 0) \
                + socket.inet_pton(socket.AF_INET6, host.split("%")[0]) + bytes(4)
        return struct.pack("<H", socket.AF_INET) + struct.pack("!H", port) \
            + socket.inet_aton(host) + bytes(8)
    return int(value).to_bytes(kind.value, "big")  # type: ignore[arg-type]


def _decode_value(kind: Kind, raw: bytes) -> Value | None:
    if kind is Kind.TEXT:
        return raw.decode("utf-8", "surrogateescape")
    if kind is Kind.RAW:
        return raw
    if kind is Kind.ADDR:
        if len(raw) == 28:  # sockaddr_in6
            return socket.inet_ntop(socket.AF_INET6, raw[8:24]), (raw[2] << 8) | raw[3]
        if len(raw) != 16:
            return None
        return socket.inet_ntoa(raw[4:8]), (raw[2] << 8) | raw[3]
    if len(raw) != kind.value:
        return None
    return int.from_bytes(raw, "big")


def encode_ies(items: Mapping[int, Value] | Iterable[tuple[int, Value]]) -> bytes:
    """Type-length-value encoding (§8.6); raises ValueError for values over 255 bytes."""
    pairs = items.items() if isinstance(items, Mapping) else items
    out = bytearray()
    for ie, value in pairs:
        body = _encode_value(KINDS.get(ie, Kind.RAW), value)
        if len(body) > 255 or not 0 <= ie <= 255:
            raise ValueError(f"IE {ie:#x} too long ({len(body)} bytes)")
        out += bytes((ie, len(body))) + body
    return bytes(out)


def decode_ies(data: bytes) -> IEMap | None:
    """Decode an IE list; ``None`` if it is truncated.  Known IEs of a wrong width are skipped."""
    out: IEMap = {}
    i, n = 0, len(data)
    while i < n:
        if i + 2 > n:
            return None
        ie, length = data[i], data[i + 1]
        end = i + 2 + length
        if end > n:
            return None
        raw = bytes(data[i + 2:end])
        i = end
        kind = KINDS.get(ie)
        value = raw if kind is None else _decode_value(kind, raw)
        if value is not None:
            out[IE(ie) if kind is not None else ie] = value
    return out


def datetime_value(when: _dt.datetime) -> int:
    """DATETIME IE (§8.6.28): 2-second units, minutes, hours, day, month, years since 2000."""
    return ((when.second // 2) | (when.minute << 5) | (when.hour << 11) | (when.day << 16)
            | (when.month << 21) | ((when.year - 2000) & 0x7F) << 25)


def datetime_from_value(value: int) -> _dt.datetime | None:
    try:
        return _dt.datetime((value >> 25) + 2000, (value >> 21) & 0xF, (value >> 16) & 0x1F,
                            (value >> 11) & 0x1F, (value >> 5) & 0x3F, (value & 0x1F) * 2)
    except ValueError:
        return None
