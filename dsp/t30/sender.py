"""The transmitting terminal's states (T.30 Figure 5-2b/c and Annex A for ECM).

Phase B: DCS (with TSI) and TCF, then CFR or FTT (awaited `tcf_answer_wait_ms`, longer
than T4: see `TCF_ANSWER_WAIT_MS`); FTT steps down the rate ladder.
Phase C: the page as one bit stream (non-ECM) or as ECM blocks of FCD frames.
Phase D: MPS/EOP/EOM answered by MCF, RTP (page good, retrain first) or RTN (page bad:
retrain one step slower and send it again, up to `max_page_retries`); in ECM, PPS-x
answered by MCF or PPR (send the listed frames again; after four PPRs for one block, CTC
and a long retrain one rate down; when that fails to help, EOR), RNR answered by RR after a pause
until T5.

Mixed into `T30Session`; uses its shared mechanics (`_command`, `_transmit`, ...).
"""

from __future__ import annotations

from dsp.t30.completion import Completion
from dsp.t30.dis import (
    Modem, PageFormat, Refusal, common_rates, decode_dis, encode_dcs, encode_rate_code, negotiate,
)
from dsp.t30.ecm import BlockSender, decode_ppr, pps_info, split_blocks
from dsp.t30.receiver import LONG_TRAIN_MS
from dsp.t30.events import Negotiated, PageSent, SendFrames, SendImage, SendTCF
from dsp.t30.fcf import FCF, Frame, encode_ident
from dsp.t30.image import encode_ecm_octets, encode_line_bits, page_resolution, page_width
from dsp.t30.states import State
from dsp.t30.timers import Timer, ms

_REFUSALS = {
    Refusal.NO_RECEIVER: Completion.REMOTE_CANNOT_RECEIVE,
    Refusal.NO_COMMON_MODEM: Completion.INCOMPATIBLE,
    Refusal.RESOLUTION: Completion.RESOLUTION_UNSUPPORTED,
    Refusal.WIDTH: Completion.SIZE_UNSUPPORTED,
}
PPRS_BEFORE_CTC = 4  # T.30 §A.4.1: after the fourth PPR for a block, CTC or EOR
MAX_CTC = 2
# How long we wait for CFR/FTT after our TCF before repeating DCS (`tcf_answer_wait_ms`):
# at least T4's 4.5 s (T.30 §5.4.3.1 allows it for manual terminals; automatic ones use
# 3 s), and until `PEER_T2_MS` after our DCS ended.  A deliberate deviation: spandsp's
# receiver (Asterisk, FreeSWITCH, iaxmodem/HylaFAX) stays silent after a TCF it could not
# train on until its T2 expires (7 s after the DCS) and then sends FTT, but answers a DCS
# repeated before that with DCN ("unexpected message").  A lost packet in V.17's 1.4 s
# training is enough, so at 1 % loss T4 lost ~60 % of our calls to spandsp; by then its
# FTT's flags have begun, and the T4 extension for a response under way (session.py)
# lets it finish.  The cost: a lost CFR or FTT is repeated 1.5-2.7 s later.
TCF_ANSWER_WAIT_MS = 4500
PEER_T2_MS = 7500


def tcf_answer_wait_ms(modem: Modem) -> int:
    """How long after our TCF ends we wait for its answer (see `TCF_ANSWER_WAIT_MS`)."""
    tcf = 75 + LONG_TRAIN_MS[modem] + 1500  # gap, long training, 1.5 s of zeros (T.30 §5.3.5)
    return max(TCF_ANSWER_WAIT_MS, PEER_T2_MS - tcf)


