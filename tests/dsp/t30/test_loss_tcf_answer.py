"""Ours -> spandsp over 1 % VoIP packet loss, seeds 104 and 114 of the loss sweep's lines.

A lost packet broke the V.17 training of our TCF at spandsp's receiver; spandsp does not
answer such a TCF until its T2 runs out (7 s after DCS, then FTT), and our DCS, repeated
at T4 (3 s after the TCF), reached it first: "unexpected DCS", DCN, the call failed
(spandsp<->spandsp fails the same way).  We now wait `tcf_answer_wait_ms` for the answer,
get the FTT, retrain and send the page."""

from __future__ import annotations

import pytest

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities
from dsp.t30.session import SessionConfig
from tests.dsp.t30.audio import run_call
from tests.dsp.t30.pages import text_page
from tests.support.line import LineModel

pytestmark = pytest.mark.spandsp
LOSS = dict(loss_rate=0.01, codec="alaw")


@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_spandsp_receiver_gets_time_to_answer_ftt(tmp_path, ecm):
    from tests.support.spandsp_fax import SpandspFax

    page = text_page(70, 600)
    tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=ecm)))
    rx = SpandspFax(False, rx_file=str(tmp_path / "rx.tif"), ecm=ecm)
    run_call(tx, rx, line_ab=LineModel(104, **LOSS), line_ba=LineModel(105, **LOSS), max_seconds=400)
    assert tx.result.completion is Completion.OK, tx.result.stats.frames_sent
    assert rx.completion == 0
    assert "FTT" in tx.result.stats.frames_received


def test_dis_after_pps_sends_the_page_again(tmp_path):
    """Seed 114: a lost packet broke the short training of our ECM block at spandsp,
    which waited out T2 and went back to phase B with DIS while we waited for the PPS
    answer.  Repeating PPS (as before) got "unexpected PPS" and DCN; we now negotiate
    again and send the page from its start."""
    from tests.support.spandsp_fax import SpandspFax

    page = text_page(70, 600)
    tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=True)))
    rx = SpandspFax(False, rx_file=str(tmp_path / "rx.tif"), ecm=True)
    run_call(tx, rx, line_ab=LineModel(114, **LOSS), line_ba=LineModel(115, **LOSS), max_seconds=400)
    assert tx.result.completion is Completion.OK, tx.result.stats.frames_sent
    assert rx.completion == 0
    assert tx.result.stats.frames_sent.count("DCS") >= 2
    assert "DIS" in tx.result.stats.frames_received[2:]
