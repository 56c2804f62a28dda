"""ECM ours<->ours over 1 % VoIP packet loss: a repeated PPS hit by a lost packet.

Seeds 100 and 103 of the loss sweep (`test_impaired_sweep.py`) failed with NO_RESPONSE:
our receiver's PPR was lost, the sender repeated PPS (a counted try, T.30 §5.3.2), and a
lost packet then damaged that PPS.  A lost 20 ms packet drops 6 V.21 bits, so the frame
is not whole octets (seed 100) or the gap joins a flag's 1s into an abort that swallows
the frame (seed 103); the deframer dropped both silently, the receiver waiting for the
retransmitted block took the carrier's end as nothing, and the sender spent another try
at T4.  Now a damaged frame (or flags with no good frame before the carrier ends) is a
frame in error and the receiver answers CRP (T.30 §5.3.6.2.10), which the sender obeys
without counting a try."""

from __future__ import annotations

import pytest

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities
from dsp.t30.session import SessionConfig
from tests.dsp.t30.audio import run_call
from tests.dsp.t30.pages import text_page
from tests.support.line import LineModel


@pytest.mark.parametrize("seed", [100, 103])
def test_damaged_pps_gets_crp(seed):
    page = text_page(70, 600)
    tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=True)))
    rx = FaxTerminal(SessionConfig(calling=False))
    kw = dict(loss_rate=0.01, codec="alaw")
    run_call(tx, rx, line_ab=LineModel(seed, **kw), line_ba=LineModel(seed + 1, **kw), max_seconds=400)
    assert tx.result.completion is Completion.OK, tx.result.stats.frames_sent
    assert rx.result.completion is Completion.OK
    assert "CRP" in rx.result.stats.frames_sent  # the damaged PPS was asked for again
    assert rx.result.stats.pages_received == 1


def test_hdlc_counts_a_frame_missing_bits_as_damaged():
    """6 bits cut from a frame (one lost packet at 300 bit/s): dropped, and `damaged`."""
    import numpy as np

    from dsp.hdlc import Frame, HdlcReceiver, encode_frames

    bits = encode_frames((b"\xff\x13\xbf\x2f\x00\x00\x14",), preamble=8)
    whole = HdlcReceiver()
    assert [e for e in whole.feed(bits) if isinstance(e, Frame)][0].crc_ok
    assert whole.damaged == 0
    cut = np.concatenate([bits[:8 * 8 + 44], bits[8 * 8 + 50:]])  # inside the 00 00
    rx = HdlcReceiver()
    assert not [e for e in rx.feed(cut) if isinstance(e, Frame)]
    assert rx.damaged == 1 and rx.dropped == 1
