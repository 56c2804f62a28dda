"""The built-in loopback line: a second IAX2 endpoint in the same process that answers.

What does it do?  With no trunk configured, `mailfax serve` still faxes for real: every
number is routed to a local IAX2 peer on 127.0.0.1 (an ephemeral UDP port) that answers
every call with the receiving path — `Telephony` in answer-only mode handing receptions to
the inbound service.  So a mail to ``NUMBER@fax.localhost`` travels render -> T.4 ->
T.30/V.17 -> IAX2 over UDP on loopback -> T.30 -> store -> delivery, with no Asterisk.

How does it work?  `open_loopline` opens the answering endpoint and returns it with the
`Trunk` the sending side dials (``loopback_trunk``); `mailfax.app` puts that trunk into the
config the queue runner sees.  The two endpoints are two sockets, so every voice frame is
a real UDP round trip through the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailfax.config import Config, Trunk
from mailfax.telephony import Telephony

NAME = "loopback"
CHANNELS = 8           # concurrent calls over the loopback line
LOCAL_IDENT = "+1 555 0100"
LOOP_IDENT = "+1 555 0199"


def loopback_trunk(port: int, channels: int = CHANNELS) -> Trunk:
    """The trunk the sending side dials: the loopback line's port on 127.0.0.1."""
    return Trunk(name=NAME, host="127.0.0.1", port=port, channels=channels,
                 caller_id="15550100", local_ident=LOCAL_IDENT)


def loopback_logs(config: Config):
    """The loopback line's own session logs, in ``<data_dir>/log/loopback/`` (the answering
    side's view of each call, named in the received-fax email), apart from the gateway's."""
    from mailfax.sessionlog import SessionLogs

    try:
        return SessionLogs(config.storage.data_dir / "log" / NAME)
    except OSError:
        return None


@dataclass
class LoopLine:
    telephony: Telephony
    trunk: Trunk

    async def close(self) -> None:
        await self.telephony.close()


async def open_loopline(config: Config, inbound, *, channels: int = CHANNELS) -> LoopLine:
    """Start the answering endpoint on 127.0.0.1 and return it with its trunk."""
    callers = (Trunk(name=NAME, host="127.0.0.1", port=0, channels=channels, local_ident=LOOP_IDENT),)
    phone = await Telephony.open(config, host="127.0.0.1", port=0, inbound=inbound, trunks=callers,
                                 session_logs=loopback_logs(config))
    return LoopLine(phone, loopback_trunk(phone.address[1], channels))
