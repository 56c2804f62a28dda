"""Slow sweep: ours -> spandsp over 1 % packet loss both ways, seeds 100-159 (the lines of
`test_impaired_sweep.test_loss_1pc_seeds`), the direction a gateway's outgoing faxes take
to Asterisk, FreeSWITCH or iaxmodem/HylaFAX.

Recorded (ECM / non-ECM): both sides OK 52/60 / 52/60; our side OK (the last page was
confirmed) 59/60 / 59/60 — the difference is spandsp missing our DCN and hanging, or
ending with "disconnected after retries", after it confirmed the page.  Before the TCF
answer wait and the DIS-in-phase-D handling (`dsp/t30/sender.py`): 22/60 / 21/60, as
spandsp<->spandsp on the same lines (21/60 / 27/60)."""

from __future__ import annotations

import pytest

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities
from dsp.t30.session import SessionConfig
from tests.dsp.t30.audio import run_call
from tests.dsp.t30.pages import text_page
from tests.support.line import LineModel

pytestmark = [pytest.mark.slow, pytest.mark.spandsp]
LOSS = dict(loss_rate=0.01, codec="alaw")


@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
def test_loss_1pc_to_spandsp(tmp_path, ecm):
    from tests.support.spandsp_fax import SpandspFax

    page = text_page(70, 600)
    ours_ok = both_ok = 0
    for seed in range(100, 160):
        tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=ecm)))
        rx = SpandspFax(False, rx_file=str(tmp_path / f"rx{seed}.tif"), ecm=ecm)
        run_call(tx, rx, line_ab=LineModel(seed, **LOSS), line_ba=LineModel(seed + 1, **LOSS), max_seconds=400)
        ours_ok += tx.result.completion is Completion.OK
        both_ok += tx.result.completion is Completion.OK and rx.completion == 0
    print(f"loss-1pc ours->spandsp ecm={ecm}: both OK {both_ok}/60, our side OK {ours_ok}/60")
    assert ours_ok >= 57
    assert both_ok >= 48
