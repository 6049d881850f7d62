"""docs/ha.md's haproxy configuration, run as written (this host's addresses in place of the example's) in
front of a pair of real edges: the one address clients use, which follows the active edge."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.brokers import free_port
from tests.support.edge_pair import start_pair
from tests.support.edge_process import TOKENS, EdgeProcess
from tests.support.waiting import wait_until

HA_DOC = Path(__file__).resolve().parents[2] / "docs" / "ha.md"


def documented_haproxy(port: int, edges: Sequence[EdgeProcess]) -> str:
    """docs/ha.md's haproxy.cfg, with this host's addresses in place of the example's."""
    found = re.search(r"```haproxy\n(.*?)```", HA_DOC.read_text(), re.DOTALL)
    assert found is not None, "docs/ha.md shows no haproxy configuration"
    config = found.group(1).replace("bind :8080", f"bind 127.0.0.1:{port}")
    for example, edge in zip(("10.0.0.11:8000", "10.0.0.12:8000"), edges, strict=True):
        assert example in config
        config = config.replace(example, f"127.0.0.1:{edge.http_port}")
    return config


@dataclass
class HaproxyFront:
    """A real haproxy with the documented configuration, checked (`haproxy -c`) before it starts; its log
    goes to `workdir/haproxy.log`."""

    workdir: Path
    edges: Sequence[EdgeProcess]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HaproxyFront:
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        config = self.workdir / "haproxy.cfg"
        config.write_text(documented_haproxy(self.port, self.edges))
        checked = subprocess.run(
            [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with (self.workdir / "haproxy.log").open("wb") as log:
            self.process = subprocess.Popen(
                [haproxy, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def client(self, role: str = "admin") -> httpx.Client:
        """The API through haproxy with `role`'s token (as `EdgeProcess.client` is the edge's own)."""
        return httpx.Client(
            base_url=f"{self.base_url}/api/v1",
            headers={"Authorization": f"Bearer {TOKENS[role]}"},
            timeout=10,
        )

    async def start_pair(self, *, timeout: float) -> tuple[EdgeProcess, EdgeProcess]:
        """The pair started behind haproxy: (active, standby), once haproxy sends requests to the active."""
        active = await start_pair(self.edges, timeout=timeout)
        await self.wait_serving(active, timeout=timeout)
        return active, next(edge for edge in self.edges if edge is not active)

    async def wait_serving(self, edge: EdgeProcess, *, timeout: float) -> None:
        """Once haproxy sends requests to `edge` (the edge that answers its `/healthz/ready`)."""
        async with httpx.AsyncClient() as client:

            async def serving() -> bool:
                try:
                    answer = await client.get(f"{self.base_url}/healthz/ready", timeout=5)
                except httpx.HTTPError:
                    return False
                return answer.status_code == 200 and answer.json().get("edge") == edge.edge_id

            await wait_until(serving, timeout=timeout, what=f"haproxy sending to {edge.edge_id}")
