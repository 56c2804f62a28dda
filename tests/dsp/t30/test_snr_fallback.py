"""Our two terminals without ECM over a 20 dB SNR line (the sweep's "snr-20").

There V.17 14400 is at its edge: the long training of the TCF may pass (training SNR
just over the 22 dB V.17 asks for 14400) while the short training of the page that
follows fails, so no image arrives.  The call must still complete: the receiver answers
the post-page command RTN (also when the unheard image outlasts T2) and the sender
retrains one step down (RTN: T.30 §5.3.6.2, retrain before the page goes again), where
the page gets through.  Seeds 100 and 104 failed before (the sender retrained at 14400
again; the receiver hung up at T2).
"""

from __future__ import annotations

import pytest

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities
from dsp.t30.events import PageReceived
from dsp.t30.session import SessionConfig
from tests.dsp.t30.audio import run_call
from tests.dsp.t30.pages import text_page
from tests.support.line import LineModel

SNR_20 = dict(snr_db=20, codec="alaw")


def snr_call(seed: int, snr_db: float = 20):
    """One one-page non-ECM call ours -> ours over the seeded line; (tx, rx, pages)."""
    page = text_page(70, 600)
    tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=False)))
    rx = FaxTerminal(SessionConfig(calling=False))
    kw = dict(SNR_20, snr_db=snr_db)
    run_call(tx, rx, line_ab=LineModel(seed, **kw), line_ba=LineModel(seed + 1, **kw), max_seconds=400)
    return tx, rx, page


@pytest.mark.parametrize("seed", [100, 104])
def test_non_ecm_call_falls_back_after_rtn(seed):
    tx, rx, page = snr_call(seed)
    assert tx.result.completion is Completion.OK and rx.result.completion is Completion.OK
    sent = rx.result.stats.frames_sent
    assert sent.count("RTN") == 1, sent  # the page at 14400 never trained
    assert rx.result.stats.bit_rate == 12000 and tx.result.stats.bit_rate == 12000
    pages = [e for e in rx.events if isinstance(e, PageReceived)]
    assert len(pages) == 1 and pages[0].stats.bit_rate == 12000
    assert pages[0].stats.bad_rows <= 0.02 * pages[0].stats.rows  # MCF's copy-quality bound
    assert pages[0].page.height == page.height
