"""A real HylaFAX (Debian ``hylafax-server``) with an iaxmodem on loopback, for interop tests.

What does it do?  `HylaFax` brings up a private HylaFAX instance non-interactively, following
REFERENCE.md §6: an iaxmodem whose IAX2 peer is mailfax (``server 127.0.0.1:<port>``, no
registration), ``faxq``, ``hfaxd`` on a free loopback port and ``faxgetty`` on the modem's
pty.  `sendfax()` queues a fax through hfaxd (as a user would), `wait_done()` waits for the
job's end, `received()` lists the TIFFs in ``recvq`` and `session_logs()` the ``log/c*``
files.  `stop()` ends every process it started, by PID (each runs in its own process
group), and removes every file it wrote: use it as a context manager or in a fixture.

How does it work?  Debian's init script is not used (it killalls and bind-mounts
/etc/hylafax over the spool's etc/).  Instead the spool tree ``/var/spool/hylafax`` is
copied to a private directory (``-q`` for every daemon), so a test never touches the
machine's own queue or another run's; ``/etc/hylafax`` (faxsetup's output) is copied into
its ``etc/``, with ``config.<devid>`` made from iaxmodem's Class 1 prototype.  The scripts
that would send mail (faxrcvd, notify) are replaced by no-ops in the private spool.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.support.iaxmodem import free_udp_port

SPOOL_TEMPLATE = Path("/var/spool/hylafax")
ETC = Path("/etc/hylafax")
PROTOTYPE = Path("/usr/share/doc/iaxmodem/examples/config.ttyIAX")
IAXMODEM_DIR = Path("/etc/iaxmodem")
TOOLS = ("faxq", "hfaxd", "faxgetty", "sendfax", "faxstat", "faxsetup", "iaxmodem")


def missing() -> str | None:
    """None when HylaFAX and iaxmodem can run here, else why not."""
    if os.geteuid() != 0:
        return "HylaFAX bring-up needs root (uucp-owned spool, /etc/iaxmodem)"
    for tool in TOOLS:
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is not installed (apt-get install hylafax-server hylafax-client iaxmodem)"
    if not SPOOL_TEMPLATE.is_dir() or not PROTOTYPE.exists():
        return "hylafax-server or iaxmodem is not fully installed"
    return None


def require() -> None:
    reason = missing()
    if reason:
        pytest.skip(reason)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"HylaFAX: {what} after {timeout} s")
        time.sleep(0.1)


def ensure_faxsetup() -> None:
    """Run ``faxsetup -server`` once, answering its questions as Debian's postinst does."""
    if (ETC / "setup.cache").exists():
        return
    subprocess.run(["faxsetup", "-server"], input=b"\nno\nno\n", capture_output=True, timeout=120, check=True)


