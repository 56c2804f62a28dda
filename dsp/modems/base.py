"""What every modem shares: sample and bit types, status reports, the block API.

Receivers take int16 samples at 8000 Hz in blocks of any size and return, in stream
order, arrays of received bits and `ModemStatus` reports.  Transmitters take bits and
produce samples; fewer samples than asked means the transmission has finished.
Output never depends on how the caller slices the input (DESIGN.md §3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, Union

import numpy as np

#: int16 samples at 8000 Hz.
Samples = np.ndarray
#: uint8 array of 0/1 bits, first bit first.
Bits = np.ndarray


class Status(enum.Enum):
    """Front-end events a receiver reports (the meaning of spandsp's SIG_STATUS_*)."""

    CARRIER_UP = "carrier-up"
    CARRIER_DOWN = "carrier-down"
    TRAINING_IN_PROGRESS = "training-in-progress"
    TRAINING_SUCCEEDED = "training-succeeded"
    TRAINING_FAILED = "training-failed"
    FRAMING_OK = "framing-ok"
    END_OF_DATA = "end-of-data"


@dataclass(frozen=True)
class ModemStatus:
    """A status report; `quality` is the receiver's signal-quality figure in dB
    (SNR estimate from the equalizer error), where it has one."""

    status: Status
    quality: float | None = None


RxItem = Union[Bits, ModemStatus]


class Receiver(Protocol):
    def receive(self, samples: Samples) -> list[RxItem]: ...

    def fillin(self, n: int) -> None:
        """n samples were lost (a missing 20 ms packet): sustain the status quo."""

    def restart(self, *, short_train: bool = False) -> None: ...


class Transmitter(Protocol):
    def feed(self, bits: Bits) -> None: ...

    def transmit(self, n: int) -> Samples:
        """Up to n samples; fewer than n means the transmission has finished."""
