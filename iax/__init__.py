"""iax: a sans-IO IAX2 stack (RFC 5456).

Bytes, datagrams and the current time go in; datagrams and events come out. Nothing here
touches sockets or clocks except ``iax/aio.py``, the one asyncio adapter.
"""
