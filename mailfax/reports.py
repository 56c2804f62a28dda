"""The report to the sender: what happened to each fax of one message, as an email.

What does it do?  `build_report` turns a message's job records into an `EmailMessage` to
the envelope sender (never the spoofable From header), threaded to the original with
In-Reply-To and References (RFC 5322 §3.6.4).  Success states pages sent of total,
duration, speed, ECM and the receiver's CSI, with a page-1 thumbnail; failure states the
reason in plain words, the technical code, what happens next (retry at ... / given up)
and the session transcript.  A job counts as sent only when every page was confirmed.
Either way the report names the session log of each call (and the audio recording, if
one was kept), read from the job's transcript (`mailfax.sessionlog.files_in`), so an
administrator can find them (issue 8).
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Sequence

from mailfax.jobs import JobState
from mailfax.sessionlog import files_in
from mailfax.store import JobRecord, MessageRecord


@dataclass(frozen=True)
class ReportKind:
    subject: str
    ok: bool


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(round(seconds))
    return f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"


def _job_text(job: JobRecord) -> str:
    lines = [f"Fax to {job.number} (job {job.id})"]
    if job.state is JobState.DONE:
        lines += [
            f"  Status:    sent, all pages confirmed by the receiver",
            f"  Pages:     {job.pages_confirmed} of {job.pages_total}",
            f"  Duration:  {_duration(job.duration)}",
            f"  Speed:     {job.bit_rate or 'unknown'} bit/s",
            f"  ECM:       {'yes' if job.ecm else 'no' if job.ecm is not None else 'unknown'}",
            f"  Receiver:  {job.remote_ident or '(no identification sent)'}",
            f"  Calls:     {job.dials}",
        ]
    elif job.state is JobState.CANCELLED:
        lines += [f"  Status:    cancelled", f"  Pages:     {job.pages_confirmed} of {job.pages_total} sent before"]
    else:
        if job.state is JobState.RETRY_WAIT and job.next_try_at is not None:
            nxt = f"another attempt at {_when(job.next_try_at)}"
            status = "not sent yet"
        else:
            nxt = "none: the gateway has given up on this fax"
            status = "FAILED"
        lines += [
            f"  Status:    {status}",
            f"  Reason:    {job.reason or 'unknown'}",
            f"  Code:      {job.completion or '-'}",
            f"  Next:      {nxt}",
            f"  Pages:     {job.pages_confirmed} of {job.pages_total} confirmed"
            + (f" (a retry resumes at page {job.pages_confirmed + 1})" if 0 < job.pages_confirmed < job.pages_total else ""),
            f"  Calls:     {job.dials} placed, {job.tries} reached a fax machine",
        ]
        if job.remote_ident:
            lines.append(f"  Receiver:  {job.remote_ident}")
    for label, path in files_in(job.transcript or ""):
        lines.append(f"  {'Log:' if label == 'session log' else 'Recording:':<10} {path}")
    return "\n".join(lines)


def classify(jobs: Sequence[JobRecord]) -> ReportKind:
    sent = sum(j.state is JobState.DONE for j in jobs)
    if len(jobs) == 1:
        j = jobs[0]
        if j.state is JobState.DONE:
            return ReportKind(f"Fax to {j.number} sent ({j.pages_confirmed} of {j.pages_total} pages)", True)
        if j.state is JobState.RETRY_WAIT:
            return ReportKind(f"Fax to {j.number} not sent yet, will retry", False)
        if j.state is JobState.CANCELLED:
            return ReportKind(f"Fax to {j.number} cancelled", False)
        return ReportKind(f"Fax to {j.number} FAILED: {j.reason.split(';')[0]}", False)
    if sent == len(jobs):
        return ReportKind(f"All {len(jobs)} faxes sent", True)
    return ReportKind(f"{sent} of {len(jobs)} faxes sent, {len(jobs) - sent} not sent", False)


def report_message_id(message: MessageRecord, jobs: Sequence[JobRecord], from_address: str, *,
                      requeue: bool = False) -> str:
    """``<mailfax.report.M.T@domain>`` (final report of message M received at T) or
    ``<mailfax.requeue.J.D.T@domain>`` (notice for job J after dial D).  T guards against
    SQLite reusing an id once old rows are removed."""
    domain = from_address.rpartition("@")[2] or "mailfax.localhost"
    stamp = int(message.received_at * 1000)
    if requeue and jobs:
        return f"<mailfax.requeue.{jobs[0].id}.{jobs[0].dials}.{stamp}@{domain}>"
    return f"<mailfax.report.{message.id}.{stamp}@{domain}>"


def build_report(
    message: MessageRecord,
    jobs: Sequence[JobRecord],
    *,
    from_address: str,
    now: float,
    thumbnail: bytes | None = None,
    transcripts: bool = True,
    requeue: bool = False,
) -> EmailMessage:
    """The report email for ``message`` (see the module docstring).

    Its Message-ID is derived from what it reports (the message, or for a requeue notice
    the job and its dial count), not random: if the gateway dies after the relay took the
    report but before recording that, the report sent again after the restart carries the
    same Message-ID, so mail stores and clients that suppress duplicates show it once."""
    kind = classify(jobs)
    rep = EmailMessage()
    rep["From"] = from_address
    rep["To"] = message.sender
    rep["Subject"] = kind.subject + (f" - {message.subject}" if message.subject else "")
    rep["Date"] = email.utils.formatdate(now, usegmt=True)
    rep["Message-ID"] = report_message_id(message, jobs, from_address, requeue=requeue)
    rep["Auto-Submitted"] = "auto-replied"  # RFC 3834: no auto-replies to this
    if message.message_id:
        rep["In-Reply-To"] = message.message_id
        rep["References"] = message.message_id
    intro = [f"Your message{f' {message.subject!r}' if message.subject else ''} of {_when(message.received_at)}:", ""]
    body = "\n".join(intro) + "\n\n".join(_job_text(j) for j in jobs) + "\n"
    rep.set_content(body)
    if thumbnail is not None:
        rep.add_attachment(thumbnail, maintype="image", subtype="png", filename="page1.png", disposition="inline")
    if transcripts:
        for j in jobs:
            if j.state is not JobState.DONE and j.transcript:
                rep.add_attachment(j.transcript, subtype="plain", filename=f"transcript-job{j.id}.txt")
    return rep
