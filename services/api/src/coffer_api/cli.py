"""The `coffer` operator CLI. Reads DATABASE_URL (or COFFER_DATABASE_URL).

    coffer db upgrade                              apply the migrations
    coffer keys create --name NAME --scopes read,write   print a new API key (the only stdout line)
    coffer keys list | coffer keys revoke NAME
    coffer currencies add NAME | coffer currencies list
    coffer serve [--host H] [--port P] [--workers N]      run the API under uvicorn
    coffer audit                                   check both ledger invariants
    coffer erase USER_ID                           erase a Roblox user id now (right to erasure)

Bad input: one clear line on stderr and exit status 2; runtime failures exit 1. Never a traceback.
"""

import argparse
import asyncio
import os
import re
import socket
import sys
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from pydantic import ValidationError

from coffer_api import erasure, keys, ledger
from coffer_api.settings import Settings

CURRENCY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,63}$")


class UsageError(Exception):
    """Bad input: reported in one line, exit status 2."""


class Failure(Exception):
    """The command ran and failed: reported in one line, exit status 1."""


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        if any(e["loc"] and e["loc"][0] == "database_url" and e["type"] == "missing" for e in exc.errors()):
            raise UsageError(
                "DATABASE_URL is not set: export DATABASE_URL=postgresql://user:password@host:5432/coffer"
            ) from None
        raise UsageError(f"invalid settings: {problems}") from None


async def _with_conn(settings: Settings, work: Callable[[asyncpg.Connection], Coroutine[Any, Any, int]]) -> int:
    try:
        conn = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=10)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise Failure(f"cannot connect to the database: {_safe(exc)}") from None
    try:
        return await work(conn)
    except asyncpg.UndefinedTableError:
        raise Failure("the database has no coffer schema yet: run `coffer db upgrade` first") from None
    finally:
        await conn.close()


def _safe(exc: BaseException) -> str:
    """An error message without credentials."""
    return re.sub(r"://[^@/\s]*@", "://***@", str(exc) or type(exc).__name__)


