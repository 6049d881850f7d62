"""A real `floorgate run` process for end-to-end tests: site file, start, health wait, kill -9, restart."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.brokers import free_port

TOKENS = {"erp": "erp-token", "supervisor": "sup-token", "viewer": "view-token", "admin": "admin-token"}


def webhook_site(*, url: str, secret: str, name: str = "erp", events: str = '["*"]') -> str:
    """A `[[webhooks]]` entry for `EdgeProcess(extra_site=...)`: the edge signs with `secret` and posts to `url`."""
    return f'[[webhooks]]\nname = "{name}"\nurl = "{url}"\nsecret = "{secret}"\nevents = {events}\n'


def site_toml(
    *,
    site: str,
    data_dir: Path,
    http_port: int,
    mqtt_url: str,
    extra: str = "",
    mqtt_extra: str = "",
    http_extra: str = "",
) -> str:
    tokens = "\n".join(f'[[tokens]]\ntoken = "{t}"\nrole = "{r}"\n' for r, t in TOKENS.items())
    # Indented as the template's lines, so that its dedent still applies.
    mqtt_extra, http_extra = (textwrap.indent(lines, " " * 8).strip() for lines in (mqtt_extra, http_extra))
    return (
        textwrap.dedent(
            f"""\
        [site]
        id = "{site}"

        [edge]
        id = "edge-1"
        data_dir = "{data_dir}"

        [mqtt]
        url = "{mqtt_url}"
        {mqtt_extra}

        [http]
        host = "127.0.0.1"
        port = {http_port}
        {http_extra}

        [[zones]]
        id = "A"

        [[zones]]
        id = "B"
        """
        )
        + "\n"
        + tokens
        + "\n"
        + extra
    )


@dataclass
class EdgeProcess:
    workdir: Path
    site: str
    mqtt_url: str
    extra_site: str = ""
    mqtt_extra: str = ""
    """Lines of the `[mqtt]` table besides its url (the TLS files)."""
    http_extra: str = ""
    """Lines of the `[http]` table besides host and port (the certificate for HTTPS)."""
    https_ca: Path | None = None
    """The CA of the edge's HTTPS certificate: the edge is then reached over https:// only."""
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.https_ca else 'http'}://127.0.0.1:{self.http_port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client trusts to reach this edge."""
        return ssl.create_default_context(cafile=self.https_ca) if self.https_ca else True

    @property
    def config_path(self) -> Path:
        return self.workdir / "site.toml"

    def write_config(self) -> None:
        self.config_path.write_text(
            site_toml(
                site=self.site,
                data_dir=self.workdir / "data",
                http_port=self.http_port,
                mqtt_url=self.mqtt_url,
                extra=self.extra_site,
                mqtt_extra=self.mqtt_extra,
                http_extra=self.http_extra,
            )
        )

    def start(self, *, timeout: float = 20.0) -> EdgeProcess:
        if not self.config_path.exists():
            self.write_config()
        self.log_path = self.workdir / f"edge-{int(time.time() * 1000)}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "floorgate.edge.cli",
                "--log-format",
                "json",
                "run",
                "--config",
                str(self.config_path),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"floorgate run exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=0.5, verify=self.verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"floorgate run was not healthy within {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def client(self, role: str = "admin") -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"Authorization": f"Bearer {TOKENS[role]}"},
            timeout=10,
            verify=self.verify,
        )


def demo_arguments(*, http_port: int, mqtt_port: int, data_dir: Path) -> list[str]:
    """`floorgate demo`'s arguments on ports and in a folder of the test's own, its pickers repeatable."""
    return [
        "demo",
        "--port",
        str(http_port),
        "--mqtt-port",
        str(mqtt_port),
        "--data-dir",
        str(data_dir),
        "--seed",
        "1",
    ]


def interrupt(process: subprocess.Popen[bytes], *, timeout: float = 30) -> int | None:
    """Ctrl-C (SIGINT), and the exit code once it stops; None (and the process killed) when it did not stop in
    `timeout`: a process that hangs on Ctrl-C fails its test, and must not also outlive it."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
