"""Server configuration: one YAML file loaded once into frozen dataclasses.

What does it do?  `load_config(path)` reads ``mailfax.yaml`` (or nothing: every key has an
embedded default, so ``mailfax serve`` runs with no file at all) and returns a `Config`.
No raw dict travels further in.  Every error is a `ConfigError` naming the file, the key
path and what was expected, e.g. ``mailfax.yaml: trunks[0].port: expected an integer
1..65535, got 'x'``.

How does it work?  A `Node` wraps one YAML value with its file and key path and offers
typed getters; each top-level section has its own small parser function registered in
`SECTIONS`, so another section (the inbound side of issue 7) is one more function and one
more field.  Unknown keys are errors (a typo must not silently fall back to a default).

Default data directory: ``/var/lib/mailfax`` for root, else ``$XDG_DATA_HOME/mailfax``
(``~/.local/share/mailfax`` when unset).  The spool and the SQLite queue live under it, so
``mailfax send`` and ``mailfax serve`` find the same queue without a config file.
Secrets (trunk secrets, SMTP passwords) are excluded from ``repr`` and printed as ``***``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from mailfax import MailfaxError
from mailfax.jobs import RetryPolicy
from mailfax.netaddr import LISTEN_EXAMPLE, hostport, parse_host, parse_listen

DEFAULT_CONFIG_PATHS = ("/etc/mailfax/mailfax.yaml",)


class ConfigError(MailfaxError):
    """A config or rules file that cannot be used; the message names file and key path."""


_MISSING = object()


class Node:
    """One YAML value with where it came from, and typed getters that fail helpfully."""

    def __init__(self, value: Any, file: str, path: str = "") -> None:
        self.value = value
        self.file = file
        self.path = path

    def fail(self, expected: str, value: Any = _MISSING) -> ConfigError:
        got = self.value if value is _MISSING else value
        where = self.path or "(top level)"
        return ConfigError(f"{self.file}: {where}: expected {expected}, got {got!r}")

    def child(self, key: str | int) -> "Node":
        sub = f"{self.path}[{key}]" if isinstance(key, int) else (f"{self.path}.{key}" if self.path else key)
        if isinstance(key, int):
            return Node(self.value[key], self.file, sub)
        return Node(self.value.get(key) if isinstance(self.value, dict) else None, self.file, sub)

    def mapping(self, allowed: tuple[str, ...] | None = None) -> "Node":
        """This node as a mapping (None counts as empty); unknown keys are errors."""
        if self.value is None:
            self.value = {}
        if not isinstance(self.value, dict):
            raise self.fail("a mapping")
        if allowed is not None:
            for key in self.value:
                if key not in allowed:
                    raise self.child(str(key)).fail(f"one of the keys {', '.join(allowed)}", key)
        return self

    def items(self) -> list["Node"]:
        """This node as a list of child nodes (None counts as empty, a scalar as one item)."""
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            self.value = [self.value]
        return [self.child(i) for i in range(len(self.value))]

    def str(self, default: Any = _MISSING, *, pattern: str | None = None, what: str = "a string") -> Any:
        if self.value is None:
            if default is _MISSING:
                raise self.fail(what)
            return default
        if isinstance(self.value, bool) or not isinstance(self.value, (str, int)):
            raise self.fail(what)
        text = str(self.value)
        if pattern is not None and not re.fullmatch(pattern, text):
            raise self.fail(what)
        return text

    def int(self, default: Any = _MISSING, *, lo: int | None = None, hi: int | None = None) -> Any:
        what = "an integer" + (f" {lo}..{hi}" if lo is not None and hi is not None else f" >= {lo}" if lo is not None else "")
        if self.value is None:
            if default is _MISSING:
                raise self.fail(what)
            return default
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.fail(what)
        if (lo is not None and self.value < lo) or (hi is not None and self.value > hi):
            raise self.fail(what)
        return self.value

    def bool(self, default: Any = _MISSING) -> Any:
        if self.value is None:
            if default is _MISSING:
                raise self.fail("true or false")
            return default
        if not isinstance(self.value, bool):
            raise self.fail("true or false")
        return self.value

    def choice(self, options: tuple[str, ...], default: Any = _MISSING) -> Any:
        what = "one of " + ", ".join(options)
        if self.value is None and default is not _MISSING:
            return default
        if isinstance(self.value, bool) and "never" in options and self.value is False:
            return "never"
        if not isinstance(self.value, str) or self.value not in options:
            raise self.fail(what)
        return self.value

    def size(self, default: int) -> int:
        """Bytes, as an integer or with a unit: ``512KB``, ``25MB``, ``1GB``."""
        if self.value is None:
            return default
        if isinstance(self.value, int) and not isinstance(self.value, bool) and self.value > 0:
            return self.value
        m = re.fullmatch(r"\s*(\d+)\s*([KMG]i?B?|B)?\s*", str(self.value), re.I)
        if not m or isinstance(self.value, bool):
            raise self.fail("a size such as 25MB or 1048576")
        unit = (m.group(2) or "B").upper()[:1]
        return int(m.group(1)) * {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]

    def duration(self, default: float) -> float:
        """Seconds, as a number or with a unit: ``90s``, ``5m``, ``3h``, ``1d``."""
        if self.value is None:
            return default
        if isinstance(self.value, (int, float)) and not isinstance(self.value, bool) and self.value >= 0:
            return float(self.value)
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(self.value))
        if not m or isinstance(self.value, bool):
            raise self.fail("a duration such as 90s, 5m or 3h")
        return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


ADDRESS_RE = r"[^@\s<>]+@[^@\s<>]+\.?[^@\s<>]*"
HOST_RE = r"[A-Za-z0-9_.:\-\[\]]+"


# ---------------------------------------------------------------- sections


@dataclass(frozen=True)
class SmtpConfig:
    """The SMTP listener (issue 6): where it listens, TLS, AUTH users, size limit."""

    host: str = "127.0.0.1"
    port: int = 10025
    hostname: str = "mailfax.localhost"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_message_size: int = 25 * 1024 * 1024
    users: dict[str, str] = field(default_factory=dict, repr=False)
    #: user -> envelope senders that user may use (absent: any); stops AUTH users spoofing others
    user_addresses: dict[str, frozenset[str]] = field(default_factory=dict)
    require_tls: bool = False          # refuse MAIL before STARTTLS (RFC 3207 §4)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


@dataclass(frozen=True)
class DialingConfig:
    """Where we are in the numbering plan; used to normalise and classify numbers."""

    country_code: str | None = None
    area_code: str | None = None
    national_prefix: str = "0"
    international_prefix: str = "00"
    national_length: int | None = None
    premium: tuple[str, ...] = ()


@dataclass(frozen=True)
class StorageConfig:
    data_dir: Path
    spool_dir: Path
    queue_db: Path


@dataclass(frozen=True)
class Trunk:
    """One IAX2 trunk (a peer we place calls through)."""

    name: str
    host: str
    port: int = 4569
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    register: bool = False
    channels: int = 1
    caller_id: str | None = None
    local_ident: str = ""


@dataclass(frozen=True)
class RelayConfig:
    """The SMTP relay used for reports and received faxes."""

    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    from_address: str = "mailfax@localhost"
    timeout: float = 60.0


@dataclass(frozen=True)
class LimitsConfig:
    max_pages: int = 100
    render_timeout: float = 120.0
    max_documents: int = 50
    max_recipients: int = 100


@dataclass(frozen=True)
class ImapAccount:
    """A named IMAP account received faxes can be appended to (issue 7; rules.yaml refers to it)."""

    name: str
    host: str
    port: int = 143
    tls: bool = False                  # implicit TLS (IMAPS, port 993)
    user: str = ""
    password: str | None = field(default=None, repr=False)
    folder: str = "INBOX"
    timeout: float = 30.0


@dataclass(frozen=True)
class IaxConfig:
    """Our IAX2 endpoint: where it listens, and how long one ring lasts when answering."""

    host: str = "0.0.0.0"
    port: int = 4569
    ring_period: float = 6.0           # seconds per ring (answer after inbound.rings rings)


@dataclass(frozen=True)
class InboundConfig:
    """Received faxes (issue 7): who is the fax master, limits the telephony side reads,
    how long and how often delivery is retried, the sender address of fax emails."""

    faxmaster: str = "faxmaster@localhost"
    from_address: str | None = None    # None: the relay's from address
    rings: int = 1                     # answer after this many rings
    max_pages: int = 100               # per received fax; more pages end the call
    max_calls_per_trunk: int | None = None  # None: the trunk's channels
    retry_first: float = 60.0          # first delivery retry after this long, doubling ...
    retry_max: float = 3600.0          # ... up to this
    give_up_after: float = 5 * 86400.0  # like MTAs' queue lifetime (Postfix: 5 d)

    def max_calls(self, trunk: "Trunk") -> int:
        """Concurrent inbound calls allowed on ``trunk``."""
        return self.max_calls_per_trunk if self.max_calls_per_trunk is not None else trunk.channels


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus endpoint (issue 8): ``metrics: {listen: 127.0.0.1:9466}``; port 0 = off."""

    host: str = "127.0.0.1"
    port: int = 0


