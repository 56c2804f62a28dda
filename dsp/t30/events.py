"""What flows out of a `T30Session` (front-end requests and events) and the status
reports that flow into it.  All small frozen values, pulled in order with
`T30Session.next_output()`.

Requests tell the front end (the `FaxTerminal`, or a test's perfect-modem link) what
to do with the line next; the front end reports `FrontEnd.SEND_COMPLETE` when a
transmission has left the line, and the receiver's carrier and training events.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

import numpy as np

from dsp.t30.completion import CallStats, Completion
from dsp.t30.dis import Dcs, Modem


class FrontEnd(enum.Enum):
    """Status reports into the session (spandsp's T30_FRONT_END_* and SIG_STATUS_*)."""

    SEND_COMPLETE = "send-complete"
    CARRIER_UP = "carrier-up"
    CARRIER_DOWN = "carrier-down"
    TRAINING_SUCCEEDED = "training-succeeded"
    TRAINING_FAILED = "training-failed"


class Tone(enum.Enum):
    CNG = "cng"  # 1100 Hz, 0.5 s on / 3 s off, from the calling terminal (T.30 §4.1)
    CED = "ced"  # 2100 Hz for 2.6–4 s, from the answering terminal (T.30 §4.2)


class Phase(enum.Enum):
    A = "A"  # call set-up
    B = "B"  # pre-message procedure
    C = "C"  # message transmission
    D = "D"  # post-message procedure
    E = "E"  # call release


# --- requests to the front end -------------------------------------------------


@dataclass(frozen=True)
class SendTone:
    tone: Tone
    ms: int


@dataclass(frozen=True)
class Silence:
    ms: int


@dataclass(frozen=True)
class SendFrames:
    """HDLC frames (without FCS) in one carrier burst; `modem` V21 for control, the
    fast modem for ECM blocks.  The front end reports SEND_COMPLETE at its end."""

    frames: tuple[bytes, ...]
    modem: Modem = Modem.V21
    bit_rate: int = 300
    short_train: bool = False


@dataclass(frozen=True)
class SendTCF:
    """The training check: `ms` of zeros on the fast modem, long training (T.30 §5.3.5)."""

    modem: Modem
    bit_rate: int
    ms: int = 1500


@dataclass(frozen=True, eq=False)
class SendImage:
    """One non-ECM page: the T.4 bit stream, first bit first (uint8 0/1)."""

    modem: Modem
    bit_rate: int
    short_train: bool
    bits: np.ndarray


@dataclass(frozen=True)
class StartReceiving:
    """Listen with `modem` (a fast modem receiver also watches V.21, as after a
    failed TCF the far end may speak control frames instead)."""

    modem: Modem
    bit_rate: int = 300
    short_train: bool = False
    hdlc: bool = True


Request = Union[SendTone, Silence, SendFrames, SendTCF, SendImage, StartReceiving]


# --- events ----------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseChanged:
    phase: Phase


@dataclass(frozen=True)
class Negotiated:
    dcs: Dcs
    remote_ident: str


@dataclass(frozen=True)
class PageStats:
    bad_rows: int
    rows: int
    ecm: bool
    bit_rate: int


@dataclass(frozen=True)
class CodedImage:
    """A received page's coded data exactly as it came off the line, so the store can wrap
    it as TIFF-F without re-encoding (RFC 2306; HylaFAX keeps received data the same way).

    ECM: the page's FCD frame payloads, all blocks joined, in line octet order.  Non-ECM:
    the image bits from the first EOL through RTC (what came before the first EOL and
    after RTC is dropped), packed in line order; bad rows stay in, as received, and are
    counted in ``bad_rows`` / ``consecutive_bad_rows`` (TIFF BadFaxLines and
    ConsecutiveBadFaxLines).  ``lsb_first``: the first bit is each octet's least
    significant one (TIFF FillOrder 2).  ``height`` is the decoded page's row count.
    """

    data: bytes
    coding: str  # "mh" | "mr" | "mmr"
    width: int
    height: int
    x_res: int
    y_res: int
    lsb_first: bool = True
    bad_rows: int = 0
    consecutive_bad_rows: int = 0
    ecm: bool = False


@dataclass(frozen=True, eq=False)
class PageReceived:
    page: object  # dsp.t4.Page
    stats: PageStats
    coded: CodedImage | None = None  # the line's bytes of the page (None: not kept)


@dataclass(frozen=True)
class PageSent:
    number: int  # 1-based


@dataclass(frozen=True)
class CallFinished:
    completion: Completion
    stats: CallStats


Event = Union[PhaseChanged, Negotiated, PageReceived, PageSent, CallFinished]
Output = Union[Request, Event]
