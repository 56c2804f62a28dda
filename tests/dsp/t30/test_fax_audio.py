"""Whole calls over audio: our FaxTerminal against itself and against spandsp's fax
terminal, clean and over impaired lines (the seeded line model)."""

from __future__ import annotations

import pytest

from dsp.fax import FaxTerminal
from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities, Modem
from dsp.t30.events import PageReceived
from dsp.t30.session import SessionConfig
from tests.dsp.t30.audio import run_call
from tests.dsp.t30.pages import read_tiff, text_page, write_tiff
from tests.support import spandsp_t30 as st
from tests.support.line import LineModel

MODEMS = {2400: (Modem.V27TER,), 4800: (Modem.V27TER,), 7200: (Modem.V29,), 9600: (Modem.V29,),
          12000: (Modem.V17,), 14400: (Modem.V17, Modem.V29)}
SP_MODEMS = {4800: st.SUPPORT_V27TER, 9600: st.SUPPORT_V29 | st.SUPPORT_V27TER,
             14400: st.SUPPORT_V17 | st.SUPPORT_V29 | st.SUPPORT_V27TER}


def _caps(rate: int, ecm: bool = True) -> Capabilities:
    return Capabilities(modems=frozenset(MODEMS[rate] + (Modem.V27TER,)), max_rate=rate, ecm=ecm)


def _received(term: FaxTerminal):
    return [e.page for e in term.events if isinstance(e, PageReceived)]


@pytest.mark.parametrize("ecm", [False, True], ids=["no-ecm", "ecm"])
@pytest.mark.parametrize("rate", [2400, 4800, 7200, 9600, 12000, 14400])
def test_ours_to_ours(rate, ecm):
    pages = (text_page(40, 240), text_page(41, 200))
    a = FaxTerminal(SessionConfig(calling=True, pages=pages, ident="A", capabilities=_caps(rate, ecm)))
    b = FaxTerminal(SessionConfig(calling=False, ident="B"))
    run_call(a, b, line_ab=LineModel(1, codec="alaw"), line_ba=LineModel(2, codec="alaw"))
    assert a.result.completion is Completion.OK and b.result.completion is Completion.OK
    assert b.result.stats.remote_ident == "A"
    assert b.result.stats.bit_rate == rate and "RTN" not in b.result.stats.frames_sent
    got = _received(b)
    assert len(got) == 2 and all(g.same_pixels(p) for g, p in zip(got, pages))


def test_ours_polling_over_audio():
    pages = (text_page(42, 200),)
    rx = FaxTerminal(SessionConfig(calling=True))
    tx = FaxTerminal(SessionConfig(calling=False, pages=pages))
    run_call(rx, tx)
    assert rx.result.completion is Completion.OK and tx.result.completion is Completion.OK
    assert _received(rx)[0].same_pixels(pages[0])


@pytest.mark.spandsp
@pytest.mark.parametrize("ecm", [False, True], ids=["no-ecm", "ecm"])
@pytest.mark.parametrize("rate", [4800, 9600, 14400])
def test_we_send_to_spandsp_fax(tmp_path, rate, ecm):
    from tests.support.spandsp_fax import SpandspFax

    pages = (text_page(43, 240), text_page(44, 200))
    rx_file = str(tmp_path / "rx.tif")
    sp = SpandspFax(False, rx_file=rx_file, ecm=True, ident="SPANDSP")
    ours = FaxTerminal(SessionConfig(calling=True, pages=pages, ident="MAILFAX", capabilities=_caps(rate, ecm)))
    run_call(ours, sp)
    assert ours.result.completion is Completion.OK and sp.completion == st.T30_ERR_OK
    assert ours.result.stats.bit_rate == rate and ours.result.stats.ecm == ecm
    assert sp.rx_ident() == "MAILFAX"
    got = read_tiff(rx_file)
    assert len(got) == 2 and all(g.same_pixels(p) for g, p in zip(got, pages))


@pytest.mark.spandsp
@pytest.mark.parametrize("ecm", [False, True], ids=["no-ecm", "ecm"])
@pytest.mark.parametrize("rate", [4800, 9600, 14400])
def test_spandsp_fax_sends_to_us(tmp_path, rate, ecm):
    from tests.support.spandsp_fax import SpandspFax

    pages = [text_page(45, 240), text_page(46, 200)]
    tx_file = str(tmp_path / "tx.tif")
    write_tiff(tx_file, pages)
    sp = SpandspFax(True, tx_file=tx_file, ecm=ecm, modems=SP_MODEMS[rate])
    ours = FaxTerminal(SessionConfig(calling=False, ident="MAILFAX"))
    run_call(sp, ours)
    assert ours.result.completion is Completion.OK and sp.completion == st.T30_ERR_OK
    assert ours.result.stats.bit_rate == rate and ours.result.stats.ecm == ecm
    got = _received(ours)
    assert len(got) == 2 and all(g.same_pixels(p) for g, p in zip(got, pages))


