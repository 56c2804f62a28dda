"""Real mail servers on loopback for the tests: Postfix (SMTP in, Maildir out) and Dovecot (IMAP).

Both need root and the Debian packages that ``scripts/setup`` installs.  Postfix is the
machine's one instance, reconfigured with ``postconf`` for the tests: a virtual mail
domain ``mail.test`` delivered to Maildirs under ``/var/mail/vhosts`` (owned by a ``vmail``
user), an extra SMTP listener on 127.0.0.1:2525, and whatever transports a test adds.
Dovecot runs as a standalone instance with its own config in a temporary directory,
serving the same Maildirs over IMAP on 127.0.0.1:1143 without TLS.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MAIL_DOMAIN = "mail.test"
VHOSTS = Path("/var/mail/vhosts")
POSTFIX_PORT = 2525
IMAP_PORT = 1143


def available() -> str | None:
    """None when real mail servers can run here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "needs root (Postfix and Dovecot are configured system-wide)"
    for tool in ("postfix", "postconf", "dovecot", "doveadm"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed (scripts/setup installs it)"
    return None


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")
            time.sleep(0.05)


def _run(*cmd: str) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def vmail_ids() -> tuple[int, int]:
    """uid and gid of the ``vmail`` user that owns the Maildirs (created when missing)."""
    try:
        pw = pwd.getpwnam("vmail")
    except KeyError:
        _run("useradd", "--system", "--user-group", "--home-dir", str(VHOSTS), "--no-create-home",
             "--shell", "/usr/sbin/nologin", "vmail")
        pw = pwd.getpwnam("vmail")
    return pw.pw_uid, pw.pw_gid


def maildir_of(user: str, domain: str = MAIL_DOMAIN) -> Path:
    return VHOSTS / domain / user


def maildir_messages(user: str, domain: str = MAIL_DOMAIN) -> list[Path]:
    """Message files delivered to a mailbox, oldest first."""
    root = maildir_of(user, domain)
    files = [p for sub in ("new", "cur") if (root / sub).is_dir() for p in (root / sub).iterdir()]
    return sorted(files, key=lambda p: p.stat().st_mtime)


@dataclass
class Postfix:
    """The machine's Postfix, configured for the tests (call `start()` once per session)."""

    users: tuple[str, ...] = ("alice", "bob", "faxmaster", "sender")
    port: int = POSTFIX_PORT
    transports: dict[str, str] = field(default_factory=dict)
    relay_domains: list[str] = field(default_factory=list)
    master_entries: dict[str, str] = field(default_factory=dict)
    #: extra main.cf parameters, e.g. ``{"faxpipe_destination_recipient_limit": "1"}``
    settings: dict[str, str] = field(default_factory=dict)

    def _main_settings(self) -> dict[str, str]:
        uid, gid = vmail_ids()
        mailboxes = ", ".join(f"{u}@{MAIL_DOMAIN}={MAIL_DOMAIN}/{u}/" for u in self.users)
        settings = {
            "maillog_file": "/var/log/postfix.log",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mydestination": "localhost",
            "myhostname": "mx.mail.test",
            "mynetworks": "127.0.0.0/8",
            "virtual_mailbox_domains": MAIL_DOMAIN,
            "virtual_mailbox_base": str(VHOSTS),
            "virtual_mailbox_maps": "inline:{ " + mailboxes + " }",
            "virtual_uid_maps": f"static:{uid}",
            "virtual_gid_maps": f"static:{gid}",
            "default_transport": "error",
            "relay_transport": "error",
            "smtputf8_enable": "no",
            "maximal_backoff_time": "10s",
            "minimal_backoff_time": "2s",
            "queue_run_delay": "2s",
            "relay_domains": " ".join(self.relay_domains),
        }
        if self.transports:
            pairs = ", ".join(f"{d}={t}" for d, t in self.transports.items())
            settings["transport_maps"] = "inline:{ " + pairs + " }"
        else:
            settings["transport_maps"] = ""
        settings.update(self.settings)
        return settings

    def apply(self) -> None:
        """Write the configuration; reload if running."""
        VHOSTS.mkdir(parents=True, exist_ok=True)
        uid, gid = vmail_ids()
        os.chown(VHOSTS, uid, gid)
        args = [f"{k}={v}" for k, v in self._main_settings().items()]
        _run("postconf", "-e", *args)
        _run("postconf", "-F", "*/*/chroot = n")
        _run("postconf", "-M", f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - - smtpd")
        for name, entry in self.master_entries.items():
            _run("postconf", "-M", f"{name}/unix={entry}")
        if self.running():
            _run("postfix", "reload")

    def running(self) -> bool:
        return subprocess.run(["postfix", "status"], capture_output=True).returncode == 0

    def start(self) -> None:
        self.apply()
        if not self.running():
            _run("postfix", "start")
        wait_port(self.port)

    def stop(self) -> None:
        if self.running():
            subprocess.run(["postfix", "stop"], capture_output=True)

    def flush(self) -> None:
        """Ask Postfix to retry deferred mail now."""
        subprocess.run(["postqueue", "-f"], capture_output=True)

    def queue_ids(self) -> list[str]:
        out = subprocess.run(["postqueue", "-j"], capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if line.strip()]


def port_busy(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_stale_dovecots(port: int) -> None:
    """Stop Dovecots that an interrupted earlier test run left holding `port`."""
    if not port_busy(port):
        return
    for conf in Path("/var/tmp").glob("mailfax-dovecot-*/dovecot.conf"):
        if f"port = {port}\n" in conf.read_text(errors="replace"):
            subprocess.run(["doveadm", "-c", str(conf), "stop"], capture_output=True)
    deadline = time.monotonic() + 5
    while port_busy(port) and time.monotonic() < deadline:
        time.sleep(0.1)


@dataclass
class Dovecot:
    """A standalone Dovecot IMAP server over the Postfix Maildirs (plain LOGIN, no TLS)."""

    workdir: Path
    passwords: dict[str, str] = field(default_factory=lambda: {"alice": "secret", "bob": "secret",
                                                                 "faxmaster": "secret"})
    port: int = IMAP_PORT

    @property
    def conf(self) -> Path:
        return self.workdir / "dovecot.conf"

    def write_config(self) -> None:
        uid, gid = vmail_ids()
        self.workdir.mkdir(parents=True, exist_ok=True)
        users = self.workdir / "users"
        users.write_text("".join(f"{u}@{MAIL_DOMAIN}:{{PLAIN}}{p}::::::\n" for u, p in self.passwords.items()))
        base = self.workdir / "run"
        base.mkdir(exist_ok=True)
        self.conf.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {base}
state_dir = {self.workdir / 'state'}
log_path = {self.workdir / 'dovecot.log'}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {min(uid, 100)}
mail_location = maildir:{VHOSTS}/%d/%n
mail_uid = {uid}
mail_gid = {gid}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={VHOSTS}/%d/%n
}}
""")
        (self.workdir / "state").mkdir(exist_ok=True)

    def start(self) -> None:
        stop_stale_dovecots(self.port)
        self.write_config()
        log = self.workdir / "start.log"
        with open(log, "wb") as out:  # the daemon keeps its std fds: never a pipe we wait on
            rc = subprocess.run(["dovecot", "-c", str(self.conf)], stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL).returncode
        if rc != 0:
            raise RuntimeError(f"dovecot failed to start ({rc}): {log.read_text().strip()}")
        wait_port(self.port)

    def stop(self) -> None:
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], capture_output=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    time.sleep(0.05)
            except OSError:
                return
