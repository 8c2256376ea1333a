"""A throwaway PostgreSQL cluster for tests and local runs, from the installed server binaries.

Used by tests/conftest.py (when DATABASE_URL is unset) and by ``make run-local``. PostgreSQL
refuses to run as root, so as root the cluster runs as the ``postgres`` system user.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    datadir: Path
    port: int
    user: str = "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            _as_postgres(["pg_ctl", "-D", str(self.datadir), *args]),
            check=check,
            capture_output=True,
            text=True,
        )

    def start(self) -> None:
        log = self.datadir.parent / "postgres.log"
        self.pg_ctl("-w", "-t", "60", "-l", str(log), "-o", f"-p {self.port}", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-w", "-t", "60", "-m", mode, "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def is_running(self) -> bool:
        return self.pg_ctl("status", check=False).returncode == 0


def create_cluster(
    root: Path | None = None, port: int | None = None, max_connections: int = 300, durable: bool = False
) -> Cluster:
    """Create (or reuse, under ``root``) a cluster and start it; ``durable=False`` turns fsync off for tests."""
    base = Path(root or tempfile.mkdtemp(prefix="coffer-pg-"))
    base.mkdir(parents=True, exist_ok=True)
    datadir = base / "data"
    sockets = base / "sock"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    fresh = not datadir.exists()
    if fresh:
        subprocess.run(
            _as_postgres(
                [
                    "initdb",
                    "-D",
                    str(datadir),
                    "-U",
                    user,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
    cluster = Cluster(datadir=datadir, port=port or free_port(), user=user)
    if fresh:
        with (datadir / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{sockets}'\nmax_connections = {max_connections}\n"
                "shared_buffers = '256MB'\n"
            )
            if not durable:
                conf.write("fsync = off\nfull_page_writes = off\n")
    cluster.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", cluster.port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return cluster


def remove_cluster(cluster: Cluster) -> None:
    cluster.stop("immediate")
    shutil.rmtree(cluster.datadir.parent, ignore_errors=True)
