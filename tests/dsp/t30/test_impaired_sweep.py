"""Slow sweep: over each impaired line, spandsp against spandsp is the yardstick.  Where it
completes, we must complete against spandsp in both directions; every call of ours
ends within the T.30 bounds, whatever the line does (run with scripts/test-slow), and
ours<->ours completes on every line.  spandsp 0.0.6 against itself fails snr-20, snr-25
and noise-44dbm0 (its V.21 receiver misses frames once line noise precedes them), so
there only our own pair is held to completion (tests/dsp/t30/test_snr_fallback.py)."""

from __future__ import annotations

import pytest

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities
from dsp.t30.session import SessionConfig
from tests.dsp.t30.audio import run_call
from tests.dsp.t30.pages import read_tiff, text_page, write_tiff
from tests.support.line import LineModel

pytestmark = [pytest.mark.slow, pytest.mark.spandsp]

LINES = {
    "snr-20": dict(snr_db=20, codec="alaw"),
    "snr-25": dict(snr_db=25, codec="alaw"),
    "level-minus-25": dict(level_db=-25, codec="ulaw", snr_db=35),
    "offset-7hz": dict(freq_offset_hz=7.0, codec="alaw"),
    "delay-200ms": dict(delay_samples=1600, codec="alaw"),
    "loss-1pc": dict(loss_rate=0.01, codec="alaw"),
    "loss-3pc": dict(loss_rate=0.03, codec="alaw"),
    "noise-44dbm0": dict(noise_dbm0=-44, codec="alaw"),
    "everything": dict(snr_db=28, level_db=-10, freq_offset_hz=7.0, delay_samples=1600, loss_rate=0.005,
                       codec="ulaw"),
}
BOUND_SECONDS = 400  # far beyond any T.30 timer chain for a one-page call


def _lines(kw, seed):
    return dict(line_ab=LineModel(seed, **kw), line_ba=LineModel(seed + 1, **kw))


@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
@pytest.mark.parametrize("name", sorted(LINES))
def test_impaired_line(tmp_path, name, ecm):
    from tests.support.spandsp_fax import SpandspFax

    kw = LINES[name]
    page = text_page(70, 600)
    tx_file = str(tmp_path / "tx.tif")
    write_tiff(tx_file, [page])

    ref_tx = SpandspFax(True, tx_file=tx_file, ecm=ecm)
    ref_rx = SpandspFax(False, rx_file=str(tmp_path / "ref.tif"), ecm=ecm)
    run_call(ref_tx, ref_rx, max_seconds=BOUND_SECONDS, **_lines(kw, 100))
    reference_ok = ref_tx.completion == 0 and ref_rx.completion == 0

    sp_rx = SpandspFax(False, rx_file=str(tmp_path / "rx.tif"), ecm=ecm)
    ours_tx = FaxTerminal(SessionConfig(calling=True, pages=(page,)))
    run_call(ours_tx, sp_rx, max_seconds=BOUND_SECONDS, **_lines(kw, 100))
    assert ours_tx.finished, "our sender did not finish"

    sp_tx = SpandspFax(True, tx_file=tx_file, ecm=ecm)
    ours_rx = FaxTerminal(SessionConfig(calling=False))
    run_call(sp_tx, ours_rx, max_seconds=BOUND_SECONDS, **_lines(kw, 100))
    assert ours_rx.finished, "our receiver did not finish"

    a = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=ecm)))
    b = FaxTerminal(SessionConfig(calling=False))
    run_call(a, b, max_seconds=BOUND_SECONDS, **_lines(kw, 100))
    assert a.finished and b.finished
    # Recorded: ours<->ours completes on every line here, ECM or not (snr-20 without ECM
    # since RTN steps the rate down: it was REMOTE_DISCONNECTED/T2_EXPIRED).
    assert a.result.completion is Completion.OK and b.result.completion is Completion.OK

    print(f"{name} ecm={ecm}: ours<->ours {a.result.completion.name}/{b.result.completion.name}; spandsp<->spandsp {'OK' if reference_ok else (ref_tx.completion, ref_rx.completion)}; "
          f"ours->spandsp {ours_tx.result.completion.name}/{sp_rx.completion}; "
          f"spandsp->ours {sp_tx.completion}/{ours_rx.result.completion.name}")
    if reference_ok:
        assert ours_tx.result.completion is Completion.OK
        assert ours_rx.result.completion is Completion.OK
    if ours_tx.result.completion is Completion.OK and ecm:
        assert read_tiff(str(tmp_path / "rx.tif"))[0].same_pixels(page)


LOSS_SEEDS = range(100, 160)


def _loss_call(tmp_path, direction: str, ecm: bool, seed: int) -> tuple[bool, int]:
    """One one-page call over 1 % packet loss both ways: (completed OK, FTTs we sent)."""
    from tests.support.spandsp_fax import SpandspFax

    page = text_page(70, 600)
    lines = _lines(LINES["loss-1pc"], seed)
    rx = FaxTerminal(SessionConfig(calling=False))
    if direction == "spandsp->ours":
        tx_file = str(tmp_path / f"tx{seed}.tif")
        write_tiff(tx_file, [page])
        tx = SpandspFax(True, tx_file=tx_file, ecm=ecm)
        run_call(tx, rx, max_seconds=BOUND_SECONDS, **lines)
        ok = tx.completion == 0 and rx.result is not None and rx.result.completion is Completion.OK
    else:
        tx = FaxTerminal(SessionConfig(calling=True, pages=(page,), capabilities=Capabilities(ecm=ecm)))
        run_call(tx, rx, max_seconds=BOUND_SECONDS, **lines)
        ok = tx.result.completion is Completion.OK and rx.result.completion is Completion.OK
    assert rx.finished, "our receiver did not finish"
    return ok, rx.result.stats.frames_sent.count("FTT")


@pytest.mark.parametrize("ecm", [True, False], ids=["ecm", "no-ecm"])
@pytest.mark.parametrize("direction", ["spandsp->ours", "ours->ours"])
def test_loss_1pc_seeds(tmp_path, direction, ecm):
    """Whole-call success over 1 % loss, seeds 100-159: a lost packet in a TCF must not
    cost an FTT (the TCF check excuses two, T.30 §5.3.6.2.2 Note).  An FTT stays right
    when three packets go in one TCF or the training itself is hit (~4 % of TCFs).
    Recorded: ours->ours 60/60 with and without ECM, spandsp->ours 60/60 without ECM and
    54/60 with it (V.21 frames that lost a packet are mended, dsp/v21_repair.py); the six
    ECM failures are spandsp giving up after three of our PPRs (1 s frames, ~40 % of them
    hit) were lost in a row — its receiver cannot mend them.  spandsp<->spandsp on the
    same lines: 21/60 ECM, 27/60 non-ECM."""
    results = [_loss_call(tmp_path, direction, ecm, seed) for seed in LOSS_SEEDS]
    ok = sum(r[0] for r in results)
    ftt = sum(r[1] for r in results)
    print(f"loss-1pc {direction} ecm={ecm}: {ok}/{len(results)} OK, FTT sent {ftt} times "
          f"(calls with FTT: {sum(r[1] > 0 for r in results)})")
    assert sum(r[1] > 0 for r in results) <= len(results) // 10
    if direction == "spandsp->ours":
        assert ok >= len(results) * 9 // 10
    else:
        assert ok >= len(results) - 2
