"""The session's defences for a lossy line, driven directly (no audio):

- a command is not repeated at T4 while a signal is on the line (`line_signal`): it
  waits for quiet, at most `QUIET_WAIT_MS` more;
- a response that came but was lost (`reply_damaged`) does not use up a try: up to
  `MAX_FREE_RETRIES` repeats beyond the three of T.30 §5.3.2;
- the answer to a TCF is awaited `tcf_answer_wait_ms`, not T4, before DCS is repeated."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from dsp.t30.dis import Capabilities, encode_dis
from dsp.t30.events import CallFinished, FrontEnd, SendFrames, SendImage, SendTCF, SendTone, Silence
from dsp.t30.fcf import FCF, Frame, build
from dsp.t30.sender import tcf_answer_wait_ms
from dsp.t30.session import MAX_FREE_RETRIES, MAX_TRIES, QUIET_POLL_MS, QUIET_WAIT_MS, SessionConfig, T30Session
from dsp.t30.timers import ms
from dsp.t4.page import Page
from tests.dsp.t30.test_robust import _session_in_some_state

PAGE = Page(np.eye(16, 1728, dtype=np.uint8), 204, 196)
T4 = ms(3000)


def _sent(session: T30Session) -> list[str]:
    """Complete every transmission at once; the frames (by name) and signals sent."""
    names = []
    while (item := session.next_output()) is not None:
        if isinstance(item, SendFrames):
            names += [Frame.parse(f).fcf.name for f in item.frames]
        elif isinstance(item, (SendTCF, SendImage)):
            names.append(type(item).__name__)
        elif isinstance(item, CallFinished):
            names.append("finished")
        if isinstance(item, (SendFrames, SendTCF, SendImage, Silence)) or \
                (isinstance(item, SendTone) and item.ms):
            session.front_end_status(FrontEnd.SEND_COMPLETE)
    return names


def _sender_awaiting(ecm: bool = False) -> T30Session:
    """A calling sender that got DIS and has sent DCS + TCF: waiting for CFR."""
    s = T30Session(SessionConfig(calling=True, pages=(PAGE,), capabilities=Capabilities(ecm=ecm)))
    _sent(s)
    s.receive_frame(build(FCF.DIS, encode_dis(Capabilities(ecm=ecm))), True)
    assert _sent(s) == ["DCS", "SendTCF"]
    return s


def _cfr_wait(s: T30Session) -> int:
    return ms(tcf_answer_wait_ms(s.dcs.rate.modem))


def test_repeat_waits_while_the_line_carries_a_signal():
    s = _sender_awaiting()
    s.line_signal(True)
    s.advance(_cfr_wait(s) + ms(2000))
    assert _sent(s) == []  # due at T4, but the far end is still talking
    s.line_signal(False)
    s.advance(ms(QUIET_POLL_MS))
    assert _sent(s) == ["DCS", "SendTCF"]


def test_repeat_waits_at_most_quiet_wait():
    s = _sender_awaiting()
    s.line_signal(True)
    s.advance(_cfr_wait(s) + ms(QUIET_WAIT_MS) - ms(QUIET_POLL_MS))
    assert _sent(s) == []
    s.advance(ms(QUIET_POLL_MS))
    assert _sent(s) == ["DCS", "SendTCF"]  # a signal that never ends does not stop the procedure


def test_unanswered_tcf_repeats_dcs_after_the_tcf_answer_wait():
    """spandsp's receiver does not answer a TCF it could not train on until its T2
    (7 s after DCS) and drops the call on a DCS repeated before that."""
    s = _sender_awaiting()
    s.advance(_cfr_wait(s) - 1)
    assert _sent(s) == []
    s.advance(1)
    assert _sent(s) == ["DCS", "SendTCF"]


def _tries(damaged: bool) -> int:
    s = _sender_awaiting()
    s.receive_frame(build(FCF.CFR, x_bit=True), True)
    assert "SendImage" in _sent(s)
    sent = _sent(s)
    tries = 0
    for _ in range(20):
        if damaged:
            s.reply_damaged()
        s.advance(T4)
        sent = _sent(s)
        if "DCN" in sent:
            return tries
        tries += sent.count("EOP")
    raise AssertionError("never gave up")


def test_lost_responses_buy_extra_tries():
    # The EOP went out once with the page; then repeats at T4.
    assert _tries(False) == MAX_TRIES - 1
    assert _tries(True) == MAX_TRIES - 1 + MAX_FREE_RETRIES


_signal_actions = st.lists(st.tuples(st.sampled_from(["signal", "quiet", "advance", "damaged"]),
                                     st.integers(1, 40_000)), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calling=st.booleans(), sending=st.booleans(), ecm=st.booleans(), ticks=st.integers(0, 1100),
       script=_signal_actions, loud_forever=st.booleans())
def test_a_busy_line_never_hangs_the_session(calling, sending, ecm, ticks, script, loud_forever):
    """Line-signal reports and lost responses, in any order and any state: a timer always
    runs until the end, and a line that never falls quiet still ends the call in bounds."""
    session = _session_in_some_state(calling, sending, ecm, ticks)
    for kind, n in script:
        session.front_end_status(FrontEnd.SEND_COMPLETE)
        if kind == "signal":
            session.line_signal(True)
        elif kind == "quiet":
            session.line_signal(False)
        elif kind == "damaged":
            session.reply_damaged()
        else:
            session.advance(n)
        session.outputs()
        assert session.finished or session.next_timeout() is not None, session.state
    session.line_signal(loud_forever)
    for _ in range(2000):
        if session.finished:
            break
        session.front_end_status(FrontEnd.SEND_COMPLETE)
        session.advance(8000)
        session.outputs()
    assert session.finished


def test_tcf_answer_wait_covers_a_t2_started_at_the_dcs():
    """Every fast modem: the wait reaches 7.5 s after the DCS (TCF: 75 ms gap, long
    training, 1.5 s), and is never shorter than 4.5 s."""
    from dsp.t30.dis import Modem
    from dsp.t30.receiver import LONG_TRAIN_MS

    for modem in (Modem.V17, Modem.V29, Modem.V27TER):
        wait = tcf_answer_wait_ms(modem)
        assert wait >= 4500
        assert 75 + LONG_TRAIN_MS[modem] + 1500 + wait >= 7500
