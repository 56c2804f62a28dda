"""IPv6 in the application: config forms and messages, status text, trunk name lookup, SMTP
over ``::1`` and a dual-stack ``[::]``, and fax calls between `Telephony` endpoints over
``::1`` and into a dual-stack IAX2 listener from IPv6 and IPv4 callers (the trunk is
recognised by its host either way)."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from pathlib import Path

import pytest

from mailfax.commands.status import format_status
from mailfax.config import ConfigError, Trunk, describe, load_config
from mailfax.inbound import InboundService
from mailfax.jobs import FailureClass
from mailfax.maildir import MaildirMailer
from iax.options import unmapped
from mailfax.netaddr import hostport
from mailfax.received import ReceivedStore
from mailfax.rules import load_rules
from mailfax.rules_in import inbound_rules
from mailfax.smtp_in import FaxHandler, start_server
from mailfax.store import Store
from mailfax.telephony import Telephony, outcome_of
from mailfax.trunk_addresses import pin, resolve_trunks
from tests.iax.test_ipv6 import needs_ipv6
from tests.mailfax.test_faxcall import sample_page
from tests.support import mailfax_samples as samples

pytestmark = pytest.mark.timeout(120)


def _load(tmp_path: Path, text: str):
    (tmp_path / "mailfax.yaml").write_text(text)
    return load_config(tmp_path / "mailfax.yaml")


# ------------------------------------------------------------------- config

@pytest.mark.parametrize("text,host,port", [
    ("[::1]:4569", "::1", 4569),
    ("[::]:10025", "::", 10025),
    ("[2001:DB8:0::1]:10025", "2001:db8::1", 10025),   # normalised as the kernel reports it
    ("[fe80::1%eth0]:4569", "fe80::1%eth0", 4569),
    ("127.0.0.1:4569", "127.0.0.1", 4569),
    (":4569", "0.0.0.0", 4569),
    ("gw.example.com:4569", "gw.example.com", 4569),
])
def test_listen_forms(tmp_path, text, host, port):
    c = _load(tmp_path, f'iax: {{listen: "{text}"}}\nsmtp: {{listen: "{text}"}}\n')
    assert (c.iax.host, c.iax.port) == (host, port) == (c.smtp.host, c.smtp.port)


@pytest.mark.parametrize("text,message", [
    ("::1:4569", "mailfax.yaml: iax.listen: expected an IPv6 address in brackets, then the port, "
                 "such as [::1]:10025, got '::1:4569'"),
    ("[2001:db8::zz]:4569", "mailfax.yaml: iax.listen: expected an IPv6 address inside the brackets, "
                            "such as [::1]:10025, got '[2001:db8::zz]:4569'"),
    ("[127.0.0.1]:4569", "mailfax.yaml: iax.listen: expected an IPv6 address inside the brackets, "
                         "such as [::1]:10025, got '[127.0.0.1]:4569'"),
    ("[::1]4569", "mailfax.yaml: iax.listen: expected HOST:PORT such as 127.0.0.1:10025 or "
                  "[::1]:10025, got '[::1]4569'"),
    ("[::1:4569", "mailfax.yaml: iax.listen: expected HOST:PORT such as 127.0.0.1:10025 or "
                  "[::1]:10025, got '[::1:4569'"),
    ("[::1]:70000", "mailfax.yaml: iax.listen: expected a port 1..65535 in HOST:PORT such as "
                    "127.0.0.1:10025 or [::1]:10025, got '[::1]:70000'"),
    ("[::1]:0", "mailfax.yaml: iax.listen: expected a port 1..65535 in HOST:PORT such as "
                "127.0.0.1:10025 or [::1]:10025, got '[::1]:0'"),
    ("bad host:25", "mailfax.yaml: iax.listen: expected HOST:PORT such as 127.0.0.1:10025 or "
                    "[::1]:10025, got 'bad host:25'"),
])
def test_bad_listen_forms_name_file_key_and_form(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, f'iax: {{listen: "{text}"}}\n')
    assert str(e.value) == message


@pytest.mark.parametrize("text,host", [
    ("2001:db8::5", "2001:db8::5"), ("[2001:db8::5]", "2001:db8::5"),
    ("2001:DB8::0:5", "2001:db8::5"), ("192.0.2.5", "192.0.2.5"), ("pbx.example.com", "pbx.example.com"),
])
def test_trunk_host_forms(tmp_path, text, host):
    c = _load(tmp_path, f'trunks: [{{name: t, host: "{text}", port: 4570}}]\n')
    assert (c.trunks[0].host, c.trunks[0].port) == (host, 4570)


@pytest.mark.parametrize("text,message", [
    ("pbx.example.com:4569", "mailfax.yaml: trunks[0].host: expected a host name, an IPv4 address or an "
     "IPv6 address such as 2001:db8::5 (the port goes in 'port'), got 'pbx.example.com:4569'"),
    ("[2001:db8::5]:4569", "mailfax.yaml: trunks[0].host: expected a host name, an IPv4 address or an "
     "IPv6 address such as 2001:db8::5 (the port goes in 'port'), got '[2001:db8::5]:4569'"),
    ("2001:db8::zz", "mailfax.yaml: trunks[0].host: expected a host name, an IPv4 address or an "
     "IPv6 address such as 2001:db8::5 (the port goes in 'port'), got '2001:db8::zz'"),
    ("pbx example", "mailfax.yaml: trunks[0].host: expected a host name or address, got 'pbx example'"),
])
def test_bad_trunk_hosts(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, f'trunks: [{{host: "{text}"}}]\n')
    assert str(e.value) == message


def test_check_config_and_status_print_ipv6_bracketed(tmp_path):
    c = _load(tmp_path, 'iax: {listen: "[::]:4569"}\nsmtp: {listen: "[::1]:10025"}\n'
                        'metrics: {listen: "[::1]:9466"}\ntrunks: [{name: v6, host: "2001:db8::5"}]\n')
    d = describe(c)
    assert (d["iax"]["listen"], d["smtp"]["listen"], d["metrics"]) == ("[::]:4569", "[::1]:10025", "[::1]:9466")
    assert d["trunks"][0]["host"] == "2001:db8::5" and d["trunks"][0]["port"] == 4569
    snap = {"state": "running", "pid": 1, "started_at": 0, "updated_at": 0, "iax": ["::", 4569],
            "trunks": [{"name": "v6", "host": "2001:db8::5", "port": 4569, "channels": 1, "active": 0,
                        "registration": "not registering"}], "calls": [], "counters": {}, "media": {}}
    text = format_status(snap, {}, 0)
    assert "IAX2 [::]:4569)" in text and "v6               [2001:db8::5]:4569 " in text
    assert hostport("192.0.2.1", 25) == "192.0.2.1:25" and unmapped("::ffff:192.0.2.1") == "192.0.2.1"


# ------------------------------------------------------------------- trunk addresses

def test_trunk_names_resolve_off_the_loop_and_pin_one_address():
    trunks = (Trunk(name="n", host="localhost", port=4570), Trunk(name="v6", host="2001:db8::5"),
              Trunk(name="gone", host="no-such-host.invalid"))
    found = asyncio.run(resolve_trunks(trunks, socket.AF_INET))
    assert found == {"n": (("127.0.0.1", 4570),)}          # literals need no entry; "gone" logged
    assert pin(trunks[0], found) == ("127.0.0.1", 0) and pin(trunks[1], found) == ("2001:db8::5", 0)
    assert pin(trunks[0], {"n": (("127.0.0.1", 1), ("::1", 1))}) is None   # A and AAAA: by username
    assert pin(trunks[2], found) is None


# ------------------------------------------------------------------- SMTP over IPv6

RULES = """
outbound:
  - name: office
    from: {domains: [example.com], relays: [127.0.0.1/32, "::1/128"]}
    numbers: {allow: ["+49*"]}
