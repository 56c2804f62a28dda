"""Whole calls over 1 % VoIP packet loss that failed before V.21 frames were mended
from their erasures (`dsp.v21_repair`); seeds of `test_impaired_sweep.test_loss_1pc_seeds`.

- ours<->ours seed 102 (ECM and not): the DCS lost a packet, our answerer repeated DIS
  over the caller's TCF, and the two sides fell into step, each talking while the
  other did (three DCS, NO_RESPONSE).
- ours<->ours ECM seed 113: four PPRs in a row lost a packet each; the sender ran out
  of tries (NO_RESPONSE).
- spandsp->ours non-ECM seed 149: the EOP lost a packet, so spandsp's tries were one
  short when two of our MCFs were lost (spandsp: "no response after sending a page").
- spandsp->ours ECM seed 153: the DCS lost a packet; as in 102, spandsp gave up after
  its DCS tries ("disconnected after permitted retries")."""

from __future__ import annotations

import pytest

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities
from dsp.t30.session import SessionConfig
from tests.dsp.t30.audio import run_call
from tests.dsp.t30.pages import text_page, write_tiff
from tests.support.line import LineModel

LOSS = dict(loss_rate=0.01, codec="alaw")


def _lines(seed):
    return dict(line_ab=LineModel(seed, **LOSS), line_ba=LineModel(seed + 1, **LOSS))


@pytest.mark.parametrize("seed,ecm", [(102, False), (102, True), (113, True)])
def test_ours_to_ours(seed, ecm):
    page = text_page(70, 600)
    tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=ecm)))
    rx = FaxTerminal(SessionConfig(calling=False))
    run_call(tx, rx, max_seconds=400, **_lines(seed))
    assert tx.result.completion is Completion.OK, tx.result.stats.frames_sent
    assert rx.result.completion is Completion.OK
    assert rx.result.stats.pages_received == 1
    assert tx.frames_repaired + rx.frames_repaired > 0


@pytest.mark.spandsp
@pytest.mark.parametrize("seed,ecm", [(149, False), (153, True)])
def test_spandsp_to_ours(tmp_path, seed, ecm):
    from tests.support.spandsp_fax import SpandspFax

    page = text_page(70, 600)
    tx_file = str(tmp_path / "tx.tif")
    write_tiff(tx_file, [page])
    tx = SpandspFax(True, tx_file=tx_file, ecm=ecm)
    rx = FaxTerminal(SessionConfig(calling=False))
    run_call(tx, rx, max_seconds=400, **_lines(seed))
    assert tx.completion == 0
    assert rx.result.completion is Completion.OK
    assert rx.frames_repaired > 0
