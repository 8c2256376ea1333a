"""Fixtures for the offline Terraform checks of infra/terraform.

Everything runs on a temporary copy of infra/terraform, so the working tree
never gets a .terraform/ directory, a lock file, state or plan files.

Tools:
- terraform: on PATH. Providers come from COFFER_TF_PLUGIN_DIR, else
  /opt/tf-plugins when it exists, else the public registry.
- checkov: COFFER_CHECKOV (a command line, e.g. "/opt/checkov/bin/checkov"), else
  `checkov` on PATH, else `uvx --from checkov==<CHECKOV_VERSION> checkov`.
  checkov pins packaging<24, so it must never be installed into the project venv.

Without terraform (or checkov) the tests skip with the reason; with
COFFER_REQUIRE_INFRA=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_SOURCE = REPO_ROOT / "infra" / "terraform"
CHECKOV_VERSION = "3.3.30"
DEFAULT_PLUGIN_DIR = Path("/opt/tf-plugins")
REQUIRE = os.environ.get("COFFER_REQUIRE_INFRA") == "1"

# Fake credentials: plans are made offline and never reach AWS.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

# Test-only overrides written into the temporary copy: a local backend and the
# provider flags that let `terraform plan` run without calling AWS.
_SKIP_FLAGS = """
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
"""
OVERRIDES = {
    "workload": (
        'terraform {\n  backend "local" {}\n}\n\n'
        'provider "aws" {\n  alias = "workload"\n' + _SKIP_FLAGS + "  allowed_account_ids = null\n}\n"
    ),
    "organization": (
        'terraform {\n  backend "local" {}\n}\n\n'
        'provider "aws" {' + _SKIP_FLAGS + "}\n\n"
        'provider "aws" {\n  alias = "audit"\n' + _SKIP_FLAGS + "}\n"
    ),
}

ROOTS = ("organization", "workload")

# name -> (root, extra -var arguments)
PLANS = {
    "organization": ("organization", []),
    "workload-starter": ("workload", ["-var", "profile=starter"]),
    "workload-hardened": ("workload", ["-var", "profile=hardened"]),
    "workload-hardened-aurora": (
        "workload",
        ["-var", "profile=hardened", "-var", "database_engine=aurora-postgresql", "-var", "db_read_replica=false"],
    ),
}


def missing(reason: str) -> None:
    """Skip (Python-only contributors) or fail (CI) when a tool is absent."""
    if REQUIRE:
        pytest.fail(f"{reason} (COFFER_REQUIRE_INFRA=1 requires it)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Result:
    cmd: list[str]
    cwd: Path
    returncode: int
    stdout: str
    stderr: str

    def explain(self, tail: int = 120) -> str:
        def last(text: str) -> str:
            lines = text.rstrip().splitlines()
            return "\n".join(lines[-tail:])

        return (
            f"$ (cd {self.cwd} && {shlex.join(self.cmd)})\n"
            f"exit code {self.returncode}\n--- stdout (tail) ---\n{last(self.stdout)}\n"
            f"--- stderr (tail) ---\n{last(self.stderr)}"
        )


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> Result:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return Result(cmd, cwd, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    path = shutil.which("terraform")
    if path is None:
        missing("terraform is not on PATH; the infra checks need Terraform >= 1.9")
    return path


@pytest.fixture(scope="session")
def tf_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update(FAKE_AWS_ENV)
    env.update(
        {
            "TF_CLI_CONFIG_FILE": os.devnull,
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    # uvx (checkov) keeps its cache and tools under the real home.
    env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    env.setdefault("UV_TOOL_DIR", str(Path.home() / ".local" / "share" / "uv" / "tools"))
    return env


@pytest.fixture(scope="session")
def tf_tree(tmp_path_factory: pytest.TempPathFactory, terraform_bin: str) -> Path:
    """A scratch copy of infra/terraform with the test-only overrides."""
    dest = tmp_path_factory.mktemp("tf") / "terraform"
    shutil.copytree(
        TF_SOURCE,
        dest,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfplan", "*_override.tf"),
    )
    for root, text in OVERRIDES.items():
        (dest / root / "zz_ci_override.tf").write_text(text)
    return dest


@pytest.fixture(scope="session")
def init_root(tf_tree: Path, terraform_bin: str, tf_env: dict[str, str]):
    """terraform init, once per root, from the local provider mirror when present."""
    done: dict[str, Path] = {}
    plugin_dir = os.environ.get("COFFER_TF_PLUGIN_DIR")
    if not plugin_dir and DEFAULT_PLUGIN_DIR.is_dir():
        plugin_dir = str(DEFAULT_PLUGIN_DIR)

    def _init(root: str) -> Path:
        if root not in done:
            cwd = tf_tree / root
            cmd = [terraform_bin, "init", "-no-color", "-input=false"]
            if plugin_dir:
                cmd.append(f"-plugin-dir={plugin_dir}")
            result = run(cmd, cwd, tf_env, timeout=600)
            assert result.returncode == 0, "terraform init failed\n" + result.explain()
            done[root] = cwd
        return done[root]

    return _init


@pytest.fixture(scope="session")
def plan_json(init_root, terraform_bin: str, tf_env: dict[str, str]):
    """terraform plan (fake credentials) -> terraform show -json, cached per plan name."""
    cache: dict[str, Path] = {}

    def _plan(name: str) -> Path:
        if name not in cache:
            root, extra = PLANS[name]
            cwd = init_root(root)
            plan_file = cwd / f"{name}.tfplan"
            cmd = [terraform_bin, "plan", "-no-color", "-input=false", "-lock=false", "-var-file=tests/ci.tfvars"]
            result = run([*cmd, *extra, "-out", str(plan_file)], cwd, tf_env)
            assert result.returncode == 0, f"terraform plan {name} failed\n" + result.explain()
            shown = run([terraform_bin, "show", "-json", str(plan_file)], cwd, tf_env)
            assert shown.returncode == 0, "terraform show -json failed\n" + shown.explain()
            out = cwd / f"{name}.tfplan.json"
            out.write_text(shown.stdout)
            cache[name] = out
        return cache[name]

    return _plan


@pytest.fixture(scope="session")
def checkov_cmd() -> list[str]:
    if os.environ.get("COFFER_CHECKOV"):
        return shlex.split(os.environ["COFFER_CHECKOV"])
    if shutil.which("checkov"):
        return ["checkov"]
    if shutil.which("uvx"):
        return ["uvx", "--from", f"checkov=={CHECKOV_VERSION}", "checkov"]
    missing("checkov is not available (set COFFER_CHECKOV, put checkov on PATH, or install uv for uvx)")
    raise AssertionError("unreachable")