"""


def _free_port(family: int, host: str) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _smtp_config(tmp_path: Path, listen: str):
    (tmp_path / "rules.yaml").write_text(RULES)
    return _load(tmp_path, f'smtp: {{listen: "{listen}"}}\nfax: {{domains: [fax.test]}}\n'
                           f'dialing: {{country_code: "49", area_code: "30"}}\n'
                           f'storage: {{data_dir: {tmp_path / "data"}}}\nrules: rules.yaml\n')


def _send(host: str, port: int, n: int) -> dict:
    msg = samples.message(next(iter(samples.DOCUMENTS)), to=f"030123456{n}@fax.test")
    with smtplib.SMTP(host, port, timeout=10) as c:
        return c.sendmail("alice@example.com", [f"030123456{n}@fax.test"], samples.wire(msg))


def _smtp_session(tmp_path: Path, listen: str, clients: list[str]):
    config = _smtp_config(tmp_path, listen)
    store = Store.open(config.storage)

    async def main():
        server = await start_server(FaxHandler(config, load_rules(None, config), store), config)
        try:
            port = server.sockets[0].getsockname()[1]
            return [await asyncio.to_thread(_send, host, port, i) for i, host in enumerate(clients)]
        finally:
            server.close()
            await server.wait_closed()
    try:
        refused = asyncio.run(main())
        return refused, [j.number for j in store.jobs()]
    finally:
        store.close()


@needs_ipv6
def test_smtp_over_ipv6_loopback_queues_a_fax(tmp_path, caplog):
    port = _free_port(socket.AF_INET6, "::1")
    caplog.set_level("INFO", logger="mailfax.smtp")
    refused, jobs = _smtp_session(tmp_path, f"[::1]:{port}", ["::1"])
    assert refused == [{}] and jobs == ["+49301234560"]
    assert f"SMTP listening on [::1]:{port} " in caplog.text


@needs_ipv6
def test_smtp_dual_stack_listener_takes_ipv4_clients_under_ipv4_relay_rules(tmp_path):
    port = _free_port(socket.AF_INET6, "::")
    refused, jobs = _smtp_session(tmp_path, f"[::]:{port}", ["127.0.0.1", "::1"])
    assert refused == [{}, {}] and sorted(jobs) == ["+49301234560", "+49301234561"]


# ------------------------------------------------------------------- fax calls over IPv6

async def _answerer(tmp: Path, host: str, trunks: tuple[Trunk, ...]):
    (tmp / "rules.yaml").write_text("outbound: []\n")
    (tmp / "m.yaml").write_text(f"storage: {{data_dir: {tmp / 'd'}}}\nrules: rules.yaml\n")
    config = load_config(tmp / "m.yaml")
    store = ReceivedStore.open(config.storage)
    inbound = InboundService(config, inbound_rules(load_rules(None, config), config), store,
                             MaildirMailer(tmp / "md"))
    phone = await Telephony.open(config, host=host, port=0, inbound=inbound, trunks=trunks)
    return phone, store, config


DECOY = Trunk(name="decoy", host="192.0.2.99")  # first: an unmatched call would land here
V6 = Trunk(name="v6", host="::1", local_ident="+1 555 0106")
V4 = Trunk(name="v4", host="127.0.0.1", local_ident="+1 555 0104")


async def _fax(config, caller_host: str, to: tuple[str, int], n: int):
    caller = await Telephony.open(config, host=caller_host, port=0, trunks=())
    try:
        trunk = Trunk(name="out", host=to[0], port=to[1], caller_id=str(n), local_ident="+1 555 0100")
        return await asyncio.wait_for(caller.send_fax(trunk, "5550199", [sample_page(n)]), 90)
    finally:
        await caller.close()


async def _stored(store: ReceivedStore, n: int):
    for _ in range(100):
        if len(store.faxes()) >= n:
            break
        await asyncio.sleep(0.05)
    return sorted((store.load(f.id) for f in store.faxes()), key=lambda f: f.caller_id)


@needs_ipv6
def test_a_fax_over_ipv6_loopback(tmp_path):
    async def main():
        phone, store, config = await _answerer(tmp_path, "::1", (DECOY, V6))
        try:
            res = await _fax(config, "::1", ("::1", phone.address[1]), 1)
            return res, await _stored(store, 1)
        finally:
            await phone.close()

    res, faxes = asyncio.run(main())
    assert res.ok and res.pages_sent == 1
    (fax,) = faxes
    assert fax.trunk == "v6" and fax.pages[0].same_pixels(sample_page(1))


def _aaaa_only(loop: asyncio.AbstractEventLoop, name: str) -> None:
    """Make ``name`` a host with only an AAAA record (::1) for this loop's getaddrinfo: the
    machine's resolver has no such name, and /etc/hosts is not ours to change."""
    real = loop.getaddrinfo

    async def getaddrinfo(host, port, *, family=0, type=0, proto=0, flags=0):
        if host != name:
            return await real(host, port, family=family, type=type, proto=proto, flags=flags)
        if family not in (socket.AF_UNSPEC, socket.AF_INET6):
            raise socket.gaierror(socket.EAI_NODATA, "No address associated with hostname")
        return await real("::1", port, family=socket.AF_INET6, type=type, proto=proto, flags=flags)
    loop.getaddrinfo = getaddrinfo


