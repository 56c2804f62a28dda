"""Graceful stop: the first SIGTERM drains (faxes in progress finish, nothing new starts), the
end of ``shutdown.grace`` or a second SIGTERM hangs up what is left, and the process exits 0.

The process tests run real ``mailfax serve`` processes on the built-in loopback line (the
far end is the answering endpoint inside the same process, storing what it receives):

1. One three-page job through both kinds of stop.  With ``shutdown: {grace: 1s}`` a SIGTERM
   after page 1 was confirmed hangs the call up within seconds; the job waits for a retry.
   After a restart with a long grace the job resumes at page 2, and a SIGTERM while that
   call and an incoming fax run lets both finish: job done, the reception stored, mail after the signal gets "connection refused", a
   fax queued with ``mailfax send`` meanwhile stays queued and undialled, an IAX2 call to
   the gateway is rejected with cause 41, exit 0.  The far end got each page once.
2. A second SIGTERM during a long grace hangs up at once.

Below the process level: a `Telephony` that is stopping rejects a call with cause 41, and a
holding `QueueRunner` converts, wakes and dials nothing while its running call is recorded.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from iax.events import EndReason
from mailfax.config import Trunk, load_config
from mailfax.jobs import FailureClass, JobSettings, JobState, RetryPolicy
from mailfax.queue_runner import QueueRunner
from mailfax.received import ReceivedStore
from mailfax.store import Envelope, NewJob, Store
from mailfax.telephony import Telephony, outcome_of
from tests.mailfax.test_faxcall import sample_page
from tests.mailfax.test_queue_runner import T0, Clock, make_config, ready_job, until
from tests.support import mailfax_samples as samples
from tests.support.serve_proc import ServeProcess
from tests.support.standin_fax_sender import Attempt, StandInFaxSender

NUMBER = "+15555550199"
CALLED = "5550100"        # what the test's own caller dials (an incoming call to the gateway)
HEADER_ROWS = 80          # the TTI line: below it a received page equals the sent page
FAST_RETRY = "retry: {busy: 1s, no_answer: 1s, protocol: 1s, other: 1s}\n"


def fax_message(pages: int):
    """A mail whose text has ``pages`` short pages (form feeds): a few seconds of line time each."""
    body = "\f".join(f"graceful stop, page {k}\n" for k in range(1, pages + 1))
    return samples.message(body=body, to=f"{NUMBER}@fax.localhost", sender="alice@localhost")


def gateway(tmp_path: Path, extra: str) -> ServeProcess:
    serve = ServeProcess(tmp_path)
    serve.config.write_text(serve.config.read_text() + extra)
    return serve


def wait_for(what, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(message)


def queue(serve: ServeProcess) -> Store:
    storage = load_config(serve.config).storage
    return Store(storage.queue_db, storage.spool_dir)


def received(serve: ServeProcess) -> list:
    """Every fax the process received and stored (the loopback line's and the gateway's)."""
    rx = ReceivedStore.open(load_config(serve.config).storage)
    return [rx.load(r.id) for r in rx.faxes()]


def received_pages(serve: ServeProcess, sent: list) -> list[list[int | None]]:
    """Per reception at the far end (the loopback line), which sent pages (1-based) it holds."""

    def index(page) -> int | None:
        for k, s in enumerate(sent, 1):
            if page.rows.shape == s.rows.shape and np.array_equal(page.rows[HEADER_ROWS:], s.rows[HEADER_ROWS:]):
                return k
        return None

    return [[index(p) for p in fax.pages] for fax in received(serve) if fax.called != CALLED]


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


async def call_once(tmp_path: Path, port: int, name: str = "caller", *, timeout: float = 20,
                    connected: threading.Event | None = None):
    """Place one fax call (one page) from a fresh endpoint to 127.0.0.1:``port``; its result."""
    (tmp_path / f"{name}.yaml").write_text(f"storage: {{data_dir: {tmp_path / name}}}\n")
    caller = await Telephony.open(load_config(tmp_path / f"{name}.yaml"), host="127.0.0.1", port=0, trunks=())

    def progress(p) -> None:
        if p.connected and connected is not None:
            connected.set()

    try:
        trunk = Trunk(name="t", host="127.0.0.1", port=port, local_ident="+1 555 0123")
        return await asyncio.wait_for(caller.send_fax(trunk, CALLED, [sample_page(1)], on_progress=progress),
                                      timeout)
    finally:
        await caller.close()


def test_incoming_call_while_stopping_is_rejected_with_cause_41(tmp_path):
    """Unit level: after `stop_answering` a new call gets an IAX2 REJECT, cause 41 (the caller's
    queue treats it as busy: try again later), and is never answered."""
    async def main():
        (tmp_path / "m.yaml").write_text(f"storage: {{data_dir: {tmp_path / 'd'}}}\n")
        config = load_config(tmp_path / "m.yaml")
        from mailfax.inbound import InboundService
        from mailfax.maildir import MaildirMailer
        from mailfax.rules import load_rules
        from mailfax.rules_in import inbound_rules

        inbound = InboundService(config, inbound_rules(load_rules(None, config), config),
                                 ReceivedStore.open(config.storage), MaildirMailer(tmp_path / "md"))
        phone = await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=())
        try:
            phone.stop_answering()
            return await call_once(tmp_path, phone.address[1]), phone.stats
        finally:
            await phone.close()

    res, stats = asyncio.run(main())
    assert res.end_reason is EndReason.REJECTED and res.cause_code == 41 and not res.connected
    assert outcome_of(res, 1).failure is FailureClass.BUSY
    assert stats.refused == {"shutting down": 1} and stats.answered == 0


def test_call_still_ringing_when_stopping_is_refused_with_cause_41(tmp_path):
    """With ``inbound: {rings: 4}`` a call is ringing when the drain starts: it is refused
    (cause 41, never answered) instead of being answered into a drain that could cut it."""
    async def main():
        (tmp_path / "m.yaml").write_text(f"storage: {{data_dir: {tmp_path / 'd'}}}\ninbound: {{rings: 4}}\n")
        config = load_config(tmp_path / "m.yaml")
        from mailfax.inbound import InboundService
        from mailfax.maildir import MaildirMailer
        from mailfax.rules import load_rules
        from mailfax.rules_in import inbound_rules

        inbound = InboundService(config, inbound_rules(load_rules(None, config), config),
                                 ReceivedStore.open(config.storage), MaildirMailer(tmp_path / "md"))
        phone = await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=())
        try:
            call = asyncio.create_task(call_once(tmp_path, phone.address[1]))
            for _ in range(200):
                if phone.calls:
                    break
                await asyncio.sleep(0.01)
            assert phone.calls, "the call did not arrive"
            phone.stop_answering()
            return await call, phone.stats
        finally:
            await phone.close()

    res, stats = asyncio.run(main())
    assert res.cause_code == 41 and not res.connected
    assert outcome_of(res, 1).failure is FailureClass.BUSY
    assert stats.refused == {"shutting down": 1} and stats.answered == 0


def restart(serve: ServeProcess, grace: str) -> int:
    """Start ``serve`` again with another grace; the IAX2 port it listens on."""
    serve.config.write_text(re.sub(r"shutdown: \{grace: \w+\}", f"shutdown: {{grace: {grace}}}",
                                   serve.config.read_text()))
    starts = serve.log().count("mailfax: listening")
    serve.start()
    wait_for(lambda: serve.log().count("mailfax: listening") > starts, 60, serve.log()[-2000:])
    return iax_port(serve)


def iax_port(serve: ServeProcess) -> int:
    return int(re.findall(r"IAX2 on 127\.0\.0\.1:(\d+)", serve.log())[-1])


def test_holding_runner_starts_nothing_but_records_the_call_in_progress(tmp_path):
    """Queue runner level, injected clock: after `hold` a queued job is not converted, a ready
    job and a due retry are not dialled, while the call already running gets its outcome."""
    async def main():
        config = make_config(tmp_path, channels=4)
        store = Store.open(config.storage)
        clock, release = Clock(), asyncio.Event()
        sender = StandInFaxSender(script={"+491": [Attempt(hold=release)], "+493": [Attempt(FailureClass.BUSY)]})
        runner = QueueRunner(config, store, sender, clock=clock)
        running = ready_job(store, "+491")
        retry = ready_job(store, "+493", settings=JobSettings(retry=RetryPolicy(busy=10)))
        await runner.step()                                # both dialled; +493 is busy
        await asyncio.gather(runner.calls[retry])
        await until(lambda: sender.active["+491"] == 1)    # +491's call is up (its pages loaded)
        assert store.job(retry).state is JobState.RETRY_WAIT
        ready = ready_job(store, "+492")
        (queued,) = store.accept(samples.wire(samples.message()), Envelope("a@example.com"),
                                 [NewJob("+494", "+494", None, JobSettings())], T0).jobs
        runner.hold()
        clock.t = T0 + 60                                  # the retry is due
        assert await runner.step() is None
        assert sorted(c.request.number for c in sender.calls) == ["+491", "+493"], "no new call"
        assert [store.job(j).state for j in (ready, retry, queued)] == [
            JobState.READY, JobState.RETRY_WAIT, JobState.QUEUED]
        release.set()
        await asyncio.gather(*runner.calls.values())
        return store.job(running)

    done = asyncio.run(main())
    assert done.state is JobState.DONE and done.pages_confirmed == 3


@pytest.mark.timeout(300)
def test_grace_over_hangs_up_then_resumed_fax_finishes_during_drain(tmp_path):
    """One three-page job through both kinds of stop (one scenario, to keep CI time down).

    1. ``grace: 1s``, SIGTERM after page 1 was confirmed: the call is hung up within seconds,
       exit 0, the job waits for a retry with page 1 confirmed.
    2. Restart with ``grace: 90s``: the job resumes at page 2, and a one-page fax comes in
       from the test's own caller; SIGTERM as soon as both calls are connected.  Both run to
       their end (job done, the incoming fax stored), mail after the signal is refused, a
       fax queued meanwhile with ``mailfax send`` stays queued and undialled, an IAX2 call to
       the gateway is rejected with cause 41, and the process exits 0 once the call is over.
    At the far end each page arrived exactly once: page 1 in the cut call, 2 and 3 in the next.
    """
    serve = gateway(tmp_path, "shutdown: {grace: 1s}\n" + FAST_RETRY).start()
    try:
        store = queue(serve)
        serve.mail(NUMBER, message=fax_message(3))
        job = wait_for(lambda: [j for j in store.jobs([JobState.SENDING]) if j.pages_confirmed == 1], 150,
                       f"page 1 was not confirmed: {serve.log()[-2000:]}")[0]
        assert job.pages_total == 3
        t0 = time.monotonic()
        assert serve.terminate(timeout=30) == 0
        cut_after = time.monotonic() - t0
        assert cut_after < 10, f"hung up after {cut_after:.1f} s (grace 1 s)"
        cut = store.job(job.id)
        assert cut.state is JobState.RETRY_WAIT and cut.pages_confirmed == 1, (cut.state, cut.reason)
        assert "stopping: the grace of 1 s is over, hanging up 1 calls" in serve.log()
        assert re.search(r"stopping: outgoing call \d+ on trunk loopback hung up with 1 pages; 0 calls left", serve.log())

        port = restart(serve, "90s")
        incoming, answered = {}, threading.Event()   # meanwhile a fax comes in from our own caller
        caller = threading.Thread(target=lambda: incoming.update(res=asyncio.run(
            call_once(tmp_path, port, "incoming", timeout=90, connected=answered))))
        caller.start()
        wait_for(lambda: [j for j in store.jobs([JobState.SENDING]) if j.dials == 2] and answered.is_set(), 60,
                 f"the job was not resumed or the incoming call not answered: {serve.log()[-2000:]}")
        t0 = time.monotonic()
        serve.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping: 2 calls in progress, waiting up to 90 s" in serve.log(), 10, serve.log()[-2000:])
        assert refused(serve.smtp_port), "mail after the signal is refused"
        with pytest.raises(OSError):
            serve.mail(NUMBER, message=fax_message(1))
        doc = tmp_path / "later.txt"
        doc.write_text("queued while stopping\n")
        sent = serve.cli("send", "--to", NUMBER, str(doc))
        assert sent.returncode == 0, sent.stdout + sent.stderr
        res = asyncio.run(call_once(tmp_path, port))
        assert res.end_reason is EndReason.REJECTED and res.cause_code == 41
        assert serve.proc.poll() is None, "still draining while the fax is sent"
        wait_for(lambda: '"state": "stopping"' in serve.cli("status", "--json").stdout, 10,
                 "mailfax status shows the drain")

        assert serve.proc.wait(timeout=90) == 0
        drained_after = time.monotonic() - t0
        caller.join(30)
        assert incoming["res"].completion.name == "OK" and incoming["res"].pages_sent == 1, "the reception finished"
        assert [len(f.pages) for f in received(serve) if f.called == CALLED] == [1]
        done = store.job(job.id)
        assert done.state is JobState.DONE and done.pages_confirmed == 3, (done.state, done.reason)
        later = [j for j in store.jobs() if j.id != job.id]
        assert [(j.state, j.dials) for j in later] == [(JobState.QUEUED, 0)], "nothing new started"
        assert received_pages(serve, store.load_pages(job.id)) == [[1], [2, 3]]
        log = serve.log()
        assert re.search(r"stopping: outgoing call \d+ on trunk loopback ended \(OK: .*\) with 2 pages; \d calls left", log)
        assert re.search(r"stopping: incoming call \d+ from \S+ ended \(OK: .*\) with 1 pages; \d calls left", log)
        assert "stopping: no call left" in log and "refused: shutting down" in log
        print(f"hung up {cut_after:.1f} s after SIGTERM (grace 1 s); drained in {drained_after:.1f} s")
    finally:
        serve.stop()


@pytest.mark.timeout(240)
def test_second_sigterm_hangs_up_at_once(tmp_path):
    serve = gateway(tmp_path, "shutdown: {grace: 90s}\n").start()
    try:
        store = queue(serve)
        serve.mail(NUMBER, message=fax_message(2))
        job = wait_for(lambda: store.jobs([JobState.SENDING]), 120, f"no call connected: {serve.log()[-2000:]}")[0]
        serve.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping: 1 calls in progress" in serve.log(), 10, serve.log()[-2000:])
        t0 = time.monotonic()
        assert serve.terminate(timeout=30) == 0          # the second SIGTERM
        took = time.monotonic() - t0
        assert took < 10, f"exit {took:.1f} s after the second SIGTERM"
        cut = store.job(job.id)
        assert cut.state is JobState.RETRY_WAIT and cut.pages_confirmed < 2, (cut.state, cut.reason)
        assert "stopping: second signal, hanging up 1 calls now" in serve.log()
        print(f"exit {took:.2f} s after the second SIGTERM")
    finally:
        serve.stop()
