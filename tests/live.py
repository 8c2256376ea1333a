"""A real `coffer serve` process for tests that need HTTP over a socket (bot, Luau, faults)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import httpx

from tests.postgres import free_port


@dataclass
class LiveApi:
    process: subprocess.Popen
    port: int
    database_url: str
    log_path: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"coffer serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"coffer serve was not ready in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        with open(self.log_path, errors="replace") as log:
            return log.read()[-20000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def start_live_api(
    database_url: str, *, workers: int = 1, env: dict[str, str] | None = None, port: int | None = None
) -> LiveApi:
    port = port or free_port()
    full_env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    log = tempfile.NamedTemporaryFile("w", prefix=f"coffer-api-{port}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coffer_api.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log.close()
    api = LiveApi(process, port, database_url, log.name, env or {})
    api.wait_ready()
    return api
