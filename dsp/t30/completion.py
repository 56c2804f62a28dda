"""How a call ended (`Completion`) and what it carried (`CallStats`).

Every call ends with exactly one `Completion`; expected failures are values, never
exceptions (DESIGN.md §7).  The names follow the T.30 procedure that failed; the
comments give spandsp's nearest T30_ERR_* code, for comparing logs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Completion(enum.Enum):
    OK = "ok"
    T0_EXPIRED = "no answer from the far end (T0)"                    # T30_ERR_T0_EXPIRED
    T1_EXPIRED = "no identification exchanged within T1"              # T30_ERR_T1_EXPIRED
    T2_EXPIRED = "no command from the transmitter within T2"          # T30_ERR_RX_T2EXP*
    T5_EXPIRED = "receiver stayed not ready for T5"                   # T30_ERR_TX_T5EXP
    CANNOT_TRAIN = "training failed at every common rate"             # T30_ERR_CANNOT_TRAIN
    NO_RESPONSE = "no response to a command after three tries"        # T30_ERR_TX_PHBDEAD/PHDDEAD
    REMOTE_DISCONNECTED = "the far end sent DCN before the end"       # T30_ERR_RX_DCN*, TX_GOTDCN
    INCOMPATIBLE = "no modem or mode in common"                       # T30_ERR_INCOMPATIBLE
    RESOLUTION_UNSUPPORTED = "far end cannot receive this resolution"  # T30_ERR_NORESSUPPORT
    SIZE_UNSUPPORTED = "far end cannot receive this page width"        # T30_ERR_NOSIZESUPPORT
    REMOTE_CANNOT_RECEIVE = "far end is not ready to receive"         # T30_ERR_RX_INCAPABLE
    REMOTE_CANNOT_SEND = "far end has nothing to send"                # T30_ERR_TX_INCAPABLE
    PAGE_REJECTED = "a page was refused (RTN) on every retry"         # T30_ERR_TX_INVALRSP
    ECM_FAILED = "ECM block could not be completed"                   # T30_ERR_TX_ECMPHD
    UNEXPECTED = "the far end broke the procedure"                    # T30_ERR_UNEXPECTED
    FRONT_END_STUCK = "a transmission was never reported finished"   # T30_ERR_HDLC_CARRIER
    NO_CARRIER = "no image carrier where a page was expected"         # T30_ERR_RX_NOCARRIER


@dataclass
class CallStats:
    """What a call carried; filled in as it goes and reported with `CallFinished`."""

    pages_sent: int = 0
    pages_received: int = 0
    bit_rate: int = 0
    modem: str = ""
    ecm: bool = False
    coding: str = ""
    remote_ident: str = ""
    remote_nsf: bytes = b""
    bad_rows: int = 0
    retransmitted_frames: int = 0
    ppr_count: int = 0
    retrains: int = 0
    command_repeats: int = 0
    duration_samples: int = 0
    frames_sent: list[str] = field(default_factory=list)
    frames_received: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return self.pages_sent + self.pages_received