@needs_ipv6
def test_a_dual_stack_iax_listener_takes_ipv6_and_ipv4_callers(tmp_path):
    """Both calls at once (one answerer, two callers); the IPv6 caller dials a trunk host name
    with only an AAAA record."""
    async def main():
        _aaaa_only(asyncio.get_running_loop(), "fax6.test")
        phone, store, config = await _answerer(tmp_path, "::", (DECOY, V6, V4))
        try:
            assert phone.protocol.dual_stack and phone.address[0] == "::"
            port = phone.address[1]
            via6, via4 = await asyncio.gather(_fax(config, "::1", ("fax6.test", port), 1),
                                              _fax(config, "127.0.0.1", ("127.0.0.1", port), 2))
            return via6, via4, await _stored(store, 2)
        finally:
            await phone.close()

    via6, via4, faxes = asyncio.run(main())
    assert via6.ok and via4.ok
    assert [(f.caller_id, f.trunk) for f in faxes] == [("1", "v6"), ("2", "v4")]
    assert faxes[1].pages[0].same_pixels(sample_page(2))


@needs_ipv6
def test_a_trunk_name_that_does_not_resolve_is_a_line_failure_not_a_crash(tmp_path):
    async def main():
        (tmp_path / "m.yaml").write_text(f"storage: {{data_dir: {tmp_path / 'd'}}}\n")
        config = load_config(tmp_path / "m.yaml")
        _aaaa_only(asyncio.get_running_loop(), "fax6.test")
        phone = await Telephony.open(config, host="127.0.0.1", port=0, trunks=())
        try:
            return (await phone.send_fax(Trunk(name="gone", host="no-such-host.invalid"), "1", [sample_page(1)]),
                    await phone.send_fax(Trunk(name="v6", host="fax6.test"), "1", [sample_page(1)]))
        finally:
            await phone.close()

    gone, v6_only = asyncio.run(main())
    assert not gone.connected and gone.cause.startswith("trunk gone: no address for no-such-host.invalid: ")
    assert outcome_of(gone, 1).failure is FailureClass.LINE
    # an IPv4 socket cannot reach an AAAA-only trunk: said so, not attempted
    assert v6_only.cause == "trunk v6: no address for fax6.test: No address associated with hostname"


