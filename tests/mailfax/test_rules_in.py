"""rules.yaml inbound: matching, call refusal before answering and after phase B, the
default route to the fax master, validation errors that name the key, check-config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from mailfax.config import ConfigError, load_config
from mailfax.rules import load_rules
from mailfax.rules_in import CallDecision, decide_call, decide_tsi, inbound_rules, route

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
storage: {data_dir: DATA}
inbound: {faxmaster: fm@example.com, max_pages: 40, max_calls_per_trunk: 2}
imap:
  office: {host: imap.example.com, user: faxes@example.com, password: s3cret, folder: Faxes}
rules: rules.yaml
"""

RULES = """
inbound:
  - name: blocked
    match: {caller_id: ["+4919*"]}
    reject: true
  - name: junk-tsi
    match: {tsi: ["SPAM*"]}
    reject: true
  - name: sales
    match: {called: ["+4930123450", "50"]}
    deliver:
      email: [Sales@Example.com, boss@example.com]
      imap:
        - account: office
        - {host: 127.0.0.1, port: 1143, user: alice@mail.test, password: secret, folder: Faxes}
      formats: [pdf, tiff]
      subject: "Fax for sales from {sender} ({pages} p.)"
    archive: archive/sales
  - name: support-sub
    match: {called: ["+493012345*"], subaddress: ["7*"]}
    deliver: {email: [support@example.com]}
"""


def setup(tmp_path, rules=RULES, config=CONFIG):
    (tmp_path / "mailfax.yaml").write_text(config.replace("DATA", str(tmp_path / "d")))
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(rules))
    cfg = load_config(tmp_path / "mailfax.yaml")
    return cfg, inbound_rules(load_rules(None, cfg), cfg)


def test_routes_and_targets(tmp_path):
    cfg, rules = setup(tmp_path)
    sales = route(rules, "+49 30 123450", "+4989555", "+49 89 555")
    assert sales.name == "sales"
    assert sales.emails == ("sales@example.com", "boss@example.com")
    office, inline = sales.imap
    assert (office.account, office.host, office.folder, office.password) == ("office", "imap.example.com", "Faxes",
                                                                            "s3cret")
    assert (inline.port, inline.user, inline.folder, inline.tls) == (1143, "alice@mail.test", "Faxes", False)
    assert sales.formats == ("pdf", "tiff") and sales.archive == tmp_path / "d" / "archive" / "sales"
    assert "s3cret" not in repr(office)
    # nothing matches: the fax master, as PDF
    other = route(rules, "99", "", "")
    assert other.emails == ("fm@example.com",) and other.formats == ("pdf",)
    assert cfg.inbound.max_pages == 40 and cfg.inbound.max_calls(cfg.trunk(None) or _trunk()) == 2


def _trunk():
    from mailfax.config import Trunk

    return Trunk("t", "h", channels=5)


def test_limits_default_to_the_trunk_channels():
    cfg = load_config()
    assert cfg.inbound.max_calls(_trunk()) == 5 and cfg.inbound.give_up_after == 5 * 86400
    assert cfg.inbound.faxmaster == "faxmaster@localhost"


def test_refusal_by_caller_id_before_answering(tmp_path):
    _, rules = setup(tmp_path)
    assert decide_call(rules, "50", "+49 190 1234") is CallDecision.REJECT
    assert decide_call(rules, "50", "+4989555") is CallDecision.ACCEPT
    assert decide_call(rules, "50", "") is CallDecision.ACCEPT  # withheld caller ID


def test_refusal_by_tsi_after_phase_b(tmp_path):
    _, rules = setup(tmp_path)
    # the TSI rule comes before "sales": the call is answered and decided after phase B
    assert decide_call(rules, "50", "+4989555") is CallDecision.ACCEPT
    assert decide_tsi(rules, "50", "+4989555", "spam fax") is CallDecision.REJECT
    assert decide_tsi(rules, "50", "+4989555", "+49 89 555") is CallDecision.ACCEPT


def test_subaddress_and_globs(tmp_path):
    _, rules = setup(tmp_path)
    assert route(rules, "+4930123456", "", "", "71").name == "support-sub"
    assert route(rules, "+4930123456", "", "", "81").name == "default (fax master)"


