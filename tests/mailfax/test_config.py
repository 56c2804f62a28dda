"""Server config loading (mailfax.config): defaults, normalisation, helpful errors, secrets."""

from pathlib import Path

import pytest

from mailfax.config import ConfigError, default_data_dir, describe, load_config


def write(tmp_path, text, name="mailfax.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_no_file_gives_usable_defaults():
    c = load_config(None)
    assert (c.smtp.host, c.smtp.port) == ("127.0.0.1", 10025)
    assert c.fax_domains == ("fax.localhost",)
    assert c.retry.busy == 180 and c.retry.no_answer == 300 and c.retry.protocol == 60
    assert c.retry.max_dials == 12 and c.retry.max_tries == 3 and c.retry.give_up_after == 3 * 3600
    assert c.trunks == () and c.rules_file is None


def test_default_data_dir():
    assert default_data_dir({}, 0) == Path("/var/lib/mailfax")
    assert default_data_dir({"XDG_DATA_HOME": "/x"}, 1000) == Path("/x/mailfax")
    assert default_data_dir({"HOME": "/home/u"}, 1000) == Path("/home/u/.local/share/mailfax")


def test_full_file_is_normalised(tmp_path):
    p = write(tmp_path, """
smtp: {listen: "[::1]:2525", max_message_size: 10MB, users: {alice: s3cret}}
fax: {domains: [Fax.Example.COM]}
dialing: {country_code: "+1", area_code: "212"}
storage: {data_dir: d}
trunks:
  - {name: a, host: 192.0.2.1, secret: hunter2, channels: 4, register: true}
relay: {host: mx, port: 587, starttls: true, password: pw}
retry: {busy: 2m, give_up_after: 1h}
rules: r.yaml
""")
    c = load_config(p)
    assert (c.smtp.host, c.smtp.port, c.smtp.max_message_size) == ("::1", 2525, 10 * 1024 * 1024)
    assert c.fax_domains == ("fax.example.com",)
    assert c.dialing.country_code == "1" and c.dialing.national_prefix == "1" and c.dialing.international_prefix == "011"
    assert c.storage.queue_db == tmp_path / "d" / "queue.sqlite"
    assert c.trunks[0].channels == 4 and c.trunks[0].port == 4569
    assert c.retry.busy == 120 and c.retry.give_up_after == 3600 and c.retry.no_answer == 300
    assert c.rules_file == tmp_path / "r.yaml"


def test_secrets_are_not_shown(tmp_path):
    p = write(tmp_path, "smtp: {users: {alice: s3cret}}\ntrunks: [{host: h, secret: hunter2}]\nrelay: {password: pw}\n")
    c = load_config(p)
    text = repr(c) + str(describe(c))
    for secret in ("s3cret", "hunter2", "'pw'"):
        assert secret not in text


@pytest.mark.parametrize("text, message", [
    ("smtp: {listen: nowhere}", "mailfax.yaml: smtp.listen: expected HOST:PORT"),
    ("trunks: [{host: h, port: x}]", "mailfax.yaml: trunks[0].port: expected an integer 1..65535, got 'x'"),
    ("trunks: [{port: 1}]", "mailfax.yaml: trunks[0].host: expected a host name or address, got None"),
    ("trunks: [{host: a, name: t}, {host: b, name: t}]", "trunks[1].name: expected a name not used by another trunk"),
    ("smpt: {}", "mailfax.yaml: smpt: expected one of the keys"),
    ("retry: {busy: soon}", "retry.busy: expected a duration"),
    ("relay: {from: postmaster}", "relay.from: expected an address, got 'postmaster'"),
    ("dialing: {country_code: germany}", "dialing.country_code: expected a country code"),
    ("smtp: [1, 2]", "mailfax.yaml: smtp: expected a mapping"),
    ("smtp: {listen: 1:2:", "mailfax.yaml: line 1: not valid YAML"),
    ("smtp: {users: {bob: {password: x, addresses: [bob]}}}", "smtp.users.bob.addresses[0]: expected an address, got 'bob'"),
    ("smtp: {require_tls: true}", "smtp.require_tls: expected false unless tls.cert and tls.key are set"),
])
def test_errors_name_file_key_and_expectation(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert message in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_example_config_loads():
    c = load_config(Path(__file__).parents[2] / "examples" / "mailfax.yaml")
    assert c.trunks[0].name == "provider"
