"""DIS/DTC/DCS information fields (T.30 §5.3.6.2.1–2.3, Table 2) and their negotiation.

A DIS (or DTC) says what a terminal can do; the transmitting terminal answers with a
DCS that picks one value of each: modem and bit rate, resolution, width, length,
coding, ECM and its frame size, and the minimum scan line time.  Bits are numbered as in
Table 2: bit 1 is the first transmitted bit of the first information octet, which is
bit 0 of that octet in our line-order octets.  Fields are decoded leniently (unknown or
reserved bits are ignored, short frames read as zeros), because a DIS from the far end
is input, not a contract.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class Modem(enum.Enum):
    V21 = "v21"
    V27TER = "v27ter"
    V29 = "v29"
    V17 = "v17"


class Coding(enum.Enum):
    """T.4 one-dimensional, two-dimensional, and T.6 coding."""

    MH = "mh"
    MR = "mr"
    MMR = "mmr"


class Resolution(enum.Enum):
    """Vertical resolutions at R8 (8 pels/mm), valued by their dpi."""

    STANDARD = 98
    FINE = 196
    SUPERFINE = 391

    @classmethod
    def from_dpi(cls, y_dpi: int) -> "Resolution | None":
        for r in cls:
            if abs(r.value - y_dpi) <= 4:
                return r
        return None


class Width(enum.Enum):
    """Scan line widths at R8, valued by their pixel count (T.4 §2.2)."""

    A4 = 1728
    B4 = 2048
    A3 = 2432


class Length(enum.Enum):
    A4 = "a4"
    B4 = "b4"
    UNLIMITED = "unlimited"


@dataclass(frozen=True)
class Rate:
    """One step of the rate ladder with its DCS code (Table 2 bits 11–14)."""

    bit_rate: int
    modem: Modem
    code: tuple[int, int, int, int]


#: Highest first; the order the transmitter falls back through after FTT (spandsp's too).
RATE_LADDER: tuple[Rate, ...] = (
    Rate(14400, Modem.V17, (0, 0, 0, 1)),
    Rate(12000, Modem.V17, (0, 1, 0, 1)),
    Rate(9600, Modem.V17, (1, 0, 0, 1)),
    Rate(9600, Modem.V29, (1, 0, 0, 0)),
    Rate(7200, Modem.V17, (1, 1, 0, 1)),
    Rate(7200, Modem.V29, (1, 1, 0, 0)),
    Rate(4800, Modem.V27TER, (0, 1, 0, 0)),
    Rate(2400, Modem.V27TER, (0, 0, 0, 0)),
)

#: Minimum scan line time codes, Table 2 bits 21–23 read as a number with bit 21 as its
#: lowest bit: the receiver's requirement at standard, fine and superfine resolution
#: (the superfine column applies when DIS bit 46 says "half of fine").
_DIS_MIN_SCAN = {
    0: (20, 20, 10), 1: (5, 5, 5), 2: (10, 10, 5), 3: (20, 10, 5),
    4: (40, 40, 20), 5: (40, 20, 10), 6: (10, 5, 5), 7: (0, 0, 0),
}
#: The code a DIS or DCS sends for one minimum scan line time (ms), and back.
_MIN_SCAN_CODE = {20: 0, 5: 1, 10: 2, 40: 4, 0: 7}
_MIN_SCAN_MS = {v: k for k, v in _MIN_SCAN_CODE.items()}


class _Bits:
    """A Table 2 bit field over line-order octets, numbered from 1."""

    def __init__(self, data: bytes = b"", size: int = 6) -> None:
        self.octets = bytearray(data) + bytearray(max(0, size - len(data)))

    def get(self, n: int) -> int:
        i, b = divmod(n - 1, 8)
        return (self.octets[i] >> b) & 1 if i < len(self.octets) else 0

    def set(self, n: int, value: int = 1) -> None:
        i, b = divmod(n - 1, 8)
        if value:
            self.octets[i] |= 1 << b
        else:
            self.octets[i] &= ~(1 << b) & 0xFF

    def get_field(self, first: int, count: int) -> int:
        """Bits first .. first+count-1 read as a number, bit `first` the lowest."""
        return sum(self.get(first + i) << i for i in range(count))

    def set_field(self, first: int, count: int, value: int) -> None:
        for i in range(count):
            self.set(first + i, (value >> i) & 1)

    def finish(self) -> bytes:
        """Trim to the last non-empty octet (at least 3) and set the extension bits
        (bits 24, 32, 40, ... say "another octet follows")."""
        for k in range(3, len(self.octets)):
            self.octets[k - 1] &= 0x7F
        n = len(self.octets)
        while n > 3 and not any(self.octets[n - 1:]):
            n -= 1
        out = self.octets[:n]
        for k in range(3, n):
            out[k - 1] |= 0x80
        return bytes(out)


def _set_rate(b: _Bits, rate: Rate) -> None:
    """Bits 11-14: the modem and data signalling rate (Table 2)."""
    for i, bit in enumerate(rate.code):
        b.set(11 + i, bit)


def _rate_of(b: _Bits) -> Rate | None:
    code = tuple(b.get(11 + i) for i in range(4))
    return next((r for r in RATE_LADDER if r.code == code), None)


def _set_size(b: _Bits, width: Width, length: Length) -> None:
    """Bits 17-18 (recording width) and 19-20 (recording length), Table 2."""
    b.set(17, width is Width.B4)
    b.set(18, width is Width.A3)
    b.set(19, length is Length.B4)
    b.set(20, length is Length.UNLIMITED)


def _size_of(b: _Bits) -> tuple[Width, Length]:
    width = Width.A3 if b.get(18) else Width.B4 if b.get(17) else Width.A4
    length = Length.UNLIMITED if b.get(20) else Length.B4 if b.get(19) else Length.A4
    return width, length


@dataclass(frozen=True)
class Capabilities:
    """What one terminal can do (the content of its DIS or DTC)."""

    modems: frozenset[Modem] = frozenset({Modem.V27TER, Modem.V29, Modem.V17})
    max_rate: int = 14400
    ecm: bool = True
    ecm_64_preferred: bool = False
    codings: frozenset[Coding] = frozenset({Coding.MH, Coding.MR, Coding.MMR})
    resolutions: frozenset[Resolution] = frozenset(Resolution)
    max_width: Width = Width.A3
    max_length: Length = Length.UNLIMITED
    #: The receiver's minimum scan line time at standard resolution (halved for finer).
    min_scan_ms: int = 0
    ready_to_receive: bool = True
    ready_to_transmit: bool = False

    def rates(self) -> list[Rate]:
        return [r for r in RATE_LADDER if r.modem in self.modems and r.bit_rate <= self.max_rate]


def encode_dis(caps: Capabilities) -> bytes:
    """The information field of a DIS or DTC announcing `caps`."""
    b = _Bits(size=6)
    b.set(7, caps.ecm and caps.ecm_64_preferred)
    b.set(9, caps.ready_to_transmit)
    b.set(10, caps.ready_to_receive)
    modems = caps.modems
    b.set(12, Modem.V27TER in modems or Modem.V17 in modems)
    b.set(11, Modem.V29 in modems or Modem.V17 in modems)
    b.set(14, Modem.V17 in modems)
    b.set(15, Resolution.FINE in caps.resolutions)
    b.set(16, Coding.MR in caps.codings)
    _set_size(b, caps.max_width, caps.max_length)
    b.set_field(21, 3, _MIN_SCAN_CODE.get(caps.min_scan_ms, 0))
    b.set(27, caps.ecm)
    b.set(31, caps.ecm and Coding.MMR in caps.codings)
    b.set(41, Resolution.SUPERFINE in caps.resolutions)
    b.set(45, 1)  # metric-based resolution preferred
    return b.finish()


@dataclass(frozen=True)
class RemoteCapabilities:
    """A decoded DIS/DTC from the far end."""

    rates: tuple[Rate, ...]
    ecm: bool
    ecm_64_preferred: bool
    codings: frozenset[Coding]
    resolutions: frozenset[Resolution]
    max_width: Width
    max_length: Length
    min_scan_code: int
    min_scan_halves: bool
    ready_to_receive: bool
    ready_to_transmit: bool

    def min_scan_ms(self, resolution: Resolution) -> int:
        std, fine, superfine = _DIS_MIN_SCAN[self.min_scan_code]
        if resolution is Resolution.SUPERFINE:
            return superfine if self.min_scan_halves else fine
        return fine if resolution is Resolution.FINE else std


def decode_dis(info: bytes) -> RemoteCapabilities:
    b = _Bits(info, size=8)
    v27, v29, v17 = b.get(12), b.get(11), b.get(14) and b.get(11) and b.get(12)
    modems = {Modem.V27TER}  # 2400 fallback is always there (bits 11-14 all zero)
    if v29:
        modems.add(Modem.V29)
    if v17:
        modems.add(Modem.V17)
    rates = tuple(r for r in RATE_LADDER if r.modem in modems and (r.bit_rate != 4800 or v27 or v17))
    ecm = bool(b.get(27))
    codings = {Coding.MH}
    if b.get(16):
        codings.add(Coding.MR)
    if ecm and b.get(31):
        codings.add(Coding.MMR)
    resolutions = {Resolution.STANDARD}
    if b.get(15):
        resolutions.add(Resolution.FINE)
    if b.get(41):
        resolutions.add(Resolution.SUPERFINE)
    width, length = _size_of(b)
    return RemoteCapabilities(
        rates=rates, ecm=ecm, ecm_64_preferred=bool(b.get(7)), codings=frozenset(codings),
        resolutions=frozenset(resolutions), max_width=width, max_length=length,
        min_scan_code=b.get_field(21, 3), min_scan_halves=bool(b.get(46)),
        ready_to_receive=bool(b.get(10)), ready_to_transmit=bool(b.get(9)),
    )


@dataclass(frozen=True)
class Dcs:
    """The parameters of one phase C, as carried by a DCS."""

    rate: Rate
    resolution: Resolution = Resolution.FINE
    width: Width = Width.A4
    length: Length = Length.UNLIMITED
    coding: Coding = Coding.MH
    ecm: bool = False
    ecm_frame_size: int = 256
    min_scan_ms: int = 0

    @property
    def min_row_bits(self) -> int:
        """Fill needed per coded row so a row takes the minimum scan time (T.4 §4.1.2)."""
        return 0 if self.ecm else self.rate.bit_rate * self.min_scan_ms // 1000

    def with_rate(self, rate: Rate) -> "Dcs":
        return replace(self, rate=rate)


def encode_dcs(dcs: Dcs) -> bytes:
    b = _Bits(size=6)
    b.set(10, 1)
    _set_rate(b, dcs.rate)
    b.set(15, dcs.resolution is Resolution.FINE)
    b.set(41, dcs.resolution is Resolution.SUPERFINE)
    b.set(16, dcs.coding is Coding.MR)
    b.set(31, dcs.coding is Coding.MMR)
    _set_size(b, dcs.width, dcs.length)
    b.set_field(21, 3, _MIN_SCAN_CODE.get(0 if dcs.ecm else dcs.min_scan_ms, 0))
    b.set(27, dcs.ecm)
    b.set(28, dcs.ecm and dcs.ecm_frame_size == 64)
    return b.finish()


def decode_dcs(info: bytes) -> Dcs | None:
    """The DCS parameters, or None where the rate code is not one of Table 2's."""
    b = _Bits(info, size=8)
    rate = _rate_of(b)
    if rate is None:
        return None
    resolution = (Resolution.SUPERFINE if b.get(41) else Resolution.FINE if b.get(15)
                  else Resolution.STANDARD)
    coding = Coding.MMR if b.get(31) else Coding.MR if b.get(16) else Coding.MH
    width, length = _size_of(b)
    ecm = bool(b.get(27))
    min_scan = _MIN_SCAN_MS.get(b.get_field(21, 3), 20)
    return Dcs(rate=rate, resolution=resolution, width=width, length=length, coding=coding,
               ecm=ecm, ecm_frame_size=64 if b.get(28) else 256, min_scan_ms=min_scan)


