"""A real mosquitto broker on a free loopback port, started and stopped by tests."""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.certificates import Identity
from tests.support.waiting import wait_until_sync

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
# The documented production setup (TLS with client certificates, the ACL), which a TLS broker here runs.
DOCUMENTED = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "mosquitto"
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for its "$7$" (PBKDF2-SHA512) hashes


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range (32768-60999 by default), so the port
    cannot be handed to some outgoing connection between this check and the server binding it."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def mosquitto_binary() -> str:
    for candidate in MOSQUITTO_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError("mosquitto is not installed: ./run-tests installs it (apt-get install mosquitto)")


def password_line(username: str, password: str) -> str:
    """One line of a mosquitto password file, hashed as `mosquitto_passwd` would (mosquitto 2.x "$7$")."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encoded_salt, encoded_digest = (base64.b64encode(part).decode() for part in (salt, digest))
    return f"{username}:$7${PBKDF2_ITERATIONS}${encoded_salt}${encoded_digest}\n"


@dataclass(frozen=True, kw_only=True)
class TlsListener:
    """The broker's side of TLS: the CA its clients' certificates must chain to, and its own certificate."""

    ca_file: Path
    server: Identity


def documented_tls_config(port: int, tls: TlsListener) -> str:
    """docs/deploy/mosquitto/floorgate.conf with this test's port, files and the documented ACL."""
    text = (DOCUMENTED / "floorgate.conf").read_text()
    for documented, used in (
        ("listener 8883 0.0.0.0", f"listener {port} 127.0.0.1"),
        ("/etc/mosquitto/certs/ca.crt", str(tls.ca_file)),
        ("/etc/mosquitto/certs/broker.crt", str(tls.server.cert_file)),
        ("/etc/mosquitto/certs/broker.key", str(tls.server.key_file)),
        ("/etc/mosquitto/floorgate.acl", str(DOCUMENTED / "floorgate.acl")),
        ("persistence true\n", ""),  # the fixture says where, or whether, to persist
    ):
        if documented not in text:
            raise AssertionError(f"docs/deploy/mosquitto/floorgate.conf no longer says {documented!r}")
        text = text.replace(documented, used)
    return text


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Mosquitto:
    """A mosquitto process; `restart()` keeps the port and (with persistence) the sessions.

    With `users` (user name -> password) the broker admits only those users; without, anyone.
    `persistence=False` is mosquitto's default: a restart loses every session and retained message.
    `stock_limits=True` keeps mosquitto's default queues (20 QoS 1 messages in flight, 1000 queued per
    client) instead of the roomy queue the tests otherwise give it.
    """

    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fg-mosquitto-")))
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)
    persistence: bool = True
    stock_limits: bool = False
    tls: TlsListener | None = None
    """TLS with client certificates and the documented ACL (docs/deploy/mosquitto/) instead of plain MQTT."""

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        conf = self.workdir / "mosquitto.conf"
        if self.tls is None:
            lines = [f"listener {self.port} 127.0.0.1\n", self._auth_config()]
        else:
            lines = [documented_tls_config(self.port, self.tls)]
        if self.persistence:
            lines.append(f"persistence true\npersistence_location {self.workdir}/\n")
        if not self.stock_limits:
            lines.append("max_queued_messages 100000\nset_tcp_nodelay true\n")
        lines += [
            # Started as root, mosquitto drops to the `mosquitto` user, which cannot write our private
            # workdir: persistence and the log would silently go nowhere. Run it as ourselves instead.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n",
            f"log_dest file {self.workdir}/mosquitto.log\n",
        ]
        conf.write_text("".join(lines))
        process = self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_until_sync(lambda: port_open(self.port) or process.poll() is not None, timeout=10)
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"mosquitto exited at start: {err}")
        return self

    def _auth_config(self) -> str:
        if not self.users:
            return "allow_anonymous true\n"
        passwords = self.workdir / "passwords"
        passwords.write_text("".join(password_line(user, password) for user, password in self.users.items()))
        passwords.chmod(0o600)
        return f"allow_anonymous false\npassword_file {passwords}\n"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process and self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