@dataclass(frozen=True)
class RecordingConfig:
    """Recording of call audio for diagnosis (issue 8): ``recording: {enabled: true, dir: ...,
    calls: all|failed, max_length: 30m}``.  One stereo 8 kHz WAV per call (left = heard,
    right = sent); ``calls: failed`` deletes the recordings of successful calls at call end;
    a call longer than ``max_length`` is recorded up to that length (bounded memory and disk)."""

    enabled: bool = False
    dir: Path | None = None            # None: <data_dir>/recordings
    calls: str = "all"                 # "all" | "failed"
    max_length: float = 1800.0         # seconds of audio per call

    def directory(self, data_dir: Path) -> Path:
        return self.dir if self.dir is not None else Path(data_dir) / "recordings"


@dataclass(frozen=True)
class RetentionConfig:
    """``retention:``: how long finished work is kept before ``mailfax cleanup`` (and the
    daily pass in ``serve``) removes it, like HylaFAX's faxcron/faxqclean.  0 keeps forever.
    Only finished work ages out: a job still queued or a fax not yet delivered is never removed."""

    jobs: float = 30 * 86400.0          # done/failed/cancelled jobs: rows, spooled message, pages
    received: float = 30 * 86400.0      # received faxes once delivered (or given up and alerted)
    session_logs: float = 30 * 86400.0  # per-call session logs
    recordings: float = 7 * 86400.0     # call recordings (WAV)


