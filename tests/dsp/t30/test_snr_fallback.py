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


def snr_call(seed: int, snr_db: float = 20, ecm: bool = False):
    """One one-page call ours -> ours over the seeded line; (tx, rx, page)."""
    page = text_page(70, 600)
    tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=ecm)))
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



def test_ecm_call_steps_down_at_ctc():
    """ECM on the same line, seed 104: 14400 trains, but four PPRs in a row follow; the
    CTC now carries the next rate down (it kept 14400 and the call ended ECM_FAILED)."""
    tx, rx, page = snr_call(104, ecm=True)
    assert tx.result.completion is Completion.OK and rx.result.completion is Completion.OK
    assert rx.result.stats.frames_sent.count("CTR") == 1 and rx.result.stats.bit_rate == 12000
    pages = [e for e in rx.events if isinstance(e, PageReceived)]
    assert len(pages) == 1 and pages[0].page.same_pixels(page)


@pytest.mark.spandsp
def test_spandsp_receiver_follows_the_rate_of_our_ctc(tmp_path):
    """Perfect modems, frame 3 of the block lost five times: our two CTCs step 14400 ->
    12000 -> 9600 and spandsp listens at each (its T.30 takes the rate from CTC)."""
    from tests.dsp.t30.link import Link, OurSide, SpandspSide
    from tests.dsp.t30.pages import read_tiff
    from tests.dsp.t30.test_pair import _lost_fcd
    from tests.support import spandsp_t30 as st
    from dsp.t30.session import T30Session

    page = text_page(27, 400)
    sp = st.SpandspT30(False, rx_file=str(tmp_path / "rx.tif"), ecm=True)
    ours = OurSide(T30Session(SessionConfig(calling=True, pages=(page,))), "tx")
    Link(ours, SpandspSide(sp, "rx"), frame_fault=_lost_fcd(3, 5)).run(max_seconds=300)
    assert ours.result().completion is Completion.OK and sp.completion == st.T30_ERR_OK
    assert ours.result().stats.frames_sent.count("CTC") == 2 and ours.result().stats.bit_rate == 9600
    assert read_tiff(str(tmp_path / "rx.tif"))[0].same_pixels(page)

SWEEP_SEEDS = range(100, 160, 2)


@pytest.mark.slow
@pytest.mark.spandsp
def test_snr_20_seeds_against_spandsp(tmp_path):
    """Non-ECM over the 20 dB line, seeds 100-158 (even; each call uses seed and seed+1).
    Recorded: ours<->ours 30/30 (26 at 12000 after an FTT or an RTN, 4 at 14400); 11/30
    before RTN stepped down and the receiver waited out an untrained image.
    spandsp<->spandsp (0.0.6) completes none here, nor at 25 or 30 dB: its V.21 receiver
    misses frames once line noise precedes them (fine at 35 dB), so it is recorded, not
    used as the bar — checked on the first three seeds only."""
    from tests.dsp.t30.pages import write_tiff
    from tests.support.spandsp_fax import SpandspFax

    ours = 0
    for seed in SWEEP_SEEDS:
        tx, rx, _ = snr_call(seed)
        ours += tx.result.completion is Completion.OK and rx.result.completion is Completion.OK
    tx_file = str(tmp_path / "tx.tif")
    write_tiff(tx_file, [text_page(70, 600)])
    ref = 0
    for seed in SWEEP_SEEDS[:3]:
        a = SpandspFax(True, tx_file=tx_file, ecm=False)
        b = SpandspFax(False, rx_file=str(tmp_path / "rx.tif"), ecm=False)
        run_call(a, b, line_ab=LineModel(seed, **SNR_20), line_ba=LineModel(seed + 1, **SNR_20),
                 max_seconds=400)
        ref += a.completion == 0 and b.completion == 0
    print(f"snr-20 non-ECM: ours<->ours {ours}/{len(SWEEP_SEEDS)}, spandsp<->spandsp {ref}/3")
    assert ours >= len(SWEEP_SEEDS) - 1
    assert ours / len(SWEEP_SEEDS) >= ref / 3
