"""`make bench`: the API side by side with pgbench, on one throwaway durable PostgreSQL.

What it does, in order:

1. starts a PostgreSQL cluster with fsync on (the same cluster and settings serve both sides);
2. migrates a `coffer` database with the real CLI, seeds 10,000 players (a grant each, through the
   ledger's own posting function) and creates an API key with `coffer keys create`;
3. creates the ceiling tables in a database of their own (`balances`, `ledger`) and runs pgbench with
   the minimal SQL doing the same work: a point select, and an UPDATE of a balance plus the INSERT of
   one ledger row, at the same client count and duration;
4. starts the API exactly as production does (`coffer serve`, the container's worker count) and drives
   it with wrk (Lua scripts in this folder): balance reads, single writes with a fresh Idempotency-Key
   each, and batches of 100 transactions;
5. runs `coffer audit` after every scenario and stops loudly if it fails;
6. prints one table and writes it with the machine's description to bench/results/.

Options: --duration S (default 15), --connections N (32), --workers N (default: COFFER_WORKERS, as the
container), --scenarios read,single,batch, --keep (leave the cluster's directory for inspection).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
sys.path.insert(0, str(ROOT))

from tests.postgres import Cluster, create_cluster, free_port, remove_cluster  # noqa: E402

PLAYERS = 10_000
SEED_COINS = 1_000_000
BATCH_SIZE = 100

# target ratio to pgbench, p99 ceiling in ms (None: no latency target), per scenario
TARGETS = {
    "read": (0.1, 20.0),
    "single": (0.5, 50.0),
    "batch": (4.0, None),
}


class BenchFailed(Exception):
    pass


@dataclass
class Row:
    scenario: str
    tool: str
    requests_per_s: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    ratio: float | None = None
    target_ratio: float | None = None
    target_p99_ms: float | None = None
    met: bool | None = None
    notes: dict = field(default_factory=dict)


def log(line: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", flush=True)


def coffer(*args: str, database_url: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The real `coffer` CLI."""
    return subprocess.run(
        [sys.executable, "-m", "coffer_api.cli", *args],
        env={**os.environ, "DATABASE_URL": database_url, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def audit(database_url: str, after: str) -> str:
    result = coffer("audit", database_url=database_url)
    if result.returncode != 0:
        raise BenchFailed(f"coffer audit FAILED after {after}:\n{result.stdout}{result.stderr}")
    log(result.stdout.strip())
    return result.stdout.strip()


def machine_info(server_version: str) -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": server_version,
        "wrk": wrk_version[0] if wrk_version else "wrk",
        "load_average_at_start": list(os.getloadavg()),
    }


async def seed(coffer_url: str, ceiling_url: str) -> None:
    """10,000 players with a grant each (through the ledger), and the pgbench ceiling tables."""
    from coffer_api import ledger

    conn = await asyncpg.connect(coffer_url)
    try:
        for start in range(1, PLAYERS + 1, 1000):
            postings = [
                ledger.Posting(
                    key=f"bench-seed-{uid}",
                    reason="bench:seed",
                    metadata={},
                    entries=(ledger.Entry(uid, "coins", SEED_COINS),),
                )
                for uid in range(start, min(start + 1000, PLAYERS + 1))
            ]
            outcomes = await ledger.post_transactions(conn, postings)
            bad = [o for o in outcomes if o.status != 201]
            if bad:
                raise BenchFailed(f"seeding failed: {bad[0]}")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    conn = await asyncpg.connect(ceiling_url)
    try:
        await conn.execute(
            f"""
            CREATE TABLE balances (user_id bigint PRIMARY KEY, balance bigint NOT NULL);
            INSERT INTO balances SELECT g, {SEED_COINS} FROM generate_series(1, {PLAYERS}) g;
            CREATE TABLE ledger (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id bigint NOT NULL,
                amount bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            """
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def pgbench(cluster: Cluster, database: str, script: str, clients: int, duration: int, workdir: Path) -> Row:
    logdir = workdir / f"pgbench-{script}"
    logdir.mkdir()
    cmd = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(min(clients, os.cpu_count() or 2)),
        "-T",
        str(duration),
        "-h",
        "127.0.0.1",
        "-p",
        str(cluster.port),
        "-U",
        cluster.user,
        "-f",
        str(BENCH / f"pgbench_{script}.sql"),
        "-l",
        "--log-prefix",
        str(logdir / "tx"),
        database,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=duration + 120)
    if result.returncode != 0:
        raise BenchFailed(f"pgbench {script} failed:\n{result.stdout}\n{result.stderr}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", result.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", result.stdout)
    latencies: list[int] = []
    for path in logdir.iterdir():
        with path.open() as f:
            latencies.extend(int(line.split()[2]) for line in f if line.strip())
    latencies.sort()
    rate = float(tps.group(1)) if tps else len(latencies) / duration
    return Row(
        scenario=script,
        tool="pgbench",
        requests_per_s=rate,
        ops_per_s=rate,
        p50_ms=_percentile(latencies, 50) / 1000,
        p99_ms=_percentile(latencies, 99) / 1000,
        errors=int(failed.group(1)) if failed else 0,
        notes={"transactions": len(latencies)},
    )


def _percentile(sorted_values: list[int], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return float(sorted_values[index])


def wrk(url: str, script: str, clients: int, duration: int, env: dict[str, str]) -> dict:
    threads = min(clients, os.cpu_count() or 2)
    cmd = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{duration}s", "--timeout", "10s"]
    cmd += ["-s", str(BENCH / f"{script}.lua"), url]
    result = subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=duration + 60, env={**os.environ, **env}
    )
    found = re.search(r"BENCH_JSON (\{.*\})", result.stdout)
    if result.returncode != 0 or not found:
        raise BenchFailed(f"wrk {script} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(found.group(1))


async def count_transactions(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM transactions")
    finally:
        await conn.close()


def start_api(coffer_url: str, port: int, workers: int | None, logfile: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "coffer_api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers:
        cmd += ["--workers", str(workers)]
    env = {
        **os.environ,
        "DATABASE_URL": coffer_url,
        # one key drives the whole load; production keys keep the default limit
        "COFFER_RATE_LIMIT_PER_MINUTE": "1000000000",
    }
    with logfile.open("w") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchFailed(f"coffer serve exited with {process.returncode}:\n{logfile.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        time.sleep(0.2)
    raise BenchFailed("coffer serve was not ready within 60 s")


def stop_api(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def api_scenario(
    name: str, url: str, coffer_url: str, clients: int, duration: int, env: dict[str, str], warmup: int
) -> Row:
    if warmup:
        wrk(url, name, clients, warmup, {**env, "BENCH_RUN_ID": f"{env['BENCH_RUN_ID']}w{name}"})
    before = asyncio.run(count_transactions(coffer_url))
    stats = wrk(url, name, clients, duration, {**env, "BENCH_RUN_ID": f"{env['BENCH_RUN_ID']}{name}"})
    after = asyncio.run(count_transactions(coffer_url))
    seconds = stats["duration_us"] / 1e6
    rps = stats["requests"] / seconds
    per_request = BATCH_SIZE if name == "batch" else 1
    errors = sum(v for k, v in stats.items() if k.startswith("errors_"))
    notes = {"requests": stats["requests"], "max_ms": stats["max_us"] / 1000, "transactions_written": after - before}
    if stats["errors_status"] > 0.01 * stats["requests"]:
        raise BenchFailed(f"{name}: {stats['errors_status']} of {stats['requests']} replies were not 2xx")
    if name != "read":
        # what the database holds, not what wrk counted: every acknowledged request wrote its transactions
        expected = stats["requests"] * per_request
        if after - before < expected - stats["errors_status"] * per_request:
            raise BenchFailed(f"{name}: {expected} transactions acknowledged but only {after - before} written")
    return Row(
        scenario=name,
        tool="coffer API",
        requests_per_s=rps,
        ops_per_s=rps * per_request,
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
        errors=errors,
        notes=notes,
    )


def judge(rows: list[Row]) -> None:
    ceilings = {r.scenario: r for r in rows if r.tool == "pgbench"}
    for row in rows:
        if row.tool == "pgbench":
            continue
        ceiling = ceilings["read" if row.scenario == "read" else "write"]
        row.ratio = row.ops_per_s / ceiling.ops_per_s if ceiling.ops_per_s else None
        row.target_ratio, row.target_p99_ms = TARGETS[row.scenario]
        row.met = (
            row.ratio is not None
            and row.ratio >= row.target_ratio
            and (row.target_p99_ms is None or row.p99_ms < row.target_p99_ms)
            and row.errors == 0
        )


def table(rows: list[Row]) -> str:
    header = ["scenario", "tool", "requests/s", "ops/s", "p50 ms", "p99 ms", "errors", "ratio", "target", "met"]
    lines = [header]
    for r in rows:
        target = ""
        if r.target_ratio is not None:
            target = f">= {r.target_ratio}x" + (f", p99 < {r.target_p99_ms:g} ms" if r.target_p99_ms else "")
        lines.append(
            [
                r.scenario,
                r.tool,
                f"{r.requests_per_s:,.0f}",
                f"{r.ops_per_s:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                str(r.errors),
                f"{r.ratio:.2f}x" if r.ratio is not None else "1.00x (ceiling)",
                target,
                "" if r.met is None else ("yes" if r.met else "NO"),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="default: COFFER_WORKERS, as the container")
    parser.add_argument("--scenarios", default="read,single,batch")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--hold", action="store_true", help="set up, start the API, print its URL and key, and wait (for profiling)"
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON path (default bench/results/<date>.json)")
    args = parser.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    if shutil.which("wrk") is None or shutil.which("pgbench") is None:
        print("bench: needs wrk and pgbench on PATH (Debian: apt-get install -y wrk postgresql-client)")
        return 2

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="coffer-bench-"))
    os.chmod(workdir, 0o755)  # noqa: S103 - the postgres user must reach the cluster below it
    cluster = None
    api = None
    try:
        log("starting a durable PostgreSQL (fsync on)")
        cluster = create_cluster(workdir / "pg", durable=True, max_connections=200)
        coffer_url, ceiling_url = cluster.url_for("coffer"), cluster.url_for("ceiling")

        async def create_databases() -> str:
            conn = await asyncpg.connect(cluster.url)
            try:
                await conn.execute("CREATE DATABASE coffer")
                await conn.execute("CREATE DATABASE ceiling")
                return await conn.fetchval("SHOW server_version")
            finally:
                await conn.close()

        server_version = asyncio.run(create_databases())
        machine = machine_info(server_version)
        upgraded = coffer("db", "upgrade", database_url=coffer_url)
        if upgraded.returncode != 0:
            raise BenchFailed(f"coffer db upgrade failed: {upgraded.stderr}")
        log(f"seeding {PLAYERS:,} players")
        asyncio.run(seed(coffer_url, ceiling_url))
        audit(coffer_url, "seeding")
        made = coffer("keys", "create", "--name", "bench", "--scopes", "read,write", database_url=coffer_url)
        if made.returncode != 0:
            raise BenchFailed(f"coffer keys create failed: {made.stderr}")
        api_key = made.stdout.strip()

        if args.hold:
            port = free_port()
            api = start_api(coffer_url, port, args.workers, workdir / "api.log")
            log(f"holding: API http://127.0.0.1:{port} key {api_key} database {coffer_url} log {workdir / 'api.log'}")
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return 0

        rows: list[Row] = []
        for script in ("read", "write"):
            log(f"pgbench {script}: {args.connections} clients, {args.duration} s")
            rows.append(pgbench(cluster, "ceiling", script, args.connections, args.duration, workdir))

        port = free_port()
        log(f"starting coffer serve on port {port} (workers: {args.workers or 'COFFER_WORKERS'})")
        api = start_api(coffer_url, port, args.workers, workdir / "api.log")
        env = {
            "BENCH_DIR": str(BENCH),
            "BENCH_API_KEY": api_key,
            "BENCH_PLAYERS": str(PLAYERS),
            "BENCH_BATCH_SIZE": str(BATCH_SIZE),
            "BENCH_RUN_ID": uuid.uuid4().hex[:12],
        }
        for name in scenarios:
            log(f"wrk {name}: {args.connections} connections, {args.duration} s")
            rows.append(
                api_scenario(
                    name, f"http://127.0.0.1:{port}", coffer_url, args.connections, args.duration, env, args.warmup
                )
            )
            audit(coffer_url, f"the {name} scenario")
        stop_api(api)
        api = None
        final_audit = audit(coffer_url, "stopping the API")

        judge(rows)
        workers = args.workers or int(os.environ.get("COFFER_WORKERS", "2"))
        report = {
            "machine": machine,
            "settings": {
                "connections": args.connections,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "api_workers": workers,
                "db_pool_max_size_per_worker": int(os.environ.get("COFFER_DB_POOL_MAX_SIZE", "10")),
                "players": PLAYERS,
                "batch_size": BATCH_SIZE,
                "fsync": True,
                "load_generator": "wrk (Lua scripts in bench/), pgbench -M prepared",
            },
            "rows": [asdict(r) for r in rows],
            "audit": final_audit,
            "elapsed_s": round(time.monotonic() - started, 1),
        }
        RESULTS.mkdir(exist_ok=True)
        out = args.output or RESULTS / f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H%M%SZ}.json"
        out.write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
        print()
        print(
            f"coffer vs pgbench: {machine['nproc']} x {machine['cpu']}, {machine['memory_gib']} GiB, "
            f"PostgreSQL {server_version}, {args.connections} connections, {args.duration} s each, "
            f"{workers} API workers"
        )
        print(table(rows))
        print(f"\nwritten to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        missed = [r.scenario for r in rows if r.met is False]
        if missed:
            print(f"targets missed: {', '.join(missed)}")
        return 0
    except BenchFailed as exc:
        print(f"bench FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if api is not None:
            stop_api(api)
        if cluster is not None:
            if args.keep:
                cluster.stop("fast")
                log(f"kept {workdir}")
            else:
                remove_cluster(cluster)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
