"""Events the endpoint reports, pulled in order with ``Endpoint.next_event()``.

Small frozen values; ``call`` is the local call number returned by ``place_call`` or
carried by ``IncomingCall``.  Expected failures (rejected, timed out, retry limit) arrive as
``CallEnded`` with a `EndReason`, never as exceptions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

Addr = tuple[str, int]


class EndReason(enum.Enum):
    HANGUP = "remote hang-up"
    LOCAL_HANGUP = "local hang-up"
    REJECTED = "rejected"
    INVALID = "INVAL from peer"
    RETRY_LIMIT = "no acknowledgement within the retry limit"
    UNANSWERED = "not answered in time"
    SILENT = "nothing received in time"
    AUTH_FAILED = "authentication failed"
    NO_CODEC = "no common codec"


@dataclass(frozen=True, slots=True)
class IncomingCall:
    call: int
    addr: Addr
    peer: str | None
    called_number: str
    calling_number: str
    calling_name: str
    format: int


@dataclass(frozen=True, slots=True)
class CallAccepted:
    call: int
    format: int


@dataclass(frozen=True, slots=True)
class CallRinging:
    call: int


@dataclass(frozen=True, slots=True)
class CallProceeding:
    call: int


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call: int


@dataclass(frozen=True, slots=True)
class CallEnded:
    call: int
    reason: EndReason
    cause: str = ""
    cause_code: int = 0


@dataclass(frozen=True, slots=True)
class VoiceReceived:
    call: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    call: int
    digit: str


@dataclass(frozen=True, slots=True)
class Registered:
    """Our registration to a server succeeded; it expires after ``refresh`` seconds."""

    registration: int
    refresh: int


@dataclass(frozen=True, slots=True)
class RegistrationFailed:
    registration: int
    cause: str


@dataclass(frozen=True, slots=True)
class PeerRegistered:
    """A peer registered to us (we are its registrar)."""

    peer: str
    addr: Addr
    refresh: int


@dataclass(frozen=True, slots=True)
class PeerUnregistered:
    peer: str
    expired: bool


Event = (IncomingCall | CallAccepted | CallRinging | CallProceeding | CallAnswered | CallEnded
         | VoiceReceived | DtmfReceived | Registered | RegistrationFailed | PeerRegistered
         | PeerUnregistered)
