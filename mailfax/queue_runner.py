"""The queue runner: converts queued jobs, dials ready ones, records outcomes, reports.

What does it do?  One asyncio task (`QueueRunner.run`) that, on each `step`:
1. converts queued jobs into pages (`mailfax.render`, in an executor) — a document that
   cannot be converted fails the job with the part's name and the reason;
2. wakes retry-wait jobs whose time has come (a job scheduled with ``mailfax send --at`` is
   converted at once, then waits in retry-wait with ``next_try_at`` = its time, unlike
   HylaFAX's separate "sleeping" state: one wake-up mechanism, one column);
3. starts calls for ready jobs within the limits (one call per destination number, per-trunk
   channel limits; `mailfax.jobs.pick_dialable`) through a `FaxSender`;
4. sends the report of every message whose jobs are all final (`mailfax.reports`).

How does it work?  The telephony layer plugs in through the `FaxSender` protocol: it gets
the job's dialling facts and the pages not yet confirmed (a retry resumes at the first
unconfirmed page), reports progress (connected, each page confirmed — stored at once, so a
crash never causes a confirmed page to be sent again) and returns a `SendOutcome`.  Time is
injected (``clock``); `step` is callable directly by tests.  Without a sender or a trunk,
ready jobs wait in ``ready`` and a log line says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from mailfax.config import Config, Trunk
from mailfax.jobs import FailureClass, JobState, Progress, after_attempt, pick_dialable
from mailfax.mime import MimeProblem, parse_message
from mailfax.reports import build_report
from mailfax.rules import BodyUse
from mailfax.store import JobRecord, Store
from mailfax.waiting import sleep_until

if TYPE_CHECKING:
    from dsp.t4.page import Page

log = logging.getLogger("mailfax.queue")


@dataclass(frozen=True)
class SendRequest:
    """What the telephony layer needs to place one fax call."""

    job_id: int
    number: str                # E.164
    dial: str                  # digits to dial on the trunk
    trunk: Trunk
    resolution: str
    header: str                # TTI format (`format_header`)
    first_page: int            # 1-based number of the first page handed over (resume point)
    pages_total: int


@dataclass(frozen=True)
class SendProgress:
    """A progress report from the sender: connected to a fax, or pages confirmed so far."""

    connected: bool = False
    pages_confirmed: int = 0   # pages of this call confirmed (MCF) so far


@dataclass(frozen=True)
class SendOutcome:
    """How a call ended.  ``failure`` None and every page confirmed means success."""

    completion: str                      # "OK", a T.30 completion name or the call's cause
    failure: FailureClass | None
    pages_confirmed: int                 # pages of this call confirmed (counted from first_page)
    connected: bool = False              # a fax session was established
    bit_rate: int | None = None
    ecm: bool | None = None
    remote_ident: str | None = None      # the receiver's CSI
    duration: float | None = None
    transcript: tuple[str, ...] = ()


class FaxSender(Protocol):
    """The seam to the telephony layer (IAX2 call + FaxTerminal)."""

    async def send(self, job: SendRequest, pages: Sequence[Page], *,
                   on_progress: Callable[[SendProgress], None]) -> SendOutcome: ...


def format_header(fmt: str, *, now: float, ident: str, sender: str, to: str, page: int, pages: int, job: int) -> str:
    """The page header line (TTI) from a rules.yaml format."""
    t = time.gmtime(now)
    return fmt.format(date=time.strftime("%Y-%m-%d", t), time=time.strftime("%H:%M", t), ident=ident,
                      **{"from": sender}, to=to, page=page, pages=pages, job=job)


Renderer = Callable[..., "list[Page]"]


def _default_render(*args, **kwargs) -> "list[Page]":
    from mailfax.render import render

    return render(*args, **kwargs)


class QueueRunner:
    def __init__(self, config: Config, store: Store, sender: FaxSender | None, *,
                 mailer=None, clock: Callable[[], float] = time.time, render: Renderer = _default_render,
                 poll: float = 1.0) -> None:
        self.config = config
        self.store = store
        self.sender = sender
        self.mailer = mailer
        self.clock = clock
        self.render = render
        self.poll = poll
        self.calls: dict[int, asyncio.Task] = {}
        self.wake = asyncio.Event()
        self._waiting_logged = 0
        self._report_retry: dict[int, float] = {}
        self.holding = False     # graceful stop: no conversion, no retry wake-up, no new call

    def hold(self) -> None:
        """Graceful stop: start nothing new (queued and waiting jobs stay as they are, for the
        next start); calls in progress still get their outcomes recorded and reports go out."""
        self.holding = True

    # ------------------------------------------------------------ conversion

    def _convert_blocking(self, job: JobRecord) -> tuple[list[Page] | None, str]:
        raw = self.store.read_message(job.message)
        parsed = parse_message(raw, max_documents=self.config.limits.max_documents)
        if isinstance(parsed, MimeProblem):
            return None, parsed.reason
        s = job.settings
        from mailfax.render import RenderError

        pages: list[Page] = []
        body = parsed.body_text if parsed.has_body else ""
        items: list[tuple[str, bytes]] = []
        if s.body == BodyUse.COVER.value:
            items.append(("cover page", cover_text(parsed, job, len(parsed.documents)).encode()))
        elif s.body == BodyUse.FIRST_PAGE.value and body:
            items.append(("message text", body.encode()))
        items += [(d.name, d.data) for d in parsed.documents]
        for name, data in items:
            left = s.max_pages - len(pages)
            try:
                pages += self.render(data, resolution=s.resolution, max_pages=max(left, 1),
                                     timeout=self.config.limits.render_timeout, name=name)
            except RenderError as e:
                return None, f"cannot convert {name!r}: {e}"
            if len(pages) > s.max_pages:
                return None, f"too many pages: more than {s.max_pages} (the limit)"
        if not pages:
            return None, "nothing to fax: the documents have no pages"
        self.store.save_pages(job.id, pages)
        return pages, ""

    async def convert_one(self) -> bool:
        now = self.clock()
        job = self.store.claim_queued(now)
        if job is None:
            return False
        loop = asyncio.get_running_loop()
        try:
            pages, why = await loop.run_in_executor(None, self._convert_blocking, job)
        except Exception as e:  # a bug or an I/O failure: back to the queue would loop; fail visibly
            log.exception("conversion of job %d failed", job.id)
            pages, why = None, f"internal error while converting: {type(e).__name__}: {e}"
        now = self.clock()
        if pages is None:
            self.store.move(job.id, JobState.CONVERTING, JobState.FAILED, now, reason=why,
                            completion="CONVERSION_FAILED", retryable=0)
            log.info("job %d failed: %s", job.id, why)
        elif job.settings.not_before is not None and job.settings.not_before > now:
            # converted at once (errors surface now), dialled at its time by the retry wake-up
            self.store.move(job.id, JobState.CONVERTING, JobState.RETRY_WAIT, now, pages_total=len(pages),
                            next_try_at=job.settings.not_before)
            log.info("job %d scheduled: %d pages to %s at %s", job.id, len(pages), job.number,
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(job.settings.not_before)))
        else:
            self.store.move(job.id, JobState.CONVERTING, JobState.READY, now, pages_total=len(pages))
            log.info("job %d ready: %d pages to %s", job.id, len(pages), job.number)
        return True

    # ------------------------------------------------------------ calls

    def _trunk_for(self, name: str | None) -> Trunk | None:
        return self.config.trunk(name)

    def start_calls(self) -> list[int]:
        if self.holding:
            return []
        cands = self.store.candidates()
        if not cands:
            return []
        if self.sender is None or not self.config.trunks:
            if self._waiting_logged != len(cands):
                why = "no trunk is configured (trunks: in mailfax.yaml)" if not self.config.trunks else "no fax sender is available"
                log.warning("%d job(s) ready but waiting: %s", len(cands), why)
                self._waiting_logged = len(cands)
            return []
        default = self.config.trunks[0].name
        cands = [replace(c, trunk=c.trunk or default) for c in cands]
        active = self.store.active()
        in_use: dict[str | None, int] = {}
        for j in active:
            in_use[j.trunk or default] = in_use.get(j.trunk or default, 0) + 1
        limits = {t.name: t.channels for t in self.config.trunks}
        started = []
        for c in pick_dialable(cands, (j.number for j in active), in_use, limits):
            job = self.store.job(c.job_id)
            if job is None or not self.store.move(job.id, JobState.READY, JobState.DIALLING, self.clock(), dials=job.dials + 1):
                continue
            trunk = self._trunk_for(c.trunk)
            self.calls[job.id] = asyncio.get_running_loop().create_task(self._call(job, trunk))
            started.append(job.id)
        return started

    async def _call(self, job: JobRecord, trunk: Trunk) -> None:
        loop = asyncio.get_running_loop()
        base = job.pages_confirmed
        pages = (await loop.run_in_executor(None, self.store.load_pages, job.id))[base:]
        req = SendRequest(job.id, job.number, job.dial, trunk, job.settings.resolution, job.settings.header,
                          base + 1, job.pages_total)
        live = (JobState.DIALLING, JobState.SENDING)

        def on_progress(p: SendProgress) -> None:
            now = self.clock()
            if p.connected:
                self.store.move(job.id, JobState.DIALLING, JobState.SENDING, now)
            if p.pages_confirmed:
                self.store.update(job.id, live, pages_confirmed=min(job.pages_total, base + p.pages_confirmed))

        try:
            outcome = await self.sender.send(req, pages, on_progress=on_progress)
        except asyncio.CancelledError:
            self.calls.pop(job.id, None)
            raise
        except Exception as e:
            log.exception("fax sender failed on job %d", job.id)
            outcome = SendOutcome(f"internal error: {type(e).__name__}: {e}", FailureClass.LINE, 0)
        state = self.record(job, outcome)
        self.calls.pop(job.id, None)
        self.wake.set()
        if state is JobState.RETRY_WAIT and job.settings.notify_requeue:
            await self.send_requeue_report(job.id)

    def record(self, job: JobRecord, outcome: SendOutcome) -> JobState | None:
        """Store one call's outcome and decide what follows (retry, done, failed)."""
        now = self.clock()
        current = self.store.job(job.id)
        if current is None:
            return None
        confirmed = min(job.pages_total, job.pages_confirmed + outcome.pages_confirmed)
        tries = current.tries + (1 if outcome.connected else 0)
        progress = Progress(job.settings.give_up_start(current.created_at), current.dials, tries, job.pages_total, confirmed)
        nxt = after_attempt(progress, outcome.failure, job.settings.retry, now)
        ok = self.store.move(
            job.id, (JobState.DIALLING, JobState.SENDING), nxt.state, now,
            next_try_at=nxt.next_try_at, tries=tries, pages_confirmed=confirmed, reason=nxt.reason,
            completion=outcome.completion, retryable=int(nxt.state is JobState.RETRY_WAIT),
            bit_rate=outcome.bit_rate, ecm=None if outcome.ecm is None else int(outcome.ecm),
            remote_ident=outcome.remote_ident, duration=outcome.duration, transcript="\n".join(outcome.transcript),
        )
        if not ok:  # cancelled meanwhile: keep what was confirmed
            self.store.update(job.id, (JobState.CANCELLED,), pages_confirmed=confirmed)
            return None
        log.info("job %d: %s (%s)", job.id, nxt.state.value, nxt.reason)
        return nxt.state

    def cancel_vanished(self) -> None:
        """Stop calls whose job was cancelled by another process (``mailfax cancel``)."""
        for job_id, task in list(self.calls.items()):
            j = self.store.job(job_id)
            if j is not None and j.state is JobState.CANCELLED:
                task.cancel()

    # ------------------------------------------------------------ reports

    async def send_reports(self) -> int:
        from mailfax.mail_out import DeliveryError

        sent = 0
        now = self.clock()
        for mid in self.store.unreported_finished():
            if self._report_retry.get(mid, 0) > now:
                continue
            msg = self.store.message(mid)
            jobs = self.store.jobs(message=mid)
            policy = {j.settings.notify for j in jobs}
            failed = any(j.state is not JobState.DONE for j in jobs)
            if "always" not in policy and not ("failure" in policy and failed):
                self.store.mark_reported(mid, "not-wanted")
                continue
            if self.mailer is None or not msg.sender:
                self.store.mark_reported(mid, "no-mailer" if self.mailer is None else "no-sender")
                continue
            thumb = None
            done = next((j for j in jobs if j.state is JobState.DONE), None)
            if done is not None:
                from mailfax.output import thumbnail_png

                try:
                    thumb = thumbnail_png(self.store.load_pages(done.id)[0])
                except (OSError, IndexError):
                    thumb = None
            report = build_report(msg, jobs, from_address=self.config.relay.from_address, now=now, thumbnail=thumb)
            try:
                await self.mailer.send(report, sender="", recipients=[msg.sender])
            except DeliveryError as e:
                if e.transient:
                    self._report_retry[mid] = now + 300
                    log.warning("report for message %d deferred: %s", mid, e)
                else:
                    self.store.mark_reported(mid, "undeliverable")
                    log.error("report for message %d undeliverable: %s", mid, e)
                continue
            self.store.mark_reported(mid, "sent")
            sent += 1
        return sent

    async def send_requeue_report(self, job_id: int) -> bool:
        """Tell the sender a fax failed for now and when it will be tried again (notify_requeue)."""
        from mailfax.mail_out import DeliveryError

        job = self.store.job(job_id)
        msg = self.store.message(job.message) if job is not None else None
        if self.mailer is None or msg is None or not msg.sender:
            return False
        report = build_report(msg, [job], from_address=self.config.relay.from_address, now=self.clock(),
                              requeue=True)
        try:
            await self.mailer.send(report, sender="", recipients=[msg.sender])
        except DeliveryError as e:
            log.warning("requeue notice for job %d not sent: %s", job_id, e)
            return False
        return True

    # ------------------------------------------------------------ loop

    async def step(self) -> float | None:
        """One pass over the queue; returns when the next pass is due (None: nothing scheduled).

        Converts at most one job per pass, so calls, reports and a stop request are never
        held up behind a long queue of conversions; after a conversion the next pass is due
        at once.  After `hold` a pass only stops cancelled calls and sends reports.
        """
        if self.holding:         # stopping: only outcomes (recorded by the call tasks) and reports
            self.cancel_vanished()
            await self.send_reports()
            return None
        converted = await self.convert_one()
        self.store.wake_retries(self.clock())
        self.cancel_vanished()
        self.start_calls()
        await self.send_reports()
        return self.clock() if converted else self.store.next_wakeup()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set; re-check at least every ``poll`` seconds.

        Call `Store.recover` once before this (and before accepting mail): it deletes
        spool files no row refers to, which must not race with an acceptance.
        """
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                due = await self.step()
            except Exception:
                log.exception("queue step failed; retrying")
                due = None
            delay = self.poll if due is None else min(self.poll, max(0.0, due - self.clock()))
            await sleep_until(self.wake, stop, delay)
        for t in list(self.calls.values()):
            t.cancel()


def cover_text(parsed, job: JobRecord, n_docs: int) -> str:
    """A plain-text cover page with the rule's fields (rendered like any text document)."""
    f = set(job.settings.cover_fields)
    lines = ["FAX", ""]
    if "to" in f:
        lines.append(f"To:      {job.number}")
    if "from" in f:
        lines.append(f"From:    {parsed.sender}")
    if "subject" in f and parsed.subject:
        lines.append(f"Subject: {parsed.subject}")
    if "date" in f and parsed.date:
        lines.append(f"Date:    {parsed.date}")
    if "pages" in f:
        lines.append(f"Documents attached: {n_docs}")
    if "comments" in f and parsed.has_body:
        lines += ["", parsed.body_text.rstrip()]
    return "\n".join(lines) + "\n"
