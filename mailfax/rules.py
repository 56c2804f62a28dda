"""rules.yaml, outbound: who may fax where, and how.  First match wins; the default is deny.

What does it do?  `load_rules(path, config)` reads ``rules.yaml`` into frozen `Rule`s and
`decide(rules, sender, number)` answers one RCPT: `Accepted` (with the rule, the
normalised number and the digits to dial) or `Refused` (an SMTP code and the reason).

How does it work?  A rule's ``from`` clause matches when every kind of criterion it lists
matches (addresses/domains, authenticated users, trusted relay networks), so "example.com
AND from 10.0.0.0/8" is expressible and a forged envelope sender alone does not pass.
The first rule whose ``from`` matches decides; its ``numbers`` clause then allows or
denies the destination: premium and international numbers need ``premium: true`` /
``international: true``; a non-empty ``allow`` list must match; ``deny`` must not.
Patterns are globs over E.164 (``+4930*``).  Without a rules file the embedded default
trusts local senders (127.0.0.0/8, ::1) for any non-premium number.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mailfax.addresses import BadNumber, DialForm, Number, NumberClass, dial_string, normalise
from mailfax.config import ADDRESS_RE, Config, ConfigError, Node, parse_retry, read_yaml
from mailfax.jobs import RetryPolicy


class Notify(enum.Enum):
    ALWAYS = "always"
    FAILURE = "failure"
    NEVER = "never"


class BodyUse(enum.Enum):
    """What the message body text becomes."""

    COVER = "cover"            # a cover page with the fields and the body as comments
    FIRST_PAGE = "first-page"  # the body as a plain text page before the attachments
    IGNORE = "ignore"


COVER_FIELDS = ("to", "from", "subject", "date", "pages", "comments")
TTI_FIELDS = ("date", "time", "ident", "from", "to", "page", "pages", "job")


@dataclass(frozen=True)
class SenderMatch:
    """A rule's ``from`` clause; empty kinds do not constrain."""

    any: bool = False
    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    authenticated: bool = False
    users: frozenset[str] = frozenset()
    relays: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def matches(self, sender: "Sender") -> bool:
        if self.any:
            return True
        addr = sender.address.lower()
        if self.addresses or self.domains:
            domain = addr.rpartition("@")[2]
            if addr not in self.addresses and domain not in self.domains:
                return False
        if self.users and sender.user not in self.users:
            return False
        if self.authenticated and sender.user is None:
            return False
        if self.relays:
            try:
                ip = ipaddress.ip_address((sender.peer or "").split("%")[0])
            except ValueError:
                return False
            if getattr(ip, "ipv4_mapped", None):
                ip = ip.ipv4_mapped
            if not any(ip in net for net in self.relays):
                return False
        return True


@dataclass(frozen=True)
class NumberPolicy:
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    international: bool = False
    premium: bool = False

    def check(self, number: Number) -> str | None:
        """None when allowed, else the reason for refusing."""
        from fnmatch import fnmatchcase

        if number.kind is NumberClass.PREMIUM and not self.premium:
            return f"{number.e164} is a premium-rate number"
        if number.kind is NumberClass.INTERNATIONAL and not self.international:
            return f"{number.e164} is an international number"
        if any(fnmatchcase(number.e164, p) for p in self.deny):
            return f"{number.e164} is on the deny list"
        if self.allow and not any(fnmatchcase(number.e164, p) for p in self.allow):
            return f"{number.e164} is not on the allow list"
        return None


@dataclass(frozen=True)
class Rewrite:
    match: re.Pattern
    replace: str


@dataclass(frozen=True)
class DialPolicy:
    form: DialForm = DialForm.NATIONAL
    prefix: str = ""
    rewrite: tuple[Rewrite, ...] = ()


@dataclass(frozen=True)
class CoverPolicy:
    body: BodyUse = BodyUse.FIRST_PAGE
    fields: tuple[str, ...] = COVER_FIELDS


@dataclass(frozen=True)
class Rule:
    name: str
    sender: SenderMatch
    numbers: NumberPolicy = NumberPolicy()
    dial: DialPolicy = DialPolicy()
    trunk: str | None = None
    resolution: str = "fine"
    cover: CoverPolicy = CoverPolicy()
    header: str = "{date} {time}  FROM {ident}  TO {to}  P. {page}/{pages}"
    max_pages: int | None = None
    notify: Notify = Notify.ALWAYS
    notify_requeue: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class Rules:
    source: str
    outbound: tuple[Rule, ...]
    inbound: Any = None  # mailfax.rules_in.InboundRules (issue 7); None: all to the fax master