class SenderStates:
    """Phase B–D of the transmitting terminal."""

    def _init_sender(self) -> None:
        self._pages = list(self.config.pages)
        self._page_index = 0
        self._page_retries = 0
        self._remote = None
        self._rates: list = []
        self._post = FCF.EOP
        self._blocks: list[BlockSender] = []
        self._block_index = 0
        self._ppr_count = 0
        self._ctc_count = 0
        self._short_train = False
        self._ecm_gave_up = False  # a block ended with EOR: some of it never arrived

    # --- phase B -------------------------------------------------------------

    def _start_sending(self, dis_info: bytes) -> None:
        self._timers.stop(Timer.T1)
        self._remote = decode_dis(dis_info)
        if self._page_index >= len(self._pages):
            self._disconnect(Completion.OK)
            return
        page = self._pages[self._page_index]
        fmt = PageFormat(page_resolution(page), page_width(page))
        result = negotiate(self.caps, self._remote, fmt)
        if isinstance(result, Refusal):
            self._disconnect(_REFUSALS[result])
            return
        self._rates = common_rates(self.caps, self._remote)
        if self.dcs is not None and self.dcs.rate in self._rates:
            result = result.with_rate(self.dcs.rate)  # back in phase B after EOM: keep the rate
        self.dcs = result
        self._blocks = []
        self._note_dcs()
        self._command(self._send_dcs_tcf)

    def _note_dcs(self) -> None:
        dcs = self.dcs
        self.stats.bit_rate = dcs.rate.bit_rate
        self.stats.modem = dcs.rate.modem.value
        self.stats.ecm = dcs.ecm
        self.stats.coding = dcs.coding.value
        self._emit(Negotiated(dcs, self.stats.remote_ident))

    def _send_dcs_tcf(self) -> None:
        """TSI and DCS on V.21, then TCF on the fast modem with long training."""
        frames = []
        if self.config.ident:
            frames.append(self._frame(FCF.TSI, encode_ident(self.config.ident), final=False))
        frames.append(self._frame(FCF.DCS, encode_dcs(self.dcs)))
        self._short_train = False
        self._set_state(State.TX_AWAIT_CFR)
        self._transmit(SendFrames(tuple(frames)), then=self._send_tcf)

    def _send_tcf(self) -> None:
        rate = self.dcs.rate
        self._transmit(SendTCF(rate.modem, rate.bit_rate),
                       then=lambda: self._listen(State.TX_AWAIT_CFR, Timer.T4,
                                                 duration=ms(tcf_answer_wait_ms(rate.modem))))

    def _fall_back(self) -> bool:
        """One step down the common rate ladder; False at the bottom."""
        i = self._rates.index(self.dcs.rate) if self.dcs.rate in self._rates else -1
        if i + 1 >= len(self._rates):
            return False
        self.dcs = self.dcs.with_rate(self._rates[i + 1])
        self.stats.retrains += 1
        self._note_dcs()
        return True

    def _await_dis(self, ev) -> bool:
        """Back in phase B after EOM: the next DIS starts a new negotiation."""
        if isinstance(ev, Frame) and ev.fcf is FCF.DIS:
            self._note_remote(ev)
            self._start_sending(ev.info)
            return True
        return False

    def _tx_await_cfr(self, ev) -> bool:
        if not isinstance(ev, Frame):
            return False
        if ev.fcf is FCF.CFR:
            self._tries = 0
            self._short_train = True
            self._send_page()
        elif ev.fcf is FCF.FTT:
            if self._fall_back():
                self._command(self._send_dcs_tcf)
            else:
                self._disconnect(Completion.CANNOT_TRAIN)
        elif ev.fcf is FCF.DIS:
            self._retry()  # our DCS went unheard and the DIS is repeated
        else:
            return False
        return True

    # --- phase C -------------------------------------------------------------

    def _send_page(self) -> None:
        page = self._pages[self._page_index]
        if self.config.header is not None:
            from dsp.tti import draw_header

            page = draw_header(page, self.config.header.text(self._page_index + 1, len(self._pages)))
        self._post = self._post_command()
        dcs = self.dcs
        if dcs.ecm:
            if not self._blocks:
                data = encode_ecm_octets(page, dcs)
                self._blocks = [BlockSender(b) for b in split_blocks(data, dcs.ecm_frame_size)]
                self._block_index = 0
                self._ppr_count = self._ctc_count = 0
            self._send_block()
            return
        bits = encode_line_bits(page, dcs)
        self._set_state(State.TX_IMAGE)
        self._transmit(SendImage(dcs.rate.modem, dcs.rate.bit_rate, self._short(), bits),
                       then=lambda: self._command(self._send_pmc))

    def _short(self) -> bool:
        return self._short_train and self.dcs.rate.modem is Modem.V17

    def _post_command(self) -> FCF:
        nxt = self._page_index + 1
        if nxt >= len(self._pages):
            return FCF.EOP
        a, b = self._pages[self._page_index], self._pages[nxt]
        same = page_resolution(a) == page_resolution(b) and page_width(a) == page_width(b)
        return FCF.MPS if same else FCF.EOM

    def _tx_image(self, ev) -> bool:
        return False

    # --- phase D, non-ECM ------------------------------------------------------

    def _send_pmc(self) -> None:
        self._send_command_frames((self._frame(self._post),), State.TX_AWAIT_PMR)

    def _tx_await_pmr(self, ev) -> bool:
        if not isinstance(ev, Frame):
            return False
        if ev.fcf is FCF.MCF:
            self._page_done(retrain=False)
        elif ev.fcf is FCF.RTP:
            self._page_done(retrain=True)
        elif ev.fcf is FCF.RTN:
            # RTN (T.30 §5.3.6.2, post-message responses): the page goes again after a
            # retrain.  We retrain one step slower each time (the same rate at the bottom
            # of the ladder) and give up after max_page_retries: a line whose TCF passes
            # at a rate whose page then fails (V.17 14400 at 20 dB SNR trains long but
            # not short) would fail the same way at that rate again.
            self._page_retries += 1
            if self._page_retries >= self.config.max_page_retries:
                self._disconnect(Completion.PAGE_REJECTED)
            else:
                if not self._fall_back():
                    self.stats.retrains += 1
                self._command(self._send_dcs_tcf)
        elif ev.fcf is FCF.DIS:
            self._page_from_phase_b(ev)
        else:
            return False
        return True

    def _page_from_phase_b(self, dis: Frame) -> None:
        """DIS in answer to a post-message command or PPS: the receiver went back to phase
        B and kept nothing of this page (spandsp does when T2 runs out while it waits for
        an image whose training a lost packet broke).  Repeating our command would be
        "unexpected" there (spandsp answers DCN), so negotiate again from the new DIS and
        send the page from its start, as after DIS in phase B."""
        self._timers.stop(Timer.T5)
        self._note_remote(dis)
        self._start_sending(dis.info)

    def _page_done(self, *, retrain: bool) -> None:
        self._timers.stop(Timer.T5)
        self.stats.pages_sent += 1
        self._emit(PageSent(self._page_index + 1))
        self._page_index += 1
        self._page_retries = 0
        self._blocks = []
        if self._post is FCF.EOP:
            self._disconnect(Completion.ECM_FAILED if self._ecm_gave_up else Completion.OK)
        elif self._post is FCF.MPS:
            if retrain:
                self._command(self._send_dcs_tcf)
            else:
                self._send_page()
        else:
            self._listen(State.AWAIT_DIS, Timer.T1)

    # --- phase C/D, ECM ----------------------------------------------------------

    def _send_block(self) -> None:
        block = self._blocks[self._block_index]
        rate = self.dcs.rate
        self._set_state(State.TX_IMAGE)
        self._transmit(SendFrames(block.burst(), rate.modem, rate.bit_rate, self._short()),
                       then=lambda: self._command(self._send_pps))
        self._short_train = True

    def _last_block(self) -> bool:
        return self._block_index == len(self._blocks) - 1

    def _send_pps(self) -> None:
        post = self._post if self._last_block() else FCF.NULL
        info = pps_info(post, self._page_index, self._block_index,
                        len(self._blocks[self._block_index].frames), x_bit=self._x_bit)
        self._send_command_frames((self._frame(FCF.PPS, info),), State.TX_AWAIT_PPS_RESPONSE)

    def _tx_await_pps_response(self, ev) -> bool:
        """Answers to PPS (or to RR, which asks again for the same answer)."""
        if not isinstance(ev, Frame):
            return False
        if ev.fcf is FCF.MCF:
            self._block_done()
        elif ev.fcf is FCF.PPR:
            self._timers.stop(Timer.T5)
            self._on_ppr(decode_ppr(ev.info))
        elif ev.fcf is FCF.RNR:
            if not self._timers.running(Timer.T5):
                self._timers.start(Timer.T5)
            self._set_state(State.TX_RNR_PAUSE)
            self._timers.start(Timer.PAUSE, ms(self.config.rr_pause_ms))
        elif ev.fcf is FCF.DIS:
            self._page_from_phase_b(ev)
        else:
            return False
        return True

    def _on_ppr(self, requested: set[int]) -> None:
        block = self._blocks[self._block_index]
        resend, _acked = block.apply_ppr(requested)
        self.stats.ppr_count += 1
        self.stats.retransmitted_frames += resend
        if resend == 0:
            self._block_done()
            return
        self._ppr_count += 1
        if self._ppr_count >= PPRS_BEFORE_CTC:
            self._ppr_count = 0
            if self._ctc_count < MAX_CTC:
                self._ctc_count += 1
                self._command(self._send_ctc)
            else:
                self._command(self._send_eor)
            return
        self._send_block()

    def _block_done(self) -> None:
        self._timers.stop(Timer.T5)
        if self._last_block():
            self._page_done(retrain=False)
            return
        self._block_index += 1
        self._ppr_count = self._ctc_count = 0
        self._send_block()

    def _tx_rnr_pause(self, ev) -> bool:
        if ev is Timer.PAUSE:
            self._command(self._send_rr)
            return True
        return False

    def _send_rr(self) -> None:
        self._send_command_frames((self._frame(FCF.RR),), State.TX_AWAIT_PPS_RESPONSE)

    def _send_ctc(self) -> None:
        """CTC: carry on correcting this block after a long retrain one step down the rate
        ladder (T.30 §5.3.6.1.4: CTC carries the new rate; spandsp 0.0.6's receiver
        follows it).  Four PPRs in a row mean the line does not carry this rate."""
        if self.state is not State.TX_AWAIT_CTR:
            self._fall_back()  # once per CTC, not again when it is repeated at T4
        self._send_command_frames((self._frame(FCF.CTC, encode_rate_code(self.dcs.rate)),),
                                  State.TX_AWAIT_CTR)

    def _tx_await_ctr(self, ev) -> bool:
        if isinstance(ev, Frame) and ev.fcf is FCF.CTR:
            self._tries = 0
            self._short_train = False
            self.stats.retrains += 1
            self._send_block()
            return True
        return False

    def _send_eor(self) -> None:
        post = self._post if self._last_block() else FCF.NULL
        code = int(post) | (1 if self._x_bit and post is not FCF.NULL else 0)
        self._send_command_frames((self._frame(FCF.EOR, bytes((code,))),), State.TX_AWAIT_ERR)

    def _tx_await_err(self, ev) -> bool:
        if isinstance(ev, Frame) and ev.fcf is FCF.ERR:
            self._ecm_gave_up = True
            self._block_done()
            return True
        return False
