"""mailfax: the email-to-fax and fax-to-email gateway (the application layer)."""

__version__ = "0.1.0"


class MailfaxError(Exception):
    """Base class of the application's errors (config, rendering, delivery)."""