@dataclass(frozen=True)
class Sender:
    """Who is sending: envelope address, SMTP AUTH user (or None), peer IP."""

    address: str
    user: str | None = None
    peer: str | None = None


@dataclass(frozen=True)
class Accepted:
    rule: Rule
    number: Number
    dial: str


@dataclass(frozen=True)
class Refused:
    """A refusal as SMTP would say it: code, enhanced status, reason."""

    code: int
    status: str
    reason: str

    @property
    def smtp(self) -> str:
        return f"{self.code} {self.status} {self.reason}"


def decide(rules: Rules, sender: Sender, number_text: str, plan) -> Accepted | Refused:
    """Answer one recipient: the first rule whose sender clause matches decides."""
    number = normalise(number_text, plan)
    if isinstance(number, BadNumber):
        return Refused(553, "5.1.3", f"bad fax number: {number.reason}")
    for rule in rules.outbound:
        if not rule.sender.matches(sender):
            continue
        why = rule.numbers.check(number)
        if why is not None:
            return Refused(550, "5.7.1", f"number not allowed by rule '{rule.name}': {why}")
        return Accepted(rule, number, dial_for(rule, number, plan))
    who = sender.address or "<>"
    if sender.user:
        who += f" (authenticated as {sender.user})"
    return Refused(550, "5.7.1", f"sender {who} is not authorised to send faxes")


def dial_for(rule: Rule, number: Number, plan) -> str:
    """The digits to dial: a rewrite (first matching) or the configured form, plus the prefix."""
    for rw in rule.dial.rewrite:
        if rw.match.search(number.e164):
            return rule.dial.prefix + rw.match.sub(rw.replace, number.e164)
    return rule.dial.prefix + dial_string(number, plan, rule.dial.form)


# ---------------------------------------------------------------- loading


def _patterns(node: Node) -> tuple[str, ...]:
    return tuple(p.str(pattern=r"\+[\d*?\[\]!\-]*", what="an E.164 pattern such as +4930*") for p in node.items())


def _sender(node: Node) -> SenderMatch:
    if node.value == "any":
        return SenderMatch(any=True)
    node.mapping(("addresses", "domains", "authenticated", "users", "relays"))
    relays = []
    for r in node.child("relays").items():
        text = r.str(what="an IP network such as 10.0.0.0/8")
        try:
            relays.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise r.fail("an IP network such as 10.0.0.0/8") from None
    match = SenderMatch(
        addresses=frozenset(a.str(pattern=ADDRESS_RE, what="an address").lower() for a in node.child("addresses").items()),
        domains=frozenset(d.str(pattern=r"[A-Za-z0-9.\-]+", what="a domain").lower() for d in node.child("domains").items()),
        authenticated=node.child("authenticated").bool(False),
        users=frozenset(u.str() for u in node.child("users").items()),
        relays=tuple(relays),
    )
    if match == SenderMatch():
        raise node.fail("at least one of addresses, domains, authenticated, users, relays (or the word any)")
    return match


def _dial(node: Node) -> DialPolicy:
    node.mapping(("form", "prefix", "rewrite"))
    rewrites = []
    for rw in node.child("rewrite").items():
        rw.mapping(("match", "replace"))
        text = rw.child("match").str(what="a regular expression")
        try:
            pat = re.compile(text)
        except re.error as e:
            raise rw.child("match").fail(f"a regular expression ({e})") from None
        repl = rw.child("replace").str(pattern=r"[\d\\g<>+#*]*", what="digits and group references such as \\1")
        try:
            pat.sub(repl, "+" + "1" * 15)
        except (re.error, IndexError) as e:
            raise rw.child("replace").fail(f"a replacement valid for the match ({e})") from None
        rewrites.append(Rewrite(pat, repl))
    return DialPolicy(
        form=DialForm(node.child("form").choice(tuple(f.value for f in DialForm), "national")),
        prefix=node.child("prefix").str("", pattern=r"[\d#*,]*", what="digits"),
        rewrite=tuple(rewrites),
    )


def template(node: Node, default: str, fields: tuple[str, ...], what: str) -> str:
    """A ``str.format`` template whose placeholders are all among `fields`."""
    text = node.str(default, what=what)
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError:
        raise node.fail(f"{what} with {{field}} placeholders") from None
    for name in names:
        if name not in fields:
            raise node.fail(f"placeholders among {', '.join('{' + f + '}' for f in fields)}", name)
    return text


def _header(node: Node, default: str) -> str:
    return template(node, default, TTI_FIELDS, "a header format")