@dataclass(frozen=True)
class ShutdownConfig:
    """``shutdown: {grace: 2m}``: on SIGTERM, how long calls in progress may run to their end
    before they are hung up (a second SIGTERM or SIGINT hangs up at once).  New mail and new
    calls are refused from the first signal."""

    grace: float = 120.0


@dataclass(frozen=True)
class Config:
    """The whole server configuration, as loaded (see module docstring)."""

    source: str
    smtp: SmtpConfig
    fax_domains: tuple[str, ...]
    dialing: DialingConfig
    storage: StorageConfig
    trunks: tuple[Trunk, ...]
    relay: RelayConfig
    limits: LimitsConfig
    retry: RetryPolicy
    rules_file: Path | None
    inbound: InboundConfig = InboundConfig()
    imap_accounts: tuple[ImapAccount, ...] = ()
    metrics: MetricsConfig = MetricsConfig()
    iax: IaxConfig = IaxConfig()
    recording: RecordingConfig = RecordingConfig()
    retention: RetentionConfig = RetentionConfig()
    shutdown: ShutdownConfig = ShutdownConfig()

    def imap_account(self, name: str) -> ImapAccount | None:
        return next((a for a in self.imap_accounts if a.name == name), None)

    def trunk(self, name: str | None) -> Trunk | None:
        for t in self.trunks:
            if name is None or t.name == name:
                return t
        return None


