"""The asyncio side: the media clock, the outcome mapping, and call policy over real UDP."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from dsp.t30.completion import CallStats, Completion
from iax.events import EndReason
from mailfax.config import Trunk, load_config
from mailfax.faxcall import FaxCallResult
from mailfax.inbound import InboundService
from mailfax.jobs import FailureClass
from mailfax.maildir import MaildirMailer
from mailfax.received import ReceivedStore
from mailfax.rules import load_rules
from mailfax.rules_in import inbound_rules
from mailfax.telephony import MediaClock, Telephony, outcome_of
from tests.mailfax.test_faxcall import sample_page


def test_media_clock_keeps_a_fixed_grid_and_catches_up_after_a_stall():
    """Ticks carry origin + k*20 ms; a 70 ms stall in one tick is made up at once, none lost."""
    seen: list[float] = []

    async def main():
        clock = MediaClock(lambda t: (seen.append(t), time.sleep(0.07) if len(seen) == 10 else None))
        clock.start()
        await asyncio.sleep(0.6)
        clock.stop()
        return clock

    clock = asyncio.run(main())
    steps = [b - a for a, b in zip(seen, seen[1:])]
    assert all(abs(s - 0.02) < 1e-9 for s in steps)
    assert 27 <= len(seen) <= 32           # 0.6 s of media time, nothing skipped
    s = clock.summary()
    assert s["max_ms"] >= 40.0 and s["wakeups"] < s["ticks"]   # the stall shows, then a burst


def _result(**kw) -> FaxCallResult:
    base = dict(completion=None, end_reason=None, cause="", stats=CallStats(), connected=False)
    base.update(kw)
    return FaxCallResult(**base)


@pytest.mark.parametrize("kw,completion,failure", [
    (dict(end_reason=EndReason.REJECTED, cause="User busy", cause_code=17), "CALL_REJECTED: User busy",
     FailureClass.BUSY),
    (dict(end_reason=EndReason.REJECTED, cause="Unallocated", cause_code=1), "CALL_REJECTED: Unallocated",
     FailureClass.PERMANENT),
    (dict(end_reason=EndReason.UNANSWERED, cause="No answer"), "CALL_UNANSWERED: No answer",
     FailureClass.NO_ANSWER),
    (dict(end_reason=EndReason.RETRY_LIMIT), "CALL_RETRY_LIMIT: no acknowledgement within the retry limit",
     FailureClass.LINE),
    (dict(completion=Completion.T1_EXPIRED, connected=True), "T1_EXPIRED", FailureClass.NO_ANSWER),
    (dict(completion=Completion.ECM_FAILED, connected=True), "ECM_FAILED", FailureClass.PROTOCOL),
    (dict(completion=Completion.OK, connected=True, pages_sent=1), "INCOMPLETE", FailureClass.PROTOCOL),
    (dict(completion=Completion.OK, connected=True, pages_sent=2), "OK", None),
])
def test_outcome_mapping(kw, completion, failure):
    out = outcome_of(_result(**kw), 2)
    assert (out.completion, out.failure) == (completion, failure)


async def _answerer(tmp: Path, rules_text: str, inbound_yaml: str = ""):
    (tmp / "rules.yaml").write_text("outbound: []\n" + rules_text)
    (tmp / "m.yaml").write_text(f"storage: {{data_dir: {tmp / 'd'}}}\nrules: rules.yaml\n{inbound_yaml}")
    config = load_config(tmp / "m.yaml")
    store = ReceivedStore.open(config.storage)
    inbound = InboundService(config, inbound_rules(load_rules(None, config), config), store,
                             MaildirMailer(tmp / "md"))
    callers = (Trunk(name="c", host="127.0.0.1", port=0, channels=1, local_ident="+1 555 0199"),)
    return await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=callers), store, config


def test_refused_by_tsi_after_phase_b_over_udp(tmp_path):
    async def main():
        phone, store, config = await _answerer(
            tmp_path, "inbound: [{name: junk, match: {tsi: ['+1 555 0100']}, reject: true}]\n")
        caller = await Telephony.open(config, host="127.0.0.1", port=0, trunks=())
        trunk = Trunk(name="t", host="127.0.0.1", port=phone.address[1], local_ident="+1 555 0100")
        try:
            res = await asyncio.wait_for(caller.send_fax(trunk, "5550199", [sample_page(1)]), 60)
            await asyncio.sleep(0.2)
            return res, store.faxes(), phone.stats
        finally:
            await caller.close()
            await phone.close()

    res, faxes, stats = asyncio.run(main())
    assert res.connected and res.pages_sent == 0 and res.end_reason is EndReason.HANGUP
    assert outcome_of(res, 1).failure is FailureClass.PROTOCOL
    assert faxes == [] and stats.refused == {"TSI rule": 1}


def test_inbound_channel_limit_refuses_a_second_call_busy(tmp_path):
    async def main():
        phone, _, config = await _answerer(tmp_path, "", "inbound: {rings: 3}\niax: {ring_period: 30s}\n")
        caller = await Telephony.open(config, host="127.0.0.1", port=0, trunks=())
        trunk = Trunk(name="t", host="127.0.0.1", port=phone.address[1])
        try:
            first = asyncio.ensure_future(caller.send_fax(trunk, "1", [sample_page(1)]))
            await asyncio.sleep(0.3)               # the first one rings (answered after 60 s)
            second = await asyncio.wait_for(caller.send_fax(trunk, "2", [sample_page(2)]), 10)
            first.cancel()
            return second, phone.stats
        finally:
            await caller.close()
            await phone.close()

    second, stats = asyncio.run(main())
    assert second.end_reason is EndReason.REJECTED and second.cause_code == 17
    assert outcome_of(second, 1).failure is FailureClass.BUSY
    assert stats.refused == {"inbound channel limit": 1}


def test_trunk_registration_over_udp(tmp_path):
    """A trunk with register: true registers (MD5) to its server; the server knows our address."""
    from iax.aio import open_endpoint
    from iax.options import EndpointOptions, Peer

    async def main():
        server = await open_endpoint(("127.0.0.1", 0), EndpointOptions(
            peers=(Peer("gw", secret="pw", calltoken_required=False),)))
        (tmp_path / "m.yaml").write_text(
            f"storage: {{data_dir: {tmp_path / 'd'}}}\ntrunks:\n  - {{name: pbx, host: 127.0.0.1, "
            f"port: {server.local_address[1]}, username: gw, secret: pw, register: true}}\n")
        config = load_config(tmp_path / "m.yaml")
        phone = await Telephony.open(config, host="127.0.0.1", port=0)
        try:
            for _ in range(50):
                if phone.stats.registrations.get("pbx") == "registered":
                    break
                await asyncio.sleep(0.05)
            return phone.stats.registrations, server.endpoint.registrar.address_of("gw"), phone.address
        finally:
            await phone.close()
            server.close()

    regs, bound, ours = asyncio.run(main())
    assert regs == {"pbx": "registered"} and bound == ours


def test_partial_reception_is_stored_with_its_reason(tmp_path):
    """inbound.max_pages 1 and a 2-page fax: the call ends after page 1, which is stored
    (durably, with the reason) for delivery like any other fax."""
    async def main():
        phone, store, config = await _answerer(tmp_path, "", "inbound: {max_pages: 1}\n")
        caller = await Telephony.open(config, host="127.0.0.1", port=0, trunks=())
        trunk = Trunk(name="t", host="127.0.0.1", port=phone.address[1], caller_id="42", local_ident="+1 555 0100")
        try:
            res = await asyncio.wait_for(caller.send_fax(trunk, "5550199", [sample_page(1), sample_page(2)]), 90)
            for _ in range(50):
                if store.faxes():
                    break
                await asyncio.sleep(0.1)
            return res, [store.load(f.id) for f in store.faxes()]
        finally:
            await caller.close()
            await phone.close()

    res, faxes = asyncio.run(main())
    assert res.pages_sent <= 1 and outcome_of(res, 2).failure is not None
    (fax,) = faxes
    assert fax.pages_received == 1 and fax.pages[0].same_pixels(sample_page(1))
    assert fax.completion != "OK" and fax.reason == "page limit of 1 reached"
    assert fax.caller_id == "42" and fax.tsi == "+1 555 0100" and fax.called == "5550199"
