"""rules.yaml outbound (mailfax.rules): matching, number policy, dialling, errors."""

from pathlib import Path

import pytest

from mailfax.config import ConfigError, load_config
from mailfax.rules import Accepted, BodyUse, Notify, Refused, Sender, decide, describe, load_rules


@pytest.fixture
def config(tmp_path):
    p = tmp_path / "mailfax.yaml"
    p.write_text('dialing: {country_code: "49", area_code: "30"}\ntrunks: [{name: t1, host: h}, {name: t2, host: h}]\n')
    return load_config(p)


def rules_from(tmp_path, config, text):
    p = tmp_path / "rules.yaml"
    p.write_text(text)
    return load_rules(p, config)


RULES = """
outbound:
  - name: boss
    from: {addresses: [Boss@Example.com], authenticated: true}
    numbers: {international: true}
    trunk: t2
  - name: office
    from: {domains: [example.com], relays: [10.0.0.0/8]}
    numbers: {allow: ["+49*"], deny: ["+4930999*"]}
    dial: {form: national, prefix: "0", rewrite: [{match: '^\\+4930123(\\d\\d)$', replace: '\\1'}]}
    resolution: standard
    cover: {body: cover, fields: [to, from]}
    notify: failure
    retry: {busy: 1m, max_dials: 4}
  - name: relay
    from: {relays: ["127.0.0.1"]}
    numbers: {premium: true}
"""


def test_first_match_wins_and_default_deny(tmp_path, config):
    rules = rules_from(tmp_path, config, RULES)
    boss = Sender("boss@example.com", "boss", "10.1.1.1")
    d = decide(rules, boss, "+44 20 7946 0000", config.dialing)
    assert isinstance(d, Accepted) and d.rule.name == "boss" and d.rule.trunk == "t2"
    # the same address without AUTH falls to "office", which refuses international numbers
    d = decide(rules, Sender("boss@example.com", None, "10.1.1.1"), "+44 20 7946 0000", config.dialing)
    assert isinstance(d, Refused) and "office" in d.reason and "international" in d.reason and d.code == 550
    # a forged example.com sender from outside the trusted network matches nothing
    d = decide(rules, Sender("clerk@example.com", None, "203.0.113.9"), "030 1234567", config.dialing)
    assert isinstance(d, Refused) and "not authorised" in d.reason


def test_number_policy(tmp_path, config):
    rules = rules_from(tmp_path, config, RULES)
    clerk = Sender("clerk@example.com", None, "10.0.0.5")
    assert isinstance(decide(rules, clerk, "089 123456", config.dialing), Accepted)
    assert "deny list" in decide(rules, clerk, "030 999 123", config.dialing).reason
    assert "premium" in decide(rules, clerk, "0900 123456", config.dialing).reason
    local = Sender("x@y", None, "127.0.0.1")
    assert isinstance(decide(rules, local, "0900 123456", config.dialing), Accepted)
    assert "international" in decide(rules, local, "+1 212 555 1234", config.dialing).reason
    bad = decide(rules, local, "phone", config.dialing)
    assert isinstance(bad, Refused) and bad.code == 553 and bad.smtp.startswith("553 5.1.3")


def test_dialling_and_settings(tmp_path, config):
    rules = rules_from(tmp_path, config, RULES)
    clerk = Sender("clerk@example.com", None, "10.0.0.5")
    assert decide(rules, clerk, "089 123456", config.dialing).dial == "0089123456"  # outside-line 0, then 089...
    assert decide(rules, clerk, "030 12345", config.dialing).dial == "045"
    office = rules.outbound[1]
    assert office.resolution == "standard" and office.cover.body is BodyUse.COVER and office.cover.fields == ("to", "from")
    assert office.notify is Notify.FAILURE
    assert office.retry.busy == 60 and office.retry.max_dials == 4 and office.retry.no_answer == 300


@pytest.mark.parametrize("text, message", [
    ("outbound: [{name: a}]", "rules.yaml: outbound[0].from: expected a from clause"),
    ("outbound: [{from: {}}]", "outbound[0].from: expected at least one of"),
    ("outbound: [{from: any, numbers: {allow: ['4930*']}}]", "outbound[0].numbers.allow[0]: expected an E.164 pattern"),
    ("outbound: [{from: {relays: [10.0.0.300/8]}}]", "outbound[0].from.relays[0]: expected an IP network"),
    ("outbound: [{from: {addresses: [sales]}}]", "rules.yaml: outbound[0].from.addresses[0]: expected an address, got 'sales'"),
    ("outbound: [{from: any, trunk: nope}]", "outbound[0].trunk: expected a trunk from the config (t1, t2)"),
    ("outbound: [{from: any, notify: sometimes}]", "outbound[0].notify: expected one of always, failure, never"),
    ("outbound: [{from: any, header: '{nonsense}'}]", "outbound[0].header: expected placeholders"),
    ("outbound: [{from: any, dial: {rewrite: [{match: '(', replace: '1'}]}}]", "outbound[0].dial.rewrite[0].match"),
    ("outbound: [{from: any}, {from: any, name: rule0}]", "outbound[1].name: expected a name not used"),
    ("outbound: [{from: any, retry: {max_dials: 0}}]", "outbound[0].retry.max_dials: expected an integer >= 1"),
    ("outbund: []", "rules.yaml: outbund: expected one of the keys outbound, inbound"),
    ("", "rules.yaml: the file is empty"),
])
def test_errors(tmp_path, config, text, message):
    with pytest.raises(ConfigError) as e:
        rules_from(tmp_path, config, text)
    assert message in str(e.value)


def test_defaults_trust_only_local_senders(config):
    rules = load_rules(None, config)
    assert isinstance(decide(rules, Sender("a@b", None, "127.0.0.1"), "+1 212 555 1234", config.dialing), Accepted)
    assert isinstance(decide(rules, Sender("a@b", None, "::1"), "030 1234567", config.dialing), Accepted)
    assert isinstance(decide(rules, Sender("a@b", None, "192.0.2.1"), "030 1234567", config.dialing), Refused)
    assert isinstance(decide(rules, Sender("a@b", None, "127.0.0.1"), "0900 1", config.dialing), Refused)


def test_example_rules_load_and_describe():
    here = Path(__file__).parents[2] / "examples"
    config = load_config(here / "mailfax.yaml")
    rules = load_rules(None, config)
    assert [r.name for r in rules.outbound] == ["management", "office"]
    assert describe(rules)["outbound"][1]["dial"]["rewrite"][0]["replace"] == "\\1"
