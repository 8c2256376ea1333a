"""Write what the pipeline's deploy actions read, from the CodeBuild project's environment.

    python3 deploy/write_artifacts.py --image-tag SHA [--out DIR]

- imageDetail.json      {"ImageURI": api image}: CodeDeployToECS puts it where taskdef.json says
                        <IMAGE1_NAME>; the Migrate stage runs `coffer db upgrade` with it first.
- taskdef.json          the api's task definition (hardened like infra/terraform/modules/ecs).
- appspec.yaml          CodeDeploy ECS AppSpec: blue/green onto container `api`, port 8000.
- imagedefinitions.json [{"name": "bot", "imageUri": bot image}] for the bot's standard ECS deploy.

Terraform (infra/terraform/workload/pipeline.tf, `build_environment`) sets the variables in
REQUIRED and OPTIONAL. Secrets are referenced by Secrets Manager ARN (`valueFrom`), never copied
into the task definition. Standard library only: it runs on the build image's python3.
A missing or malformed variable is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

CONTAINER = "api"
PORT = 8000
COMMAND = ["coffer", "serve", "--host", "0.0.0.0", "--port", str(PORT)]  # noqa: S104 (inside the task's ENI)
HEALTHCHECK = (
    "import sys, urllib.request; "
    f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{PORT}/healthz', timeout=4).status != 200)"
)

REQUIRED = {
    "AWS_REGION": r"[a-z]{2}(-[a-z]+)+-\d",
    "COFFER_API_REPO_URI": r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+",
    "COFFER_BOT_REPO_URI": r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+",
    "COFFER_API_TASK_FAMILY": r"[A-Za-z0-9_-]{1,255}",
    "COFFER_API_TASK_ROLE_ARN": r"arn:aws[a-z-]*:iam::\d{12}:role/.+",
    "COFFER_API_EXECUTION_ROLE_ARN": r"arn:aws[a-z-]*:iam::\d{12}:role/.+",
    "COFFER_API_LOG_GROUP": r"[A-Za-z0-9_/.#-]{1,512}",
    "COFFER_API_CPU": r"\d+",
    "COFFER_API_MEMORY": r"\d+",
    "COFFER_DB_SECRET_ARN": r"arn:aws[a-z-]*:secretsmanager:.+",
    "COFFER_WEBHOOK_SECRET_ARN": r"arn:aws[a-z-]*:secretsmanager:.+",
}
# Empty or unset: left out of the task definition (the API's default applies).
OPTIONAL_SECRETS = {"COFFER_OPENCLOUD_SECRET_ARN": "COFFER_OPENCLOUD_API_KEY"}
OPTIONAL_ENVIRONMENT = (
    "COFFER_LOG_LEVEL",
    "COFFER_WORKERS",
    "COFFER_DB_POOL_MAX_SIZE",
    "COFFER_TRUSTED_PROXIES",
    "COFFER_RATE_LIMIT_PER_MINUTE",
    "COFFER_OPENCLOUD_UNIVERSE_ID",
    "COFFER_OPENCLOUD_TOPIC",
)
CPU_ARCHITECTURE = "COFFER_CPU_ARCHITECTURE"  # optional, X86_64 (default) or ARM64
IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"


class UsageError(Exception):
    """Bad input: one line, exit status 2."""


def settings(environ: dict[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    missing = [name for name in REQUIRED if not environ.get(name, "").strip()]
    if missing:
        raise UsageError(
            f"missing environment variables (set by Terraform on the CodeBuild project): {', '.join(missing)}"
        )
    for name, pattern in REQUIRED.items():
        value = environ[name].strip()
        if not re.fullmatch(pattern, value):
            raise UsageError(f"{name} is not valid: {value!r}")
        values[name] = value
    return values


def task_definition(env: dict[str, str], environ: dict[str, str]) -> dict:
    environment = [
        {"name": name, "value": environ[name]} for name in sorted(OPTIONAL_ENVIRONMENT) if environ.get(name, "").strip()
    ]
    secrets = [
        {"name": "COFFER_DATABASE_URL", "valueFrom": env["COFFER_DB_SECRET_ARN"]},
        {"name": "COFFER_ROBLOX_WEBHOOK_SECRET", "valueFrom": env["COFFER_WEBHOOK_SECRET_ARN"]},
    ]
    for variable, name in OPTIONAL_SECRETS.items():
        if environ.get(variable, "").strip():
            secrets.append({"name": name, "valueFrom": environ[variable].strip()})
    architecture = environ.get(CPU_ARCHITECTURE, "").strip() or "X86_64"
    if architecture not in ("X86_64", "ARM64"):
        raise UsageError(f"{CPU_ARCHITECTURE} must be X86_64 or ARM64, not {architecture!r}")
    container = {
        "name": CONTAINER,
        "image": "<IMAGE1_NAME>",
        "essential": True,
        "command": COMMAND,
        "portMappings": [{"containerPort": PORT, "hostPort": PORT, "protocol": "tcp"}],
        "environment": environment,
        "secrets": sorted(secrets, key=lambda s: s["name"]),
        "user": "10001",
        "readonlyRootFilesystem": True,
        "privileged": False,
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"], "add": []}},
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],  # noqa: S108 (the task volume)
        "volumesFrom": [],
        "stopTimeout": 30,
        "healthCheck": {
            "command": ["CMD", "python", "-c", HEALTHCHECK],
            "interval": 15,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 30,
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": env["COFFER_API_LOG_GROUP"],
                "awslogs-region": env["AWS_REGION"],
                "awslogs-stream-prefix": CONTAINER,
            },
        },
    }
    return {
        "family": env["COFFER_API_TASK_FAMILY"],
        "taskRoleArn": env["COFFER_API_TASK_ROLE_ARN"],
        "executionRoleArn": env["COFFER_API_EXECUTION_ROLE_ARN"],
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": env["COFFER_API_CPU"],
        "memory": env["COFFER_API_MEMORY"],
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": architecture},
        "volumes": [{"name": "tmp"}],
        "containerDefinitions": [container],
    }


def appspec() -> str:
    # YAML by hand (no PyYAML on the build image's python3); json.dumps quotes are valid YAML scalars.
    return (
        "version: 0.0\n"
        "Resources:\n"
        "  - TargetService:\n"
        "      Type: AWS::ECS::Service\n"
        "      Properties:\n"
        '        TaskDefinition: "<TASK_DEFINITION>"\n'
        "        LoadBalancerInfo:\n"
        f"          ContainerName: {json.dumps(CONTAINER)}\n"
        f"          ContainerPort: {PORT}\n"
        "        PlatformVersion: LATEST\n"
    )


def write(out: Path, image_tag: str, environ: dict[str, str]) -> list[Path]:
    if not re.fullmatch(IMAGE_TAG, image_tag):
        raise UsageError(f"--image-tag is not a valid image tag: {image_tag!r}")
    env = settings(environ)
    api_image = f"{env['COFFER_API_REPO_URI']}:{image_tag}"
    bot_image = f"{env['COFFER_BOT_REPO_URI']}:{image_tag}"
    files = {
        "imageDetail.json": json.dumps({"ImageURI": api_image}, indent=2) + "\n",
        "taskdef.json": json.dumps(task_definition(env, environ), indent=2) + "\n",
        "appspec.yaml": appspec(),
        "imagedefinitions.json": json.dumps([{"name": "bot", "imageUri": bot_image}], indent=2) + "\n",
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="write_artifacts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-tag", required=True, help="the tag both images were pushed with (the commit SHA)")
    parser.add_argument("--out", type=Path, default=Path("."), help="directory to write into (default: .)")
    args = parser.parse_args(argv)
    try:
        written = write(args.out, args.image_tag, dict(os.environ))
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write("".join(f"wrote {path}\n" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