IMPAIRED = {
    "g711-noise-level": dict(codec="ulaw", snr_db=30, level_db=-10),
    "offset-7hz": dict(freq_offset_hz=7.0, codec="alaw", snr_db=35),
    "delay-200ms": dict(delay_samples=1600, codec="alaw"),
    "lost-blocks": dict(loss_rate=0.003, codec="alaw"),
}


@pytest.mark.spandsp
@pytest.mark.parametrize("impairment", sorted(IMPAIRED))
@pytest.mark.parametrize("direction", ["we-send", "spandsp-sends"])
def test_impaired_lines_against_spandsp(tmp_path, impairment, direction):
    """ECM over an impaired line: the call completes and every page arrives intact."""
    from tests.support.spandsp_fax import SpandspFax

    pages = [text_page(47, 300)]
    kw = IMPAIRED[impairment]
    lines = dict(line_ab=LineModel(10, **kw), line_ba=LineModel(11, **kw))
    if direction == "we-send":
        rx_file = str(tmp_path / "rx.tif")
        sp = SpandspFax(False, rx_file=rx_file)
        ours = FaxTerminal(SessionConfig(calling=True, pages=tuple(pages)))
        run_call(ours, sp, **lines)
        assert ours.result.completion is Completion.OK, ours.result
        assert read_tiff(rx_file)[0].same_pixels(pages[0])
    else:
        tx_file = str(tmp_path / "tx.tif")
        write_tiff(tx_file, pages)
        sp = SpandspFax(True, tx_file=tx_file)
        ours = FaxTerminal(SessionConfig(calling=False))
        run_call(sp, ours, **lines)
        assert ours.result.completion is Completion.OK, ours.result
        assert _received(ours)[0].same_pixels(pages[0])


def test_continuous_noise_never_hangs():
    """Noise at -40 dBm0 on both directions and nobody there: T1 ends it (spandsp's V.21
    would hold its carrier up here)."""
    a = FaxTerminal(SessionConfig(calling=True, pages=(text_page(48, 50),)))

    class Nobody:
        finished = True

        def transmit(self, n):
            import numpy as np
            return np.zeros(n, np.int16)

        def receive(self, x):
            pass

        def fillin(self, n):
            pass

    seconds = run_call(a, Nobody(), line_ba=LineModel(12, noise_dbm0=-40), max_seconds=60, tail_seconds=0)
    assert a.result.completion is Completion.T1_EXPIRED
    assert seconds <= 40


@pytest.mark.parametrize("coding", ["mh", "mr", "mmr"])
def test_codings_over_audio(coding):
    from dsp.t30.dis import Coding

    pages = (text_page(49, 260),)
    caps = Capabilities(ecm=coding == "mmr", codings=frozenset({Coding.MH, Coding(coding)}), max_rate=9600,
                        modems=frozenset({Modem.V29, Modem.V27TER}))
    a = FaxTerminal(SessionConfig(calling=True, pages=pages, capabilities=caps))
    b = FaxTerminal(SessionConfig(calling=False))
    run_call(a, b, line_ab=LineModel(20, codec="ulaw", snr_db=36), line_ba=LineModel(21, codec="ulaw", snr_db=36))
    assert b.result.completion is Completion.OK and b.result.stats.coding == coding
    assert _received(b)[0].same_pixels(pages[0])


# --- non-ECM over µ-law: V.21 must not take the turn from the fast modem's training ----
# With these idents and no line delay, the receiver's V.21 detector (its carrier up on
# the V.17 signal) framed a flag-bounded bad "frame" 0.4 s into the training and took
# the turn: no CFR/FTT, DCS three times, NO_RESPONSE.  Found through mailfax's call
# bridge (tests/mailfax/test_faxcall.py), reproduced here without IAX2.

MAILFAX_IDENTS = ("+1 555 0100", "+1 555 0199")


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_ours_to_ours_non_ecm_g711_turn(codec):
    pages = (text_page(50, 200),)
    a = FaxTerminal(SessionConfig(calling=True, pages=pages, ident=MAILFAX_IDENTS[0],
                                  capabilities=Capabilities(ecm=False, max_rate=14400)))
    b = FaxTerminal(SessionConfig(calling=False, ident=MAILFAX_IDENTS[1]))
    run_call(a, b, line_ab=LineModel(1, codec=codec), line_ba=LineModel(2, codec=codec), max_seconds=60)
    assert a.result.completion is Completion.OK, a.result
    assert b.result.completion is Completion.OK, b.result
    assert b.result.stats.frames_received[:3] == ["TSI", "DCS", "EOP"]  # one DCS, trained at once
    assert b.result.stats.bit_rate == 14400 and not b.result.stats.ecm
    assert _received(b)[0].same_pixels(pages[0])


