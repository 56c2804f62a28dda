"""T.30 frame control fields and the HDLC frame layout of control frames.

Frames are handled as the octets on the line, least significant bit first: the first
transmitted bit of an octet is its bit 0 (the layout spandsp and our HDLC layer use).
Every control frame starts with the address field 0xFF and a control field, 0x03 for
a non-final frame and 0x13 for the final frame of a sequence (T.30 §5.3.4–5.3.5); the
third octet is the FCF.  For most FCFs the first transmitted bit (bit 0 here) is the
"X" bit, set by the terminal that received a DIS (T.30 §5.3.6.1); the initial
identification frames (DIS, CSI, NSF) and their command-to-send twins (DTC, CIG, NSC)
differ exactly in that bit, so they are matched whole.  Frame checks (FCS) are the
HDLC layer's business and never appear here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ADDRESS = 0xFF
CONTROL_NON_FINAL = 0x03
CONTROL_FINAL = 0x13


class FCF(enum.IntEnum):
    """Frame control fields as line octets with the X bit clear (T.30 §5.3.6)."""

    # Initial identification (called -> calling), matched whole.
    DIS = 0x80
    CSI = 0x40
    NSF = 0x20
    # Command to send (calling receiver -> called transmitter), matched whole.
    DTC = 0x81
    CIG = 0x41
    NSC = 0x21
    PWD = 0xC1
    SEP = 0xA1
    # Command to receive.
    DCS = 0x82
    TSI = 0x42
    NSS = 0x22
    SUB = 0xC2
    SID = 0xA2
    CTC = 0x12
    # Pre-message responses.
    CFR = 0x84
    FTT = 0x44
    CTR = 0xC4
    # Post-message commands.
    EOM = 0x8E
    MPS = 0x4E
    EOP = 0x2E
    PRI_EOM = 0x9E
    PRI_MPS = 0x5E
    PRI_EOP = 0x3E
    PPS = 0xBE
    EOR = 0xCE
    RR = 0x6E
    # Post-message responses.
    MCF = 0x8C
    RTP = 0xCC
    RTN = 0x4C
    PIP = 0xAC
    PIN = 0x2C
    PPR = 0xBC
    RNR = 0xEC
    ERR = 0x1C
    # Line control.
    DCN = 0xFA
    CRP = 0x1A
    FNV = 0xCA
    # T.4 Annex A information frames inside ECM blocks.
    FCD = 0x06
    RCP = 0x86
    # The "nothing" post-message value carried in PPS/EOR (T.30 §5.3.6.1.7).
    NULL = 0x00


#: FCFs whose lowest bit is part of the code rather than the X bit.
_WHOLE = {0x80, 0x40, 0x20, 0x81, 0x41, 0x21, 0xC1, 0xA1, 0x06, 0x86}
_BY_VALUE = {int(f): f for f in FCF}


def decode_fcf(octet: int) -> FCF | None:
    """The FCF of a line octet, or None if it is not one we know."""
    if octet in _WHOLE:
        return _BY_VALUE.get(octet)
    return _BY_VALUE.get(octet & 0xFE)


@dataclass(frozen=True)
class Frame:
    """A parsed control frame: its FCF, the information field after it, and the
    final-frame flag from the control field."""

    fcf: FCF
    info: bytes
    final: bool

    @classmethod
    def parse(cls, data: bytes) -> "Frame | None":
        """None for anything that is not a well-formed T.30 control frame."""
        if len(data) < 3 or data[0] != ADDRESS or data[1] not in (CONTROL_FINAL, CONTROL_NON_FINAL):
            return None
        fcf = decode_fcf(data[2])
        if fcf is None:
            return None
        return cls(fcf, bytes(data[3:]), data[1] == CONTROL_FINAL)


def build(fcf: FCF, info: bytes = b"", *, x_bit: bool = False, final: bool = True) -> bytes:
    """The line octets of one control frame (without FCS)."""
    code = int(fcf)
    if x_bit and code not in _WHOLE:
        code |= 1
    return bytes((ADDRESS, CONTROL_FINAL if final else CONTROL_NON_FINAL, code)) + bytes(info)


def encode_ident(ident: str) -> bytes:
    """The 20-digit identity field of CSI/TSI/CIG (T.30 §5.3.6.2.4): the string padded
    with spaces to 20 characters, sent last character first."""
    text = ident[:20].ljust(20).encode("ascii", "replace")
    return text[::-1]


def decode_ident(info: bytes) -> str:
    """The identity string carried by a CSI/TSI/CIG information field."""
    return bytes(info[:20])[::-1].decode("ascii", "replace").strip()
