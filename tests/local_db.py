"""`make run`'s PostgreSQL: a cluster kept under a git-ignored folder, started and stopped by hand.

python -m tests.local_db start --root .pgdata --port 54329
python -m tests.local_db stop --root .pgdata --port 54329
"""

import argparse
import sys
from pathlib import Path

from tests import postgres


def main() -> int:
    parser = argparse.ArgumentParser(prog="local_db")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    root = args.root.resolve()
    if args.action == "start":
        cluster = postgres.Cluster(root / "data", args.port)
        if (root / "data").exists() and cluster.is_running():
            sys.stderr.write(f"local PostgreSQL already running on port {args.port}\n")
            return 0
        postgres.create_cluster(root, port=args.port, durable=True)
        sys.stderr.write(f"local PostgreSQL running on 127.0.0.1:{args.port} (data in {root}/data)\n")
    else:
        postgres.Cluster(root / "data", args.port).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
