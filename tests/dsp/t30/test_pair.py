"""Our session against our session over the perfect-modem link, with injected faults.

Every call must end with a precise completion within the T.30 timer bounds: lost and
damaged frames are repaired by command repetition and CRP, TCF failures fall back down
the rate ladder, ECM blocks are repaired by PPR (and CTC after four), silence ends in
T1/T4 expiry rather than a hang.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsp.t30.completion import Completion
from dsp.t30.dis import Capabilities, Coding, Modem, Width
from dsp.t30.session import SessionConfig, T30Session
from dsp.t4.page import Page
from tests.dsp.t30.link import Link, OurSide
from tests.dsp.t30.pages import text_page


def _pair(tx_cfg: dict, rx_cfg: dict, *, poll: bool = False, **link_kw):
    """A sender and a receiver; normally the sender calls, with `poll` the receiver does."""
    tx = OurSide(T30Session(SessionConfig(calling=not poll, ident="TX", **tx_cfg)), "tx")
    rx = OurSide(T30Session(SessionConfig(calling=poll, ident="RX", **rx_cfg)), "rx")
    link = Link(tx, rx, **link_kw)
    seconds = link.run(max_seconds=600)
    return tx, rx, link, seconds


RATE_CASES = [(14400, Modem.V17), (12000, Modem.V17), (9600, Modem.V29), (7200, Modem.V29),
              (4800, Modem.V27TER), (2400, Modem.V27TER)]


@pytest.mark.parametrize("ecm", [False, True], ids=["no-ecm", "ecm"])
@pytest.mark.parametrize("rate,modem", RATE_CASES, ids=[str(r) for r, _ in RATE_CASES])
def test_every_rate(rate, modem, ecm):
    pages = (text_page(rate, 160),)
    caps = Capabilities(modems=frozenset({modem, Modem.V27TER}), max_rate=rate, ecm=ecm)
    if rate in (9600, 7200):
        caps = Capabilities(modems=frozenset({Modem.V29, Modem.V27TER}), max_rate=rate, ecm=ecm)
    tx, rx, _, _ = _pair(dict(pages=pages, capabilities=caps), {})
    assert tx.result().completion is Completion.OK and rx.result().completion is Completion.OK
    assert tx.result().stats.bit_rate == rate
    assert rx.result().stats.modem == (Modem.V29.value if rate in (9600, 7200) else modem.value)
    assert [p.same_pixels(pages[0]) for p in rx.pages_received()] == [True]


@pytest.mark.parametrize("coding", list(Coding), ids=[c.value for c in Coding])
@pytest.mark.parametrize("ecm", [False, True], ids=["no-ecm", "ecm"])
def test_codings_multi_page(coding, ecm):
    if coding is Coding.MMR and not ecm:
        pytest.skip("MMR is only offered with ECM (T.30 Table 2 note)")
    pages = tuple(text_page(s, 220) for s in (11, 12, 13))
    caps = Capabilities(ecm=ecm, codings=frozenset({Coding.MH, coding}))
    tx, rx, _, _ = _pair(dict(pages=pages, capabilities=caps), {})
    assert rx.result().completion is Completion.OK
    assert rx.result().stats.coding == coding.value
    got = rx.pages_received()
    assert len(got) == 3 and all(g.same_pixels(p) for g, p in zip(got, pages))
    assert [e.number for e in tx.pages_sent()] == [1, 2, 3]


def test_polling_receiver_calls():
    """The calling terminal receives (DTC after the sender's DIS)."""
    pages = (text_page(14, 200),)
    tx, rx, link, _ = _pair(dict(pages=pages), {}, poll=True)
    assert tx.result().completion is Completion.OK and rx.result().completion is Completion.OK
    assert "DTC" in rx.result().stats.frames_sent
    assert rx.pages_received()[0].same_pixels(pages[0])


def test_mixed_formats_use_eom_and_renegotiate():
    """A page at another resolution or width ends the previous one with EOM (T.30 §5.3.6.1.6)."""
    fine = text_page(15, 200)
    standard = text_page(16, 120, y_res=98)
    wide = Page(text_page(17, 150, width=2048).rows, 204, 98)
    tx, rx, _, _ = _pair(dict(pages=(fine, standard, wide)), {})
    assert rx.result().completion is Completion.OK
    assert tx.result().stats.frames_sent.count("DCS") == 3
    got = rx.pages_received()
    assert [g.same_pixels(p) for g, p in zip(got, (fine, standard, wide))] == [True] * 3
    assert [g.y_res for g in got] == [196, 98, 98] and got[2].width == Width.B4.value


# --- faults ------------------------------------------------------------------------


def _fail_first(fcf_names: set[str], verdict: str = "lost", times: int = 1, direction: str = ""):
    """A frame fault that spoils the first `times` frames of each named type."""
    from dsp.t30.fcf import Frame

    counts: dict[str, int] = {}

    def fault(d, frame):
        parsed = Frame.parse(frame)
        name = parsed.fcf.name if parsed else ""
        if name in fcf_names and d.startswith(direction):
            counts[name] = counts.get(name, 0) + 1
            if counts[name] <= times:
                return verdict
        return "ok"

    return fault


@pytest.mark.parametrize("ecm", [False, True], ids=["no-ecm", "ecm"])
@pytest.mark.parametrize("lost", ["DCS", "CFR", "MCF", "DIS", "EOP", "PPS", "MPS"])
def test_lost_frames_are_repeated(lost, ecm):
    pages = (text_page(20, 150), text_page(21, 150))
    tx, rx, _, seconds = _pair(dict(pages=pages, capabilities=Capabilities(ecm=ecm)), {},
                               frame_fault=_fail_first({lost}))
    assert tx.result().completion is Completion.OK, (tx.result(), rx.result())
    assert rx.result().completion is Completion.OK
    assert [g.same_pixels(p) for g, p in zip(rx.pages_received(), pages)] == [True, True]
    assert seconds < 120


@pytest.mark.parametrize("bad", ["DCS", "MPS", "PPS", "EOP"])
def test_damaged_commands_get_crp(bad):
    """A command with a bad FCS is answered CRP and comes again at once."""
    pages = (text_page(22, 150), text_page(23, 150))
    ecm = bad == "PPS"
    tx, rx, _, _ = _pair(dict(pages=pages, capabilities=Capabilities(ecm=ecm)), {},
                         frame_fault=_fail_first({bad}, "bad"))
    assert rx.result().completion is Completion.OK and tx.result().completion is Completion.OK
    assert len(rx.pages_received()) == 2


def test_ftt_falls_back_down_the_ladder():
    pages = (text_page(24, 150),)
    tx = OurSide(T30Session(SessionConfig(calling=True, pages=pages)), "tx")
    rx = OurSide(T30Session(SessionConfig(calling=False)), "rx")

    def bit_fault(direction, bits):
        if direction == "tx->rx" and rx.session.dcs and rx.session.dcs.rate.bit_rate > 7200:
            bits = bits.copy()
            bits[::40] ^= 1
        return bits

    Link(tx, rx, bit_fault=bit_fault).run(max_seconds=600)
    res = tx.result()
    assert res.completion is Completion.OK and res.stats.bit_rate == 7200
    assert rx.result().stats.frames_sent.count("FTT") == 4  # 14400, 12000, 9600 V.17, 9600 V.29
    assert rx.pages_received()[0].same_pixels(pages[0])


def test_cannot_train_at_any_rate():
    pages = (text_page(25, 100),)

    def bit_fault(direction, bits):
        bits = bits.copy()
        bits[::30] ^= 1
        return bits

    tx, rx, _, seconds = _pair(dict(pages=pages), {}, bit_fault=bit_fault)
    assert tx.result().completion is Completion.CANNOT_TRAIN
    assert rx.result().completion is Completion.REMOTE_DISCONNECTED
    assert seconds < 200


def test_noisy_non_ecm_page_is_rejected_then_resent():
    """Many damaged rows: RTN, the page goes again after retraining one step down, where it passes."""
    pages = (text_page(26, 300),)
    tx = OurSide(T30Session(SessionConfig(calling=True, pages=pages,
                                          capabilities=Capabilities(ecm=False))), "tx")
    rx = OurSide(T30Session(SessionConfig(calling=False)), "rx")
    state = {"page_bits": 0}

    def bit_fault(direction, bits):
        if direction == "tx->rx" and rx.session.state.name == "RX_PAGE" and rx.session.dcs.rate.bit_rate == 14400:
            bits = bits.copy()
            bits[::97] ^= 1
            state["page_bits"] += len(bits)
        return bits

    Link(tx, rx, bit_fault=bit_fault).run(max_seconds=600)
    assert tx.result().completion is Completion.OK
    # RTN: retrain one step down and resend; it passes at 12000.
    assert rx.result().stats.frames_sent.count("RTN") == 1
    assert tx.result().stats.bit_rate == 12000
    assert rx.pages_received()[0].same_pixels(pages[0])


def test_ecm_ppr_repairs_and_ctc_after_four():
    """Frame 3 of the block is lost five times: four PPRs, CTC/CTR, then it arrives."""
    pages = (text_page(27, 400),)
    tx, rx, _, _ = _pair(dict(pages=pages), {}, frame_fault=_lost_fcd(3, 5))
    assert tx.result().completion is Completion.OK
    assert tx.result().stats.frames_sent.count("CTC") == 1
    assert rx.result().stats.frames_sent.count("PPR") == 5
    assert rx.pages_received()[0].same_pixels(pages[0])


def test_ecm_eor_when_a_frame_never_arrives():
    pages = (text_page(28, 400),)
    tx, rx, _, _ = _pair(dict(pages=pages), {}, frame_fault=_lost_fcd(2, 10**6))
    assert tx.result().completion is Completion.ECM_FAILED
    assert rx.result().completion is Completion.ECM_FAILED
    assert "EOR" in tx.result().stats.frames_sent and "ERR" in rx.result().stats.frames_sent
    assert rx.result().stats.pages_received == 1


def _lost_fcd(number: int, times: int):
    count = {"n": 0}

    def fault(direction, frame):
        if direction == "tx->rx" and frame[2] == 0x06 and frame[3] == number:
            count["n"] += 1
            if count["n"] <= times:
                return "lost"
        return "ok"

    return fault


# --- silence and disconnection -----------------------------------------------------


def test_nobody_answers_t1():
    tx = OurSide(T30Session(SessionConfig(calling=True, pages=(text_page(29, 50),))), "tx")
    rx = OurSide(T30Session(SessionConfig(calling=False)), "rx")
    link = Link(tx, rx, mute=lambda d, t: True)
    link.run(max_seconds=120)
    assert tx.result().completion is Completion.T1_EXPIRED
    assert rx.result().completion is Completion.T1_EXPIRED
    assert 34 <= tx.result().stats.duration_samples / 8000 <= 40


def test_receiver_goes_silent_after_cfr_no_response():
    """The receiver stops answering after CFR: the sender tries the PMC three times (T4)."""
    pages = (text_page(30, 50),)
    tx = OurSide(T30Session(SessionConfig(calling=True, pages=pages, capabilities=Capabilities(ecm=False))), "tx")
    rx = OurSide(T30Session(SessionConfig(calling=False)), "rx")
    cut = {"at": None}

    def mute(direction, now):
        if direction == "rx->tx" and "CFR" in rx.session.stats.frames_sent:
            if cut["at"] is None:
                cut["at"] = now + 8000 * 2
            return now > cut["at"]
        return False

    Link(tx, rx, mute=mute).run(max_seconds=300)
    assert tx.result().completion is Completion.NO_RESPONSE
    assert tx.result().stats.frames_sent.count("EOP") == 3
    assert rx.result().completion in (Completion.REMOTE_DISCONNECTED, Completion.OK)


def test_sender_vanishes_receiver_t2():
    pages = (text_page(31, 50),)
    tx = OurSide(T30Session(SessionConfig(calling=True, pages=pages)), "tx")
    rx = OurSide(T30Session(SessionConfig(calling=False)), "rx")
    Link(tx, rx, mute=lambda d, now: d == "tx->rx" and "CFR" in rx.session.stats.frames_sent).run(max_seconds=300)
    assert rx.result().completion is Completion.T2_EXPIRED
    assert tx.result().completion is Completion.REMOTE_DISCONNECTED  # it hears the receiver's DCN


def test_incompatible_width():
    wide = Page(text_page(32, 80, width=2432).rows, 204, 196)
    tx, rx, _, _ = _pair(dict(pages=(wide,)), dict(capabilities=Capabilities(max_width=Width.A4)))
    assert tx.result().completion is Completion.SIZE_UNSUPPORTED
    assert rx.result().completion is Completion.REMOTE_DISCONNECTED


def test_two_receivers_never_agree():
    a = OurSide(T30Session(SessionConfig(calling=True)), "a")
    b = OurSide(T30Session(SessionConfig(calling=False)), "b")
    Link(a, b).run(max_seconds=120)
    assert a.result().completion is Completion.REMOTE_CANNOT_SEND
    assert b.result().completion is Completion.REMOTE_DISCONNECTED


def test_tti_header_on_sent_pages():
    from dsp.tti import Header, draw_header

    pages = (text_page(33, 200), text_page(34, 200))
    header = Header("2026-11-26 09:00", "ACME", "+49 30 1234")
    tx, rx, _, _ = _pair(dict(pages=pages, header=header), {})
    got = rx.pages_received()
    assert rx.result().completion is Completion.OK and len(got) == 2
    for n, (g, p) in enumerate(zip(got, pages), 1):
        assert g.same_pixels(draw_header(p, header.text(n, 2)))
        assert not g.same_pixels(p) and np.array_equal(g.rows[60:], p.rows[60:])


def test_failed_tcf_training_waits_for_the_tcf_to_end():
    """Our fast receiver gives up early on a TCF: FTT must wait until the far end's TCF
    (training + 1.5 s) is over, or it is sent while the far end still talks."""
    from dsp.t30.dis import Dcs, RATE_LADDER, encode_dcs
    from dsp.t30.events import FrontEnd, SendFrames
    from dsp.t30.fcf import FCF, build

    s = T30Session(SessionConfig(calling=False))
    s.front_end_status(FrontEnd.SEND_COMPLETE)  # CED
    s.front_end_status(FrontEnd.SEND_COMPLETE)  # DIS
    s.outputs()
    s.receive_frame(build(FCF.DCS, encode_dcs(Dcs(rate=RATE_LADDER[0])), x_bit=True), True)
    s.front_end_status(FrontEnd.CARRIER_UP)
    s.front_end_status(FrontEnd.TRAINING_FAILED)
    s.front_end_status(FrontEnd.CARRIER_DOWN)
    s.advance(8000 * 3)
    assert not [o for o in s.outputs() if isinstance(o, SendFrames)]
    s.advance(8000)
    sent = [o for o in s.outputs() if isinstance(o, SendFrames)]
    assert len(sent) == 1 and sent[0].frames[0][2] & 0xFE == FCF.FTT
