"""Hypothesis over (state, input): whatever arrives, in whatever order, the session never
raises, always keeps a timer running until it has finished, and always finishes."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from dsp.t30.dis import RATE_LADDER, Capabilities, Coding, Dcs, encode_dcs, encode_dis
from dsp.t30.ecm import encode_ppr, pps_info
from dsp.t30.events import CallFinished, FrontEnd, SendFrames, SendImage, SendTCF, SendTone
from dsp.t30.fcf import FCF, build
from dsp.t30.session import SessionConfig, T30Session
from dsp.t4.page import Page
from tests.dsp.t30.link import Link, OurSide

PAGE = Page(np.eye(16, 1728, dtype=np.uint8), 204, 196)

_valid_dcs = [encode_dcs(Dcs(rate=r, ecm=e, coding=Coding.MR)) for r in RATE_LADDER[::3] for e in (False, True)]
CANNED = (
    [build(FCF.DIS, encode_dis(Capabilities())), build(FCF.DIS, encode_dis(Capabilities(ecm=False)))]
    + [build(FCF.DCS, d, x_bit=True) for d in _valid_dcs]
    + [build(f, x_bit=x) for f in (FCF.CFR, FCF.FTT, FCF.MCF, FCF.RTP, FCF.RTN, FCF.MPS, FCF.EOP,
                                   FCF.EOM, FCF.DCN, FCF.CRP, FCF.RR, FCF.RNR, FCF.CTC, FCF.CTR, FCF.ERR)
       for x in (False, True)]
    + [build(FCF.PPS, pps_info(p, 0, b, n, x_bit=True), x_bit=True)
       for p in (FCF.NULL, FCF.MPS, FCF.EOP) for b in (0, 1) for n in (1, 3)]
    + [build(FCF.PPR, encode_ppr({0, 2}), x_bit=True), build(FCF.PPR, encode_ppr(set()), x_bit=True)]
    + [build(FCF.FCD, bytes([i]) + bytes(64), final=False) for i in range(3)]
    + [build(FCF.RCP, final=False), build(FCF.EOR, bytes([0x2E]), x_bit=True)]
    + [build(FCF.TSI, b"1234" + b" " * 16, final=False), build(FCF.DTC, encode_dis(Capabilities()))]
)

frames = st.one_of(
    st.sampled_from(CANNED).map(lambda f: ("frame", f, True)),
    st.tuples(st.just("frame"), st.binary(min_size=0, max_size=40), st.booleans()),
    st.tuples(st.just("frame"), st.sampled_from(CANNED), st.just(False)),
)
statuses = st.sampled_from(list(FrontEnd)).map(lambda s: ("status", s))
advances = st.integers(1, 100_000).map(lambda n: ("advance", n))
bits = st.tuples(st.just("bits"), st.integers(0, 3000), st.integers(0, 2**32 - 1))
actions = st.lists(st.tuples(st.one_of(frames, frames, statuses, advances, bits), st.booleans()), max_size=80)

_SENDS = (SendFrames, SendImage, SendTCF, SendTone)


def _apply(session: T30Session, action) -> None:
    kind = action[0]
    if kind == "frame":
        session.receive_frame(action[1], action[2])
    elif kind == "status":
        session.front_end_status(action[1])
    elif kind == "advance":
        session.advance(action[1])
    else:
        rng = np.random.default_rng(action[2])
        session.receive_image_bits((rng.random(action[1]) < 0.02).astype(np.uint8))


def _session_in_some_state(calling: bool, sending: bool, ecm: bool, ticks: int) -> T30Session:
    """One side of a clean call between two of our sessions, stopped after `ticks` 20 ms
    ticks: a realistic state reached the way calls reach it (phases A to E)."""
    ours = T30Session(SessionConfig(calling=calling, pages=(PAGE, PAGE) if sending else (),
                                    capabilities=Capabilities(ecm=ecm)))
    peer = T30Session(SessionConfig(calling=not calling, pages=() if sending else (PAGE,)))
    link = Link(OurSide(ours, "ours"), OurSide(peer, "peer"))
    for _ in range(ticks):
        if ours.finished:
            break
        link.tick()
    return ours


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calling=st.booleans(), sending=st.booleans(), ecm=st.booleans(), ticks=st.integers(0, 1100),
       script=actions)
def test_no_input_raises_or_hangs(calling, sending, ecm, ticks, script):
    session = _session_in_some_state(calling, sending, ecm, ticks)
    session.outputs()
    sending_now = True
    for action, front_end_keeps_up in script:
        if sending_now and front_end_keeps_up:
            session.front_end_status(FrontEnd.SEND_COMPLETE)  # most transmissions just finish
        _apply(session, action)
        out = session.outputs()
        sends = [o for o in out if isinstance(o, _SENDS) and not (isinstance(o, SendTone) and o.ms == 0)]
        sending_now = bool(sends) or (sending_now and not front_end_keeps_up)
        assert session.finished or session.next_timeout() is not None, session.state
    # Left alone (every transmission completes, nothing else arrives), the call ends
    # within the T.30 bounds: at most T1 + a few command cycles, never unbounded.
    finished = []
    for _ in range(2000):
        if session.finished:
            break
        session.front_end_status(FrontEnd.SEND_COMPLETE)
        session.advance(8000)
        finished += [o for o in session.outputs() if isinstance(o, CallFinished)]
    assert session.finished
    assert session.completion is not None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ecm=st.booleans(), poll=st.booleans(),
       verdicts=st.lists(st.sampled_from(["ok"] * 5 + ["bad", "lost"]), min_size=1, max_size=40))
def test_pair_under_random_frame_faults(ecm, poll, verdicts):
    """Two of our sessions with frames spoiled at random: both always finish within the
    T.30 bounds, and when both report OK every page arrived intact."""
    pages = (PAGE, Page(np.eye(24, 1728, k=5, dtype=np.uint8), 204, 196))
    tx = OurSide(T30Session(SessionConfig(calling=not poll, pages=pages, capabilities=Capabilities(ecm=ecm))), "tx")
    rx = OurSide(T30Session(SessionConfig(calling=poll)), "rx")
    queue = list(verdicts)

    def fault(direction, frame):
        return queue.pop(0) if queue else "ok"

    link = Link(tx, rx, frame_fault=fault)
    for _ in range(400 * 50):
        if tx.finished() and rx.finished():
            break
        link.tick()
        for side in (tx, rx):
            assert side.finished() or side.session.next_timeout() is not None
    assert tx.finished() and rx.finished()
    if tx.result().completion.name == "OK" and rx.result().completion.name == "OK":
        got = rx.pages_received()
        assert len(got) == 2 and all(g.same_pixels(p) for g, p in zip(got, pages))
