"""rules.yaml, inbound: which received fax goes where, and which calls are refused.

What does it do?  The ``inbound:`` list of ``rules.yaml`` becomes frozen `InboundRule`s.
Each rule matches on the called number (DNID), the caller ID, the remote TSI and the T.30
sub-address; the first matching rule decides.  A rule either rejects the call or names
what to do with the fax: email addresses, IMAP folders (inline server/user/password/folder
or ``account:`` naming an ``imap:`` account of mailfax.yaml), the formats to attach (pdf,
tiff, ps), a subject template and an archive directory.  No matching rule: the fax goes to
the fax master (``inbound.faxmaster`` in mailfax.yaml) as PDF.  Loaded by
`mailfax.rules.load_rules` (``RULE_SECTIONS["inbound"]``) into ``Rules.inbound``.

The telephony side asks twice: `decide_call` before answering (called number and caller
ID are known) and `decide_tsi` after phase B (TSI and sub-address known).  A rule that
needs the TSI cannot decide before answering, so `decide_call` accepts when such a rule
is the first that could match.

How does it work?  Patterns are shell globs (``+4930123*``, ``*555?``) compared with the
value after removing spaces, hyphens, dots and brackets, case-insensitive, so
``+49 30 123`` and ``+4930123`` are the same TSI.  An empty ``match`` matches every fax.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from mailfax.config import ADDRESS_RE, HOST_RE, Config, ConfigError, Node
from mailfax.rules import template

FORMATS = ("pdf", "tiff", "ps")
SUBJECT_FIELDS = ("sender", "tsi", "caller_id", "caller_name", "called", "pages", "fax_id", "date", "time",
                  "subaddress")
DEFAULT_SUBJECT = "Fax from {sender}, {pages} pages"
_STRIP = re.compile(r"[\s\-.()/]")


class CallDecision(enum.Enum):
    ACCEPT = "accept"
    REJECT = "reject"


def _norm(text: str) -> str:
    return _STRIP.sub("", text or "").upper()


@dataclass(frozen=True)
class InboundMatch:
    """Glob patterns per field; an empty tuple does not constrain."""

    called: tuple[str, ...] = ()
    caller_id: tuple[str, ...] = ()
    tsi: tuple[str, ...] = ()
    subaddress: tuple[str, ...] = ()

    @staticmethod
    def _one(patterns: tuple[str, ...], value: str) -> bool:
        return not patterns or any(fnmatchcase(_norm(value), _norm(p)) for p in patterns)

    @property
    def needs_phase_b(self) -> bool:
        """The rule looks at what only phase B tells (TSI, sub-address)."""
        return bool(self.tsi or self.subaddress)

    def matches_call(self, called: str, caller_id: str) -> bool:
        return self._one(self.called, called) and self._one(self.caller_id, caller_id)

    def matches(self, called: str, caller_id: str, tsi: str, subaddress: str = "") -> bool:
        return (self.matches_call(called, caller_id) and self._one(self.tsi, tsi)
                and self._one(self.subaddress, subaddress))


@dataclass(frozen=True)
class ImapTarget:
    """One IMAP folder; ``account`` names the mailfax.yaml account it came from (if any)."""

    host: str
    user: str
    password: str | None = field(default=None, repr=False)
    folder: str = "INBOX"
    port: int = 143
    tls: bool = False
    timeout: float = 30.0
    account: str | None = None

    @property
    def label(self) -> str:
        return f"imap {self.user}@{self.host}:{self.port}/{self.folder}"

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "user": self.user, "password": self.password, "folder": self.folder,
                "port": self.port, "tls": self.tls, "timeout": self.timeout, "account": self.account}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ImapTarget":
        return cls(**d)


@dataclass(frozen=True)
class InboundRule:
    name: str
    match: InboundMatch = InboundMatch()
    reject: bool = False
    emails: tuple[str, ...] = ()
    imap: tuple[ImapTarget, ...] = ()
    formats: tuple[str, ...] = ("pdf",)
    subject: str = DEFAULT_SUBJECT
    archive: Path | None = None


@dataclass(frozen=True)
class InboundRules:
    rules: tuple[InboundRule, ...]
    default: InboundRule


def default_route(config: Config) -> InboundRule:
    """No rule matched: the fax master gets it as PDF."""
    return InboundRule(name="default (fax master)", emails=(config.inbound.faxmaster,))


# ---------------------------------------------------------------- decisions


def decide_call(rules: InboundRules, called: str, caller_id: str) -> CallDecision:
    """Before answering: reject only when the first rule that could match rejects and
    needs nothing from phase B; otherwise answer (a TSI rule decides after phase B)."""
    for rule in rules.rules:
        if not rule.match.matches_call(called, caller_id):
            continue
        if rule.match.needs_phase_b:
            return CallDecision.ACCEPT
        return CallDecision.REJECT if rule.reject else CallDecision.ACCEPT
    return CallDecision.REJECT if rules.default.reject else CallDecision.ACCEPT


def decide_tsi(rules: InboundRules, called: str, caller_id: str, tsi: str, subaddress: str = "") -> CallDecision:
    """After phase B (TSI and sub-address known): the first matching rule decides."""
    rule = route(rules, called, caller_id, tsi, subaddress)
    return CallDecision.REJECT if rule.reject else CallDecision.ACCEPT


def route(rules: InboundRules, called: str, caller_id: str, tsi: str, subaddress: str = "") -> InboundRule:
    """The rule for a fax: the first that matches, else the default route."""
    for rule in rules.rules:
        if rule.match.matches(called, caller_id, tsi, subaddress):
            return rule
    return rules.default


def route_fax(rules: InboundRules, fax) -> InboundRule:
    """`route` for a `mailfax.received.ReceivedFax`; a fax that arrived despite a rejecting
    rule (the call side did not ask) goes to the fax master rather than nowhere."""
    rule = route(rules, fax.called, fax.caller_id, fax.tsi, fax.subaddress)
    return rules.default if rule.reject else rule


# ---------------------------------------------------------------- loading


def _globs(node: Node, what: str) -> tuple[str, ...]:
    return tuple(p.str(pattern=r"[\w+*?\[\]!\-. ()/#]{1,40}", what=what) for p in node.items())


def _match(node: Node) -> InboundMatch:
    node.mapping(("called", "caller_id", "tsi", "subaddress"))
    return InboundMatch(
        called=_globs(node.child("called"), "a number pattern such as +4930123* or 50"),
        caller_id=_globs(node.child("caller_id"), "a number pattern such as +4989*"),
        tsi=_globs(node.child("tsi"), "a TSI pattern such as '+49 89*'"),
        subaddress=_globs(node.child("subaddress"), "a sub-address pattern such as 12*"),
    )


def _imap(node: Node, config: Config) -> ImapTarget:
    if isinstance(node.value, str):  # just the name of a configured account
        node.value = {"account": node.value}
    node.mapping(("account", "host", "port", "tls", "user", "password", "folder", "timeout"))
    folder_node = node.child("folder")
    name = node.child("account").str(None)
    if name is not None:
        acc = config.imap_account(name)
        if acc is None:
            known = ", ".join(a.name for a in config.imap_accounts) or "none configured"
            raise node.child("account").fail(f"an imap account from mailfax.yaml ({known})")
        for key in ("host", "port", "tls", "user", "password"):
            if node.value.get(key) is not None:
                raise node.child(key).fail(f"nothing (the account '{name}' sets it)")
        return ImapTarget(acc.host, acc.user, acc.password, _folder(folder_node, acc.folder), acc.port, acc.tls,
                          acc.timeout, account=name)
    tls = node.child("tls").bool(False)
    return ImapTarget(
        host=node.child("host").str(pattern=HOST_RE, what="a host name (or account: NAME)"),
        user=node.child("user").str(what="a user name"),
        password=node.child("password").str(what="a password"),
        folder=_folder(folder_node, "INBOX"),
        port=node.child("port").int(993 if tls else 143, lo=1, hi=65535),
        tls=tls,
        timeout=node.child("timeout").duration(30.0),
    )


def _folder(node: Node, default: str) -> str:
    return node.str(default, pattern=r"[^\r\n\"\\*%]{1,200}", what="an IMAP folder name")


def _subject(node: Node) -> str:
    return template(node, DEFAULT_SUBJECT, SUBJECT_FIELDS, "a subject template")


def _rule(node: Node, index: int, config: Config, base: Path) -> InboundRule:
    node.mapping(("name", "match", "reject", "deliver", "archive"))
    reject = node.child("reject").bool(False)
    deliver = node.child("deliver").mapping(("email", "imap", "formats", "subject"))
    archive_text = node.child("archive").str(None, what="a directory path")
    archive = None if archive_text is None else (Path(archive_text) if Path(archive_text).is_absolute()
                                                  else base / archive_text)
    emails = tuple(a.str(pattern=ADDRESS_RE, what="an address").lower() for a in deliver.child("email").items())
    imap = tuple(_imap(t, config) for t in deliver.child("imap").items())
    formats_node = deliver.child("formats")
    formats = tuple(f.choice(FORMATS) for f in formats_node.items()) or ("pdf",)
    if reject and (deliver.value or archive is not None):
        raise node.child("reject").fail("false when the rule also delivers or archives", True)
    if not reject and not (emails or imap or archive is not None):
        raise node.fail("a rule with deliver.email, deliver.imap, archive or reject: true")
    if formats_node.value is not None and not formats_node.items():
        raise formats_node.fail(f"one or more of {', '.join(FORMATS)}")
    return InboundRule(
        name=node.child("name").str(f"inbound{index}"),
        match=_match(node.child("match")),
        reject=reject,
        emails=emails,
        imap=imap,
        formats=tuple(dict.fromkeys(formats)),
        subject=_subject(deliver.child("subject")),
        archive=archive,
    )


def parse_inbound(node: Node, config: Config) -> InboundRules:
    """The ``inbound:`` list (absent: everything to the fax master).  A relative archive
    directory is taken relative to the data directory (``storage.data_dir``)."""
    base = config.storage.data_dir
    if node.value is not None and not isinstance(node.value, list):
        raise node.fail("a list of inbound rules")
    rules = tuple(_rule(r, i, config, base) for i, r in enumerate(node.items()))
    names = [r.name for r in rules]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise node.child(i).child("name").fail("a name not used by another inbound rule", name)
    return InboundRules(rules, default_route(config))


def inbound_rules(rules, config: Config) -> InboundRules:
    """The inbound part of a loaded `mailfax.rules.Rules` (the default route when it has none)."""
    found = getattr(rules, "inbound", None)
    return found if found is not None else InboundRules((), default_route(config))


def load_inbound(path: str | Path | None, config: Config) -> InboundRules:
    """Load only the inbound rules (``path``, else the config's ``rules:``)."""
    from mailfax.rules import load_rules

    if path is None and config.rules_file is None:
        return InboundRules((), default_route(config))
    return inbound_rules(load_rules(path, config), config)


def describe(rules: InboundRules) -> dict[str, Any]:
    """The normalised inbound rules as plain data for `mailfax check-config` (passwords masked)."""
    def one(r: InboundRule) -> dict[str, Any]:
        m = {k: list(v) for k, v in vars(r.match).items() if v}
        if r.reject:
            return {"name": r.name, "match": m or "any", "reject": True}
        return {
            "name": r.name, "match": m or "any",
            "deliver": {"email": list(r.emails),
                        "imap": [dict(t.to_json(), password="***" if t.password else None) for t in r.imap],
                        "formats": list(r.formats), "subject": r.subject},
            "archive": str(r.archive) if r.archive else None,
        }
    return {"rules": [one(r) for r in rules.rules], "default": one(rules.default)}


__all__ = ["CallDecision", "ConfigError", "ImapTarget", "InboundMatch", "InboundRule", "InboundRules",
           "decide_call", "decide_tsi", "route", "route_fax", "parse_inbound", "inbound_rules", "load_inbound",
           "describe", "FORMATS"]