class HylaFax:
    """One private HylaFAX instance with one iaxmodem (see the module docstring)."""

    def __init__(self, workdir: Path, *, mailfax_port: int, number: str = "5551234",
                 ident: str = "+1 555 1234", peername: str = "hylafax", secret: str = "") -> None:
        self.workdir = Path(workdir)
        self.mailfax_port = mailfax_port
        self.number = number
        self.ident = ident
        self.peername = peername
        self.secret = secret
        self.modem = f"ttyMFX{uuid.uuid4().hex[:6]}"
        self.device = Path("/dev") / self.modem
        self.iax_port = free_udp_port()
        self.hfaxd_port = free_tcp_port()
        self.spool = Path(tempfile.mkdtemp(prefix="hylafax-", dir="/var/tmp"))
        self._procs: dict[str, subprocess.Popen] = {}
        self._logs: list = []

    # ------------------------------------------------------------ bring-up

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.workdir / f"{name}.log", "wb")
        self._logs.append(out)
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=self.spool)
        self._procs[name] = proc
        return proc

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {self.log(name)[-2000:]}")

    def log(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / f"{name}.log").read_text(errors="replace")
        return ""

    def _write_spool(self) -> None:
        ensure_faxsetup()
        # cp -a keeps the owners (uucp) the daemons rely on; shutil.copytree would not
        subprocess.run(["cp", "-a", f"{SPOOL_TEMPLATE}/.", f"{self.spool}/"], check=True)
        subprocess.run(["cp", "-a", f"{ETC}/.", f"{self.spool}/etc/"], check=True)
        shutil.chown(self.spool, "uucp", "uucp")
        os.chmod(self.spool, 0o775)
        hosts = self.spool / "etc" / "hosts.hfaxd"
        hosts.write_text("localhost\n127.0.0.1\n")
        hosts.chmod(0o600)
        shutil.chown(hosts, "uucp", "uucp")
        for script in ("faxrcvd", "notify", "pollrcvd"):  # they would mail the fax master
            p = self.spool / "bin" / script
            p.write_text("#!/bin/sh\nexit 0\n")
            p.chmod(0o755)
        proto = PROTOTYPE.read_text()
        overrides = {
            "FAXNumber": self.number, "LocalIdentifier": f'"{self.ident}"', "RecvFileMode": "0644",
            "LogFileMode": "0644", "SessionTracing": "0xFFF", "RingsBeforeAnswer": "1",
            "ModemResetCmds": '"ATH1\\nAT+VCID=1"',
        }
        for key, value in overrides.items():
            proto, n = re.subn(rf"(?m)^{key}:.*$", f"{key}:\t\t{value}", proto)
            if not n:
                proto += f"{key}:\t\t{value}\n"
        (self.spool / "etc" / f"config.{self.modem}").write_text(proto)

    def _start_iaxmodem(self) -> None:
        IAXMODEM_DIR.mkdir(exist_ok=True)
        (IAXMODEM_DIR / self.modem).write_text(
            f"device {self.device}\nowner uucp:uucp\nmode 660\nport {self.iax_port}\nrefresh 0\n"
            f"server 127.0.0.1:{self.mailfax_port}\npeername {self.peername}\nsecret {self.secret}\n"
            f"cidname HylaFAX\ncidnumber {self.number}\ncodec alaw\n")
        self._spawn("iaxmodem", ["stdbuf", "-oL", "-eL", "iaxmodem", self.modem])
        wait_for(lambda: self._check_alive() or self.device.exists(), 10, "iaxmodem made no device")
        # iaxmodem silently binds a random port when its own is taken (REFERENCE.md §6): check
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", self.iax_port))
            except OSError:
                return  # taken: by iaxmodem, as it should be
        raise RuntimeError(f"iaxmodem is not on UDP port {self.iax_port} (taken meanwhile?)")

    def start(self) -> "HylaFax":
        try:
            self._write_spool()
            self._start_iaxmodem()
            q = ["-q", str(self.spool)]
            self._spawn("faxq", ["faxq", "-D", *q])
            wait_for(lambda: self._check_alive() or (self.spool / "FIFO").exists(), 15, "faxq made no FIFO")
            self._spawn("hfaxd", ["hfaxd", "-d", *q, "-l", "127.0.0.1", "-i", str(self.hfaxd_port)])
            wait_for(lambda: self._check_alive() or self._port_open(), 15, "hfaxd is not listening")
            self._spawn("faxgetty", ["faxgetty", *q, str(self.device)])
            wait_for(lambda: self._check_alive() or "Running and idle" in self.modem_status(), 60,
                     "the modem is not ready")
        except BaseException:
            self.stop()
            raise
        return self

    def _port_open(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.hfaxd_port), timeout=0.3):
            return True
        return False

    # ------------------------------------------------------------ use

    def modem_status(self) -> str:
        with contextlib.suppress(OSError):
            return (self.spool / "status" / self.modem).read_text(errors="replace")
        return ""

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.hfaxd_port}"

    def sendfax(self, number: str, *files: Path, fine: bool = True) -> int:
        """Queue a fax with HylaFAX's ``sendfax`` pinned to our modem; returns the job id."""
        argv = ["sendfax", "-n", "-N", "-m" if fine else "-l", "-h", f"{self.modem}@{self.server}",
                "-d", number, *map(str, files)]  # every option before -d
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, FAXUSER="root"))
        m = re.search(r"request id is (\d+)", out.stdout + out.stderr)
        if out.returncode != 0 or not m:
            raise RuntimeError(f"sendfax failed ({out.returncode}): {out.stdout} {out.stderr}")
        return int(m.group(1))

    def job(self, jobid: int) -> dict[str, str]:
        """The job's queue file (``sendq/q<id>`` or ``doneq/q<id>``) as key -> value."""
        for where in ("doneq", "sendq"):
            p = self.spool / where / f"q{jobid}"
            with contextlib.suppress(OSError):
                return {k: v for k, _, v in (line.partition(":") for line in p.read_text(errors="replace").splitlines())}
        return {}

    def wait_done(self, jobid: int, timeout: float = 180) -> dict[str, str]:
        """Wait until the job left the send queue; its final queue file (state 7 done, 8 failed)."""
        def done():
            self._check_alive()
            return (self.spool / "doneq" / f"q{jobid}").exists() and self.job(jobid)
        return wait_for(done, timeout, f"job {jobid} did not finish")

    def received(self) -> list[Path]:
        return sorted((self.spool / "recvq").glob("fax*.tif"))

    def session_logs(self) -> list[Path]:
        return sorted((self.spool / "log").glob("c*"))

    def faxstat(self) -> str:
        return subprocess.run(["faxstat", "-s", "-d", "-r", "-h", self.server], capture_output=True, text=True,
                              timeout=30).stdout

    # ------------------------------------------------------------ tear-down

    def stop(self) -> None:
        # the modem's users first, then the modem, then the queue and the server
        for name in ("faxgetty", "hfaxd", "faxq", "iaxmodem"):
            proc = self._procs.get(name)
            if proc is None:
                continue
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=6)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=3)
            with contextlib.suppress(ProcessLookupError):  # faxsend/faxgetty children left in the group
                os.killpg(proc.pid, signal.SIGKILL)
        self._procs.clear()
        for f in self._logs:
            f.close()
        self._logs.clear()
        with contextlib.suppress(FileNotFoundError):
            (IAXMODEM_DIR / self.modem).unlink()
        with contextlib.suppress(FileNotFoundError):
            if self.device.is_symlink():
                self.device.unlink()
        with contextlib.suppress(OSError):  # keep the session logs for a failed test's report
            shutil.copytree(self.spool / "log", self.workdir / "hylafax-log", dirs_exist_ok=True)
        shutil.rmtree(self.spool, ignore_errors=True)

    def __enter__(self) -> "HylaFax":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