def default_data_dir(env: dict[str, str] | None = None, uid: int | None = None) -> Path:
    """``/var/lib/mailfax`` for root, else ``$XDG_DATA_HOME/mailfax`` or ``~/.local/share/mailfax``."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    if uid == 0:
        return Path("/var/lib/mailfax")
    base = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "share")
    return Path(base) / "mailfax"


def _path(node: Node, base: Path, default: Path | None) -> Path | None:
    text = node.str(None, what="a path")
    if text is None:
        return default
    p = Path(os.path.expanduser(text))
    return p if p.is_absolute() else base / p


def _listen(node: Node) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``:PORT`` (see `mailfax.netaddr.parse_listen`)."""
    text = node.str("127.0.0.1:10025", what=LISTEN_EXAMPLE)
    parsed, expected = parse_listen(text)
    if parsed is None:
        raise node.fail(expected)
    return parsed


def _host(node: Node) -> str:
    """A trunk host: a name, IPv4, or IPv6 bare or bracketed (`mailfax.netaddr.parse_host`)."""
    host, expected = parse_host(node.str(what="a host name or address"))
    if host is None:
        raise node.fail(expected)
    return host


def parse_smtp(node: Node, base: Path) -> SmtpConfig:
    node.mapping(("listen", "hostname", "tls", "max_message_size", "users", "require_tls"))
    host, port = _listen(node.child("listen"))
    tls = node.child("tls").mapping(("cert", "key"))
    cert = _path(tls.child("cert"), base, None)
    key = _path(tls.child("key"), base, cert)
    if key is not None and cert is None:
        raise tls.child("cert").fail("a certificate path (a key was given)")
    require_tls = node.child("require_tls").bool(False)
    if require_tls and cert is None:
        raise node.child("require_tls").fail("false unless tls.cert and tls.key are set", True)
    users: dict[str, str] = {}
    owned: dict[str, frozenset[str]] = {}
    unode = node.child("users").mapping()
    for name in unode.value:
        u = unode.child(str(name))
        if isinstance(u.value, dict):  # {password: ..., addresses: [...]}
            u.mapping(("password", "addresses"))
            users[str(name)] = u.child("password").str(what="a password")
            owned[str(name)] = frozenset(a.str(pattern=ADDRESS_RE, what="an address").lower()
                                         for a in u.child("addresses").items())
        else:
            users[str(name)] = u.str(what="a password, or {password, addresses}")
    return SmtpConfig(
        host=host, port=port,
        hostname=node.child("hostname").str("mailfax.localhost", pattern=HOST_RE, what="a host name"),
        tls_cert=cert, tls_key=key,
        max_message_size=node.child("max_message_size").size(SmtpConfig.max_message_size),
        users=users,
        user_addresses=owned,
        require_tls=require_tls,
    )


def parse_fax(node: Node, base: Path) -> tuple[str, ...]:
    node.mapping(("domains",))
    domains = tuple(d.str(pattern=r"[A-Za-z0-9.\-]+", what="a domain name").lower() for d in node.child("domains").items())
    return domains or ("fax.localhost",)


def parse_dialing(node: Node, base: Path) -> DialingConfig:
    from mailfax.addresses import default_premium

    node.mapping(("country_code", "area_code", "national_prefix", "international_prefix", "national_length", "premium"))
    digits = r"\d{1,6}"
    cc = node.child("country_code").str(None, pattern=r"\+?\d{1,3}", what="a country code such as 49")
    cc = cc.lstrip("+") if cc else None
    premium_node = node.child("premium")
    if premium_node.value is None:
        premium = default_premium(cc)
    else:
        premium = tuple(p.str(pattern=r"\+[\d*?\[\]\-]+", what="an E.164 pattern such as +49900*") for p in premium_node.items())
    return DialingConfig(
        country_code=cc,
        area_code=node.child("area_code").str(None, pattern=digits, what="digits"),
        national_prefix=node.child("national_prefix").str("1" if cc == "1" else "0", pattern=r"\d{0,3}", what="digits"),
        international_prefix=node.child("international_prefix").str("011" if cc == "1" else "00", pattern=r"\d{1,4}", what="digits"),
        national_length=node.child("national_length").int(10 if cc == "1" else None, lo=4, hi=15),
        premium=premium,
    )


