"""Number normalisation and classification (mailfax.addresses)."""

import pytest
from hypothesis import given, strategies as st

from mailfax.addresses import (BadNumber, DialForm, FaxAddress, NotOurs, NumberClass, dial_string, normalise,
                               parse_recipient)
from mailfax.config import DialingConfig, Node, parse_dialing
from pathlib import Path

DE = parse_dialing(Node({"country_code": "49", "area_code": "30"}, "t.yaml", "dialing"), Path("."))
US = parse_dialing(Node({"country_code": "1", "area_code": "212"}, "t.yaml", "dialing"), Path("."))


@pytest.mark.parametrize("text, e164, kind", [
    ("+49 30 1234567", "+49301234567", NumberClass.LOCAL),
    ("030/123 45-67", "+49301234567", NumberClass.LOCAL),
    ("(030) 1234.567", "+49301234567", NumberClass.LOCAL),
    ("1234567", "+49301234567", NumberClass.LOCAL),
    ("089 1234567", "+49891234567", NumberClass.NATIONAL),
    ("0049 89 1234567", "+49891234567", NumberClass.NATIONAL),
    ("+44 20 7946 0000", "+442079460000", NumberClass.INTERNATIONAL),
    ("0044 20 7946 0000", "+442079460000", NumberClass.INTERNATIONAL),
    ("0900 1234567", "+499001234567", NumberClass.PREMIUM),
    ("01371234567", "+491371234567", NumberClass.PREMIUM),
    ("tel:+49-30-1234567", "+49301234567", NumberClass.LOCAL),
])
def test_germany(text, e164, kind):
    n = normalise(text, DE)
    assert (n.e164, n.kind) == (e164, kind)


@pytest.mark.parametrize("text, e164, kind", [
    ("+1 (212) 555-1234", "+12125551234", NumberClass.LOCAL),
    ("1-415-555-1234", "+14155551234", NumberClass.NATIONAL),
    ("(415) 555-1234", "+14155551234", NumberClass.NATIONAL),
    ("555-1234", "+12125551234", NumberClass.LOCAL),
    ("1 900 555 1234", "+19005551234", NumberClass.PREMIUM),
    ("976-555-1234", "+19765551234", NumberClass.PREMIUM),
    ("011 49 30 1234567", "+49301234567", NumberClass.INTERNATIONAL),
])
def test_nanp(text, e164, kind):
    n = normalise(text, US)
    assert (n.e164, n.kind) == (e164, kind)


@pytest.mark.parametrize("text", ["", "abc", "12a4", "+", "+0123456", "+1234567890123456", "１２３４５６７"])
def test_bad_numbers_are_values(text):
    assert isinstance(normalise(text, DE), BadNumber)


def test_without_country_code_only_e164_is_accepted():
    assert normalise("+49301234567", None).kind is NumberClass.INTERNATIONAL
    bad = normalise("030 1234567", None)
    assert isinstance(bad, BadNumber) and "country code" in bad.reason


def test_dial_strings():
    n = normalise("+49 30 1234567", DE)
    assert dial_string(n, DE, DialForm.NATIONAL) == "0301234567"
    assert dial_string(n, DE, DialForm.LOCAL) == "1234567"
    assert dial_string(n, DE, DialForm.INTERNATIONAL) == "0049301234567"
    assert dial_string(n, DE, DialForm.E164) == "+49301234567"
    uk = normalise("+442079460000", DE)
    assert dial_string(uk, DE, DialForm.NATIONAL) == "00442079460000"
    assert dial_string(normalise("(415) 555-1234", US), US) == "14155551234"


def test_parse_recipient():
    assert parse_recipient("<+49 30 1@Fax.Example.com>", ("fax.example.com",)) == FaxAddress("+49 30 1", "fax.example.com")
    assert parse_recipient('"030 12"@fax.example.com', ("fax.example.com",)) == FaxAddress("030 12", "fax.example.com")
    r = parse_recipient("123@example.org", ("fax.example.com",))
    assert isinstance(r, NotOurs) and "relaying denied" in r.reason
    assert isinstance(parse_recipient("nobody", ("fax.example.com",)), NotOurs)


@given(st.from_regex(r"\+[1-9][0-9]{6,13}", fullmatch=True), st.lists(st.sampled_from([" ", "-", ".", "(", ")"]), max_size=4))
def test_separators_never_change_the_number(e164, seps):
    text = e164
    for i, s in enumerate(seps):
        pos = 2 + (i * 3) % (len(text) - 2)
        text = text[:pos] + s + text[pos:]
    n = normalise(text, DE)
    assert not isinstance(n, BadNumber) and n.e164 == e164
    assert normalise(dial_string(n, DE, DialForm.INTERNATIONAL), DE).e164 == e164
