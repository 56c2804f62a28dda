"""An aiosmtpd Controller serving with the listener's own SMTP class (`FastDataSMTP`),
so tests exercise the DATA reader that `mailfax serve` runs."""

from __future__ import annotations

from aiosmtpd.controller import Controller

from mailfax.smtp_data import FastDataSMTP


class FaxController(Controller):
    def factory(self):
        return FastDataSMTP(self.handler, **self.SMTP_kwargs)