def parse_storage(node: Node, base: Path) -> StorageConfig:
    node.mapping(("data_dir", "spool_dir", "queue_db"))
    data = _path(node.child("data_dir"), base, default_data_dir())
    return StorageConfig(
        data_dir=data,
        spool_dir=_path(node.child("spool_dir"), data, data / "spool"),
        queue_db=_path(node.child("queue_db"), data, data / "queue.sqlite"),
    )


def parse_trunks(node: Node, base: Path) -> tuple[Trunk, ...]:
    trunks = []
    for i, t in enumerate(node.items()):
        t.mapping(("name", "host", "port", "username", "secret", "register", "channels", "caller_id", "local_ident"))
        trunks.append(Trunk(
            name=t.child("name").str(f"trunk{i}", pattern=r"[\w.\-]+", what="a name (letters, digits, . - _)"),
            host=_host(t.child("host")),
            port=t.child("port").int(4569, lo=1, hi=65535),
            username=t.child("username").str(None),
            secret=t.child("secret").str(None),
            register=t.child("register").bool(False),
            channels=t.child("channels").int(1, lo=1, hi=1000),
            caller_id=t.child("caller_id").str(None, pattern=r"\+?[\d ]+", what="a phone number"),
            local_ident=t.child("local_ident").str("", pattern=r"[\d +]{0,20}", what="up to 20 digits, spaces and + (T.30 TSI)"),
        ))
    names = [t.name for t in trunks]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise node.child(i).child("name").fail("a name not used by another trunk", name)
    return tuple(trunks)


def parse_relay(node: Node, base: Path) -> RelayConfig:
    node.mapping(("host", "port", "starttls", "tls", "username", "password", "from", "timeout"))
    tls = node.child("tls").bool(False)
    return RelayConfig(
        host=node.child("host").str("localhost", pattern=HOST_RE, what="a host name"),
        port=node.child("port").int(465 if tls else 25, lo=1, hi=65535),
        starttls=node.child("starttls").bool(False),
        tls=tls,
        username=node.child("username").str(None),
        password=node.child("password").str(None),
        from_address=node.child("from").str("mailfax@localhost", pattern=ADDRESS_RE, what="an address"),
        timeout=node.child("timeout").duration(60.0),
    )


def parse_limits(node: Node, base: Path) -> LimitsConfig:
    node.mapping(("max_pages", "render_timeout", "max_documents", "max_recipients"))
    return LimitsConfig(
        max_pages=node.child("max_pages").int(100, lo=1),
        render_timeout=node.child("render_timeout").duration(120.0),
        max_documents=node.child("max_documents").int(50, lo=1),
        max_recipients=node.child("max_recipients").int(100, lo=1),
    )


def parse_retry(node: Node, base: Path, default: RetryPolicy | None = None) -> RetryPolicy:
    """Retry policy (HylaFAX defaults: busy 3 min, no answer 5 min, protocol 1 min, 12 dials, 3 tries, 3 h)."""
    d = default or RetryPolicy()
    node.mapping(("busy", "no_answer", "protocol", "other", "max_dials", "max_tries", "give_up_after"))
    return RetryPolicy(
        busy=node.child("busy").duration(d.busy),
        no_answer=node.child("no_answer").duration(d.no_answer),
        protocol=node.child("protocol").duration(d.protocol),
        other=node.child("other").duration(d.other),
        max_dials=node.child("max_dials").int(d.max_dials, lo=1),
        max_tries=node.child("max_tries").int(d.max_tries, lo=1),
        give_up_after=node.child("give_up_after").duration(d.give_up_after),
    )


def parse_rules_file(node: Node, base: Path) -> Path | None:
    return _path(node, base, None)