def test_no_inbound_section_sends_everything_to_the_fax_master(tmp_path):
    _, rules = setup(tmp_path, rules="outbound: []\n")
    assert rules.rules == () and route(rules, "1", "2", "3").emails == ("fm@example.com",)
    cfg = load_config()
    assert inbound_rules(load_rules(None, cfg), cfg).default.emails == ("faxmaster@localhost",)


@pytest.mark.parametrize("rules,message", [
    ("inbound: {a: 1}", "rules.yaml: inbound: expected a list of inbound rules"),
    ("inbound: [{name: x, match: {called: ['50']}}]",
     "rules.yaml: inbound[0]: expected a rule with deliver.email, deliver.imap, archive or reject: true"),
    ("inbound: [{deliver: {email: [sales]}}]", "rules.yaml: inbound[0].deliver.email[0]: expected an address, got 'sales'"),
    ("inbound: [{deliver: {email: [a@b.c], formats: [docx]}}]",
     "rules.yaml: inbound[0].deliver.formats[0]: expected one of pdf, tiff, ps, got 'docx'"),
    ("inbound: [{deliver: {imap: [{account: nope}]}}]",
     "rules.yaml: inbound[0].deliver.imap[0].account: expected an imap account from mailfax.yaml (office), got 'nope'"),
    ("inbound: [{deliver: {imap: [{account: office, password: x}]}}]",
     "rules.yaml: inbound[0].deliver.imap[0].password: expected nothing (the account 'office' sets it), got 'x'"),
    ("inbound: [{deliver: {imap: [{host: h, user: u}]}}]",
     "rules.yaml: inbound[0].deliver.imap[0].password: expected a password, got None"),
    ("inbound: [{reject: true, deliver: {email: [a@b.c]}}]",
     "rules.yaml: inbound[0].reject: expected false when the rule also delivers or archives, got True"),
    ("inbound: [{deliver: {email: [a@b.c], subject: 'Fax {colour}'}}]",
     "rules.yaml: inbound[0].deliver.subject: expected placeholders among"),
    ("inbound: [{match: {dnid: ['5']}, reject: true}]", "rules.yaml: inbound[0].match.dnid: expected one of the keys"),
    ("inbound: [{name: a, reject: true}, {name: a, reject: true}]",
     "rules.yaml: inbound[1].name: expected a name not used by another inbound rule, got 'a'"),
])
def test_errors_name_the_key(tmp_path, rules, message):
    with pytest.raises(ConfigError) as e:
        setup(tmp_path, rules=rules)
    assert str(e.value).startswith(message)


def test_config_errors_name_the_key(tmp_path):
    for text, message in (
        ("inbound: {faxmaster: nobody}", "mailfax.yaml: inbound.faxmaster: expected an address, got 'nobody'"),
        ("inbound: {give_up_after: soon}", "mailfax.yaml: inbound.give_up_after: expected a duration"),
        ("imap: {x: {host: h, user: u}}", "mailfax.yaml: imap.x.password: expected a password, got None"),
    ):
        (tmp_path / "mailfax.yaml").write_text(text)
        with pytest.raises(ConfigError) as e:
            load_config(tmp_path / "mailfax.yaml")
        assert str(e.value).startswith(message)


def test_check_config_prints_the_inbound_rules(tmp_path, capsys):
    from mailfax.cli import main

    setup(tmp_path)
    assert main(["check-config", "--config", str(tmp_path / "mailfax.yaml")]) == 0
    out = yaml.safe_load(capsys.readouterr().out)
    rules = out["inbound_rules"]
    assert [r["name"] for r in rules["rules"]] == ["blocked", "junk-tsi", "sales", "support-sub"]
    assert rules["rules"][2]["deliver"]["imap"][1]["password"] == "***"
    assert rules["default"]["deliver"]["email"] == ["fm@example.com"]
    assert out["config"]["imap"]["office"]["password"] == "***"
    assert out["config"]["inbound"]["max_pages"] == 40


def test_the_example_files_load():
    cfg = load_config(ROOT / "examples" / "mailfax.yaml")
    rules = inbound_rules(load_rules(ROOT / "examples" / "rules.yaml", cfg), cfg)
    assert rules.rules and rules.default.emails == (cfg.inbound.faxmaster,)