def rate_from_code(info: bytes) -> Rate | None:
    """The rate carried in bits 11–14 of a CTC's information field (T.30 §5.3.6.1.4)."""
    return _rate_of(_Bits(info, size=2))


def encode_rate_code(rate: Rate) -> bytes:
    b = _Bits(size=2)
    _set_rate(b, rate)
    return bytes(b.octets[:2])


class Refusal(enum.Enum):
    """Why no DCS can be built for a page (mapped onto a `Completion` by the session)."""

    NO_RECEIVER = "the far end is not ready to receive"
    NO_COMMON_MODEM = "no modem in common"
    RESOLUTION = "the far end cannot receive this resolution"
    WIDTH = "the far end cannot receive this width"


@dataclass(frozen=True)
class PageFormat:
    """What the page asks of the channel."""

    resolution: Resolution
    width: Width
    length: Length = Length.UNLIMITED


def common_rates(local: Capabilities, remote: RemoteCapabilities) -> list[Rate]:
    """The rate ladder both ends support, highest first."""
    ours = set(local.rates())
    return [r for r in remote.rates if r in ours]


def negotiate(local: Capabilities, remote: RemoteCapabilities, page: PageFormat,
              rate: Rate | None = None) -> Dcs | Refusal:
    """The DCS for sending `page` to a terminal announcing `remote` (T.30 §5.3.6.2.3):
    the highest common rate (or `rate`), the best common coding, ECM when both can."""
    if not remote.ready_to_receive:
        return Refusal.NO_RECEIVER
    rates = common_rates(local, remote)
    if not rates:
        return Refusal.NO_COMMON_MODEM
    if page.resolution not in remote.resolutions or page.resolution not in local.resolutions:
        return Refusal.RESOLUTION
    if page.width.value > remote.max_width.value:
        return Refusal.WIDTH
    ecm = local.ecm and remote.ecm
    both = local.codings & remote.codings
    coding = (Coding.MMR if ecm and Coding.MMR in both else
              Coding.MR if Coding.MR in both else Coding.MH)
    frame_size = 64 if (remote.ecm_64_preferred or local.ecm_64_preferred) else 256
    length = page.length if _length_fits(page.length, remote.max_length) else remote.max_length
    return Dcs(rate=rate if rate in rates else rates[0], resolution=page.resolution,
               width=page.width, length=length, coding=coding, ecm=ecm,
               ecm_frame_size=frame_size,
               min_scan_ms=0 if ecm else remote.min_scan_ms(page.resolution))


def _length_fits(wanted: Length, allowed: Length) -> bool:
    order = [Length.A4, Length.B4, Length.UNLIMITED]
    return order.index(wanted) <= order.index(allowed)


def accepts(local: Capabilities, dcs: Dcs) -> bool:
    """Whether a DCS asks only for what `local` announced (receiver side check)."""
    return (dcs.rate in local.rates() and dcs.resolution in local.resolutions
            and dcs.coding in local.codings and (local.ecm or not dcs.ecm)
            and dcs.width.value <= local.max_width.value and (dcs.coding is not Coding.MMR or dcs.ecm))


__all__ = [
    "Modem", "Coding", "Resolution", "Width", "Length", "Rate", "RATE_LADDER", "Capabilities",
    "RemoteCapabilities", "Dcs", "PageFormat", "Refusal", "encode_dis", "decode_dis",
    "encode_dcs", "decode_dcs", "negotiate", "accepts", "common_rates", "rate_from_code",
    "encode_rate_code",
]
