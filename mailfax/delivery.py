"""Handing a received-fax email to a mailbox: SMTP through the relay, or IMAP APPEND.

What does it do?  `deliver_smtp` sends through `mailfax.mail_out.Mailer` (STARTTLS / AUTH
as the relay config says).  `deliver_imap` logs in (LOGIN; aioimaplib 2.0.3 has no
AUTHENTICATE), looks for the message's Message-ID in the folder first, and APPENDs it
only when it is not there: a retry after a crash between the server's OK and our record
does not make a second copy.  A missing folder answers ``NO [TRYCREATE]`` (RFC 3501
§6.3.11): the folder is created and the APPEND repeated.  `archive` writes the TIFF-F and
the metadata into a directory.

Failures are `DeliveryError(transient=...)`: a server that cannot be reached, a time-out,
``[UNAVAILABLE]``, ``[INUSE]``, ``[OVERQUOTA]`` or ``[SERVERBUG]`` (RFC 5530) and SMTP 4xx
are transient; a refused login (``[AUTHENTICATIONFAILED]``), a folder that cannot be
created, a refused APPEND and SMTP 5xx are permanent.
"""

from __future__ import annotations

import asyncio
import json
import re
from email.message import EmailMessage
from pathlib import Path

from mailfax.mail_out import DeliveryError, Mailer
from mailfax.rules_in import ImapTarget
from mailfax.store import write_durably

#: RFC 5530 response codes after which trying again later can succeed.
TRANSIENT_CODES = ("UNAVAILABLE", "INUSE", "OVERQUOTA", "SERVERBUG", "LIMIT", "EXPUNGEISSUED")

__all__ = ["DeliveryError", "deliver_smtp", "deliver_imap", "archive", "quote_mailbox"]


async def deliver_smtp(mailer: Mailer, message: EmailMessage, recipient: str, *, sender: str) -> None:
    """Send ``message`` to one recipient through the relay; raises `DeliveryError`."""
    await mailer.send(message, sender=sender, recipients=[recipient])


def quote_mailbox(name: str) -> str:
    """A mailbox name as an IMAP quoted string (RFC 3501 §4.3): aioimaplib sends arguments as is."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(response) -> str:
    return " ".join(line.decode(errors="replace") if isinstance(line, (bytes, bytearray)) else str(line)
                    for line in response.lines).strip()


def _code(response) -> str | None:
    m = re.search(r"\[([A-Z-]+)", _text(response))
    return m.group(1) if m else None


def _check(response, what: str, target: ImapTarget) -> None:
    if response.result == "OK":
        return
    code = _code(response)
    transient = code in TRANSIENT_CODES
    raise DeliveryError(f"{target.label}: {what} answered {response.result} {_text(response)}", transient=transient)


async def deliver_imap(target: ImapTarget, message: bytes, message_id: str) -> bool:
    """APPEND ``message`` to the target folder unless ``message_id`` is already there.

    Returns True when it was appended now, False when an earlier attempt had already put it
    there.  Raises `DeliveryError`.
    """
    import aioimaplib

    cls = aioimaplib.IMAP4_SSL if target.tls else aioimaplib.IMAP4
    client = cls(host=target.host, port=target.port, timeout=target.timeout)
    folder = quote_mailbox(target.folder)
    try:
        try:
            await client.wait_hello_from_server()
        except (OSError, asyncio.TimeoutError) as e:
            raise DeliveryError(f"{target.label}: cannot connect: {e or type(e).__name__}", transient=True) from None
        login = await client.login(target.user, target.password or "")
        if login.result != "OK":
            code = _code(login)
            raise DeliveryError(f"{target.label}: login refused: {_text(login)}",
                                transient=code in TRANSIENT_CODES) from None
        if await _already_there(client, folder, message_id, target):
            return False
        response = await client.append(message, mailbox=folder)
        if response.result != "OK" and _code(response) == "TRYCREATE":
            _check(await client.create(folder), "CREATE", target)
            response = await client.append(message, mailbox=folder)
        _check(response, "APPEND", target)
        return True
    except (OSError, asyncio.TimeoutError, aioimaplib.Abort, aioimaplib.CommandTimeout) as e:
        raise DeliveryError(f"{target.label}: connection failed: {e or type(e).__name__}", transient=True) from None
    finally:
        await _logout(client)


async def _already_there(client, folder: str, message_id: str, target: ImapTarget) -> bool:
    """Whether a message with this Message-ID is in the folder (a missing folder: no)."""
    selected = await client.select(folder)
    if selected.result != "OK":
        if _code(selected) in TRANSIENT_CODES:
            _check(selected, "SELECT", target)
        return False
    found = await client.search("HEADER", "Message-ID", quote_mailbox(message_id), charset=None)
    _check(found, "SEARCH", target)
    hits = [x for line in found.lines[:-1] for x in (line.decode() if isinstance(line, bytes) else line).split()
            if x.isdigit()]
    await client.close()
    return bool(hits)


async def _logout(client) -> None:
    try:
        if client.protocol is not None and client.protocol.state in ("AUTH", "SELECTED", "NONAUTH"):
            await asyncio.wait_for(client.logout(), 5)
    except Exception:  # the connection is going away anyway
        pass


def archive(directory: Path, name: str, tiff: bytes | None, meta: dict) -> None:
    """Keep a copy: ``<name>.tif`` and ``<name>.json`` in ``directory`` (fsynced)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if tiff is not None:
            write_durably(directory / f"{name}.tif", tiff)
        write_durably(directory / f"{name}.json", json.dumps(meta, indent=1).encode())
    except OSError as e:
        raise DeliveryError(f"archive {directory}: {e.strerror or e}", transient=True) from None
