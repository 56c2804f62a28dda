"""The states of a T.30 call, named after the boxes of the T.30 flow charts
(Figure 5-2), and the phase each belongs to."""

from __future__ import annotations

import enum

from dsp.t30.events import Phase

#: A frame that arrived with a bad FCS (T.30 §5.3.6.2.x: not a valid command or response).
BAD_FRAME = "bad-frame"


class State(enum.Enum):
    """Where the call is, named after the T.30 flow charts (Figure 5-2)."""

    # Phase A and the start of phase B, both roles.
    CALLING = "A: calling terminal, CNG, waiting for DIS"
    ANSWERING = "A: answering terminal, sending CED"
    AWAIT_COMMAND = "B: DIS sent, waiting for a command (DCS or DTC)"
    AWAIT_DIS = "B: transmitter back in phase B, waiting for DIS"
    # Transmitting terminal.
    TX_AWAIT_CFR = "B: DCS and TCF sent, waiting for CFR or FTT"
    TX_IMAGE = "C: sending the page"
    TX_AWAIT_PMR = "D: post-message command sent, waiting for MCF, RTP or RTN"
    TX_AWAIT_PPS_RESPONSE = "D: PPS sent, waiting for MCF, PPR or RNR"
    TX_AWAIT_CTR = "D: CTC sent, waiting for CTR"
    TX_AWAIT_ERR = "D: EOR sent, waiting for ERR"
    TX_RNR_PAUSE = "D: receiver not ready, pausing before RR"
    # Receiving terminal.
    RX_TCF = "B: receiving the training check"
    RX_AWAIT_PAGE = "C: CFR sent, waiting for the image carrier"
    RX_PAGE = "C: receiving the page"
    RX_AWAIT_PMC = "D: image ended, waiting for the post-message command"
    RX_AWAIT_DCS = "B: waiting for DCS after RTP, RTN or EOM"
    RX_AWAIT_DCN = "E: EOP answered, waiting for DCN"
    # The end.
    DISCONNECTING = "E: sending DCN"
    FINISHED = "call finished"


PHASE_OF = {
    State.CALLING: Phase.A, State.ANSWERING: Phase.A, State.AWAIT_COMMAND: Phase.B,
    State.AWAIT_DIS: Phase.B, State.TX_AWAIT_CFR: Phase.B, State.TX_IMAGE: Phase.C,
    State.TX_AWAIT_PMR: Phase.D, State.TX_AWAIT_PPS_RESPONSE: Phase.D,
    State.TX_AWAIT_CTR: Phase.D, State.TX_AWAIT_ERR: Phase.D, State.TX_RNR_PAUSE: Phase.D,
    State.RX_TCF: Phase.B, State.RX_AWAIT_PAGE: Phase.C, State.RX_PAGE: Phase.C,
    State.RX_AWAIT_PMC: Phase.D, State.RX_AWAIT_DCS: Phase.B, State.RX_AWAIT_DCN: Phase.E,
    State.DISCONNECTING: Phase.E, State.FINISHED: Phase.E,
}