def _scopes(value: str) -> list[str]:
    scopes = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in keys.SCOPES]
    if not scopes or unknown:
        raise argparse.ArgumentTypeError(
            f"scopes must be a comma-separated list of {', '.join(keys.SCOPES)}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return scopes


def _key_name(value: str) -> str:
    if not KEY_NAME.match(value):
        raise argparse.ArgumentTypeError(
            "a key name is 1-64 characters: letters, digits, space, '.', '_', ':', '-', starting with a letter or digit"
        )
    return value


def _currency(value: str) -> str:
    if not CURRENCY.match(value):
        raise argparse.ArgumentTypeError(
            "a currency name is 1-32 characters: a lowercase letter, then lowercase letters, digits or '_'"
        )
    return value


def _user_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 2**63 - 1:
        raise argparse.ArgumentTypeError("a user id is a positive whole number (a Roblox user id)")
    return number


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError("a port is a whole number from 1 to 65535")
    return int(value)


def _workers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError("workers is a whole number from 1 to 64")
    return int(value)


def db_upgrade(args: argparse.Namespace) -> int:
    from alembic import command
    from alembic.config import Config

    settings = _settings()
    config = Config()
    config.set_main_option("script_location", "coffer_api:migrations")
    # the DSN goes to asyncpg as given (sslmode and all), never through a SQLAlchemy URL
    config.attributes["dsn"] = settings.database_url.get_secret_value()
    try:
        command.upgrade(config, "head")
    except Exception as exc:  # alembic wraps driver errors; report the root cause in one line
        root: BaseException = exc
        while root.__cause__ is not None:
            root = root.__cause__
        raise Failure(f"migration failed: {_safe(root)}") from None
    _out("database is at the latest schema")
    return 0


def keys_create(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        try:
            _key, token = await keys.create_key(conn, args.name, args.scopes)
        except asyncpg.UniqueViolationError:
            raise Failure(f"an active key named '{args.name}' exists; revoke it or pick another name") from None
        _out(token)
        return 0

    return asyncio.run(_with_conn(_settings(), work))


def keys_list(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        for key in await keys.list_keys(conn):
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            _out(
                f"{key.name}\tid={key.id}\tscopes={','.join(sorted(key.scopes))}\t"
                f"created={key.created_at:%Y-%m-%d %H:%M}\tlast_used={used}\t{state}"
            )
        return 0

    return asyncio.run(_with_conn(_settings(), work))


def keys_revoke(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        key = await keys.revoke_key(conn, args.name)
        if key is None:
            raise Failure(f"no active key named '{args.name}' (see `coffer keys list`)")
        _out(f"revoked {key.name} (id={key.id})")
        return 0

    return asyncio.run(_with_conn(_settings(), work))


def currencies_add(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        if not await ledger.add_currency(conn, args.name):
            raise Failure(f"currency '{args.name}' already exists")
        _out(f"added currency {args.name}")
        return 0

    return asyncio.run(_with_conn(_settings(), work))


def currencies_list(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        for name in await ledger.list_currencies(conn):
            _out(name)
        return 0

    return asyncio.run(_with_conn(_settings(), work))


def audit(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        report = await ledger.audit(conn)
        if report.ok:
            _out(
                f"audit ok: {report.transactions} transactions, {report.accounts} player accounts, "
                f"{report.currencies} currencies; every balance equals its entries and every currency sums to 0"
            )
            return 0
        for line in report.mismatched_accounts + report.unbalanced_currencies + report.unbalanced_transactions:
            _out(line)
        _err(
            f"audit FAILED: {len(report.mismatched_accounts)} accounts, {len(report.unbalanced_currencies)} "
            f"currencies and {len(report.unbalanced_transactions)} transactions are off"
        )
        return 1

    return asyncio.run(_with_conn(_settings(), work))


def erase(args: argparse.Namespace) -> int:
    async def work(conn: asyncpg.Connection) -> int:
        try:
            result = await erasure.erase(conn, args.user_id)
        except asyncpg.UndefinedTableError:
            raise
        except asyncpg.PostgresError as exc:
            raise Failure(f"erasure failed, nothing was changed ({type(exc).__name__}); retry shortly") from None
        counts = ", ".join(f"{table}={n}" for table, n in sorted(result.rows_changed.items()))
        _out(f"erased: {counts}")
        return 0

    return asyncio.run(_with_conn(_settings(), work))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from coffer_api.logs import configure_logging

    settings = _settings()
    workers = args.workers or settings.workers
    configure_logging(settings.log_level)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="coffer-metrics-")
    config = uvicorn.Config(
        "coffer_api.asgi:app",
        host=args.host,
        port=args.port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or "127.0.0.1",
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=75,
        access_log=False,
    )
    if workers > 1:
        _supervisor()(config, sockets=_listening_sockets(args.host, args.port, workers)).run()
    else:
        uvicorn.Server(config).run()
    return 0


def _listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per worker on the same port (SO_REUSEPORT): the kernel spreads new
    connections evenly over the workers. With one shared socket, whichever worker wakes first takes
    the connection, and long-lived keep-alive connections (a load balancer's, a game server's) pile
    up on one worker while the other idles: in the benchmark 25 of 32 connections went to one
    worker and p99 latency passed a second."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets = []
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise Failure(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        sock.listen(2048)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


def _supervisor():
    from uvicorn.supervisors.multiprocess import Multiprocess, Process

    class GracefulSupervisor(Multiprocess):
        """uvicorn's worker supervisor with a listening socket of its own for each worker, and on
        SIGTERM it closes its copies of the listening sockets first: new connections are refused at
        once instead of waiting in the backlog of a socket that no worker accepts from any more,
        while the workers finish their in-flight requests. (A worker that crashes is replaced by one
        listening on every socket: still correct, only less evenly spread.)"""

        def init_processes(self) -> None:
            for sock in self.sockets:
                process = Process(self.config, [sock])
                process.start()
                self.processes.append(process)

        def terminate_all(self) -> None:
            for sock in self.sockets:
                sock.close()
            super().terminate_all()

    return GracefulSupervisor


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="coffer", description="Operate a coffer ledger (reads DATABASE_URL).")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    db = commands.add_parser("db", help="schema migrations").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply every migration").set_defaults(run=db_upgrade)

    key_cmds = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = key_cmds.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument("--name", required=True, type=_key_name)
    create.add_argument("--scopes", required=True, type=_scopes, help="comma-separated: read,write,admin")
    create.set_defaults(run=keys_create)
    key_cmds.add_parser("list", help="list keys (never the secrets)").set_defaults(run=keys_list)
    revoke = key_cmds.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name", type=_key_name)
    revoke.set_defaults(run=keys_revoke)

    cur = commands.add_parser("currencies", help="currencies").add_subparsers(dest="action", required=True)
    add = cur.add_parser("add", help="add a currency")
    add.add_argument("name", type=_currency)
    add.set_defaults(run=currencies_add)
    cur.add_parser("list", help="list currencies").set_defaults(run=currencies_list)

    srv = commands.add_parser("serve", help="run the API")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=_port, default=8000)
    srv.add_argument("--workers", type=_workers, default=None, help="default: COFFER_WORKERS (2)")
    srv.set_defaults(run=serve)

    commands.add_parser("audit", help="check both ledger invariants").set_defaults(run=audit)
    erase_cmd = commands.add_parser("erase", help="erase a Roblox user id now (right to erasure)")
    erase_cmd.add_argument("user_id", type=_user_id)
    erase_cmd.set_defaults(run=erase)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except UsageError as exc:
        _err(f"error: {exc}")
        return 2
    except Failure as exc:
        _err(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
