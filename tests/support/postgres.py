"""A real PostgreSQL server of the tests' own: a throwaway cluster on a free loopback port.

The store's SQL is portable SQLAlchemy (DESIGN.md: `[store] url` may name PostgreSQL); these servers are
how the tests hold it to that. PostgreSQL refuses to run as root, so when the tests are root the cluster
belongs to the `postgres` user that Debian's package creates.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.support.brokers import free_port

USER = "floorgate"
_names = itertools.count(1)


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise RuntimeError("PostgreSQL is not installed: ./run-tests installs it (apt-get install postgresql)")


def _as_owner(owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--"] if owner else []


@dataclass
class PostgresServer:
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fg-postgres-")))

    def __post_init__(self) -> None:
        self.bin = postgres_bin_dir()
        self.data = self.workdir / "data"
        # Root may not run the server: the cluster is the `postgres` user's then, and so is its folder.
        self.owner = "postgres" if os.getuid() == 0 else None
        if self.owner:
            account = pwd.getpwnam(self.owner)
            os.chown(self.workdir, account.pw_uid, account.pw_gid)

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        if not self.data.exists():
            initdb = [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8"]
            subprocess.run(
                [*_as_owner(self.owner), *initdb, "--no-sync"],
                check=True,
                capture_output=True,
            )
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c max_connections=50"
        # fsync stays on: the store is tested on a server as durable as a real one.
        self._pg_ctl("start", "-w", "-t", "60", "-o", options, "-l", str(self.workdir / "server.log"))
        return self

    def _pg_ctl(self, *args: str) -> None:
        done = subprocess.run(
            [*_as_owner(self.owner), str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            log = self.workdir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl {args[0]} failed: {done.stderr.strip()} {tail}")

    def create_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"fg_{os.getpid()}_{next(_names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as when a database server goes away."""
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-w", "-m", "fast")

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.workdir)
