"""The one way the gateway's service loops sleep: until their deadline, a wake-up or stop."""

from __future__ import annotations

import asyncio


async def sleep_until(wake: asyncio.Event, stop: asyncio.Event, delay: float) -> None:
    """Sleep up to `delay` seconds, or until `wake` (cleared first) or `stop` is set."""
    wake.clear()
    waiter = asyncio.ensure_future(wake.wait())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({waiter, stopper}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        stopper.cancel()