@pytest.mark.spandsp
@pytest.mark.parametrize("direction", ["we-send", "spandsp-sends"])
def test_non_ecm_ulaw_against_spandsp(tmp_path, direction):
    from tests.support.spandsp_fax import SpandspFax

    pages = [text_page(51, 200)]
    lines = dict(line_ab=LineModel(3, codec="ulaw"), line_ba=LineModel(4, codec="ulaw"))
    if direction == "we-send":
        rx_file = str(tmp_path / "rx.tif")
        sp = SpandspFax(False, rx_file=rx_file, ecm=False, ident=MAILFAX_IDENTS[1])
        ours = FaxTerminal(SessionConfig(calling=True, pages=tuple(pages), ident=MAILFAX_IDENTS[0],
                                         capabilities=Capabilities(ecm=False, max_rate=14400)))
        run_call(ours, sp, **lines)
        assert ours.result.completion is Completion.OK and sp.completion == st.T30_ERR_OK, ours.result
        assert ours.result.stats.bit_rate == 14400 and not ours.result.stats.ecm
        assert read_tiff(rx_file)[0].same_pixels(pages[0])
    else:
        tx_file = str(tmp_path / "tx.tif")
        write_tiff(tx_file, pages)
        sp = SpandspFax(True, tx_file=tx_file, ecm=False, ident=MAILFAX_IDENTS[0])
        ours = FaxTerminal(SessionConfig(calling=False, ident=MAILFAX_IDENTS[1]))
        run_call(sp, ours, **lines)
        assert ours.result.completion is Completion.OK and sp.completion == st.T30_ERR_OK, ours.result
        assert ours.result.stats.bit_rate == 14400 and not ours.result.stats.ecm
        assert ours.result.stats.frames_received.count("DCS") == 1
        assert _received(ours)[0].same_pixels(pages[0])


class _BurstAfterDcs:
    """The caller's audio with a V.21 burst spliced in right after its first V.21
    transmission (TSI/DCS) has ended: idle 1s, one flag, `octets`, one flag, idle 1s —
    a flag-bounded frame with a bad FCS and no framing (two flags, never four in a row).
    Everything after it is delayed by the burst's length."""

    def __init__(self, caller: FaxTerminal, octets: bytes) -> None:
        import numpy as np

        from dsp.hdlc import FLAG_BITS, bytes_to_bits, stuff
        from dsp.modems.v21 import V21Receiver, V21Transmitter

        self.caller, self.watch = caller, V21Receiver()
        ones = np.ones(12, np.uint8)
        tx = V21Transmitter()
        tx.feed(np.concatenate([ones, FLAG_BITS, stuff(bytes_to_bits(octets)), FLAG_BITS, ones]))
        self.burst = np.concatenate([tx.transmit(8000), np.zeros(200, np.int16)])
        self.queue = np.zeros(0, np.int16)
        self.spliced = False

    def transmit(self, n: int):
        import numpy as np

        from dsp.modems.base import ModemStatus, Status

        x = self.caller.transmit(n)
        if not self.spliced and any(isinstance(i, ModemStatus) and i.status is Status.CARRIER_DOWN
                                    for i in self.watch.receive(x)):
            self.spliced = True
            self.queue = np.concatenate([self.queue, self.burst])
        self.queue = np.concatenate([self.queue, x])
        out, self.queue = self.queue[:n], self.queue[n:]
        return out

    def receive(self, x) -> None:
        self.caller.receive(x)

    def fillin(self, n: int) -> None:
        self.caller.fillin(n)

    @property
    def finished(self) -> bool:
        return self.caller.finished


def test_bad_v21_frame_while_waiting_for_tcf_does_not_take_the_turn():
    """dsp.fax's rule, pinned without relying on what the V.21 detector makes of a given
    V.17 signal: while the receiver waits for TCF, V.21 noise framed as one bad frame
    (flags around it, FCS wrong) neither takes the turn nor reaches T.30; the TCF that
    follows trains the fast modem and CFR is sent."""
    pages = (text_page(52, 120),)
    a = FaxTerminal(SessionConfig(calling=True, pages=pages, capabilities=Capabilities(ecm=False, max_rate=9600)))
    b = FaxTerminal(SessionConfig(calling=False))
    line = _BurstAfterDcs(a, b"\x5a\x33\x0f\xc3\x99\x66")
    run_call(line, b, max_seconds=60)
    assert line.spliced
    assert a.result.completion is Completion.OK and b.result.completion is Completion.OK, b.result
    assert b.result.stats.frames_received.count("DCS") == 1 and "FTT" not in b.result.stats.frames_sent
    assert _received(b)[0].same_pixels(pages[0])
