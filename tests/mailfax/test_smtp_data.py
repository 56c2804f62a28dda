"""`mailfax.smtp_data`: the chunked DATA reader answers exactly as aiosmtpd's own DATA.

Two servers on loopback, stock aiosmtpd ``SMTP`` and `FastDataSMTP`, each with a handler
that records what it got; the same byte stream, cut into the same TCP chunks, goes to both;
the replies and the recorded content must be equal.  The stream ends with a pipelined
``NOOP`` in the same chunk as the terminator, so reading past the end of data would show.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailfax.smtp_data import FastDataSMTP

LIMIT = 3000  # small, so the size limit is reachable


class Recorder:
    def __init__(self) -> None:
        self.got: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.got.append(envelope.original_content)
        assert envelope.content == envelope.original_content
        return "250 got it"


class Pair:
    """Both servers on one private event loop, reused across examples."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.handlers = {"stock": Recorder(), "fast": Recorder()}
        self.ports: dict[str, int] = {}
        self.servers = []
        for name, cls in (("stock", SMTP), ("fast", FastDataSMTP)):
            h = self.handlers[name]
            srv = self.loop.run_until_complete(self.loop.create_server(
                lambda cls=cls, h=h: cls(h, data_size_limit=LIMIT, hostname="test"), "127.0.0.1", 0))
            self.servers.append(srv)
            self.ports[name] = srv.sockets[0].getsockname()[1]

    def close(self) -> None:
        for s in self.servers:
            s.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    async def _reply(self, reader) -> str:
        lines = []
        while True:
            line = (await asyncio.wait_for(reader.readline(), 10)).decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    async def _talk(self, name: str, chunks: list[bytes]) -> list[str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.ports[name])
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = [await self._reply(reader)]
        for cmd in (b"EHLO client\r\n", b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.com>\r\n", b"DATA\r\n"):
            writer.write(cmd)
            out.append(await self._reply(reader))
        for c in chunks:
            writer.write(c)
            await writer.drain()
            await asyncio.sleep(0.002)  # let the server take each chunk on its own
        out.append(await self._reply(reader))  # the DATA verdict
        out.append(await self._reply(reader))  # the pipelined NOOP
        writer.close()
        return out

    def exchange(self, chunks: list[bytes]) -> dict[str, tuple[list[str], list[bytes]]]:
        result = {}
        for name, h in self.handlers.items():
            h.got.clear()
            replies = self.loop.run_until_complete(self._talk(name, chunks))
            result[name] = (replies, list(h.got))
        return result


@pytest.fixture(scope="module")
def pair():
    p = Pair()
    yield p
    p.close()


def cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    return [stream[a:b] for a, b in zip(points, points[1:]) if b > a]


short_line = st.text(alphabet="a.\r\n ", max_size=12).map(lambda s: s.encode())
long_line = st.integers(990, 1010).map(lambda n: b"x" * n)
dotted = st.sampled_from([b".", b"..", b".a", b"...", b"\r", b"\n.", b".\r", b"\r\n"])
lines = st.lists(st.one_of(short_line, short_line, dotted, long_line), max_size=40)


def build(body_lines: list[bytes]) -> bytes:
    """DATA as a client sends it: each line CRLF-ended; a "." line is dot-stuffed so only the
    final line ends the data (CR/LF inside a line are kept, as SMTP allows)."""
    body = b"".join((b".." if ln == b"." else ln) + b"\r\n" for ln in body_lines)
    return body.replace(b"\r\n.\r\n", b"\r\n..\r\n")  # a CRLF from inside a line could form one


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=lines, cuts=st.lists(st.integers(0, 10**6), max_size=8))
def test_same_as_aiosmtpd(pair, body, cuts):
    data = build(body)
    assert b"\r\n.\r\n" not in b"\r\n" + data
    got = pair.exchange(cut(data + b".\r\nNOOP\r\n", cuts))
    (stock, stock_content), (fast, fast_content) = got["stock"], got["fast"]
    raw_lines = data.split(b"\r\n")[:-1]
    too_long = any(len(ln) + 2 > 1001 for ln in raw_lines)
    too_much = len(data) > LIMIT
    if too_long and too_much:  # which is noticed first depends on chunking in aiosmtpd too
        assert stock[:-2] == fast[:-2] and stock[-1] == fast[-1]
        assert fast[-2][:3] in ("500", "552") and stock[-2][:3] in ("500", "552")
    else:
        assert fast == stock
        assert fast_content == stock_content
    assert fast[-1].startswith("250")  # the NOOP after the data was read as a command


@pytest.mark.parametrize("data", [
    b"",                                # empty message: "." straight after 354
    b"\r\n",                            # one empty line
    b"..\r\n",                          # a stuffed dot
    b"a\r\n\r\n..\r\n...\r\n.b\r\n",    # stuffing at every position
    b"x" * 999 + b"\r\n",               # 1001 with CRLF: at the limit
    b"x" * 1000 + b"\r\n",              # one over
])
@pytest.mark.parametrize("split", [None, 1, 2, 3, 4, 5, 7])
def test_edges(pair, data, split):
    stream = data + b".\r\nNOOP\r\n"
    head = max(0, len(data) - 8)  # small pieces only near the end of the data
    tail = stream[head:]
    chunks = [stream] if split is None else [stream[:head]] + [tail[i:i + split] for i in range(0, len(tail), split)]
    chunks = [c for c in chunks if c]
    got = pair.exchange(chunks)
    assert got["fast"] == got["stock"]


def test_size_limit_drops_data_and_keeps_the_session(pair):
    """Far over the limit: 552 after the terminator, memory not kept, the session goes on."""
    big = (b"y" * 998 + b"\r\n") * 3000  # 3 MB against a 3000-byte limit
    got = pair.exchange([big[i:i + 65536] for i in range(0, len(big), 65536)] + [b".\r\nNOOP\r\n"])
    assert got["fast"] == got["stock"]
    assert got["fast"][0][-2].startswith("552") and got["fast"][1] == []


def test_eof_inside_data_is_harmless(pair):
    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", pair.ports["fast"])
        await pair._reply(reader)
        for cmd in (b"HELO c\r\n", b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.com>\r\n", b"DATA\r\n"):
            writer.write(cmd)
            await pair._reply(reader)
        writer.write(b"half a message\r\n.")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        # the server still serves new sessions
        reader, writer = await asyncio.open_connection("127.0.0.1", pair.ports["fast"])
        assert (await pair._reply(reader)).startswith("220")
        writer.close()

    pair.loop.run_until_complete(go())
    assert pair.handlers["fast"].got == []
