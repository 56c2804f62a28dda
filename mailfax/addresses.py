"""Fax addresses and phone numbers: ``NUMBER@fax.domain`` to an E.164 number and a class.

What does it do?  `parse_recipient` splits ``+49 (30) 1234-567@fax.example.com`` into the
number text and checks the domain is one of ours.  `normalise` turns the number text in any
usual written form into E.164 (``+49301234567``) using the configured dial plan, and
classifies it as international, premium, national or local, which is what rules.yaml
allows or denies.  `dial_string` renders an E.164 number in the form a trunk wants.

How does it work?  Visual separators (spaces, dashes, dots, parentheses, slashes) are
dropped.  Then, in order: a leading ``+`` means E.164 already; the international prefix
(``00``, NANP ``011``) means the country code follows; the national prefix (``0``, NANP
``1``) means a national significant number follows; a number of exactly the national
length (NANP: 10) is national without its prefix; anything else is a local number and gets
the area code.  E.164 allows at most 15 digits (ITU-T E.164 §6.1).  Premium patterns are
globs over the E.164 form (``+1900*``); expected failures come back as `BadNumber` values.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailfax.config import DialingConfig

_SEPARATORS = re.compile(r"[\s\-./()\[\]]")

#: premium-rate ranges per country code, as E.164 globs (configurable: dialing.premium).
_PREMIUM: dict[str, tuple[str, ...]] = {
    "1": ("+1900*", "+1976*"),                              # NANP 900 and 976
    "49": ("+49900*", "+49137*", "+49138*", "+49118*"),       # DE 0900, 0137/0138 mass calls, 118xx
    "44": ("+449*", "+4487*"),                               # UK 09 and 087
    "33": ("+3389*", "+3381*", "+3382*"),                    # FR 089x/081x/082x
    "43": ("+43900*", "+43930*"),
    "41": ("+41900*", "+41906*"),
}
#: international premium services (ITU-T E.164 shared codes), denied like premium.
_GLOBAL_PREMIUM = ("+979*",)


def default_premium(country_code: str | None) -> tuple[str, ...]:
    """The built-in premium patterns for a country (plus the international premium code)."""
    return _PREMIUM.get(country_code or "", ()) + _GLOBAL_PREMIUM


class NumberClass(enum.Enum):
    INTERNATIONAL = "international"
    PREMIUM = "premium"
    NATIONAL = "national"
    LOCAL = "local"


@dataclass(frozen=True)
class Number:
    """A normalised number: E.164 text (``+`` and digits) and its class."""

    e164: str
    kind: NumberClass
    given: str = ""

    def __str__(self) -> str:
        return self.e164


@dataclass(frozen=True)
class BadNumber:
    """Why a text is not a usable number (an expected failure, not an exception)."""

    reason: str


def _plan_value(plan: "DialingConfig | None", name: str, default=None):
    return getattr(plan, name, default) if plan is not None else default


def classify(e164: str, plan: "DialingConfig | None") -> NumberClass:
    premium = _plan_value(plan, "premium", None)
    cc = _plan_value(plan, "country_code")
    patterns = default_premium(cc) if premium is None else premium
    if any(fnmatch.fnmatchcase(e164, p) for p in patterns):
        return NumberClass.PREMIUM
    if not cc or not e164.startswith("+" + cc):
        return NumberClass.INTERNATIONAL
    area = _plan_value(plan, "area_code")
    if area and e164[1 + len(cc):].startswith(area):
        return NumberClass.LOCAL
    return NumberClass.NATIONAL


def normalise(text: str, plan: "DialingConfig | None") -> Number | BadNumber:
    """``text`` in any usual written form -> a classified E.164 `Number`, or `BadNumber`."""
    given = text
    raw = _SEPARATORS.sub("", text.strip())
    if raw.lower().startswith("tel:"):
        raw = raw[4:]
    plus = raw.startswith("+")
    digits = raw[1:] if plus else raw
    if not digits:
        return BadNumber(f"{given!r} is not a phone number: no digits")
    if not digits.isdigit() or not digits.isascii():
        return BadNumber(f"{given!r} is not a phone number: only digits, +, spaces, dashes, dots and parentheses are allowed")
    cc = _plan_value(plan, "country_code")
    intl = _plan_value(plan, "international_prefix", "00")
    natl = _plan_value(plan, "national_prefix", "0")
    nlen = _plan_value(plan, "national_length")
    area = _plan_value(plan, "area_code")
    if plus:
        e164 = digits
    elif intl and digits.startswith(intl):
        e164 = digits[len(intl):]
    elif cc is None:
        return BadNumber(f"{given!r}: write the number with + and the country code (no dialing.country_code is configured)")
    elif natl and digits.startswith(natl) and (nlen is None or len(digits) - len(natl) == nlen):
        e164 = cc + digits[len(natl):]
    elif nlen is not None and len(digits) == nlen:
        e164 = cc + digits
    elif area:
        e164 = cc + area + digits
    else:
        return BadNumber(f"{given!r}: a local number needs dialing.area_code; write it with its area code")
    if e164.startswith("0"):
        return BadNumber(f"{given!r}: a country code cannot start with 0")
    if not 6 <= len(e164) <= 15:
        return BadNumber(f"{given!r}: an international number has 6 to 15 digits, this has {len(e164)}")
    number = "+" + e164
    return Number(number, classify(number, plan), given)


class DialForm(enum.Enum):
    E164 = "e164"                    # +4930123456
    INTERNATIONAL = "international"  # 004930123456
    NATIONAL = "national"            # 030123456 at home, international prefix abroad
    LOCAL = "local"                  # 123456 in our area, else as national


def dial_string(number: Number, plan: "DialingConfig | None", form: DialForm = DialForm.NATIONAL) -> str:
    """The digits to dial for ``number`` in ``form``."""
    cc = _plan_value(plan, "country_code")
    intl = _plan_value(plan, "international_prefix", "00")
    natl = _plan_value(plan, "national_prefix", "0")
    area = _plan_value(plan, "area_code")
    digits = number.e164[1:]
    if form is DialForm.E164:
        return number.e164
    domestic = bool(cc) and digits.startswith(cc)
    if form is DialForm.INTERNATIONAL or not domestic:
        return intl + digits
    nsn = digits[len(cc):]
    if form is DialForm.LOCAL and area and nsn.startswith(area) and len(nsn) > len(area):
        return nsn[len(area):]
    return natl + nsn


@dataclass(frozen=True)
class FaxAddress:
    """A recipient address that names one of our fax domains."""

    number_text: str
    domain: str


@dataclass(frozen=True)
class NotOurs:
    """A recipient outside our fax domains (SMTP answers: relaying denied)."""

    reason: str


def parse_recipient(address: str, domains: tuple[str, ...]) -> FaxAddress | NotOurs:
    """``"NUMBER"@fax.domain`` or ``NUMBER@fax.domain`` -> the number text and domain."""
    addr = address.strip().strip("<>")
    local, at, domain = addr.rpartition("@")
    if not at or not local:
        return NotOurs(f"{address!r} is not an address of the form NUMBER@{domains[0] if domains else 'fax.domain'}")
    domain = domain.rstrip(".").lower()
    if domain not in domains:
        return NotOurs(f"relaying denied: {domain} is not a fax domain of this gateway")
    if len(local) >= 2 and local[0] == local[-1] == '"':
        local = local[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return FaxAddress(local, domain)
