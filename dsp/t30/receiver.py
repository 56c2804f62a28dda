"""The receiving terminal's states (T.30 Figure 5-2c/d and Annex A for ECM).

Phase B: a DCS we can honour is followed by TCF (1.5 s of zeros, T.30 §5.3.5); we judge
it by our own criteria (T.30 §5.3.6.2.2 Note, see `tcf_acceptable`) and answer CFR, else
FTT.  A lost VoIP packet must not fail a clean line: it costs the bit stream a short burst
(V.17's fill-in emits erasure-decoded bits) or a slip, so a second of zeros in at most
three pieces passes, while a line that errs all along (BER 1e-3 and worse) does not.
Phase C: non-ECM bits until the fast carrier drops, or FCD frames until RCP; an image
that has not trained within T2 is waited out and its post-page command answered.  Each
`PageReceived` carries the page's coded data as received (`CodedImage`), beside the
decoded page, so it can be stored without re-encoding.
Phase D: a non-ECM page is judged by its share of bad rows (MCF, RTP or RTN); an ECM
block is answered MCF when complete or PPR listing the frames still missing; CTC gets
CTR, EOR gets ERR, RR gets the last answer again (we are always ready).  A command that
comes again because our answer was lost gets the same answer again.

Mixed into `T30Session`; uses its shared mechanics (`_respond`, `_listen`, ...).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from dsp.t30.completion import Completion
from dsp.t30.dis import Modem, accepts, decode_dcs, rate_from_code
from dsp.t30.ecm import BlockReceiver, encode_ppr
from dsp.t30.events import CodedImage, FrontEnd, Negotiated, PageReceived, PageStats
from dsp.t30.fcf import FCF, Frame, decode_fcf
from dsp.t30.image import Decoded, LineReceiver, decode_ecm_octets
from dsp.t30.states import BAD_FRAME, State
from dsp.t30.timers import Timer, ms

_PMC = (FCF.MPS, FCF.EOP, FCF.EOM, FCF.PRI_MPS, FCF.PRI_EOP, FCF.PRI_EOM)
#: Long training time of each fast modem (V.17 §2.5, V.29 §2.3, V.27 ter §2.5), in ms.
LONG_TRAIN_MS = {Modem.V17: 1393, Modem.V29: 253, Modem.V27TER: 943, Modem.V21: 0}
_PLAIN = {FCF.PRI_MPS: FCF.MPS, FCF.PRI_EOP: FCF.EOP, FCF.PRI_EOM: FCF.EOM}
#: Interruptions of the TCF's zeros we excuse: two lost packets.
TCF_GAPS = 2
#: TCF bits kept for the judgement, in seconds of the bit rate (T2 bounds the state anyway).
_TCF_KEEP_S = 4


def tcf_acceptable(bits: np.ndarray, bit_rate: int) -> bool:
    """The training check on the bits of one TCF (T.30 §5.3.6.2.2 Note: receiver's criteria).

    A stretch of zeros lasting 20 ms or more is clean.  The TCF passes when clean stretches
    add up to one second (spandsp asks for one unbroken second), the longest lasts a
    quarter second, and at most `TCF_GAPS` bursts, 50 ms each on average, part them (two
    losses closer than 20 ms make one burst).
    A lost 20 ms packet makes one such burst (V.17's fill-in: 20 ms of erasure-decoded
    bits plus the trellis and descrambler tails, under 30 ms) or none (V.27 ter/V.29 emit
    nothing); errors scattered over the line make many, so BER 1e-3 fails (every TCF at
    7200 bit/s and above, 97 % at 4800; at 2400 a TCF holds ~4 error events and a third
    pass, a fifth under the one-second rule) and BER 1e-2 leaves no clean second.  What precedes the first clean stretch
    (descrambler settling) and follows the last (carrier loss) is not judged."""
    bits = np.asarray(bits, np.uint8)
    ones = np.flatnonzero(np.concatenate(([1], bits, [1])))  # padded: run i starts at ones[i]
    runs = np.diff(ones) - 1
    clean = np.flatnonzero(runs >= max(32, bit_rate // 50))
    if len(clean) == 0:
        return False
    starts, lengths = ones[clean], runs[clean]
    bursts = starts[1:] - (starts[:-1] + lengths[:-1])
    return bool(lengths.sum() >= bit_rate and lengths.max() >= bit_rate // 4
                and len(bursts) <= TCF_GAPS and bursts.sum() <= TCF_GAPS * (bit_rate // 20 + 64))


class ReceiverStates:
    """Phase B–D of the receiving terminal."""

    def _init_receiver(self) -> None:
        self._tcf_bits = 0
        self._tcf_chunks: list[np.ndarray] = []
        self._trained = False
        self._training_failed = False
        self._rx_line: LineReceiver | None = None
        self._rx_page_data = bytearray()
        self._rx_block = BlockReceiver()
        self._rx_block_count = 0
        self._rx_result: Decoded | None = None
        self._rx_page_pending = False
        self._rx_answered: tuple | None = None  # the command our last response answered
        self._rx_then: Callable[[], None] | None = None
        self._rx_eom = False
        self._rx_gave_up = False  # an EOR closed a block with frames missing

    # --- phase B -------------------------------------------------------------

    def _accept_dcs(self, info: bytes) -> None:
        dcs = decode_dcs(info)
        if dcs is None or not accepts(self.caps, dcs):
            self._disconnect(Completion.INCOMPATIBLE)
            return
        self.dcs = dcs
        self._rx_eom = False
        self._timers.stop(Timer.PAUSE)
        self.stats.bit_rate = dcs.rate.bit_rate
        self.stats.modem = dcs.rate.modem.value
        self.stats.ecm = dcs.ecm
        self.stats.coding = dcs.coding.value
        self._emit(Negotiated(dcs, self.stats.remote_ident))
        self._tcf_bits = 0
        self._tcf_chunks = []
        self._trained = self._training_failed = False
        rate = dcs.rate
        self._listen(State.RX_TCF, Timer.T2, rate.modem, rate.bit_rate, short_train=False, hdlc=False)

    def _rx_tcf(self, ev) -> bool:
        if isinstance(ev, Frame) and ev.fcf is FCF.DCS:
            self._note_remote(ev)
            self._accept_dcs(ev.info)
        elif ev is FrontEnd.TRAINING_SUCCEEDED:
            self._trained = True  # T2 keeps running: TCF lasts 1.5 s, a stuck carrier must not
        elif ev is FrontEnd.TRAINING_FAILED:
            # The TCF goes on after our receiver gave up; answering now would talk over
            # it, unheard.  Answer FTT once it must be over (T.30 §5.3.5: 1.5 s of data).
            self._training_failed = True
            self._timers.start(Timer.PAUSE, ms(1500 + LONG_TRAIN_MS[self.dcs.rate.modem] + 200))
        elif ev is FrontEnd.CARRIER_DOWN:
            if self._trained or self._tcf_bits:
                self._judge_tcf()
        elif ev is Timer.PAUSE:
            self._send_ftt()
        elif ev is Timer.T2:
            self._send_ftt()  # nothing usable arrived (spandsp answers FTT too)
        else:
            return False
        return True

    def _judge_tcf(self) -> None:
        bits = np.concatenate(self._tcf_chunks) if self._tcf_chunks else np.zeros(0, np.uint8)
        if tcf_acceptable(bits, self.dcs.rate.bit_rate):
            self._respond((self._frame(FCF.CFR),), then=lambda: self._rx_expect_page(short=True))
        else:
            self._send_ftt()

    def _send_ftt(self) -> None:
        self._respond((self._frame(FCF.FTT),), then=lambda: self._listen(State.RX_AWAIT_DCS, Timer.T2))

    def _tcf_bits_in(self, bits: np.ndarray) -> None:
        """Keep the TCF's bits (a few seconds at most) for `tcf_acceptable`."""
        if self._tcf_bits < _TCF_KEEP_S * self.dcs.rate.bit_rate:
            self._tcf_chunks.append(bits.copy())
        self._tcf_bits += len(bits)

    def _image_bits(self, bits: np.ndarray) -> None:
        if self.state is State.RX_TCF:
            self._tcf_bits_in(bits)
        elif self.state in (State.RX_AWAIT_PAGE, State.RX_PAGE) and self.dcs and not self.dcs.ecm:
            if self.state is State.RX_AWAIT_PAGE:
                self._enter_rx_page()
            self._rx_line.feed(bits)
            if self._rx_line.complete:
                self._rx_end_of_image()  # RTC: the page is over even if the carrier lingers

    # --- phase C -------------------------------------------------------------

    def _rx_expect_page(self, *, short: bool) -> None:
        self._trained = False
        if not self.dcs.ecm:
            self._rx_line = LineReceiver(self.dcs)
        rate = self.dcs.rate
        self._listen(State.RX_AWAIT_PAGE, Timer.T2, rate.modem, rate.bit_rate,
                     short_train=short and rate.modem is Modem.V17, hdlc=self.dcs.ecm)

    def _rx_await_page(self, ev) -> bool:
        if ev is FrontEnd.TRAINING_SUCCEEDED or (isinstance(ev, Frame) and ev.fcf is FCF.FCD):
            self._trained = True
            self._enter_rx_page()
            if isinstance(ev, Frame):
                self._rx_store_fcd(ev)
            return True
        if isinstance(ev, Frame) and ev.fcf is FCF.DCS:
            self._note_remote(ev)
            self._accept_dcs(ev.info)  # our CFR was lost, or the transmitter retrains
            return True
        if isinstance(ev, Frame):
            return self._rx_await_pmc(ev)  # the image never arrived; answer what follows
        if ev is Timer.T2:
            # No image trained within T2 (its training failed: V.17's short train on a
            # noisy line), yet the transmitter sends it whole and then its post-page
            # command: wait for that on V.21 and answer it (RTN, or PPR in ECM) rather
            # than hang up under a page that is still going out.
            self._rx_end_of_image()
            return True
        return ev is FrontEnd.CARRIER_DOWN

    def _enter_rx_page(self) -> None:
        self._timers.stop(Timer.T2)
        self._timers.start(Timer.PAGE)
        self._set_state(State.RX_PAGE)

    def _rx_page(self, ev) -> bool:
        if isinstance(ev, Frame) and ev.fcf is FCF.FCD:
            self._rx_store_fcd(ev)
        elif ev is FrontEnd.CARRIER_DOWN or ev is Timer.PAGE or (isinstance(ev, Frame) and ev.fcf is FCF.RCP):
            self._rx_end_of_image()
        elif isinstance(ev, Frame):
            self._rx_end_of_image()  # a V.21 command while we thought the image ran
            self._dispatch(ev)
        else:
            return ev is not Timer.T2 and ev is not BAD_FRAME
        return True

    def _rx_store_fcd(self, ev: Frame) -> None:
        if ev.info:
            self._rx_block.put(ev.info[0], ev.info[1:])

    def _rx_end_of_image(self) -> None:
        self._timers.stop(Timer.PAGE)
        if not self.dcs.ecm:
            self._rx_result = self._rx_line.result() if self._rx_line else None
            self._rx_line = None
            self._rx_page_pending = True
        self._listen(State.RX_AWAIT_PMC, Timer.T2)

    # --- phase D -------------------------------------------------------------

    def _rx_await_pmc(self, ev) -> bool:
        if not isinstance(ev, Frame):
            return False
        fcf = _PLAIN.get(ev.fcf, ev.fcf)
        if fcf in _PMC and not self.dcs.ecm:
            self._rx_answer_pmc(fcf)
        elif fcf is FCF.PPS and self.dcs.ecm and len(ev.info) >= 4:
            self._rx_answer_pps(ev.info)
        elif fcf is FCF.EOR and self.dcs.ecm:
            self._rx_answer_eor(ev.info)
        elif fcf is FCF.CTC:
            self._rx_answered = None
            rate = rate_from_code(ev.info) if len(ev.info) >= 2 else None
            if rate is not None and rate in self.caps.rates():
                self.dcs = self.dcs.with_rate(rate)  # CTC may carry a new rate (T.30 §5.3.6.1.4)
                self.stats.bit_rate = rate.bit_rate
            self._respond((self._frame(FCF.CTR),), then=lambda: self._rx_expect_page(short=False))
        elif fcf is FCF.RR and self._last_response:
            self._repeat_response()
        elif fcf is FCF.DCS:
            self._note_remote(ev)
            self._accept_dcs(ev.info)
        elif fcf is FCF.FCD:
            self._rx_store_fcd(ev)
        elif fcf is FCF.RCP:
            pass
        else:
            return False
        return True

    def _repeat_response(self) -> None:
        self._respond(self._last_response, then=self._rx_then or self._relisten)

    def _answer(self, key: tuple, response: FCF, then: Callable[[], None], info: bytes = b"") -> None:
        self._rx_answered = key
        self._rx_then = then
        self._respond((self._frame(response, info),), then=then)

    def _after_page(self, post: FCF, response: FCF) -> Callable[[], None]:
        """Where the receiver goes once its answer to `post` is out (T.30 Figure 5-2d)."""
        if response is FCF.RTN or (response is FCF.RTP and post is FCF.MPS):
            return lambda: self._listen(State.RX_AWAIT_DCS, Timer.T2)  # a retrain comes first
        if post is FCF.MPS:
            return lambda: self._rx_expect_page(short=True)
        if post is FCF.EOP:
            return lambda: self._listen(State.RX_AWAIT_DCN, Timer.T2)
        return self._rx_after_eom

    def _rx_after_eom(self) -> None:
        self._rx_eom = True
        self._listen(State.RX_AWAIT_DCS, Timer.T2)

    def _rx_answer_pmc(self, post: FCF) -> None:
        key = ("pmc", post)
        if not self._rx_page_pending and self._rx_answered == key and self._last_response:
            self._repeat_response()
            return
        response = self._judge_page() if self._rx_page_pending else FCF.RTN
        self._rx_page_pending = False
        if response is not FCF.RTN:
            self._deliver(self._rx_result)
        self._answer(key, response, self._after_page(post, response))

    def _judge_page(self) -> FCF:
        res = self._rx_result
        if res is None or res.page is None or res.rows == 0:
            return FCF.RTN
        share = res.bad_rows / res.rows
        if share <= self.config.mcf_bad_fraction:
            return FCF.MCF
        return FCF.RTP if share <= self.config.rtp_bad_fraction else FCF.RTN

    def _deliver(self, res: Decoded | None) -> None:
        if res is None or res.page is None:
            return
        self.stats.pages_received += 1
        self.stats.bad_rows += res.bad_rows
        page, ecm = res.page, self.dcs.ecm
        coded = CodedImage(res.data, self.dcs.coding.value, page.width, page.height, page.x_res,
                           page.y_res, lsb_first=True, bad_rows=res.bad_rows,
                           consecutive_bad_rows=res.bad_run, ecm=ecm) if res.data else None
        self._emit(PageReceived(page, PageStats(res.bad_rows, res.rows, ecm, self.dcs.rate.bit_rate),
                                coded))

    def _rx_answer_pps(self, info: bytes) -> None:
        post = _PLAIN.get(decode_fcf(info[0]) or FCF.NULL, decode_fcf(info[0]) or FCF.NULL)
        key = ("pps", info[1], info[2])
        if self._rx_answered == key and not self._rx_block.frames and self._last_response:
            self._repeat_response()  # our MCF was lost
            return
        self._rx_block_count = max(self._rx_block_count, info[3] + 1)
        missing = self._rx_block.missing(self._rx_block_count)
        if missing:
            self._answer(("ppr",) + key, FCF.PPR, lambda: self._rx_expect_page(short=True),
                         encode_ppr(missing))
            return
        self._rx_close_block(post, key, FCF.MCF)

    def _rx_answer_eor(self, info: bytes) -> None:
        post = decode_fcf(info[0]) if info else FCF.NULL
        post = _PLAIN.get(post, post) or FCF.NULL
        self._rx_gave_up = True
        self._rx_close_block(post, ("eor", post), FCF.ERR)

    def _rx_close_block(self, post: FCF, key: tuple, response: FCF) -> None:
        self._rx_page_data += self._rx_block.assemble(self._rx_block_count)
        self._rx_block = BlockReceiver()
        self._rx_block_count = 0
        if post is FCF.NULL:
            self._answer(key, response, lambda: self._rx_expect_page(short=True))
            return
        data, self._rx_page_data = bytes(self._rx_page_data), bytearray()
        self._deliver(decode_ecm_octets(data, self.dcs))
        self._answer(key, response, self._after_page(post, FCF.MCF))

    def _rx_await_dcs(self, ev) -> bool:
        """After RTP/RTN/FTT or EOM: the next DCS retrains; a repeated command gets our
        answer again; after EOM, T2 without a DCS sends DIS (as spandsp does)."""
        if isinstance(ev, Frame) and ev.fcf is FCF.DCS:
            self._note_remote(ev)
            self._accept_dcs(ev.info)
            return True
        if isinstance(ev, Frame) and _PLAIN.get(ev.fcf, ev.fcf) in _PMC + (FCF.PPS, FCF.EOR, FCF.RR):
            if self._last_response:
                self._repeat_response()
                return True
        if ev is Timer.T2 and self._rx_eom:
            self._rx_eom = False
            self._timers.start(Timer.T1)
            self._send_dis()
            return True
        return False

    def _rx_await_dcn(self, ev) -> bool:
        done = Completion.ECM_FAILED if self._rx_gave_up else Completion.OK
        if isinstance(ev, Frame) and ev.fcf is FCF.DCN:
            self._finish(done)
            return True
        if ev is Timer.T2:
            self._finish(done)  # EOP was answered; a lost DCN changes nothing
            return True
        if isinstance(ev, Frame) and _PLAIN.get(ev.fcf, ev.fcf) in (FCF.EOP, FCF.PPS, FCF.EOR, FCF.RR):
            self._repeat_response()
            return True
        return False