def parse_inbound(node: Node, base: Path) -> InboundConfig:
    node.mapping(("faxmaster", "from", "rings", "max_pages", "max_calls_per_trunk", "retry_first",
                  "retry_max", "give_up_after"))
    d = InboundConfig()
    return InboundConfig(
        faxmaster=node.child("faxmaster").str(d.faxmaster, pattern=ADDRESS_RE, what="an address"),
        from_address=node.child("from").str(None, pattern=ADDRESS_RE, what="an address"),
        rings=node.child("rings").int(d.rings, lo=0, hi=20),
        max_pages=node.child("max_pages").int(d.max_pages, lo=1),
        max_calls_per_trunk=node.child("max_calls_per_trunk").int(None, lo=1, hi=1000),
        retry_first=node.child("retry_first").duration(d.retry_first),
        retry_max=node.child("retry_max").duration(d.retry_max),
        give_up_after=node.child("give_up_after").duration(d.give_up_after),
    )


def parse_imap(node: Node, base: Path) -> tuple[ImapAccount, ...]:
    """``imap: {NAME: {host, port, tls, user, password, folder, timeout}}``."""
    node.mapping()
    accounts = []
    for name in node.value:
        a = node.child(str(name)).mapping(("host", "port", "tls", "user", "password", "folder", "timeout"))
        tls = a.child("tls").bool(False)
        accounts.append(ImapAccount(
            name=str(name),
            host=a.child("host").str(pattern=HOST_RE, what="a host name"),
            port=a.child("port").int(993 if tls else 143, lo=1, hi=65535),
            tls=tls,
            user=a.child("user").str(what="a user name"),
            password=a.child("password").str(what="a password"),
            folder=a.child("folder").str("INBOX", pattern=r"[^\r\n\"]+", what="a folder name"),
            timeout=a.child("timeout").duration(30.0),
        ))
    return tuple(accounts)


def parse_iax(node: Node, base: Path) -> IaxConfig:
    """``iax: {listen: HOST:PORT, ring_period: 6s}`` (default 0.0.0.0:4569)."""
    node.mapping(("listen", "ring_period"))
    host, port = ("0.0.0.0", 4569) if node.value is None or node.child("listen").value is None \
        else _listen(node.child("listen"))
    return IaxConfig(host=host, port=port, ring_period=node.child("ring_period").duration(6.0))


def parse_metrics(node: Node, base: Path) -> MetricsConfig:
    node.mapping(("listen",))
    if node.child("listen").value is None:
        return MetricsConfig()
    host, port = _listen(node.child("listen"))
    return MetricsConfig(host=host, port=port)


def parse_recording(node: Node, base: Path) -> RecordingConfig:
    """``recording: {enabled: false, dir: PATH, calls: all|failed, max_length: 30m}``."""
    node.mapping(("enabled", "dir", "calls", "max_length"))
    length = node.child("max_length").duration(1800.0)
    if length <= 0:
        raise node.child("max_length").fail("a duration above 0 such as 30m")
    return RecordingConfig(enabled=node.child("enabled").bool(False), dir=_path(node.child("dir"), base, None),
                           calls=node.child("calls").choice(("all", "failed"), "all"), max_length=length)


def parse_retention(node: Node, base: Path) -> RetentionConfig:
    """``retention: {jobs: 30d, received: 30d, session_logs: 30d, recordings: 7d}`` (0: keep)."""
    keys = ("jobs", "received", "session_logs", "recordings")
    node.mapping(keys)
    d = RetentionConfig()
    return RetentionConfig(**{k: node.child(k).duration(getattr(d, k)) for k in keys})


def parse_shutdown(node: Node, base: Path) -> ShutdownConfig:
    """``shutdown: {grace: 2m}``."""
    node.mapping(("grace",))
    return ShutdownConfig(grace=node.child("grace").duration(ShutdownConfig.grace))


