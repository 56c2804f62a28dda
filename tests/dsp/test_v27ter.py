"""V.27ter only: training at SNR 25 dB where spandsp 0.0.6 refuses.  What V.27ter shares
with V.29 is tested for both in test_psk_modems.py."""

from __future__ import annotations

import pytest

from dsp.modems import v27ter
from tests.support import line
from tests.support import psk_trials as P

MODEM = "v27ter"


@pytest.mark.spandsp
@pytest.mark.parametrize("rate", v27ter.RATES)
def test_trains_at_snr_25_db_where_spandsp_refuses(rate):
    """spandsp 0.0.6 rejects V.27ter training at SNR <= 30 dB though the signal is fine."""
    from tests.support.spandsp_psk import SpanRx

    ours = theirs = 0
    for seed in range(3):
        bits = P.random_bits(seed, 2 * rate)
        y = line.LineModel(seed, snr_db=25.0).process(P.spandsp_signal(MODEM, rate, bits))
        trial = P.receive(MODEM, rate, y, bits)
        ours += trial.exact
        rx = SpanRx(MODEM, rate)
        rx.receive(y)
        theirs += rx.trained()
    assert ours == 3
    assert theirs == 0