def _rule(node: Node, index: int, config: Config) -> Rule:
    node.mapping(("name", "from", "numbers", "dial", "trunk", "resolution", "cover", "header",
                  "max_pages", "notify", "notify_requeue", "retry"))
    if "from" not in node.value:
        raise node.child("from").fail("a from clause (who may send with this rule)")
    nums = node.child("numbers").mapping(("allow", "deny", "international", "premium"))
    cover = node.child("cover").mapping(("body", "fields"))
    trunk = node.child("trunk").str(None)
    if trunk is not None and config.trunks and config.trunk(trunk) is None:
        raise node.child("trunk").fail(f"a trunk from the config ({', '.join(t.name for t in config.trunks)})")
    fields = cover.child("fields")
    return Rule(
        name=node.child("name").str(f"rule{index}"),
        sender=_sender(node.child("from")),
        numbers=NumberPolicy(
            allow=_patterns(nums.child("allow")), deny=_patterns(nums.child("deny")),
            international=nums.child("international").bool(False), premium=nums.child("premium").bool(False),
        ),
        dial=_dial(node.child("dial")),
        trunk=trunk,
        resolution=node.child("resolution").choice(("standard", "fine", "superfine"), "fine"),
        cover=CoverPolicy(
            body=BodyUse(cover.child("body").choice(tuple(b.value for b in BodyUse), "first-page")),
            fields=tuple(f.choice(COVER_FIELDS) for f in fields.items()) if fields.value is not None else COVER_FIELDS,
        ),
        header=_header(node.child("header"), Rule.header),
        max_pages=node.child("max_pages").int(None, lo=1),
        notify=Notify(node.child("notify").choice(tuple(n.value for n in Notify), "always")),
        notify_requeue=node.child("notify_requeue").bool(False),
        retry=parse_retry(node.child("retry"), Path("."), config.retry),
    )


def parse_outbound(node: Node, config: Config) -> tuple[Rule, ...]:
    if node.value is not None and not isinstance(node.value, list):
        raise node.fail("a list of rules")
    rules = tuple(_rule(r, i, config) for i, r in enumerate(node.items()))
    names = [r.name for r in rules]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise node.child(i).child("name").fail("a name not used by another rule", name)
    return rules


def _parse_inbound(node: Node, config: Config) -> Any:
    from mailfax.rules_in import parse_inbound

    return parse_inbound(node, config)


#: top-level key -> (Rules field, parser).
RULE_SECTIONS: dict[str, tuple[str, Callable[[Node, Config], Any]]] = {
    "outbound": ("outbound", parse_outbound),
    "inbound": ("inbound", _parse_inbound),
}


def default_rules(config: Config) -> Rules:
    """No rules file: local senders (loopback) may fax any non-premium number."""
    local = Rule(
        name="local-senders",
        sender=SenderMatch(relays=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))),
        numbers=NumberPolicy(international=True),
        retry=config.retry,
    )
    return Rules("(embedded defaults)", (local,))


def load_rules(path: str | Path | None, config: Config) -> Rules:
    """Load rules.yaml (``path``, else the config's ``rules:``, else the embedded default)."""
    path = path if path is not None else config.rules_file
    if path is None:
        return default_rules(config)
    root = read_yaml(Path(path))
    if root.value is None:
        raise ConfigError(f"{root.file}: the file is empty; expected outbound: [rules]")
    root.mapping(tuple(RULE_SECTIONS))
    values = {f: parse(root.child(key), config) for key, (f, parse) in RULE_SECTIONS.items()}
    return Rules(str(path), **values)


def describe(rules: Rules) -> dict[str, Any]:
    """The normalised rules as plain data for `mailfax check-config`."""
    out = []
    for r in rules.outbound:
        s = r.sender
        out.append({
            "name": r.name,
            "from": "any" if s.any else {k: v for k, v in {
                "addresses": sorted(s.addresses), "domains": sorted(s.domains),
                "authenticated": s.authenticated or None, "users": sorted(s.users),
                "relays": [str(n) for n in s.relays]}.items() if v},
            "numbers": {"allow": list(r.numbers.allow), "deny": list(r.numbers.deny),
                        "international": r.numbers.international, "premium": r.numbers.premium},
            "dial": {"form": r.dial.form.value, "prefix": r.dial.prefix,
                     "rewrite": [{"match": w.match.pattern, "replace": w.replace} for w in r.dial.rewrite]},
            "trunk": r.trunk, "resolution": r.resolution,
            "cover": {"body": r.cover.body.value, "fields": list(r.cover.fields)},
            "header": r.header, "max_pages": r.max_pages, "notify": r.notify.value,
            "notify_requeue": r.notify_requeue, "retry": dict(vars(r.retry)),
        })
    return {"source": rules.source, "outbound": out, "default": "deny"}