#: top-level key -> (Config field, parser).  One function per section; add new sections here.
SECTIONS: dict[str, tuple[str, Callable[[Node, Path], Any]]] = {
    "smtp": ("smtp", parse_smtp),
    "fax": ("fax_domains", parse_fax),
    "dialing": ("dialing", parse_dialing),
    "storage": ("storage", parse_storage),
    "trunks": ("trunks", parse_trunks),
    "relay": ("relay", parse_relay),
    "limits": ("limits", parse_limits),
    "retry": ("retry", parse_retry),
    "rules": ("rules_file", parse_rules_file),
    "inbound": ("inbound", parse_inbound),
    "imap": ("imap_accounts", parse_imap),
    "metrics": ("metrics", parse_metrics),
    "iax": ("iax", parse_iax),
    "recording": ("recording", parse_recording),
    "retention": ("retention", parse_retention),
    "shutdown": ("shutdown", parse_shutdown),
}


def read_yaml(path: Path) -> Node:
    """Parse one YAML file into a `Node`; unreadable or malformed files are `ConfigError`s."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        raise ConfigError(f"{name}: {where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    return Node(value, name)


def config_from_node(root: Node, base: Path, source: str) -> Config:
    root.mapping(tuple(SECTIONS))
    values = {fname: parse(root.child(key), base) for key, (fname, parse) in SECTIONS.items()}
    return Config(source=source, **values)


def find_config(explicit: str | os.PathLike | None) -> Path | None:
    """The config file to use: the explicit one, $MAILFAX_CONFIG, /etc/mailfax/mailfax.yaml, or none."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("MAILFAX_CONFIG")
    if env:
        return Path(env)
    for p in DEFAULT_CONFIG_PATHS:
        if Path(p).is_file():
            return Path(p)
    return None


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load the config (or the embedded defaults when ``path`` is None)."""
    if path is None:
        return config_from_node(Node(None, "(defaults)"), Path.cwd(), "(embedded defaults)")
    p = Path(path)
    return config_from_node(read_yaml(p), p.resolve().parent, str(p))


def describe(config: Config) -> dict[str, Any]:
    """The normalised config as plain data for `mailfax check-config`, secrets masked."""
    def mask(v: str | None) -> str | None:
        return None if v is None else "***"

    return {
        "source": config.source,
        "smtp": {
            "listen": hostport(config.smtp.host, config.smtp.port), "hostname": config.smtp.hostname,
            "tls": {"cert": str(config.smtp.tls_cert), "key": str(config.smtp.tls_key)} if config.smtp.tls else None,
            "max_message_size": config.smtp.max_message_size,
            "require_tls": config.smtp.require_tls,
            "users": {u: ({"password": "***", "addresses": sorted(config.smtp.user_addresses[u])}
                          if u in config.smtp.user_addresses else "***") for u in config.smtp.users},
        },
        "fax": {"domains": list(config.fax_domains)},
        "dialing": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config.dialing).items()},
        "storage": {k: str(v) for k, v in vars(config.storage).items()},
        "trunks": [dict(vars(t), secret=mask(t.secret)) for t in config.trunks],
        "relay": dict(vars(config.relay), password=mask(config.relay.password)),
        "limits": dict(vars(config.limits)),
        "retry": dict(vars(config.retry)),
        "rules": str(config.rules_file) if config.rules_file else "(embedded defaults)",
        "inbound": dict(vars(config.inbound)),
        "imap": {a.name: dict(vars(a), password=mask(a.password)) for a in config.imap_accounts},
        "metrics": hostport(config.metrics.host, config.metrics.port) if config.metrics.port else None,
        "iax": {"listen": hostport(config.iax.host, config.iax.port), "ring_period": config.iax.ring_period,
                "line": "trunks" if config.trunks else "built-in loopback line (no trunk configured)"},
        "recording": {"enabled": config.recording.enabled, "calls": config.recording.calls,
                      "dir": str(config.recording.directory(config.storage.data_dir)),
                      "max_length": config.recording.max_length},
        "retention": dict(vars(config.retention)),
        "shutdown": dict(vars(config.shutdown)),
    }
