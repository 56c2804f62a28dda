"""Sending mail (reports to senders) through the configured SMTP relay.

What does it do?  `Mailer.send(message)` hands one `EmailMessage` to the relay with
aiosmtplib: implicit TLS or STARTTLS and AUTH when configured.  Failures are
`DeliveryError` with ``transient`` set as SMTP means it (RFC 5321 §4.2.1: 4xx may succeed
later, 5xx will not); a relay that cannot be reached is transient.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from mailfax import MailfaxError
from mailfax.config import RelayConfig


class DeliveryError(MailfaxError):
    """A message could not be handed to the relay; ``transient`` says whether to retry."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class Mailer:
    """One configured relay; stateless between messages (a connection per message)."""

    def __init__(self, relay: RelayConfig) -> None:
        self.relay = relay

    async def send(self, message: EmailMessage, *, sender: str | None = None, recipients: list[str] | None = None) -> None:
        r = self.relay
        try:
            await aiosmtplib.send(
                message, sender=sender, recipients=recipients, hostname=r.host, port=r.port,
                username=r.username, password=r.password, use_tls=r.tls, start_tls=r.starttls if not r.tls else False,
                timeout=r.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as e:
            codes = [x.code for x in e.recipients]
            transient = all(400 <= c < 500 for c in codes)
            raise DeliveryError(f"relay {r.host}:{r.port} refused the recipients: {e}", transient=transient) from None
        except aiosmtplib.SMTPResponseException as e:
            raise DeliveryError(f"relay {r.host}:{r.port} said {e.code} {e.message}", transient=400 <= e.code < 500) from None
        except (aiosmtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"relay {r.host}:{r.port} unreachable: {e}", transient=True) from None