@needs_ipv6
def test_trunk_registration_over_ipv6_from_a_dual_stack_socket(tmp_path):
    """``register: true`` to an IPv6 trunk host (MD5; the REGACK's APPARENT_ADDR is a
    sockaddr_in6); the registrar sees us at ::1."""
    from iax.aio import open_endpoint
    from iax.options import EndpointOptions, Peer

    async def main():
        server = await open_endpoint(("::1", 0), EndpointOptions(
            peers=(Peer("gw", secret="pw", calltoken_required=False),)))
        config = _load(tmp_path, f'storage: {{data_dir: {tmp_path / "d"}}}\niax: {{listen: "[::]:4569"}}\n'
                                 f'trunks: [{{name: pbx, host: "::1", port: {server.local_address[1]}, '
                                 f'username: gw, secret: pw, register: true}}]\n')
        phone = await Telephony.open(config, port=0)
        try:
            for _ in range(100):
                if phone.stats.registrations.get("pbx") == "registered":
                    break
                await asyncio.sleep(0.05)
            return phone.stats.registrations, server.endpoint.registrar.address_of("gw"), phone.address
        finally:
            await phone.close()
            server.close()

    regs, bound, ours = asyncio.run(main())
    assert regs == {"pbx": "registered"} and bound == ("::1", ours[1]) and ours[0] == "::"
