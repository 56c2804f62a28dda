"""ECM ours<->ours over 1 % VoIP packet loss: responses the line loses.

Seeds 100 and 103 of the loss sweep (`test_impaired_sweep.py`) failed with NO_RESPONSE:
the PPR (a 1 s V.21 frame: ~50 packets, ~40 % of them hit at 1 % loss) and then the
repeated PPS were lost, so the sender's three tries (T.30 §5.3.2) ran out while the
receiver was answering every PPS it heard.  A lost 20 ms packet drops 6 V.21 bits: the
frame is not whole octets, or the gap joins a flag's 1s into an abort that swallows it;
either way the deframer drops it.  The terminal now tells T.30 (`reply_damaged`) when
HDLC framing came but its frame was lost, and a sender waiting for a response does not
count the repeat that follows (at most three such repeats per command).  Since V.21
frames are mended from their erasures (`dsp.v21_repair`, test_loss_repair.py), these two
calls no longer need those repeats; `test_loss_waits.py` drives the free repeats directly."""

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
def test_lost_responses_do_not_use_up_the_tries(seed):
    page = text_page(70, 600)
    tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=True)))
    rx = FaxTerminal(SessionConfig(calling=False))
    kw = dict(loss_rate=0.01, codec="alaw")
    run_call(tx, rx, line_ab=LineModel(seed, **kw), line_ba=LineModel(seed + 1, **kw), max_seconds=400)
    assert tx.result.completion is Completion.OK, tx.result.stats.frames_sent
    assert rx.result.completion is Completion.OK
    assert rx.result.stats.pages_received == 1
    assert tx.frames_repaired + rx.frames_repaired > 0  # a lost packet's bits were mended


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
